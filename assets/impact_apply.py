"""Apply a rule change: save the proposed rules and options, re-identify the connector's records under them, and
execute the plan (:func:`assets.impact.plan_reidentification`) in the same transaction.

The plan is computed again here, under locks, not taken from the preview: the inventory may have changed since
(a delivery, a manual merge), and a stale plan executed blindly could move records that are no longer where it
thought. What Apply reports is counted from the rows it changed, the same way the preview counts, so a preview
of an unchanged inventory shows exactly what Apply then does.
"""

from __future__ import annotations

from types import SimpleNamespace

from django.db import transaction
from django.utils import timezone

from connectors.choices import ConnectorAction
from connectors.models import ConnectorEvent
from connectors_site.common.db import allocate_ids, delete_rows, insert_rows, update_rows

from .choices import AssetKind, DecisionOutcome
from .identity_locks import lock_all_identities
from .impact import CATEGORIES, ID_BATCH, Plan, live_sources, plan_reidentification
from .impact_proposal import Proposal, engine_config_for
from .joins import write_joins
from .models import Asset, Decision, Identifier, SourceRecord
from .rule_selection import update_rule_selection
from .services import reconcile_assets
from .writes import DECISION_COLUMNS

REASON = "re-identified after a rule change"
_OUTCOMES = {
    "moved": DecisionOutcome.MERGED,
    "created": DecisionOutcome.CREATED,
    "skipped": DecisionOutcome.SKIPPED,
}


def _lock_inventory() -> None:
    """Serialize with every identification chunk while the plan is computed and executed (SQLite: the
    transaction already holds the only write lock)."""
    lock_all_identities()


def save_proposal(connector, proposal: Proposal, *, actor=None) -> bool:
    """Save the proposed rule order, Required switches and options (one audit row each way they are saved
    elsewhere). Returns whether the trust rank changed (every asset of the connector is then re-derived)."""
    update_rule_selection(
        connector,
        actor=actor,
        order=[rule_id for rule_id, _ in proposal.rules],
        enabled=dict(proposal.rules),
        create_unmanaged=proposal.create_unmanaged,
        apply_default_rule=proposal.apply_default_rule,
    )
    if proposal.trust_rank == connector.trust_rank:
        return False
    before = connector.trust_rank
    connector.trust_rank = proposal.trust_rank
    connector.save(update_fields=["trust_rank", "updated_at"])
    ConnectorEvent.record(
        connector, ConnectorAction.EDITED, actor, changes={"trust_rank": [before, proposal.trust_rank]}
    )
    return True


@transaction.atomic
def apply_proposal(connector, proposal: Proposal, *, actor=None, batch_size: int | None = None) -> dict:
    """Save ``proposal`` and re-derive the connector's records under it, in one transaction. Returns what was
    done, counted like :meth:`assets.impact.Plan.counts`."""
    _lock_inventory()
    rank_changed = save_proposal(connector, proposal, actor=actor)
    plan = plan_reidentification(connector, engine_config_for(connector, proposal), batch_size=batch_size)
    done = execute_plan(connector, plan, actor=actor)
    records = done["records"]
    ConnectorEvent.record(
        connector,
        ConnectorAction.RULES_CHANGED,
        actor,
        reidentified=f"{records['total']} records: {records['moved']} moved into other assets, "
        f"{records['created']} split into new assets, {records['skipped']} skipped, {records['unchanged']} unchanged",
    )
    if rank_changed:
        # Which source's values an asset shows depends on the ranks: every asset the connector reports.
        ids = sorted(set(live_sources(connector).values_list("asset_id", flat=True)))
        for start in range(0, len(ids), ID_BATCH):
            reconcile_assets(ids[start : start + ID_BATCH])
    return done


def execute_plan(connector, plan: Plan, *, actor=None) -> dict:
    """Execute a plan, step by step: create the new assets, move source records (with their identifiers) to
    their targets, drop the skipped ones, join the assets records tie together, merge away or retire the emptied
    assets, flag possible duplicates, re-derive what changed and record a decision per changed record. Returns
    what it did, observed in the database afterwards (:func:`_observe`)."""
    new_ids = dict(zip(plan.new_assets, allocate_ids(Asset, len(plan.new_assets)), strict=True))
    Asset.objects.bulk_create(
        Asset(pk=pk, kind=AssetKind.UNMANAGED, possible_duplicate=key in plan.flagged_new)
        for key, pk in new_ids.items()
    )

    def final(target: int) -> int:
        return new_ids.get(target, target)

    _move_sources([(item.source_id, final(item.target)) for item in plan.changes if item.target is not None])
    _drop_sources([item.source_id for item in plan.items if item.category == "skipped"])
    joined = _join(connector, plan, final)
    merged_away = _merge_emptied(plan, final)
    flagged = sum(1 for key in new_ids if key in plan.flagged_new)
    for batch in _batches(plan.flagged):
        flagged += Asset.objects.filter(pk__in=batch, possible_duplicate=False).update(possible_duplicate=True)
    touched = {item.current for item in plan.changes} | {final(item.target) for item in plan.changes if item.target}
    touched |= {final(target) for target, _ in plan.joined.values()}
    for batch in _batches(touched - set(joined)):
        reconcile_assets(batch)
    _record_decisions(connector, plan, final, actor)
    done = _observe(connector, plan, new_ids, joined=len(joined), merged_away=merged_away)
    done["assets"]["flagged"] = flagged
    return done


