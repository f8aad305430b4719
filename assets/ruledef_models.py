"""An impact preview of a change to a rule *definition* (its name, attributes, description): what saving it and
re-identifying every connector that uses the rule would change, worked out in the background with progress, and,
once applied, what the change did. The computation is :mod:`assets.ruledef_impact`; the lifecycle
:mod:`assets.ruledef_previews`.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from .impact_models import PreviewBase


class RuleImpactPreview(PreviewBase):
    """What a proposed rule definition would do to the records of the connectors that use the rule.
    ``proposed``: ``{"name", "attributes": [...], "description"}`` (checked again on Apply); ``result``:
    ``{"connectors": [{"id", "name", "records", "assets", "examples", ...}], "records", "assets"}`` (totals), see
    :func:`assets.ruledef_impact.run_definition_change`."""

    rule = models.ForeignKey("assets.IdentificationRule", on_delete=models.CASCADE, related_name="impact_previews")
    #: Fingerprint of the inventory and of the rules when the preview ran: another one now means it is stale.
    inventory_mark = models.CharField(max_length=200, blank=True)

    class Meta(PreviewBase.Meta):
        pass

    def __str__(self) -> str:
        return f"rule impact preview {self.uuid} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("assets:rule_impact_detail", args=[self.rule_id, self.uuid])
