"""Whose turn it is to relay the outbox (send/relay.py): one relay at a time per site, whichever
process it runs in (every worker has one, and `manage.py runrelay`), by a lease in Redis
(lua/lead.lua, as beat's leader and the history's pruner). One at a time so that two relays do not
read the same rows and send them twice over (harmless, an id is sent once, but wasted), on a
database that cannot skip rows another transaction locked (SQLite); on PostgreSQL the store skips
them as well.
"""

from __future__ import annotations

from .part import Part
from .specs.operating import LEAD, LeadArgs, LeadKeys


class RelayTurn(Part):
    """broker.relay: turn()."""

    def turn(self, holder: str, lease_ms: int) -> bool:
        """Whether `holder` relays now (it took or kept the lease, for lease_ms)."""
        argv = LeadArgs(holder=holder, lease_ms=lease_ms)
        return int(LEAD(self.b.link, LeadKeys(role=self.b.keys.outbox_relay), argv)) == 0
