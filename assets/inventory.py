"""Manual inventory operations: merge, split, their undo, and identification rule definitions.

Every function owns its transaction and writes its audit row (:class:`~assets.models.AssetEvent`) next to the
change, so the CSAM pages, the REST API and a shell session behave the same. The event's ``details`` hold exactly
what it takes to undo the change; undo refuses, with a message saying why, when a later change moved the same
records again (undo the later change first).

Source records carry their identifiers: an identifier's asset is always its source record's asset, so moving a
source record moves the identifiers of that source record, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from connectors.models import Connector
from connectors_site.common.audit import acting_user

from . import services
from .choices import AssetAction, AssetKind, IdentifierKind
from .duplicates import DismissalError, undo_dismissal
from .models import Asset, AssetEvent, IdentificationRule, Identifier, RuleEvent, RuleSelection, SourceRecord

#: Longest chain of merged assets followed to find the survivor (a guard against a cycle made by hand in admin).
MAX_MERGE_CHAIN = 50


class InventoryError(Exception):
    """A manual change that cannot be made as asked; the message says why, for the person who asked."""


class ReadOnlyRuleError(InventoryError):
    """System rules are read only."""


def resolve_survivor(asset: Asset) -> Asset:
    """The asset a merged asset now lives in (following merges of merges); the asset itself if not merged."""
    seen = {asset.pk}
    while asset.merged_into_id is not None:
        if asset.merged_into_id in seen or len(seen) > MAX_MERGE_CHAIN:
            break
        seen.add(asset.merged_into_id)
        asset = Asset.objects.get(pk=asset.merged_into_id)
    return asset


def _move_sources(source_ids: Sequence[int], to_asset_id: int) -> None:
    SourceRecord.objects.filter(pk__in=source_ids).update(asset_id=to_asset_id)
    Identifier.objects.filter(source_record_id__in=source_ids).update(asset_id=to_asset_id)


# --------------------------------------------------------------------------------------------------------------
# Merge
# --------------------------------------------------------------------------------------------------------------


@transaction.atomic
def merge_assets(survivor: Asset, others: Iterable[Asset], actor=None) -> AssetEvent:
    """Merge ``others`` into ``survivor``: their source records and identifiers move to it, each of them points
    to it (``merged_into``, so their URLs resolve to the survivor), and its attributes are re-derived.

    The survivor becomes managed if any merged asset was, and loses its possible-duplicate flag (an admin has
    decided). Returns the ``merged`` event, whose details restore all of it.
    """
    ids = sorted({asset.pk for asset in others} - {survivor.pk})
    if not ids:
        raise InventoryError("Choose at least one other asset to merge into the survivor.")
    locked = {asset.pk: asset for asset in Asset.objects.select_for_update().filter(pk__in=[survivor.pk, *ids])}
    survivor = locked.get(survivor.pk)
    if survivor is None or len(locked) != len(ids) + 1:
        raise InventoryError("Some of these assets no longer exist.")
    if any(asset.merged_into_id for asset in locked.values()):
        raise InventoryError("Some of these assets were merged already; reload the page.")
    losers = [locked[pk] for pk in ids]
    sources_by_asset: dict[int, list[int]] = {pk: [] for pk in ids}
    for source_id, asset_id in SourceRecord.objects.filter(asset_id__in=ids).values_list("pk", "asset_id"):
        sources_by_asset[asset_id].append(source_id)

    details = {
        "survivor": {
            "id": survivor.pk,
            "uuid": str(survivor.uuid),
            "kind": survivor.kind,
            "possible_duplicate": survivor.possible_duplicate,
        },
        "merged": [
            {
                "id": loser.pk,
                "uuid": str(loser.uuid),
                "name": loser.display_name,
                "source_ids": sorted(sources_by_asset[loser.pk]),
            }
            for loser in losers
        ],
    }
    _move_sources([pk for pks in sources_by_asset.values() for pk in pks], survivor.pk)
    Asset.objects.filter(pk__in=ids).update(merged_into=survivor)
    if any(loser.kind == AssetKind.MANAGED for loser in losers):
        survivor.kind = AssetKind.MANAGED
    survivor.possible_duplicate = False
    survivor.save(update_fields=["kind", "possible_duplicate", "updated_at"])
    services.reconcile_assets([survivor.pk])
    return AssetEvent.objects.create(
        asset=survivor, action=AssetAction.MERGED, actor=acting_user(actor), details=details
    )


@transaction.atomic
def undo_merge(event: AssetEvent, actor=None) -> AssetEvent:
    """Put back what ``event`` merged: the same source records return to each merged asset, which is live again,
    and the survivor gets its kind and possible-duplicate flag back. Source records that left the survivor since
    (split out, connector deleted) stay where they are."""
    event = AssetEvent.objects.select_for_update().get(pk=event.pk)
    if event.action != AssetAction.MERGED:
        raise InventoryError("This event is not a merge.")
    if event.undone:
        raise InventoryError("This merge was undone already.")
    survivor = Asset.objects.select_for_update().get(pk=event.asset_id)
    if survivor.merged_into_id:
        raise InventoryError(
            f"{survivor.display_name} was itself merged into another asset since; undo that merge first."
        )
    merged = event.details.get("merged", [])
    losers = {asset.pk: asset for asset in Asset.objects.select_for_update().filter(pk__in=[m["id"] for m in merged])}
    for entry in merged:
        loser = losers.get(entry["id"])
        if loser is None:
            raise InventoryError(f"Asset {entry['uuid']} no longer exists; this merge cannot be undone.")
        if loser.merged_into_id != survivor.pk:
            raise InventoryError(f"{entry['name'] or entry['uuid']} is no longer merged into this asset.")
    for entry in merged:
        still_here = list(
            SourceRecord.objects.filter(pk__in=entry["source_ids"], asset=survivor).values_list("pk", flat=True)
        )
        _move_sources(still_here, entry["id"])
    Asset.objects.filter(pk__in=list(losers)).update(merged_into=None)
    before = event.details.get("survivor", {})
    survivor.kind = before.get("kind", survivor.kind)
    survivor.possible_duplicate = before.get("possible_duplicate", survivor.possible_duplicate)
    survivor.save(update_fields=["kind", "possible_duplicate", "updated_at"])
    services.reconcile_assets([survivor.pk, *losers])
    event.undone = True
    event.save(update_fields=["undone"])
    return AssetEvent.objects.create(
        asset=survivor,
        action=AssetAction.UNMERGED,
        actor=acting_user(actor),
        details={"undoes": event.pk, "restored": [entry["uuid"] for entry in merged]},
    )


# --------------------------------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------------------------------


@transaction.atomic
def split_source(source_record: SourceRecord, actor=None) -> AssetEvent:
    """Move one source record (and its identifiers) out of its asset into a new unmanaged asset of its own, and
    re-derive both. The event is written on the original asset; the new asset's URL is in its details.

    The source native key keeps the record on the new asset when the source sends it again.
    """
    source = SourceRecord.objects.select_for_update().select_related("connector").get(pk=source_record.pk)
    original = Asset.objects.select_for_update().get(pk=source.asset_id)
    if original.merged_into_id:
        raise InventoryError("This asset was merged into another one; split from the survivor instead.")
    if source.deleted:
        raise InventoryError("This source deleted the record: it no longer gives this asset any value to split out.")
    if not SourceRecord.objects.filter(asset=original, deleted=False).exclude(pk=source.pk).exists():
        raise InventoryError("This is the asset's only live source: there is nothing to split it from.")
    new_asset = Asset.objects.create(kind=AssetKind.UNMANAGED, first_seen=source.first_seen, last_seen=source.last_seen)
    _move_sources([source.pk], new_asset.pk)
    services.reconcile_assets([original.pk, new_asset.pk])
    return AssetEvent.objects.create(
        asset=original,
        action=AssetAction.SPLIT,
        actor=acting_user(actor),
        details={
            "source_record_id": source.pk,
            "connector": source.connector.name,
            "source_key": source.source_key,
            "from_asset_id": original.pk,
            "from_asset_uuid": str(original.uuid),
            "new_asset_id": new_asset.pk,
            "new_asset_uuid": str(new_asset.uuid),
        },
    )


@transaction.atomic
def undo_split(event: AssetEvent, actor=None) -> AssetEvent:
    """Move the split source record back to its original asset. The asset the split made points to the
    original (its URL keeps working) unless another source has joined it since, in which case it stays."""
    event = AssetEvent.objects.select_for_update().get(pk=event.pk)
    if event.action != AssetAction.SPLIT:
        raise InventoryError("This event is not a split.")
    if event.undone:
        raise InventoryError("This split was undone already.")
    details = event.details
    original = Asset.objects.select_for_update().get(pk=event.asset_id)
    if original.merged_into_id:
        raise InventoryError(f"{original.display_name} was merged into another asset since; undo that merge first.")
    source = SourceRecord.objects.select_for_update().filter(pk=details["source_record_id"]).first()
    if source is None:
        raise InventoryError("The split source record no longer exists (its connector was deleted).")
    if source.asset_id != details["new_asset_id"]:
        raise InventoryError("The split source record has moved since (merged elsewhere); undo that change first.")
    new_asset = Asset.objects.select_for_update().get(pk=details["new_asset_id"])
    _move_sources([source.pk], original.pk)
    reconcile = [original.pk]
    if SourceRecord.objects.filter(asset=new_asset).exists():
        reconcile.append(new_asset.pk)
    else:
        new_asset.merged_into = original
        new_asset.save(update_fields=["merged_into", "updated_at"])
    services.reconcile_assets(reconcile)
    event.undone = True
    event.save(update_fields=["undone"])
    return AssetEvent.objects.create(
        asset=original,
        action=AssetAction.UNSPLIT,
        actor=acting_user(actor),
        details={
            "undoes": event.pk,
            "source_record_id": source.pk,
            "connector": details.get("connector", ""),
            "source_key": details.get("source_key", ""),
            "new_asset_uuid": details["new_asset_uuid"],
        },
    )


def undo_event(event: AssetEvent, actor=None) -> AssetEvent:
    """Undo a merge, a split or a "Not a duplicate", whichever ``event`` is."""
    if event.action == AssetAction.MERGED:
        return undo_merge(event, actor)
    if event.action == AssetAction.SPLIT:
        return undo_split(event, actor)
    if event.action == AssetAction.DISTINCT:
        try:
            return undo_dismissal(event, actor)
        except DismissalError as error:
            raise InventoryError(str(error)) from error
    raise InventoryError("Only merges, splits and 'Not a duplicate' can be undone.")


# --------------------------------------------------------------------------------------------------------------
# Identification rule definitions
# --------------------------------------------------------------------------------------------------------------


#: The code of the errors that say a name or an attribute list is another rule's (the API answers 409 for them).
TAKEN = "taken"


def clean_rule_definition(
    name: str, attributes: Sequence[str], *, instance: IdentificationRule | None = None
) -> tuple[str, list[str]]:
    """Check a rule definition; returns the trimmed name and the attribute list, or raises a ValidationError
    keyed by field (``name``, ``attributes``) with messages an admin can act on."""
    errors: dict[str, list[str | ValidationError]] = {}
    name = (name or "").strip()
    attributes = list(attributes)
    others = IdentificationRule.objects.exclude(pk=instance.pk) if instance else IdentificationRule.objects.all()
    if not name:
        errors.setdefault("name", []).append("Give the rule a name.")
    elif others.filter(name__iexact=name).exists():
        errors.setdefault("name", []).append(ValidationError(f"A rule named {name!r} exists already.", code=TAKEN))
    if not attributes:
        errors.setdefault("attributes", []).append("Choose at least one attribute.")
    unknown = [value for value in attributes if value not in IdentifierKind.values]
    if unknown:
        errors.setdefault("attributes", []).append(f"Unknown attribute: {', '.join(map(str, unknown))}.")
    repeated = sorted({value for value in attributes if attributes.count(value) > 1})
    if repeated:
        labels = dict(IdentifierKind.choices)
        errors.setdefault("attributes", []).append(
            "Each attribute may appear once; repeated: " + ", ".join(str(labels.get(v, v)) for v in repeated) + "."
        )
    if attributes and "attributes" not in errors:
        same = next((rule for rule in others.only("name", "attributes") if rule.attributes == attributes), None)
        if same is not None:
            errors.setdefault("attributes", []).append(
                ValidationError(f"The rule {same.name!r} has these attributes already.", code=TAKEN)
            )
    if errors:
        raise ValidationError(errors)
    return name, attributes


def _refuse_system(rule: IdentificationRule) -> None:
    if rule.is_system:
        raise ReadOnlyRuleError(f"{rule.name} is a system rule and is read only.")


@transaction.atomic
def create_identification_rule(
    *, name: str, attributes: Sequence[str], description: str = "", actor=None
) -> IdentificationRule:
    """A new rule definition, placed last and added to every connector's selection, turned off, at the end:
    it changes no connector's identification until an admin turns it on for that connector."""
    name, attributes = clean_rule_definition(name, attributes)
    last = IdentificationRule.objects.aggregate(last=Max("position"))["last"] or 0
    rule = IdentificationRule.objects.create(
        name=name,
        attributes=attributes,
        description=(description or "").strip(),
        is_system=False,
        default_enabled=False,
        position=last + 10,
    )
    RuleSelection.objects.bulk_create(
        RuleSelection(connector_id=connector_id, rule=rule, position=(position or 0) + 1, enabled=False)
        for connector_id, position in Connector.objects.annotate(last=Max("rule_selection__position")).values_list(
            "pk", "last"
        )
    )
    RuleEvent.record(rule, RuleEvent.Action.CREATED, actor, attributes=attributes)
    return rule


