"""Connectors, their audit trail and the delivery inbox."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from connectors_site.common.audit import AuditEvent
from connectors_site.common.encryption import EncryptedCharField

from .choices import (
    ConnectorAction,
    ConnectorStatus,
    DeliveryStatus,
    HmacAlgorithm,
    HmacEncoding,
    Module,
    PayloadFormat,
    RefusalReason,
    SignatureScheme,
    SyncStatus,
)


class ConnectorQuerySet(models.QuerySet):
    def holding_name(self, name: str, *, exclude: Connector | None = None) -> Connector | None:
        """The connector that already has ``name``, compared the way ``connector_name_unique_ci`` compares (lower
        case); ``exclude`` is the connector being renamed, which may keep its own name."""
        others = self.annotate(lower_name=Lower("name")).filter(lower_name=Lower(Value(name)))
        if exclude is not None and exclude.pk is not None:
            others = others.exclude(pk=exclude.pk)
        return others.first()


class Connector(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(max_length=1000, blank=True)
    #: Enabled modules, comma separated codes from ``Module`` (a text column so it filters the same everywhere).
    modules = models.CharField(max_length=100, default=Module.CSAM)
    enabled = models.BooleanField(default=True)
    payload_format = models.CharField(max_length=10, choices=PayloadFormat.choices, default=PayloadFormat.NATIVE)
    trust_rank = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="1–100. When sources disagree, the most trusted one wins.",
    )
    create_unmanaged = models.BooleanField(
        "Create unmanaged asset",
        default=True,
        help_text="When no rule matches, create a new unmanaged asset instead of skipping the record.",
    )
    apply_default_rule = models.BooleanField(
        "Apply default rule",
        default=True,
        help_text="When a rule matches several assets, pick the one whose source is most trusted, then most "
        "recently updated, instead of trying the next rule.",
    )
    stale_after_days = models.PositiveIntegerField(
        "Stale after (days)",
        default=30,
        validators=[MaxValueValidator(36_500)],
        help_text="A record this connector has not reported for this many days is stale; an asset all of whose "
        "live sources are stale is stale. 0 = never.",
    )
    purge_after_days = models.PositiveIntegerField(
        "Purge after (days)",
        default=0,
        validators=[MaxValueValidator(36_500)],
        help_text="A stale record not reported for this many days is deleted, as if this connector had deleted it "
        "(audited in the asset's history). 0 = never; otherwise at least the stale period.",
    )
    #: Indexed: the CSAM sync path finds the connector by its token before it parses the body.
    token_hash = models.CharField(max_length=64, editable=False, db_index=True)
    token_hint = models.CharField(max_length=16, editable=False, blank=True)
    #: Encrypted at rest with FIELD_ENCRYPTION_KEYS; the attributes hold the clear ``whsec_…`` strings.
    signing_secret = EncryptedCharField(editable=False)
    previous_signing_secret = EncryptedCharField(editable=False, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    require_signature = models.BooleanField(
        default=False, help_text="Refuse deliveries that carry only a bearer token."
    )
    #: Which signature verifies (connectors.signatures); the HMAC fields below apply to the custom HMAC scheme.
    signature_scheme = models.CharField(
        max_length=20, choices=SignatureScheme.choices, default=SignatureScheme.STANDARD_WEBHOOKS
    )
    hmac_header = models.CharField("HMAC header", max_length=100, blank=True)
    hmac_algorithm = models.CharField(
        "HMAC algorithm", max_length=10, choices=HmacAlgorithm.choices, default=HmacAlgorithm.SHA256
    )
    hmac_encoding = models.CharField(
        "HMAC encoding", max_length=10, choices=HmacEncoding.choices, default=HmacEncoding.HEX
    )
    hmac_prefix = models.CharField("HMAC prefix", max_length=20, blank=True)
    sync_delete_limit = models.PositiveSmallIntegerField(
        "Full sync deletion limit (%)",
        default=30,
        validators=[MaxValueValidator(100)],
        help_text="A full sync that would delete more than this share of the connector's live records deletes "
        "nothing until a Connector admin confirms it (0: confirm every deletion; 100: never ask).",
    )
    #: The ``mapped`` format's JMESPath expressions (connectors.formats.mapped); ``{}`` until one is set. Written
    #: only by ``services.set_mapping``, which validates it and audits the change.
    mapping = models.JSONField(default=dict, blank=True, editable=False)
    last_delivery_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: Outcome of the most recently finished delivery; the status shown is derived from it.
    last_result = models.CharField(max_length=10, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConnectorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="connector_name_unique_ci")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("connectors:connector_detail", args=[self.uuid])

    @property
    def module_list(self) -> list[str]:
        return [code for code in self.modules.split(",") if code]

    @property
    def module_labels(self) -> list[str]:
        return [Module(code).label for code in self.module_list if code in Module.values]

    @property
    def csam_enabled(self) -> bool:
        return Module.CSAM in self.module_list

    @property
    def status(self) -> ConnectorStatus:
        if not self.enabled:
            return ConnectorStatus.DISABLED
        latest = getattr(self, "latest_delivery_status", None)  # annotated by connectors.health.with_latest_result
        if latest:
            return ConnectorStatus.for_delivery(latest)
        # Not annotated, or no finished delivery left in the log (pruned): the result stored by the last one.
        if self.last_delivery_at is None:
            return ConnectorStatus.PENDING
        if self.last_result in ConnectorStatus.values:
            return ConnectorStatus(self.last_result)
        return ConnectorStatus.PENDING

    @property
    def signature_description(self) -> str:
        """The signature scheme in force, in words (connector page, API)."""
        from .signatures import describe_scheme

        return describe_scheme(self)

    @property
    def webhook_path(self) -> str:
        return reverse("webhook", args=[self.uuid])


class ConnectorEvent(AuditEvent):
    """Audit trail: who did what to a connector, and when. Survives the connector's deletion."""

    subject_field = "connector"

    connector = models.ForeignKey(Connector, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    connector_name = models.CharField(max_length=100)
    action = models.CharField(max_length=20, choices=ConnectorAction.choices)


class Delivery(models.Model):
    """One push received from a source, stored verbatim. The row, not the task queue, is the record of work."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="deliveries")
    idempotency_key = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    body = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    content_type = models.CharField(max_length=255, blank=True)
    #: The format the body is parsed with: the connector's for /webhooks/, always CSAM for the CSAM endpoint.
    payload_format = models.CharField(max_length=10, choices=PayloadFormat.choices, default=PayloadFormat.NATIVE)
    #: For a mapped delivery, the connector's mapping when it was received: the worker and a replay parse with it,
    #: so the same body always gives the same records whatever the mapping became since. ``None`` otherwise.
    mapping = models.JSONField(null=True, blank=True, editable=False)
    headers = models.JSONField(default=dict, blank=True)
    authenticated_by = models.CharField(max_length=20, blank=True)
    #: The hub user whose gateway token pushed it (Senders read their own deliveries); empty for connector
    #: credentials.
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    #: When a processing task was last put on the queue; the sweep re-enqueues work whose task vanished.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_received = models.PositiveIntegerField(default=0)
    records_created = models.PositiveIntegerField(default=0)
    records_updated = models.PositiveIntegerField(default=0)
    records_merged = models.PositiveIntegerField(default=0)
    records_skipped = models.PositiveIntegerField(default=0)
    records_deleted = models.PositiveIntegerField(default=0)
    records_errors = models.PositiveIntegerField(default=0)
    #: Per-record problems: [{"index", "field", "message", "source_key"}].
    errors = models.JSONField(default=list, blank=True)
    #: Values dropped from accepted records as invalid for their field (the records were still processed):
    #: [{"index", "source_key", "field", "value", "message"}], the first 1000; ``warnings_count`` counts them all.
    warnings = models.JSONField(default=list, blank=True)
    warnings_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    is_test = models.BooleanField(default=False)
    #: The HTTP status the sender got, and how long the hub took to answer it (up to storing the delivery), in
    #: milliseconds; empty for deliveries stored before these were kept and for test deliveries.
    reply_status = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    reply_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    #: The full sync this delivery is a part of (its body said ``"sync": {"id": …}``), set at intake.
    sync = models.ForeignKey(
        "Sync", null=True, blank=True, on_delete=models.SET_NULL, related_name="parts", editable=False
    )
    #: The body said ``"final": true``: the last part the sender sends of its sync.
    sync_final = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="unique_idempotency_key_per_connector",
            )
        ]
        indexes = [
            models.Index(fields=["status", "lease_expires_at"], name="delivery_claim_idx"),
            models.Index(fields=["connector", "-id"], name="delivery_connector_idx"),
            # The Overview's charts: deliveries by time, connector and status with their record counters, read
            # from the index alone (the table's rows carry the bodies, which a scan would have to step over).
            models.Index(
                fields=[
                    "received_at",
                    "connector",
                    "status",
                    "records_created",
                    "records_updated",
                    "records_merged",
                    "records_deleted",
                    "records_skipped",
                    "records_errors",
                ],
                name="delivery_activity_idx",
            ),
        ]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return str(self.uuid)

    def get_absolute_url(self) -> str:
        return reverse("connectors:delivery_detail", args=[self.uuid])

    @property
    def is_pending(self) -> bool:
        return self.status in DeliveryStatus.pending()

    @property
    def records_handled(self) -> int:
        """Records with an outcome so far (``records_received`` is the whole delivery from intake on)."""
        return (
            self.records_created
            + self.records_updated
            + self.records_merged
            + self.records_skipped
            + self.records_deleted
            + self.records_errors
        )


class Sync(models.Model):
    """A full sync: a sender's complete list of its records, sent in one or more parts (deliveries).

    Once the final part and every earlier one are processed, the connector's live records no part reported are
    deleted (connectors.syncs), unless that is more than ``Connector.sync_delete_limit`` percent of them: then the
    sync is held until a Connector admin confirms or discards it.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="syncs")
    #: The sender's id for the sync. Unique among the connector's open syncs: a part naming the id of one that is
    #: held or over (completed, discarded) starts a new sync.
    sync_id = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.OPEN)
    #: When the first part was received: records other deliveries report from then on are never deleted by it.
    started_at = models.DateTimeField(default=timezone.now)
    final_received_at = models.DateTimeField(null=True, blank=True)
    #: When every part was processed and the deletions were weighed (held or started).
    evaluated_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: Distinct source keys the parts reported (records, including those with errors).
    reported = models.PositiveIntegerField(default=0)
    #: Live records of the connector when the deletions were weighed, and how many of them no part reported.
    live_records = models.PositiveIntegerField(default=0)
    would_delete = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    #: A few of the records it would delete, for the confirmation: [{"source_key", "hostname", "asset"}].
    examples = models.JSONField(default=list, blank=True)
    #: The limit in force when the sync was held (percent).
    delete_limit = models.PositiveSmallIntegerField(default=0)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    #: The deletion runner's lease: a runner that died is replaced once it expires (connectors.syncs).
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "sync_id"],
                condition=models.Q(status=SyncStatus.OPEN),
                name="unique_open_sync_per_connector",
            )
        ]
        indexes = [models.Index(fields=["connector", "-id"], name="sync_connector_idx")]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.sync_id}"

    def get_absolute_url(self) -> str:
        return reverse("connectors:sync_detail", args=[self.uuid])

    #: The badge each status wears (classes of the delivery badges).
    BADGES = {
        SyncStatus.OPEN: "queued",
        SyncStatus.HELD: "warn",
        SyncStatus.DELETING: "processing",
        SyncStatus.COMPLETED: "processed",
        SyncStatus.DISCARDED: "disabled",
    }

    @property
    def badge(self) -> str:
        return self.BADGES.get(self.status, "info")

    @property
    def share(self) -> float:
        """The share of the live records the sync would delete, in percent."""
        return 100.0 * self.would_delete / self.live_records if self.live_records else 0.0


