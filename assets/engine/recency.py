"""How the engine orders source times: ``None`` is oldest and a naive datetime is read as UTC, never a TypeError.

Shared by identification (out-of-order protection, the default rule's "most recent update") and reconciliation
("ties go to the most recent").
"""

from __future__ import annotations

from datetime import UTC, datetime

_NO_TIME = datetime.min.replace(tzinfo=UTC)


def time_key(moment: datetime | None) -> tuple[int, datetime]:
    """Sort key for "most recent wins" with ``None`` oldest; naive datetimes are read as UTC, never a
    TypeError."""
    if moment is None:
        return (0, _NO_TIME)
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return (1, moment)


def is_older(new: datetime | None, stored: datetime | None) -> bool:
    """Whether ``new`` is strictly older than ``stored``; an unknown time on either side is never older."""
    return new is not None and stored is not None and time_key(new) < time_key(stored)


def later(first: datetime | None, second: datetime | None) -> datetime | None:
    """The more recent of two times (``first`` on a tie)."""
    return first if time_key(first) >= time_key(second) else second


def iso(moment: datetime | None) -> str:
    """A time as decision reasons print it."""
    return moment.isoformat() if moment is not None else "unknown"
