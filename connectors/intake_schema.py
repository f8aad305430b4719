"""OpenAPI pieces of the intake's dry run (``?dry_run=1``): the query parameter and the reply, for drf-spectacular.

The serializers only document replies; the intake views build their bodies themselves.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from .dry_run import MAX_DRY_RUN_ENTRIES

DRY_RUN_PARAMETER = OpenApiParameter(
    "dry_run",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=False,
    enum=["1", "true", "0", "false"],
    description=(
        "`1` or `true`: a dry run. The same authentication, limits and validation as a real push, then the "
        "records are identified against the current inventory with the connector's current rules and the reply "
        "says what would happen; nothing is written (no delivery, no asset, no decision) and the idempotency key "
        f"is not used up. At most {MAX_DRY_RUN_ENTRIES} entries (assets and deletions together; more is a 400). "
        "A dry run counts against the rate limit. `0`, `false` or absent: a real push; any other value is a 400."
    ),
)


class DryRunDecisionSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The record's index in the body, as its errors would carry.")
    source_key = serializers.CharField()
    outcome = serializers.ChoiceField(
        ["created", "updated", "merged", "unchanged", "skipped", "ambiguous", "error"],
        help_text="What the record would become: the outcome the real run records in its decision.",
    )
    rule = serializers.CharField(
        allow_null=True, help_text="The name of the rule that decided (null for created, skipped, error)."
    )
    asset = serializers.UUIDField(
        allow_null=True,
        help_text="The existing asset the record would update or merge into; null when the target is a new asset "
        "(see new_asset) or when nothing would be written.",
    )
    new_asset = serializers.IntegerField(
        allow_null=True,
        help_text="The asset this push would create, numbered 1, 2, … within the reply: records that share a "
        "number would land on the same new asset. Null when no new asset is involved.",
    )
    candidates = serializers.ListField(
        child=serializers.UUIDField(), help_text="UUIDs of the existing assets the deciding rule found."
    )
    compared = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Per rule that applied, the "kind=value" keys it compared.',
    )
    possible_duplicate = serializers.BooleanField(help_text="The target would be flagged as a possible duplicate.")
    reasons = serializers.ListField(child=serializers.CharField())


class DryRunDeletionSerializer(serializers.Serializer):
    source_key = serializers.CharField()
    outcome = serializers.ChoiceField(["deleted", "skipped"])
    asset = serializers.UUIDField(allow_null=True, help_text="The asset whose source record would be marked deleted.")
    new_asset = serializers.IntegerField(allow_null=True, help_text="A new asset this same push would create first.")
    reasons = serializers.ListField(child=serializers.CharField())


class RecordErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True)
    field = serializers.CharField(allow_blank=True)
    message = serializers.CharField()
    source_key = serializers.CharField(allow_blank=True)


class DryRunReplySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(help_text="Always true: nothing was written.")
    records = serializers.IntegerField(help_text="Asset entries in the body, valid or not.")
    accepted = serializers.IntegerField(help_text="Valid asset entries: those with a decision.")
    decisions = DryRunDecisionSerializer(many=True)
    deleted = DryRunDeletionSerializer(many=True, help_text="What the body's deletions would do.")
    duplicate_of = serializers.UUIDField(
        allow_null=True,
        help_text="The delivery already received with this idempotency key: a real push would be answered with "
        "it and change nothing.",
    )
    errors = RecordErrorSerializer(many=True, help_text="Invalid records, by index, as a real push reports them.")


DRY_RUN_EXAMPLE = {
    "dry_run": True,
    "records": 2,
    "accepted": 2,
    "decisions": [
        {
            "index": 0,
            "source_key": "cmdb-1001",
            "outcome": "merged",
            "rule": "Serial number",
            "asset": "0b8f6c1e-2d4a-4f4e-9a57-3c1d2e5f6a70",
            "new_asset": None,
            "candidates": ["0b8f6c1e-2d4a-4f4e-9a57-3c1d2e5f6a70"],
            "compared": {"Serial number": ["serial_number=SER-1001"]},
            "possible_duplicate": False,
            "reasons": ["Serial number matched one asset"],
        },
        {
            "index": 1,
            "source_key": "cmdb-1002",
            "outcome": "created",
            "rule": None,
            "asset": None,
            "new_asset": 1,
            "candidates": [],
            "compared": {},
            "possible_duplicate": False,
            "reasons": ["no rule matched: a new unmanaged asset is created"],
        },
    ],
    "deleted": [],
    "duplicate_of": None,
    "errors": [],
}


class DeliveryReceiptSerializer(serializers.Serializer):
    delivery_id = serializers.UUIDField()
    status = serializers.CharField()
    status_url = serializers.URLField()
    duplicate = serializers.BooleanField(help_text="True: the idempotency key was seen before, nothing was stored.")


class CsamReceiptSerializer(DeliveryReceiptSerializer):
    message = serializers.CharField()
    responseCode = serializers.CharField()
    assetsError = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


def ok_response(receipt: type[serializers.Serializer], component: str, description: str) -> OpenApiResponse:
    """A 200 reply that is either the path's receipt or, with ``dry_run=1``, the dry-run report."""
    return OpenApiResponse(
        PolymorphicProxySerializer(
            component_name=component,
            serializers=[receipt, DryRunReplySerializer],
            resource_type_field_name=None,
        ),
        description=description + " With `dry_run=1`: the dry-run report (`dry_run: true`), nothing written.",
        examples=[OpenApiExample("Dry run", value=DRY_RUN_EXAMPLE, status_codes=["200"])],
    )


ACCEPTED_EXAMPLE = {
    "delivery_id": "7d0f2c9e-3a51-4b9e-8f0e-2c1b5a6d7e80",
    "status": "queued",
    "status_url": "https://hub.example.com/api/v1/deliveries/7d0f2c9e-3a51-4b9e-8f0e-2c1b5a6d7e80/",
    "duplicate": False,
    "records": 2,
    "accepted": 1,
    "deleted": 0,
    "errors": [{"index": 1, "field": "source_key", "message": "is required", "source_key": ""}],
    "warnings": [
        {
            "index": 0,
            "source_key": "cmdb-4711",
            "field": "ip_addresses",
            "value": "999.1.1.1",
            "message": "is not an IP address; the value was dropped",
        }
    ],
}
ERROR_RESPONSES = {
    400: OpenApiResponse(description="Malformed JSON, or no valid record (problem+json with `errors` by index)."),
    401: OpenApiResponse(description="No or bad credentials, or an unknown connector."),
    403: OpenApiResponse(description="The connector is disabled."),
    408: OpenApiResponse(description="The body did not arrive whole within the server's read timeout."),
    411: OpenApiResponse(description="A chunked body the server cannot delimit (not under `manage.py serve`)."),
    413: OpenApiResponse(description="The body is over the size limit (default 10 MiB), sent or decompressed."),
    415: OpenApiResponse(description="The body is not JSON, or its Content-Encoding is not gzip."),
    429: OpenApiResponse(
        description="Rate limit exceeded; see `Retry-After`. Every reply carries `X-RateLimit-Limit`, "
        "`X-RateLimit-Window-Sec`, `X-RateLimit-Remaining` and `X-RateLimit-ToWait-Sec`."
    ),
}

WEBHOOK_OK = ok_response(
    DeliveryReceiptSerializer, "WebhookReply", "A repeated idempotency key: the first delivery, nothing stored."
)
