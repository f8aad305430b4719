""" "Not a duplicate": an admin declares that assets sharing a value are different machines.

:func:`dismiss` records it (one ``DuplicateDismissal`` per shared value, the assets' possible-duplicate flags
cleared, one audited ``AssetEvent``). :func:`hidden_values` is what the Duplicates view leaves out: the shared
values that only dismissed assets still share. :func:`dismissed_sets` lets the worker leave alone a rule's
candidates that an admin already declared distinct, so the same evidence does not flag them again.

The dismissals are admin decisions, a small table: it is read whole.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict

from django.db import transaction
from django.db.models import Q

from .choices import AssetAction
from .models import Asset, AssetEvent, DuplicateDismissal, Identifier


class DismissalError(Exception):
    """The assets cannot be declared distinct as asked; the message says why."""


@transaction.atomic
def dismiss(assets: list[Asset], shared: list[tuple[str, str]], *, actor=None) -> AssetEvent:
    """Declare ``assets`` (two or more live ones) distinct machines despite the ``shared`` (kind, value) pairs."""
    ids = sorted({asset.pk for asset in assets})
    if len(ids) < 2:
        raise DismissalError("Choose at least two assets.")
    live = list(Asset.objects.live().filter(pk__in=ids).order_by("pk"))
    if len(live) != len(ids):
        raise DismissalError("Some of these assets were merged or retired since; reload the page.")
    pairs = sorted(set(shared))
    if not pairs:
        raise DismissalError("Say which shared value these assets have.")
    holders = _holders(pairs)
    if any(len(set(ids) & holders.get(pair, set())) < 2 for pair in pairs):
        raise DismissalError("These assets no longer share that value; reload the page.")
    dismissals = DuplicateDismissal.objects.bulk_create(
        [DuplicateDismissal(kind=kind, value=value, asset_ids=ids, actor=actor) for kind, value in pairs]
    )
    flagged = [asset.pk for asset in live if asset.possible_duplicate]
    Asset.objects.filter(pk__in=flagged).update(possible_duplicate=False)
    return AssetEvent.objects.create(
        asset=live[0],
        action=AssetAction.DISTINCT,
        actor=actor,
        details={
            "assets": [{"id": asset.pk, "uuid": str(asset.uuid), "name": asset.display_name} for asset in live],
            "shared": [[kind, value] for kind, value in pairs],
            # What undo_dismissal puts back (bulk_create sets primary keys on PostgreSQL and SQLite).
            "dismissal_ids": [dismissal.pk for dismissal in dismissals],
            "flagged_ids": flagged,
        },
    )


@transaction.atomic
def undo_dismissal(event: AssetEvent, actor=None) -> AssetEvent:
    """Take back a "Not a duplicate": the group shows on the Duplicates view again and the assets flagged before
    are flagged again."""
    event = AssetEvent.objects.select_for_update().get(pk=event.pk)
    if event.action != AssetAction.DISTINCT:
        raise DismissalError("This event is not a 'Not a duplicate'.")
    if event.undone:
        raise DismissalError("This was undone already.")
    DuplicateDismissal.objects.filter(pk__in=event.details.get("dismissal_ids", [])).delete()
    Asset.objects.live().filter(pk__in=event.details.get("flagged_ids", [])).update(possible_duplicate=True)
    AssetEvent.objects.filter(pk=event.pk).update(undone=True)
    return AssetEvent.objects.create(
        asset_id=event.asset_id, action=AssetAction.INDISTINCT, actor=actor, details={"undoes": event.pk}
    )


def _holders(pairs) -> dict[tuple[str, str], set[int]]:
    """The live assets holding each (kind, value) pair, in one query."""
    if not pairs:
        return {}
    condition = functools.reduce(operator.or_, (Q(kind=kind, value=value) for kind, value in pairs))
    rows = (
        Identifier.objects.filter(condition, asset__merged_into__isnull=True, asset__retired=False)
        .values_list("kind", "value", "asset_id")
        .distinct()
    )
    holders: dict[tuple[str, str], set[int]] = defaultdict(set)
    for kind, value, asset_id in rows:
        holders[(kind, value)].add(asset_id)
    return holders


def hidden_values() -> Q | None:
    """A condition on identifiers matching the dismissed values that only dismissed assets share (None: none)."""
    covered: dict[tuple[str, str], set[int]] = defaultdict(set)
    for kind, value, asset_ids in DuplicateDismissal.objects.values_list("kind", "value", "asset_ids"):
        covered[(kind, value)].update(asset_ids)
    if not covered:
        return None
    hidden = [pair for pair, holders in _holders(list(covered)).items() if holders <= covered[pair]]
    if not hidden:
        return None
    return functools.reduce(operator.or_, (Q(kind=kind, value=value) for kind, value in hidden))


def dismissed_sets() -> list[frozenset[int]]:
    """Each dismissal's assets (for the worker: candidates all in one of these are known distinct)."""
    return [frozenset(ids) for ids in DuplicateDismissal.objects.values_list("asset_ids", flat=True)]


def known_distinct(evidence: set[int | None], distinct: list[frozenset[int]]) -> bool:
    """Whether the assets a decision saw together (``evidence``: candidates, linked assets, the chosen one) are
    all existing assets an admin declared distinct in one dismissal."""
    if not evidence or any(target is None or target < 0 for target in evidence):
        return False
    return any(evidence <= dismissed for dismissed in distinct)
