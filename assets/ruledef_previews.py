"""The life of a rule definition's impact preview: start it (a background task), run it with progress, apply or
cancel it. The computation is :mod:`assets.ruledef_impact`.

Progress needs a way out of the preview's transaction, which is rolled back (and, on SQLite, holds the only write
lock while it runs, so no other connection could write progress either): :class:`ProgressChannel` writes it on
PostgreSQL through a second, autocommit connection, and on SQLite (one machine by definition) to a small file
under ``DATA_DIR``, which the page reads while the preview runs. A cancel request reaches a running preview the
same ways (a flag file on SQLite, the row's status read by the second connection on PostgreSQL).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.tasks import task
from django.utils import timezone

from connectors.models import ConnectorEvent
from connectors_site.common.worker_id import WORKER_ID

from .choices import IdentifierKind
from .impact_models import ImpactStatus
from .impact_previews import inventory_mark
from .models import IdentificationRule, RuleSelection
from .ruledef_impact import (
    apply_definition_change,
    preview_definition_change,
    records_to_reidentify,
    touched_connectors,
)
from .ruledef_models import RuleImpactPreview

logger = logging.getLogger(__name__)


class PreviewError(Exception):
    """The preview cannot be applied in its state; the message says why."""


class _Cancelled(Exception):
    pass


class ProgressChannel:
    """Progress of a running preview, visible to other processes while its transaction is open."""

    def __init__(self, preview_id: int) -> None:
        self.preview_id = preview_id
        self.postgresql = connection.vendor == "postgresql"
        self._side = None

    # -- files (SQLite)

    @staticmethod
    def _path(preview_id: int, suffix: str) -> Path:
        return Path(settings.DATA_DIR) / "rule-impact" / f"{preview_id}.{suffix}"

    @classmethod
    def read(cls, preview: RuleImpactPreview) -> tuple[int, int]:
        """(processed, total) as the running preview last reported it (the row's, without a file)."""
        try:
            data = json.loads(cls._path(preview.pk, "json").read_text())
            return int(data["processed"]), int(data["total"])
        except (OSError, ValueError, KeyError, TypeError):
            return preview.processed, preview.total

    @classmethod
    def request_cancel(cls, preview_id: int) -> None:
        path = cls._path(preview_id, "cancel")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def report(self, processed: int, total: int) -> None:
        """Store progress; raises ``_Cancelled`` when the preview was cancelled meanwhile."""
        if self._path(self.preview_id, "cancel").exists():
            raise _Cancelled
        if self.postgresql:
            self._report_on_side_connection(processed, total)
            return
        path = self._path(self.preview_id, "json")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps({"processed": processed, "total": total}))
        os.replace(partial, path)

    def _report_on_side_connection(self, processed: int, total: int) -> None:
        """A second connection, in autocommit: the row is updated unless another transaction holds it (then this
        report is skipped rather than waited for)."""
        if self._side is None:
            self._side = connections.create_connection(DEFAULT_DB_ALIAS)
        table = RuleImpactPreview._meta.db_table
        with self._side.cursor() as cursor:
            cursor.execute(
                f"SELECT status FROM {table} WHERE id = %s FOR UPDATE SKIP LOCKED",
                [self.preview_id],
            )
            row = cursor.fetchone()
            if row and row[0] == ImpactStatus.CANCELLED:
                raise _Cancelled
            if row:
                cursor.execute(
                    f"UPDATE {table} SET processed = %s, total = %s WHERE id = %s",
                    [processed, total, self.preview_id],
                )

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
        for suffix in ("json", "tmp", "cancel"):
            self._path(self.preview_id, suffix).unlink(missing_ok=True)


def preview_mark(rule: IdentificationRule) -> str:
    """The inventory's fingerprint plus the rule's and the connectors' state: another one means stale."""
    using = ",".join(
        str(pk)
        for pk in RuleSelection.objects.filter(rule=rule, enabled=True).order_by("pk").values_list("pk", flat=True)
    )
    # A connector's rules or options saved since (its audit rows) change what it would do, too.
    settings_mark = ConnectorEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return f"{inventory_mark()}|{rule.updated_at.isoformat()}|{settings_mark}|{using}"[:200]


def describe_definition(rule: IdentificationRule, definition: dict) -> list[str]:
    """The proposed definition in words, against the saved one (empty: nothing changes)."""
    labels = dict(IdentifierKind.choices)

    def names(attributes):
        return " + ".join(labels.get(name, name) for name in attributes)

    changes = []
    if definition["name"] != rule.name:
        changes.append(f"Name: {rule.name} → {definition['name']}")
    if list(definition["attributes"]) != list(rule.attributes):
        changes.append(f"Attributes: {names(rule.attributes)} → {names(definition['attributes'])}")
    if definition.get("description", "") != rule.description:
        changes.append("Description changed")
    return changes


