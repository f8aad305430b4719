"""An impact preview of a change to a rule *definition* (its name, attributes, description): what saving it and
re-identifying every connector that uses the rule would change, worked out in the background with progress, and,
once applied, what the change did. The computation is :mod:`assets.ruledef_impact`; the lifecycle
:mod:`assets.ruledef_previews`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse

from .impact_models import ImpactStatus


class RuleImpactPreview(models.Model):
    """What a proposed rule definition would do to the records of the connectors that use the rule."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    rule = models.ForeignKey("assets.IdentificationRule", on_delete=models.CASCADE, related_name="impact_previews")
    #: The proposed definition: ``{"name", "attributes": [...], "description"}`` (checked again on Apply).
    proposed = models.JSONField(default=dict)
    #: The proposal in words, against the definition saved when it was made.
    changes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=ImpactStatus.choices, default=ImpactStatus.QUEUED)
    #: Progress over all the connectors re-identified: live records in all, and how many were read so far.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    #: What the run found: ``{"connectors": [{"id", "name", "records", "assets", "examples", ...}], "records",
    #: "assets"}`` (totals), see :func:`assets.ruledef_impact.run_definition_change`.
    result = models.JSONField(default=dict, blank=True)
    #: What Apply did, counted the same way, and whether it was as previewed.
    applied_result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    #: Fingerprint of the inventory and of the rules when the preview ran: another one now means it is stale.
    inventory_mark = models.CharField(max_length=200, blank=True)
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
        return f"rule impact preview {self.uuid} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("assets:rule_impact_detail", args=[self.rule_id, self.uuid])

    @property
    def pending(self) -> bool:
        return self.status in ImpactStatus.pending()

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 0