def _batches(ids) -> list[list[int]]:
    """Sorted ids in lists of :data:`ID_BATCH` (an ``IN`` list each, under the databases' parameter limits)."""
    ids = sorted(ids)
    return [ids[start : start + ID_BATCH] for start in range(0, len(ids), ID_BATCH)]


def _observe(connector, plan: Plan, new_ids: dict[int, int], *, joined: int, merged_away: int) -> dict:
    """What Apply did, read back from the database: where each of the connector's records is now compared with
    where it was, the new assets that hold records, the emptied assets now retired."""
    before = {item.source_id: item.current for item in plan.items}
    now: dict[int, int] = {}
    ids = sorted(before)
    for start in range(0, len(ids), ID_BATCH):
        now.update(live_sources(connector).filter(pk__in=ids[start : start + ID_BATCH]).values_list("pk", "asset_id"))
    new_assets = set(new_ids.values())
    kept = {item.source_id for item in plan.items if item.category == "kept"}
    records = dict.fromkeys(CATEGORIES, 0)
    records["errors"] = sum(1 for item in plan.items if item.category == "errors")
    for source_id, current in before.items():
        asset_id = now.get(source_id)
        if asset_id is None:
            records["skipped"] += 1
        elif asset_id in new_assets:
            records["created"] += 1
        elif asset_id != current:
            records["moved"] += 1
        elif source_id in kept:
            records["kept"] += 1
    records["unchanged"] = len(before) - sum(records.values())
    emptied_retired = [asset_id for asset_id, dest in plan.emptied.items() if dest is None]
    return {
        "records": {"total": len(before), **records},
        "assets": {
            "created": len(set(now.values()) & new_assets),
            "merged_away": merged_away,
            "retired": sum(
                Asset.objects.filter(pk__in=batch, retired=True).count() for batch in _batches(emptied_retired)
            ),
            "joined": joined,
        },
    }


def _move_sources(moves: list[tuple[int, int]]) -> None:
    """Move source records to new assets, with their identifiers (an identifier's asset is its source's). The
    digest is cleared: it fingerprints the asset too, so the next report of the record is written in full."""
    if not moves:
        return
    update_rows(SourceRecord, ("asset_id", "digest"), [(source_id, asset_id, "") for source_id, asset_id in moves])
    target = dict(moves)
    ids = sorted(target)
    for start in range(0, len(ids), ID_BATCH):
        rows = Identifier.objects.filter(source_record_id__in=ids[start : start + ID_BATCH]).values_list(
            "pk", "source_record_id"
        )
        update_rows(Identifier, ("asset_id",), [(pk, target[source_id]) for pk, source_id in rows])


def _drop_sources(source_ids: list[int]) -> None:
    """Skipped records leave the inventory: their source records and identifiers are deleted, so the next report
    of the record is identified under the new rules (a deleted-but-kept record would still match by its key)."""
    for start in range(0, len(source_ids), ID_BATCH):
        batch = source_ids[start : start + ID_BATCH]
        Identifier.objects.filter(source_record_id__in=batch).delete()
        delete_rows(SourceRecord, batch)


def _join(connector, plan: Plan, final) -> dict[int, int]:
    """Other sources' assets a record ties together are merged like the joins of a delivery (``write_joins``:
    the sources move, the loser points to its survivor, an undoable ``merged`` audit row)."""
    if not plan.joined:
        return {}
    joins = [
        SimpleNamespace(joins=((loser, final(target)),), source_key=key)
        for loser, (target, key) in sorted(plan.joined.items())
    ]
    return write_joins(connector, joins, {})


def _merge_emptied(plan: Plan, final) -> int:
    """Assets of this connector alone whose records all went to one asset point to it (their URLs keep
    working); the others are retired when re-derived. Returns how many were merged away."""
    into = {asset_id: final(dest) for asset_id, dest in plan.emptied.items() if dest is not None}
    ids = sorted(into)
    free: list[int] = []
    for start in range(0, len(ids), ID_BATCH):
        free.extend(
            Asset.objects.filter(pk__in=ids[start : start + ID_BATCH], merged_into__isnull=True).values_list(
                "pk", flat=True
            )
        )
    update_rows(Asset, ("merged_into",), [(asset_id, into[asset_id]) for asset_id in free])
    return len(free)


def _record_decisions(connector, plan: Plan, final, actor) -> None:
    """One decision row per record that changed asset or left the inventory, with the engine's reasons after
    the note that says why it was re-identified."""
    changes = plan.changes
    if not changes:
        return
    who = f" by {actor.get_username()}" if actor is not None and getattr(actor, "pk", None) else ""
    candidate_ids = sorted({c for item in changes for c in item.decision.candidates if c > 0})
    uuids = {}
    for start in range(0, len(candidate_ids), ID_BATCH):
        uuids.update(Asset.objects.filter(pk__in=candidate_ids[start : start + ID_BATCH]).values_list("pk", "uuid"))
    now = timezone.now()
    rows = []
    for item in changes:
        decision = item.decision
        rows.append(
            (
                connector.pk,
                None,
                item.source_key[:255],
                _OUTCOMES[item.category].value,
                decision.rule.id if decision.rule else None,
                decision.rule.name if decision.rule else "",
                decision.compared,
                [str(uuids[c]) for c in decision.candidates if c in uuids],
                final(item.target) if item.target else None,
                [f"{REASON}{who}", *decision.reasons],
                [],  # stored values were checked when they were reported
                now,
            )
        )
    insert_rows(Decision, DECISION_COLUMNS, rows)  # no delivery: the change decided
