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


class ImpactPreview(models.Model):
    """What a proposed rule change would do to one connector's existing records, before it is saved."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="impact_previews")
    #: The proposed configuration: ``{"rules": [{"rule": id, "enabled": bool}, ...] in order, "create_unmanaged",
    #: "apply_default_rule", "trust_rank"}`` (see :func:`assets.impact.parse_proposal`).
    proposed = models.JSONField(default=dict)
    #: The proposal in words, against the configuration saved when it was made (see ``describe_changes``).
    changes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ImpactStatus.choices, default=ImpactStatus.QUEUED)
    #: Progress: live source records to re-identify, and how many were read and indexed so far.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    #: What the plan found: counts per category and examples (see :meth:`assets.impact.Plan.summary`).
    result = models.JSONField(default=dict, blank=True)
    #: What Apply did, counted the same way (and whether the inventory had changed since the preview).
    applied_result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    #: A fingerprint of the inventory when the preview ran: a different one now means the preview is stale.
    inventory_mark = models.CharField(max_length=100, blank=True)
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

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"impact preview {self.uuid} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("connectors:impact_detail", args=[self.connector.uuid, self.uuid])

    @property
    def pending(self) -> bool:
        return self.status in ImpactStatus.pending()

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0
