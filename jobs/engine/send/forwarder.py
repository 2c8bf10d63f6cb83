"""The forwarder: what an ack on this shard handed to another (redis/forwards.py) sent on there. Run by
the consumer whose ack it was, once that ack is settled (worker/acks.py), so a chain's step or a join's
envelope that crosses shards goes on within milliseconds; and by the supervisor of each shard's worker
with its maintenance (worker/duties.py), each second, for what a consumer could not send (it died, or
Redis failed it). Two forwarders sending the same envelope send it once (below).

A message goes as the relay sends an outbox row (producer.send_kept, the one send path: its wire as
the ack made it, its countdown and expiry counted from the ack), through the target shard's enqueue.lua, which sends
an id once (keys.sent): a forwarder that dies after the send and before the removal sends it again
as a no-op. A result (a chain's step that will not run, after a failure) is written on its shard as
the ack would have, and announced; written twice, it is the same. A branch of a join that ended here
is counted on the join's home shard (redis/lua/joined.lua: a set, so counted once however often it
comes), and the ack there that completes the join sends its callback, once.
"""

from __future__ import annotations

from ..setup.app import App
from ..wire.outgoing import Outgoing
from ..wire.serializers import json_loads
from .producer import send_kept

#: The most envelopes one turn sends on.
BATCH = 500


def forward(app: App) -> int:
    """Send on what waits on this process's shard; how many envelopes were handled."""
    members = app.broker.forwards.waiting(BATCH)
    if not members:
        return 0
    rows: list[tuple[bytes, Outgoing]] = []
    handled: list[bytes] = []
    for raw in members:
        doc = json_loads(raw)
        if "j" in doc:  # a branch of a join that lives on another shard (execution/followup.py)
            app.brokers[int(doc["k"])].forwards.joined(doc["j"])
            handled.append(raw)
            continue
        if "r" in doc:
            app.brokers[int(doc["k"])].forwards.put_result(doc["r"], doc["p"])
            handled.append(raw)
            continue
        rows.append((raw, Outgoing(id=doc["id"], task=doc["t"], queue=doc["q"], score=int(doc["s"]), wire=doc["w"],
                                   due_at=doc["d"], expiry_at=doc["x"], delayed=bool(doc["dl"]),
                                   created=float(doc["c"]))))
    if rows:
        # The relay's send: by shard, a countdown counted from the ack, a message Redis refuses to
        # the dead letters with its reason rather than tried again at every turn.
        reasons = send_kept(app, [row for _, row in rows])
        handled += [raw for (raw, _), reason in zip(rows, reasons, strict=True) if reason is None]
    app.broker.forwards.done(handled)
    return len(handled)
