"""The asset inventory: assets, what each source reported about them, and how every record was identified."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone

from connectors_site.common.audit import AuditEvent

from .choices import AssetAction, AssetKind, DecisionOutcome, IdentifierKind
from .engine.reconcile import value_junk

#: What names an asset, in order; the UUID comes last.
NAME_ATTRIBUTES = ("hostname", "fqdn", "netbios_name", "serial_number")


def display_name(asset) -> str:
    """An asset's name: the first of :data:`NAME_ATTRIBUTES` it holds a real (not junk) value of, else its UUID."""
    for name in NAME_ATTRIBUTES:
        value = getattr(asset, name)
        if value and value_junk(name, value) is None:
            return value
    return str(asset.uuid)


class IdentificationRule(models.Model):
    """A global rule definition: an asset matches when ALL of ``attributes`` match (identifier kinds, in order)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    attributes = models.JSONField(default=list, help_text="Identifier kinds that must all match.")
    is_system = models.BooleanField(default=False, help_text="System rules are read only.")
    position = models.PositiveIntegerField(default=100, help_text="Default order for new connectors.")
    default_enabled = models.BooleanField(default=True, help_text="On for new connectors.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("assets:rule_edit", args=[self.pk])

    @property
    def attribute_labels(self) -> list[str]:
        labels = dict(IdentifierKind.choices) | {"source_native_key": "Source native key"}
        return [labels.get(attribute, attribute) for attribute in self.attributes]


class RuleSelection(models.Model):
    """One rule of a connector's ordered selection: whether the connector applies it, and when.

    It lives with the rules, not with the connector, so that the apps' models depend one way: the inventory's
    models point at connectors, connectors' models know nothing of the inventory. The table keeps the name it was
    created with in the connectors app.
    """

    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="rule_selection")
    rule = models.ForeignKey(IdentificationRule, on_delete=models.CASCADE, related_name="selections")
    position = models.PositiveIntegerField()
    enabled = models.BooleanField("Required", default=True)

    class Meta:
        db_table = "connectors_connectorrule"
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["connector", "rule"], name="unique_rule_per_connector")]

    def __str__(self) -> str:
        return f"{self.connector_id}#{self.position} {self.rule_id}"


class AssetQuerySet(models.QuerySet):
    def live(self):
        return self.filter(merged_into__isnull=True, retired=False)


class Asset(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=AssetKind.choices, default=AssetKind.UNMANAGED)
    hostname = models.CharField(max_length=255, blank=True, db_index=True)
    fqdn = models.CharField(max_length=255, blank=True)
    netbios_name = models.CharField(max_length=255, blank=True)
    ip_addresses = models.JSONField(default=list, blank=True)
    mac_addresses = models.JSONField(default=list, blank=True)
    serial_number = models.CharField(max_length=255, blank=True, db_index=True)
    hardware_uuid = models.CharField(max_length=255, blank=True)
    cloud_provider = models.CharField(max_length=255, blank=True)
    cloud_instance_id = models.CharField(max_length=255, blank=True)
    os = models.CharField("OS", max_length=255, blank=True, db_index=True)
    os_version = models.CharField("OS version", max_length=255, blank=True)
    manufacturer = models.CharField(max_length=255, blank=True)
    model = models.CharField(max_length=255, blank=True)
    asset_type = models.CharField(max_length=255, blank=True)
    tags = models.JSONField(default=list, blank=True)
    #: attribute name -> id of the source record its value came from.
    provenance = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    retired = models.BooleanField(default=False)
    retired_at = models.DateTimeField(null=True, blank=True)
    possible_duplicate = models.BooleanField(default=False)
    #: Set on reconciliation: live sources report different real values of a strong identifier (serial number,
    #: hardware UUID, cloud instance ID), so a weaker rule may have merged two machines. See ``identifier_conflicts``.
    identifier_conflict = models.BooleanField(default=False, editable=False)
    #: Which values disagree and who reported each: kind -> [{"value": ..., "source": source record id}, ...].
    identifier_conflicts = models.JSONField(default=dict, blank=True, editable=False)
    #: Every live source is stale (not reported within its connector's ``stale_after_days``); see assets.lifecycle.
    #: Stored, not derived, so the list filter and the counts stay one range of an index on a million assets.
    stale = models.BooleanField(default=False, db_default=False, editable=False)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_assets"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AssetQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["retired", "merged_into", "-id"], name="asset_live_idx"),
            models.Index(fields=["kind", "-id"], name="asset_kind_idx"),
            # The Conflicts page, the conflict filter and the counts: a range of this index, whatever the number
            # of assets. Not a partial index: SQLite uses one only when the query spells its condition literally,
            # and Django binds the flag as a parameter.
            models.Index(fields=["identifier_conflict", "retired", "merged_into", "-id"], name="asset_conflict_idx"),
            # The Stale filter and the stale counts, the same way.
            models.Index(fields=["stale", "retired", "merged_into", "-id"], name="asset_stale_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def get_absolute_url(self) -> str:
        return reverse("assets:asset_detail", args=[self.uuid])

    @property
    def display_name(self) -> str:
        """The first real value of hostname, FQDN, NetBIOS name and serial number, else the UUID. Junk values
        (``localhost``, serial ``To be filled by O.E.M.``) never name an asset: they name nothing."""
        return display_name(self)


class SourceRecord(models.Model):
    """What one connector last reported about one of its records (keyed by the source's own key)."""

    # No index of their own: the unique (connector, source_key) and (asset, deleted) indexes lead with them, and
    # every index is written on each identification chunk.
    connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.CASCADE, related_name="source_records", db_index=False
    )
    source_key = models.CharField(max_length=255)
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="sources", db_index=False)
    attributes = models.JSONField(default=dict, help_text="Normalized attributes as last reported.")
    extra = models.JSONField(default=dict, blank=True, help_text="Free attributes the source sent.")
    source_updated_at = models.DateTimeField(null=True, blank=True)
    #: Fingerprint of what the source last reported (asset, attributes, identifiers and its updated-at time): the
    #: same record sent again (a replay, or a full sync of a source whose timestamps only move on change) only
    #: refreshes "last seen". The time is part of it because it also decides ties between equally trusted sources.
    digest = models.CharField(max_length=32, blank=True, editable=False)
    first_seen = models.DateTimeField()
    #: When the source says it last saw the machine (its own ``last_seen``, else the time of the report).
    last_seen = models.DateTimeField()
    #: When this connector last reported the record, changed or not (our clock, never the source's): what the
    #: stale and purge rules measure (assets.lifecycle).
    reported_at = models.DateTimeField(default=timezone.now, db_default=Now())
    #: Not reported for the connector's ``stale_after_days``; a report makes it fresh again.
    stale = models.BooleanField(default=False, db_default=False)
    deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    last_delivery = models.ForeignKey("connectors.Delivery", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "source_key"], name="unique_source_key_per_connector")
        ]
        indexes = [
            models.Index(fields=["asset", "deleted"], name="source_asset_idx"),
            # A connector's assets in id order: the asset list's connector filter (see AssetFilterSet).
            models.Index(fields=["connector", "asset"], name="source_connector_asset_idx"),
            # The lifecycle pass: a connector's live records, fresh or stale, in the order they were last reported.
            models.Index(fields=["connector", "deleted", "stale", "reported_at"], name="source_lifecycle_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.source_key}"


class Identifier(models.Model):
    """A normalized identifying value one source record carries; the engine matches against these."""

    kind = models.CharField(max_length=20, choices=IdentifierKind.choices)
    value = models.CharField(max_length=255)
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="identifiers")
    # Served by the unique (source_record, kind, value) index.
    source_record = models.ForeignKey(
        SourceRecord, on_delete=models.CASCADE, related_name="identifiers", db_index=False
    )

    class Meta:
        indexes = [
            # One index serves both the engine's lookups (value = … and kind = …) and the prefix search (value
            # LIKE 'x%' on PostgreSQL, which needs pattern ops under a non-C collation; pattern ops also serve
            # equality; SQLite ignores opclasses and searches by range). Every index costs writes on each chunk.
            models.Index(
                fields=["value", "kind"],
                name="identifier_value_kind_idx",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["source_record", "kind", "value"], name="unique_identifier_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}"


class Decision(models.Model):
    """How one record of one delivery was identified, and why."""

    # Served by decision_source_idx (connector, source_key).
    connector = models.ForeignKey(
        "connectors.Connector", on_delete=models.CASCADE, related_name="decisions", db_index=False
    )
    delivery = models.ForeignKey(
        "connectors.Delivery", null=True, blank=True, on_delete=models.CASCADE, related_name="decisions"
    )
    source_key = models.CharField(max_length=255)
    outcome = models.CharField(max_length=12, choices=DecisionOutcome.choices)
    rule = models.ForeignKey(IdentificationRule, null=True, blank=True, on_delete=models.SET_NULL)
    rule_name = models.CharField(max_length=100, blank=True)
    compared = models.JSONField(default=dict, blank=True)
    candidates = models.JSONField(default=list, blank=True, help_text="UUIDs of the candidate assets.")
    asset = models.ForeignKey(Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    reasons = models.JSONField(default=list, blank=True)
    #: Values dropped from the record as invalid for their field: [{"field", "value", "message"}].
    warnings = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["connector", "source_key"], name="decision_source_idx")]

    def __str__(self) -> str:
        return f"{self.source_key}: {self.outcome}"


class AssetEvent(models.Model):
    """Audit row for manual inventory changes (merge, split) and what it takes to undo them."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=10, choices=AssetAction.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    details = models.JSONField(default=dict, blank=True)
    undone = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.asset_id}"


class DuplicateDismissal(models.Model):
    """An admin's "not a duplicate": these assets share this value but are different machines.

    The Duplicates view hides the value while only these assets share it, and the engine does not flag them as
    possible duplicates again when they are the only candidates a rule saw (``assets.duplicates``). A new asset
    sharing the value is new evidence: the group shows again.
    """

    kind = models.CharField(max_length=20, choices=IdentifierKind.choices)
    value = models.CharField(max_length=255)
    #: Primary keys of the assets declared distinct.
    asset_ids = models.JSONField(default=list)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "value"], name="dismissal_value_idx")]

    def __str__(self) -> str:
        return f"{self.kind}={self.value} not a duplicate"


class RuleEvent(AuditEvent):
    """Audit row for changes to identification rule definitions. Survives the rule's deletion."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        CHANGED = "changed", "Changed"
        DELETED = "deleted", "Deleted"

    subject_field = "rule"

    rule = models.ForeignKey(
        IdentificationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    rule_name = models.CharField(max_length=100)
    action = models.CharField(max_length=10, choices=Action.choices)


class InventoryCounts(models.Model):
    """The Overview's inventory counts (see ``assets.overview.counts``), stored with the change marker they were
    computed under. Counting by connector joins every source record to its asset: too slow for each view of a
    large inventory, so the counts are kept here and recomputed when the marker moves. One row (pk 1)."""

    counts = models.JSONField(default=dict, editable=False)
    marker = models.JSONField(default=dict, editable=False)
    computed_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: When a background recount was last asked for; a second view does not queue another while one is pending.
    refresh_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: How long the last recount took, in milliseconds (shown on the page and in the benchmark).
    duration_ms = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name_plural = "inventory counts"

    def __str__(self) -> str:
        return f"inventory counts at {self.computed_at}"


# Defined in its own module (the feature's), registered here with the app's other models.
from .impact_models import ImpactPreview, ImpactStatus  # noqa: E402, F401
from .lock_models import IdentityLock  # noqa: E402, F401
from .ruledef_models import RuleImpactPreview  # noqa: E402, F401
