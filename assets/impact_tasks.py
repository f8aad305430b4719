"""Starting an impact preview: the row, and its background task (enqueued when the row is committed)."""

from __future__ import annotations

from django.db import transaction
from django.tasks import task

from .impact_models import ImpactPreview
from .impact_previews import run_preview
from .impact_proposal import Proposal, describe_changes


def start_preview(connector, proposal: Proposal, *, actor=None) -> ImpactPreview:
    """Store a queued preview of ``proposal`` and compute it in the background."""
    preview = ImpactPreview.objects.create(
        connector=connector,
        proposed=proposal.as_json(),
        changes=describe_changes(connector, proposal),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    preview_id = preview.pk
    transaction.on_commit(lambda: run_impact_preview_task.enqueue(preview_id))
    return preview


@task()
def run_impact_preview_task(preview_id: int) -> str:
    """Compute one impact preview (progress is stored on the row as it goes)."""
    return run_preview(preview_id)
