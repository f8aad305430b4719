from __future__ import annotations

from django.db import models


class Module(models.TextChoices):
    CSAM = "csam", "CSAM"
    DELIVERY_LOG = "log", "Delivery log"


MODULE_HELP = {
    Module.CSAM: "Cybersecurity Asset Management: pass this connector's assets to the asset inventory.",
    Module.DELIVERY_LOG: "Keep every delivery and its identification decisions for review, without changing "
    "the inventory unless CSAM is on too.",
}


class PayloadFormat(models.TextChoices):
    NATIVE = "native", "Native JSON"
    CSAM = "csam", "Qualys CSAM connector push"
    MAPPED = "mapped", "Mapped JSON (JMESPath)"
    NETBOX = "netbox", "NetBox event-rule webhook"


class ConnectorStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCESS = "success", "Success"
    PARTIAL = "partial", "Partial success"
    ERROR = "error", "Error"
    DISABLED = "disabled", "Disabled"

    @classmethod
    def for_delivery(cls, delivery_status: str) -> ConnectorStatus:
        """What a finished delivery's status makes of the connector's (see connectors.health)."""
        return {"processed": cls.SUCCESS, "partial": cls.PARTIAL}.get(delivery_status, cls.ERROR)


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    DEAD = "dead", "Dead"

    @classmethod
    def pending(cls) -> tuple[str, str]:
        return (cls.QUEUED, cls.PROCESSING)


class ConnectorAction(models.TextChoices):
    CREATED = "created", "Created"
    EDITED = "edited", "Edited"
    ENABLED = "enabled", "Enabled"
    DISABLED = "disabled", "Disabled"
    TOKEN_ROTATED = "token_rotated", "Token rotated"
    SECRET_ROTATED = "secret_rotated", "Signing secret rotated"
    RULES_CHANGED = "rules_changed", "Identification rules changed"
    TEST_SENT = "test_sent", "Test delivery sent"
    REPLAYED = "replayed", "Delivery replayed"
    MAPPING_CHANGED = "mapping_changed", "Payload mapping changed"
    SYNC_CONFIRMED = "sync_confirmed", "Full sync deletions confirmed"
    SYNC_DISCARDED = "sync_discarded", "Full sync discarded"
    DELETED = "deleted", "Deleted"


class SignatureScheme(models.TextChoices):
    """How a connector's deliveries are signed. Bearer tokens work alongside any of them unless signatures are
    required."""

    STANDARD_WEBHOOKS = "standard_webhooks", "Standard Webhooks (webhook-* or svix-* headers)"
    GITHUB = "github", "GitHub-style (X-Hub-Signature-256, sha256=, hex)"
    NETBOX = "netbox", "NetBox (X-Hook-Signature, SHA-512, hex)"
    HMAC = "hmac", "HMAC header (custom)"


class HmacAlgorithm(models.TextChoices):
    SHA1 = "sha1", "SHA-1"
    SHA256 = "sha256", "SHA-256"
    SHA512 = "sha512", "SHA-512"


class HmacEncoding(models.TextChoices):
    HEX = "hex", "Hex"
    BASE64 = "base64", "Base64"


class RefusalReason(models.TextChoices):
    """Why intake refused a request before storing a delivery (see connectors.refused)."""

    UNAUTHORIZED = "unauthorized", "Bad or missing credentials"
    DISABLED = "disabled", "Connector disabled"
    TOO_LARGE = "too_large", "Body too large"
    TIMEOUT = "timeout", "Body too slow"
    RATE_LIMITED = "rate_limited", "Rate limited"
    MALFORMED = "malformed", "Malformed request"

    @classmethod
    def for_status(cls, status_code: int) -> RefusalReason:
        return {
            401: cls.UNAUTHORIZED,
            403: cls.DISABLED,
            408: cls.TIMEOUT,
            413: cls.TOO_LARGE,
            429: cls.RATE_LIMITED,
        }.get(status_code, cls.MALFORMED)


class SyncStatus(models.TextChoices):
    """Where a full sync stands (connectors.syncs)."""

    OPEN = "open", "Receiving parts"
    HELD = "held", "Held for confirmation"
    DELETING = "deleting", "Deleting"
    COMPLETED = "completed", "Completed"
    DISCARDED = "discarded", "Discarded"
