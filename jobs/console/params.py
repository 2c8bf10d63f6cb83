"""Every parameter a console page reads from its address (the query string and the ids in the path),
parsed here and nowhere else: a number is clamped to what the page can show, and what cannot be read
at all answers 400 naming the parameter and what it takes, never a 500.

What each guards against, found by trying: `str.isdigit()` accepts "²", which `int()` refuses (a
ValueError); `int()` accepts "٣" (Arabic-Indic three) and "1_000", which no link of ours sends, and
refuses 4,301 digits or more; a page of 10^20 is an OFFSET PostgreSQL cannot hold (DataError) and an
hours-back of 10^8 a date before year 1 (OverflowError); a NUL in a text is a DataError on PostgreSQL
(its text cannot hold one), so a search or an id with one cannot match anything there or anywhere.

And the addresses a page links to, made from its own: itself (where an action sends the user back),
its live fragment, its pager's."""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.http import HttpRequest

#: Texts (searches, ids, names) longer than this are refused: no id or name is (200 at most), and a
#: search this long is a mistake, not a search.
MAX_TEXT = 1000

#: ASCII digits only, with an optional sign (see the module docstring).
_INTEGER = re.compile(r"[+-]?[0-9]+")

#: More digits than this is beyond every range below: clamped without calling int() on it.
_DIGITS = 18


class BadParameter(ValueError):
    """A parameter the page cannot use: the console answers 400 with this message."""

    def __init__(self, name: str, value: str, what: str) -> None:
        shown = value if len(value) <= 60 else f"{value[:60]}..."
        super().__init__(f"{name}={shown!r} {what}")
        self.name = name


def integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole number from `low` to `high` (one beyond them is clamped to them); missing or empty,
    `default`; not a number in ASCII digits: BadParameter."""
    raw = query.get(name, "").strip()
    if not raw:
        return default
    if not _INTEGER.fullmatch(raw):
        raise BadParameter(name, raw, f"is not a whole number: give one from {low} to {high}, in digits 0-9")
    if len(raw.lstrip("+-").lstrip("0")) > _DIGITS:
        return low if raw.startswith("-") else high
    return min(high, max(low, int(raw)))


def flag(query: Mapping[str, str], name: str) -> bool:
    """A switch: on only as "1" (what our links send); anything else, or none, is off."""
    return query.get(name) == "1"


def text(query: Mapping[str, str], name: str) -> str:
    """A text to search or filter by, stripped of surrounding spaces; "" if missing."""
    return checked(name, query.get(name, "")).strip()


def checked(name: str, value: str) -> str:
    """A text from the address (a parameter, or an id in the path) the database and Redis can be
    asked about: no NUL, at most MAX_TEXT characters; else BadParameter."""
    if "\x00" in value:
        raise BadParameter(name, value, "holds a NUL character, which no task, id, name or stored argument can hold")
    if len(value) > MAX_TEXT:
        raise BadParameter(name, value, f"is {len(value):,} characters long: at most {MAX_TEXT:,}")
    return value


def page_url(request: HttpRequest) -> str:
    """This page's address (without the fragment flag): where an action sends the user back."""
    query = request.GET.copy()
    query.pop("fragment", None)
    return f"{request.path}?{query.urlencode()}" if query else request.path


def pager_query(request: HttpRequest) -> str:
    """This page's parameters but the page, ending in "&", for the pager's links to add page=N to.
    Built here: a template reading request.GET.items gets the value of a parameter named "items"
    (?items=x made the pager fail)."""
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("fragment", None)
    return f"{query.urlencode()}&" if query else ""


def fragment_url(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["fragment"] = "1"
    return f"{request.path}?{query.urlencode()}"