@transaction.atomic
def update_identification_rule(
    rule: IdentificationRule,
    *,
    name: str | None = None,
    attributes: Sequence[str] | None = None,
    description: str | None = None,
    actor=None,
) -> IdentificationRule:
    """Change a rule's name, description or attributes; every connector that uses it matches the new way."""
    _refuse_system(rule)
    name, attributes = clean_rule_definition(
        rule.name if name is None else name, rule.attributes if attributes is None else attributes, instance=rule
    )
    before = {"name": rule.name, "attributes": rule.attributes, "description": rule.description}
    rule.name, rule.attributes = name, attributes
    if description is not None:
        rule.description = description.strip()
    rule.save(update_fields=["name", "attributes", "description", "updated_at"])
    after = {"name": rule.name, "attributes": rule.attributes, "description": rule.description}
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changes:
        RuleEvent.record(rule, RuleEvent.Action.CHANGED, actor, changes=changes)
    return rule


def connectors_left_without_rules(rule: IdentificationRule) -> list[str]:
    """Names of the connectors for which ``rule`` is the only rule turned on besides the system rule: deleting
    it would leave them unable to match anything, which their rules page does not allow either."""
    using = RuleSelection.objects.filter(rule=rule, enabled=True).values("connector_id")
    others_on = (
        RuleSelection.objects.filter(connector_id__in=using, enabled=True, rule__is_system=False)
        .exclude(rule=rule)
        .values("connector_id")
    )
    return list(
        Connector.objects.filter(pk__in=using).exclude(pk__in=others_on).order_by("name").values_list("name", flat=True)
    )


@transaction.atomic
def delete_identification_rule(rule: IdentificationRule, actor=None) -> None:
    """Delete a rule definition and its place in every connector's selection. Past decisions keep its name."""
    _refuse_system(rule)
    stranded = connectors_left_without_rules(rule)
    if stranded:
        raise InventoryError(
            f"{rule.name} is the only rule turned on for {', '.join(stranded)}; turn another rule on there first."
        )
    RuleEvent.record(rule, RuleEvent.Action.DELETED, actor, attributes=rule.attributes)
    rule.delete()