class SyncKey(models.Model):
    """A source key a full sync's parts reported (``deleted`` False), or one it deleted (True). Written in bulk,
    idempotently: a part processed twice adds nothing."""

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="keys", db_index=False)
    source_key = models.CharField(max_length=255)
    deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sync", "source_key"], name="unique_sync_key")]

    def __str__(self) -> str:
        return f"{self.sync_id}:{self.source_key}"


class IntakeRateWindow(models.Model):
    """Requests one connector made in one fixed rate-limit window, shared by every web process and host."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+")
    #: Start of the window, in whole windows since the Unix epoch.
    window_start = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "window_start"], name="unique_rate_window_per_connector")
        ]

    def __str__(self) -> str:
        return f"{self.connector_id}@{self.window_start}: {self.count}"


class WorkerHeartbeat(models.Model):
    """Each running worker beats here; the health check reads how recent the newest beat is."""

    worker_id = models.CharField(max_length=100, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_beat = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class RefusedAttempt(models.Model):
    """An intake request refused before a delivery was stored (bad credentials, disabled connector, too large,
    rate-limited, malformed), so a misconfigured sender is visible. Never a body.

    ``connector`` is empty when the URL named no known connector: then only the address and the reason are kept.
    Rows are sampled (see :mod:`connectors.refused`): one row may stand for ``count`` attempts.
    """

    connector = models.ForeignKey(
        Connector, null=True, blank=True, on_delete=models.CASCADE, related_name="refused_attempts"
    )
    at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=20, choices=RefusalReason.choices)
    status_code = models.PositiveSmallIntegerField()
    detail = models.CharField(max_length=300, blank=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    endpoint = models.CharField(max_length=10, blank=True)
    #: Attempts this row stands for: itself plus those left unwritten by the sampling since the previous row.
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["connector", "-id"], name="refused_connector_idx")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} at {self.at:%Y-%m-%d %H:%M:%S}"


class MetricTally(models.Model):
    """A running total behind a ``/metrics`` counter, shared by every process on every host.

    Added to (never set) in the transaction that finishes a delivery, so the totals only grow: pruning old
    deliveries or deleting a connector takes nothing away from them.
    """

    name = models.CharField(max_length=40)
    label = models.CharField(max_length=20, blank=True)
    value = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "label"], name="unique_metric_tally")]

    def __str__(self) -> str:
        return f"{self.name}{{{self.label}}} = {self.value}"


from .chunk_models import DeliveryChunk  # noqa: E402,F401  (a big delivery's chunks: registered with this app)