def start_rule_preview(rule: IdentificationRule, definition: dict, *, actor=None) -> RuleImpactPreview:
    """Store a queued preview of ``definition`` and compute it in the background. Refused (``PreviewError``)
    above :data:`settings.RULE_IMPACT_PREVIEW_MAX_RECORDS` records: Apply directly, or per connector."""
    connectors = touched_connectors(rule, definition["attributes"])
    total = records_to_reidentify(connectors)
    if total > settings.RULE_IMPACT_PREVIEW_MAX_RECORDS:
        raise PreviewError(
            f"This change re-identifies {total} records of {len(connectors)} connectors, more than a preview "
            f"may hold the inventory for ({settings.RULE_IMPACT_PREVIEW_MAX_RECORDS}). Preview the change on each "
            "connector's rules page instead."
        )
    preview = RuleImpactPreview.objects.create(
        rule=rule,
        proposed=definition,
        changes=describe_definition(rule, definition),
        total=total,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    preview_id = preview.pk
    transaction.on_commit(lambda: run_rule_impact_preview_task.enqueue(preview_id))
    return preview


@task()
def run_rule_impact_preview_task(preview_id: int) -> str:
    """Compute one rule definition's impact preview (progress is reported as it goes)."""
    return run_rule_preview(preview_id)


def run_rule_preview(preview_id: int, *, worker_id: str = WORKER_ID) -> str:
    """Compute a queued preview: the Apply run, rolled back (:func:`assets.ruledef_impact.preview_definition_change`).
    Returns the final status."""
    claimed = RuleImpactPreview.objects.filter(pk=preview_id, status=ImpactStatus.QUEUED).update(
        status=ImpactStatus.RUNNING, started_at=timezone.now(), claimed_by=worker_id[:100]
    )
    if not claimed:
        return RuleImpactPreview.objects.filter(pk=preview_id).values_list("status", flat=True).first() or "missing"
    preview = RuleImpactPreview.objects.select_related("rule").get(pk=preview_id)
    RuleImpactPreview.objects.filter(pk=preview_id).update(inventory_mark=preview_mark(preview.rule))
    channel = ProgressChannel(preview_id)
    try:
        result = preview_definition_change(preview.rule_id, preview.proposed, progress=channel.report)
    except _Cancelled:
        return ImpactStatus.CANCELLED
    except ValidationError as error:
        return _finish(preview_id, ImpactStatus.FAILED, error=" ".join(error.messages))
    except Exception as error:  # the page says it failed instead of spinning forever
        logger.exception("rule impact preview %s failed", preview_id)
        return _finish(preview_id, ImpactStatus.FAILED, error=f"{type(error).__name__}: {error}")
    finally:
        channel.close()
    total = result["records"].get("total", 0)
    return _finish(preview_id, ImpactStatus.READY, result=result, processed=total, total=total)


def _finish(preview_id: int, status: str, **fields) -> str:
    RuleImpactPreview.objects.filter(pk=preview_id, status=ImpactStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )
    return status


def is_stale(preview: RuleImpactPreview) -> bool:
    return preview.status == ImpactStatus.READY and preview.inventory_mark != preview_mark(preview.rule)


def numbers(result: dict) -> dict:
    """What Apply is compared on: per-connector and total counts (not the examples)."""
    return {
        "connectors": [[entry["id"], entry["records"], entry["assets"]] for entry in result.get("connectors", [])],
        "records": result.get("records", {}),
        "assets": result.get("assets", {}),
    }


@transaction.atomic
def apply_rule_preview(preview: RuleImpactPreview, *, actor=None) -> RuleImpactPreview:
    """Save the previewed definition and re-identify the connectors it touches (run again now, under locks).
    Records what was done and whether it is what the preview counted. Raises ``PreviewError`` or, for a
    definition no longer valid (a name taken since), ``ValidationError``."""
    preview = RuleImpactPreview.objects.select_for_update().select_related("rule").get(pk=preview.pk)
    if preview.status != ImpactStatus.READY:
        raise PreviewError(
            f"This preview is {preview.get_status_display().lower()}: only a finished one can be applied."
        )
    stale = is_stale(preview)
    done = apply_definition_change(preview.rule_id, preview.proposed, actor=actor)
    preview.applied_result = {**done, "stale": stale, "as_previewed": numbers(done) == numbers(preview.result)}
    preview.status = ImpactStatus.APPLIED
    preview.applied_at = timezone.now()
    preview.applied_by = actor if getattr(actor, "pk", None) else None
    preview.save(update_fields=["applied_result", "status", "applied_at", "applied_by"])
    return preview


def cancel_rule_preview(preview: RuleImpactPreview) -> bool:
    """Cancel a preview not applied yet (a running one stops at its next progress report)."""
    if preview.status == ImpactStatus.RUNNING and connection.vendor != "postgresql":
        # SQLite: the running preview holds the write lock, so the row's new status reaches it only afterwards.
        ProgressChannel.request_cancel(preview.pk)
    return bool(
        RuleImpactPreview.objects.filter(
            pk=preview.pk, status__in=[ImpactStatus.QUEUED, ImpactStatus.RUNNING, ImpactStatus.READY]
        ).update(status=ImpactStatus.CANCELLED, finished_at=timezone.now())
    )
