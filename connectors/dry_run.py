"""Dry runs: ``?dry_run=1`` on ``/webhooks/<uuid>`` and on the CSAM sync path.

A dry run goes through the same authentication, body limits, rate limit and parsing as a real push (the intake
view does all of that), then identifies the records against the current inventory with the connector's current
rules and answers what would happen, writing nothing: no delivery, no asset, no source record, no decision. The
idempotency key is not consumed (the same key can be pushed for real afterwards); the reply says when it was
already used (``duplicate_of``), since a real push would then change nothing.

Identification is :func:`assets.services.identify_chunk`, the engine step of the real write path, so a dry run
cannot disagree with it. All records of a dry run are identified in one engine call, as one chunk: when
``IDENTIFICATION_CHUNK_SIZE`` is smaller than the batch the real run splits it into chunks, and a record of a later
chunk then sees the assets an earlier chunk created as existing ones (``merged`` into that asset rather than into a
"new asset" of the same chunk). With the default chunk size (1,000) and the dry-run limit (1,000 entries) both
agree exactly. Deletions are planned by :func:`assets.deletions.plan_deletions`, the check the real path runs.

A dry run counts against the connector's rate limit: it is the same work as a real push, minus the writes.
The rate-limit window row is therefore the one thing a dry run changes.
"""

from __future__ import annotations

from django.utils import timezone

from assets.deletions import plan_deletions
from assets.engine.records import ParsedBatch
from assets.models import Asset
from assets.services import engine_config, identify_chunk
from assets.writes import CSAM_OFF_NOTE, writes_source_record

from .bodies import IntakeRejected
from .inbox import stored_idempotency_key
from .models import Connector, Delivery

#: Most entries (assets, valid or not, plus deletions) one dry run identifies.
MAX_DRY_RUN_ENTRIES = 1000

_YES = ("1", "true")
_NO = ("0", "false")


def requested(query_params) -> bool:
    """Whether the request asks for a dry run: ``dry_run`` = ``1``/``true`` yes, absent or ``0``/``false`` no
    (case-insensitive); any other value, or the parameter given twice, is a 400."""
    values = query_params.getlist("dry_run")
    if not values:
        return False
    if len(values) == 1 and values[0].strip().lower() in _YES + _NO:
        return values[0].strip().lower() in _YES
    raise IntakeRejected(
        400,
        "Bad request",
        "The dry_run parameter takes 1 or true (identify without writing anything), or 0 or false; "
        f"got {', '.join(repr(value[:40]) for value in values)}.",
    )


def check_size(batch: ParsedBatch) -> None:
    """Refuse a dry run over :data:`MAX_DRY_RUN_ENTRIES` entries (400)."""
    entries = len(batch.records) + len(batch.errors) + len(batch.deleted)
    if entries > MAX_DRY_RUN_ENTRIES:
        raise IntakeRejected(
            400,
            "Dry run too large",
            f"A dry run takes at most {MAX_DRY_RUN_ENTRIES} entries (assets and deletions together); this body "
            f"holds {entries}. Send a sample of at most {MAX_DRY_RUN_ENTRIES}, or push without dry_run.",
        )


def rehearse(connector: Connector, batch: ParsedBatch, *, idempotency_key: str = "") -> dict:
    """What pushing ``batch`` would do now, nothing written: the decisions, deletions and the first delivery of
    the same idempotency key, if any. A fixed number of queries whatever the batch size."""
    check_size(batch)
    identified = identify_chunk(connector, batch.records, config=engine_config(connector), received_at=timezone.now())
    deletions = plan_deletions(connector, batch.deleted) if batch.deleted else []
    asset_ids = {d.asset_id for d in identified.decisions if d.asset_id}
    asset_ids |= {c for d in identified.decisions for c in d.candidates if c > 0}
    asset_ids |= {item.asset_id for item in deletions if item.asset_id}
    uuids = {pk: str(uuid) for pk, uuid in Asset.objects.filter(pk__in=asset_ids).values_list("pk", "uuid")}
    new_assets: dict[int, int] = {}  # new-asset key -> 1, 2, … in the order records reach them
    note = () if connector.csam_enabled else (CSAM_OFF_NOTE,)
    decisions = []
    for position, decision in enumerate(identified.decisions):
        if decision.new_asset_key is not None:
            new_assets.setdefault(decision.new_asset_key, len(new_assets) + 1)
        decisions.append(
            {
                "index": batch.record_index(position),
                "source_key": decision.source_key,
                "outcome": decision.outcome.value,
                "rule": decision.rule.name if decision.rule else None,
                "asset": uuids.get(decision.asset_id) if decision.asset_id else None,
                "new_asset": new_assets.get(decision.new_asset_key) if connector.csam_enabled else None,
                "candidates": [uuids[c] for c in decision.candidates if c in uuids],
                "compared": decision.compared,
                "possible_duplicate": decision.possible_duplicate,
                "reasons": [*decision.reasons, *note],
            }
        )
    # The real run writes the records before it applies the deletions: a key this batch writes is live by then.
    written = {d.source_key: d for d in identified.decisions if connector.csam_enabled and writes_source_record(d)}
    return {
        "decisions": decisions,
        "deleted": [_deletion(item, written.get(item.source_key), uuids, new_assets) for item in deletions],
        "duplicate_of": _first_delivery(connector, idempotency_key),
    }


def _deletion(item, written, uuids: dict[int, str], new_assets: dict[int, int]) -> dict:
    asset, new_asset, outcome, reason = uuids.get(item.asset_id), None, item.outcome, item.reason
    if item.asset_id is None and written is not None:
        asset = uuids.get(written.asset_id) if written.asset_id else None
        new_asset = new_assets.get(written.new_asset_key)
        outcome, reason = "deleted", "the source reported the record deleted"
    return {
        "source_key": item.source_key,
        "outcome": str(outcome),
        "asset": asset,
        "new_asset": new_asset,
        "reasons": [reason],
    }


def _first_delivery(connector: Connector, idempotency_key: str) -> str | None:
    """The delivery a real push with this key would be answered with (changing nothing), if any."""
    if not idempotency_key:
        return None
    key = stored_idempotency_key(idempotency_key)
    found = Delivery.objects.filter(connector=connector, idempotency_key=key).values_list("uuid", flat=True).first()
    return str(found) if found else None
