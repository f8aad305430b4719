"""A rule-change impact preview: a connector's proposed identification rules and options, what re-identifying its
existing source records under them would change (worked out in the background, with progress), and, once applied,
what the change did. The computation lives in :mod:`assets.impact`; the lifecycle in :mod:`assets.impact_previews`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse


class ImpactStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    APPLIED = "applied", "Applied"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def pending(cls) -> tuple[str, str]:
        return (cls.QUEUED, cls.RUNNING)


class PreviewBase(models.Model):
    """What both impact previews keep: the proposal, the background run's status and progress, what it found and
    what Apply then did, and who asked for each."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    proposed = models.JSONField(default=dict)
    #: The proposal in words, against the configuration saved when it was made.
    changes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ImpactStatus.choices, default=ImpactStatus.QUEUED)
    #: Progress: live source records to re-identify, and how many were read so far.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    #: What the run found, and what Apply did, counted the same way.
    result = models.JSONField(default=dict, blank=True)
    applied_result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    #: The worker running it: a preview still running when that worker's heartbeat goes stale is failed by the
    #: worker sweep (:func:`assets.impact_previews.fail_orphaned_previews`) instead of showing progress forever.
    claimed_by = models.CharField(max_length=100, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["-id"]

    @property
    def pending(self) -> bool:
        return self.status in ImpactStatus.pending()

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0


class ImpactPreview(PreviewBase):
    """What a proposed rule change would do to one connector's existing records, before it is saved.
    ``proposed``: ``{"rules": [{"rule": id, "enabled": bool}, ...] in order, "create_unmanaged",
    "apply_default_rule", "trust_rank"}`` (see :func:`assets.impact.parse_proposal`); ``result``: counts per
    category and examples (:meth:`assets.impact.Plan.summary`)."""

    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="impact_previews")
    #: A fingerprint of the inventory when the preview ran: a different one now means the preview is stale.
    inventory_mark = models.CharField(max_length=100, blank=True)

    class Meta(PreviewBase.Meta):
        pass

    def __str__(self) -> str:
        return f"impact preview {self.uuid} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("connectors:impact_detail", args=[self.connector.uuid, self.uuid])
