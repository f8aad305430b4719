"""The life of an impact preview: run it (in the background, with progress), summarise it for the page, apply or
cancel it. Starting one (which enqueues the task) is :func:`assets.impact_tasks.start_preview`.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from connectors_site.common.worker_id import WORKER_ID

from .impact import Plan, plan_reidentification
from .impact_apply import apply_proposal
from .impact_models import ImpactPreview, ImpactStatus
from .impact_proposal import ProposalError, engine_config_for, parse_proposal
from .models import Asset, AssetEvent, Decision, SourceRecord
from .ruledef_models import RuleImpactPreview

logger = logging.getLogger(__name__)

#: Examples kept per category.
EXAMPLES = 10


class PreviewError(Exception):
    """The preview cannot be applied or cancelled in its state; the message says why."""


class _Cancelled(Exception):
    pass


def inventory_mark() -> str:
    """A fingerprint of the inventory: any record identified, deleted, merged or split since changes it."""
    marks = [
        model.objects.aggregate(last=Max("pk"))["last"] or 0 for model in (SourceRecord, Decision, AssetEvent, Asset)
    ]
    return ":".join(map(str, marks))


def run_preview(preview_id: int, *, batch_size: int | None = None, worker_id: str = WORKER_ID) -> str:
    """Compute a queued preview, storing progress as it reads the connector's records, then the summary. A
    preview cancelled meanwhile stops at its next batch. Returns the final status."""
    claimed = ImpactPreview.objects.filter(pk=preview_id, status=ImpactStatus.QUEUED).update(
        status=ImpactStatus.RUNNING,
        started_at=timezone.now(),
        inventory_mark=inventory_mark(),
        claimed_by=worker_id[:100],
    )
    if not claimed:
        return ImpactPreview.objects.filter(pk=preview_id).values_list("status", flat=True).first() or "missing"
    preview = ImpactPreview.objects.select_related("connector").get(pk=preview_id)

    def progress(read: int, total: int) -> None:
        if not ImpactPreview.objects.filter(pk=preview_id, status=ImpactStatus.RUNNING).update(
            processed=read, total=total
        ):
            raise _Cancelled

    try:
        proposal = parse_proposal(preview.connector, preview.proposed)
        plan = plan_reidentification(
            preview.connector,
            engine_config_for(preview.connector, proposal),
            progress=progress,
            batch_size=batch_size,
        )
        result = summary(plan)
    except _Cancelled:
        return ImpactStatus.CANCELLED
    except ProposalError as error:
        return _finish(preview_id, ImpactStatus.FAILED, error=str(error))
    except Exception as error:  # the page says it failed instead of spinning forever
        logger.exception("impact preview %s failed", preview_id)
        return _finish(preview_id, ImpactStatus.FAILED, error=f"{type(error).__name__}: {error}")
    return _finish(preview_id, ImpactStatus.READY, result=result)


#: What a preview whose worker died says (the task is not retried: the run may be what stopped the worker).
ORPHANED = "The worker computing this preview stopped before it finished; start a new preview."


def fail_orphaned_previews(dead_workers) -> int:
    """Fail the previews (of connector rules and of rule definitions) still running under a worker in
    ``dead_workers`` (worker ids, or a subquery of them); returns how many."""
    failed = 0
    for model in (ImpactPreview, RuleImpactPreview):
        failed += model.objects.filter(status=ImpactStatus.RUNNING, claimed_by__in=dead_workers).update(
            status=ImpactStatus.FAILED, finished_at=timezone.now(), error=ORPHANED
        )
    return failed


def _finish(preview_id: int, status: str, **fields) -> str:
    ImpactPreview.objects.filter(pk=preview_id, status=ImpactStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )
    return status


def summary(plan: Plan) -> dict:
    """The counts and up to :data:`EXAMPLES` examples per category, with the assets named (one query)."""
    examples: dict[str, list] = {name: [] for name in ("moved", "created", "skipped", "errors")}
    for item in plan.items:
        shown = examples.get(item.category)
        if shown is not None and len(shown) < EXAMPLES:
            shown.append(item)
    emptied = sorted(plan.emptied.items())[:EXAMPLES]
    joined = sorted(plan.joined.items())[:EXAMPLES]
    ids = {item.current for items in examples.values() for item in items}
    ids |= {item.target for items in examples.values() for item in items if item.target and item.target > 0}
    ids |= {asset_id for asset_id, _ in emptied} | {dest for _, dest in emptied if dest and dest > 0}
    ids |= {asset_id for asset_id, _ in joined} | {dest for _, (dest, _) in joined if dest > 0}
    names = {
        pk: {"uuid": str(uuid), "name": Asset(hostname=h, fqdn=f, serial_number=s, uuid=uuid).display_name}
        for pk, uuid, h, f, s in Asset.objects.filter(pk__in=sorted(ids)).values_list(
            "pk", "uuid", "hostname", "fqdn", "serial_number"
        )
    }
    new_number = {key: number for number, key in enumerate(plan.new_assets, start=1)}

    def ref(target):
        if target is None:
            return None
        if target < 0:
            return {"new": new_number.get(target, 0)}
        return names.get(target, {"uuid": "", "name": f"asset {target}"})

    return {
        **plan.counts(),
        "examples": {
            category: [
                {
                    "source_key": item.source_key,
                    "from": ref(item.current),
                    "to": ref(item.target),
                    "rule": item.decision.rule.name if item.decision.rule else "",
                    "reasons": list(item.decision.reasons[-3:]),
                }
                for item in items
            ]
            for category, items in examples.items()
        },
        "emptied": [{"asset": ref(asset_id), "into": ref(dest)} for asset_id, dest in emptied],
        "joined": [{"asset": ref(asset_id), "into": ref(dest), "source_key": key} for asset_id, (dest, key) in joined],
    }


def is_stale(preview: ImpactPreview) -> bool:
    """Whether the inventory changed since the preview ran (Apply then re-plans; the numbers may differ)."""
    return preview.status == ImpactStatus.READY and preview.inventory_mark != inventory_mark()


def proposal_problem(preview: ImpactPreview) -> str:
    """Why the preview's proposal no longer fits the connector (a rule added or deleted since), or ""."""
    if preview.status not in (*ImpactStatus.pending(), ImpactStatus.READY):
        return ""
    try:
        parse_proposal(preview.connector, preview.proposed)
    except ProposalError as error:
        return str(error)
    return ""


