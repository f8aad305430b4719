"""The connector's stale and purge settings, checked the same way by the form and the API (the rules themselves
are applied by assets.lifecycle)."""

from __future__ import annotations

#: The longest period taken, in days: a century.
MAX_DAYS = 36_500

STALE_HELP = (
    "A record this connector has not reported for this many days is stale; an asset whose live sources are all "
    "stale is marked stale. A new report makes it fresh again. 0 = never stale."
)
PURGE_HELP = (
    "A stale record not reported for this many days is deleted as if this connector had deleted it: its asset "
    "loses this source (and is retired if no other source reports it), and the asset's history says why. "
    "0 = never purge; otherwise at least the stale period."
)


def lifecycle_errors(stale_after_days: int | None, purge_after_days: int | None) -> dict[str, str]:
    """Field -> message for a purge period that cannot apply: purging needs the stale rule, and comes after it."""
    if not purge_after_days or stale_after_days is None:
        return {}
    if not stale_after_days:
        return {"purge_after_days": "Purging applies to stale records: set a stale period first, or purge never (0)."}
    if purge_after_days < stale_after_days:
        return {"purge_after_days": f"Purge after at least the stale period ({stale_after_days} days), or never (0)."}
    return {}