@transaction.atomic
def apply_preview(preview: ImpactPreview, *, actor=None) -> ImpactPreview:
    """Save the preview's proposal and re-derive the connector's records under it (re-planned now, under
    locks: see :mod:`assets.impact_apply`). Records what was done, and whether it differs from the preview."""
    preview = ImpactPreview.objects.select_for_update().select_related("connector").get(pk=preview.pk)
    if preview.status != ImpactStatus.READY:
        raise PreviewError(
            f"This preview is {preview.get_status_display().lower()}: only a finished one can be applied."
        )
    stale = preview.inventory_mark != inventory_mark()
    try:
        proposal = parse_proposal(preview.connector, preview.proposed)
    except ProposalError as error:
        raise PreviewError(str(error)) from error
    done = apply_proposal(preview.connector, proposal, actor=actor)
    previewed = {key: preview.result.get(key) for key in ("records", "assets")}
    preview.applied_result = {**done, "stale": stale, "as_previewed": done == previewed}
    preview.status = ImpactStatus.APPLIED
    preview.applied_at = timezone.now()
    preview.applied_by = actor if getattr(actor, "pk", None) else None
    preview.save(update_fields=["applied_result", "status", "applied_at", "applied_by"])
    return preview


def cancel_preview(preview: ImpactPreview) -> bool:
    """Cancel a preview not applied yet (a running one stops at its next batch). Returns whether it was."""
    return bool(
        ImpactPreview.objects.filter(
            pk=preview.pk, status__in=[ImpactStatus.QUEUED, ImpactStatus.RUNNING, ImpactStatus.READY]
        ).update(status=ImpactStatus.CANCELLED, finished_at=timezone.now())
    )
