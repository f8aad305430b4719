"""Serializers of the connectors management API.

Reads come from the model; writes are validated here and applied by ``connectors.services`` in the view, so the API
changes nothing the UI and Django admin could not, and every change leaves its audit row.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assets.models import RuleSelection
from connectors.choices import ConnectorStatus, Module, PayloadFormat
from connectors.formats.mapped import MAPPED_FIELDS, MappingError, clean_mapping
from connectors.lifecycle import PURGE_HELP, STALE_HELP, lifecycle_errors
from connectors.models import Connector
from connectors.services import EDITABLE_FIELDS
from connectors.signatures import describe_scheme, scheme_errors
from connectors_site.common.api import Conflict, ProblemSerializer, StrictJSONTypes

SECRET_PREFIX = "whsec_"
#: The largest id a body may name: the databases' 64-bit primary keys.
MAX_ID = 2**63 - 1

__all__ = ["ProblemSerializer"]  # re-exported: the problem body documented by the connectors API


def mask_secret(secret: str) -> str:
    """``whsec_abcd…``: enough to tell two secrets apart, far too little to sign with."""
    if not secret:
        return ""
    visible = secret[len(SECRET_PREFIX) : len(SECRET_PREFIX) + 4] if secret.startswith(SECRET_PREFIX) else ""
    return f"{SECRET_PREFIX}{visible}…"


# Enums inline (not as components): generic names such as "value" and "state" would collide with other apps' fields.
@extend_schema_field({"type": "string", "enum": ConnectorStatus.values})
class ConnectorStatusValueField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "enum": ["enabled", "disabled"]})
class ConnectorStateField(serializers.Field):
    def to_representation(self, enabled: bool) -> str:
        return "enabled" if enabled else "disabled"


class ConnectorStatusSerializer(serializers.Serializer):
    value = ConnectorStatusValueField(
        help_text="; ".join(f"`{code}`: {label}" for code, label in ConnectorStatus.choices)
    )
    label = serializers.CharField(help_text="The value in words, as the UI shows it.")


MAPPING_EXAMPLE = {
    "records": "result.hosts[]",
    "deleted": "result.removed[].id",
    "fields": {
        "source_key": "id",
        "hostname": "name",
        "ip_addresses": "net.ips",
        "mac_addresses": "net.mac",
        "serial_number": "hw.serial",
    },
}


@extend_schema_field(
    {
        "type": "object",
        "description": "JMESPath expressions; `{}` means no mapping.",
        "properties": {
            "records": {"type": "string", "description": "Selects the records: `data.devices[]`, `@`, …"},
            "deleted": {
                "type": "string",
                "nullable": True,
                "description": "Optional: selects the deleted source keys (empty or null: none).",
            },
            "fields": {
                "type": "object",
                "description": "Native field name → expression evaluated against each record. `source_key` "
                "required; allowed names: " + ", ".join(f"`{name}`" for name in MAPPED_FIELDS) + ".",
                "additionalProperties": {"type": "string"},
            },
        },
        "example": MAPPING_EXAMPLE,
    }
)
class MappingField(serializers.JSONField):
    pass


class ConnectorSerializer(StrictJSONTypes, serializers.ModelSerializer):
    """A connector as the API shows it. Credentials appear only as hints: the clear values are shown once."""

    modules = serializers.ListField(
        child=serializers.ChoiceField(choices=Module.choices),
        source="module_list",
        allow_empty=False,
        min_length=1,
        help_text="Enabled module codes; at least one. "
        + "; ".join(f"`{code}`: {label}" for code, label in Module.choices)
        + ".",
    )
    payload_format = serializers.ChoiceField(
        choices=PayloadFormat.choices,
        required=False,
        help_text="Body format the webhook accepts (default `native`). "
        + "; ".join(f"`{code}`: {label}" for code, label in PayloadFormat.choices)
        + ".",
    )
    mapping = MappingField(
        required=False,
        help_text="The `mapped` payload format's JMESPath expressions: `records` selects the asset records in "
        "the body, `deleted` (optional) the source keys that are gone, and `fields` one expression per native "
        "field, evaluated against each record (`source_key` required). Every expression must compile; a "
        "change is audited and applies to deliveries received from then on. Example: "
        '`{"records": "result.hosts[]", "fields": {"source_key": "id", "hostname": "name", '
        '"ip_addresses": "net.ips"}}`.',
    )
    status = serializers.SerializerMethodField(
        help_text="Derived from the last finished delivery: Pending until the first one; Disabled when off."
    )
    state = ConnectorStateField(
        source="enabled",
        read_only=True,
        help_text="`enabled` or `disabled`; change it with the enable and disable actions.",
    )
    webhook_url = serializers.SerializerMethodField(help_text="Absolute URL the source pushes deliveries to.")
    signing_secret_hint = serializers.SerializerMethodField(
        help_text="The start of the current Standard Webhooks signing secret; the full secret is shown only when "
        "it is made."
    )
    signature = serializers.SerializerMethodField(help_text="The signature scheme in force, in words.")
    asset_count = serializers.IntegerField(
        read_only=True, help_text="Live assets (not retired, not merged away) this connector currently reports."
    )
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Username of whoever created the connector."
    )

    class Meta:
        model = Connector
        fields = [
            "uuid",
            *EDITABLE_FIELDS,
            "mapping",
            "enabled",
            "state",
            "status",
            "webhook_url",
            "token_hint",
            "signing_secret_hint",
            "signature",
            "previous_secret_expires_at",
            "last_delivery_at",
            "asset_count",
            "created_at",
            "created_by",
            "updated_at",
        ]
        read_only_fields = [
            "uuid",
            "enabled",
            "token_hint",
            "previous_secret_expires_at",
            "last_delivery_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "name": {"help_text": "Unique, case-insensitively; at most 100 characters."},
            "description": {"help_text": "Free text, at most 1000 characters."},
            "trust_rank": {"help_text": "1 to 100. When sources disagree on an attribute, the most trusted one wins."},
            "enabled": {"help_text": "Whether deliveries are accepted; change it with the enable/disable actions."},
            "last_delivery_at": {"help_text": "When the last delivery was received; null until the first one."},
            "token_hint": {"help_text": "The first characters of the bearer token, to tell tokens apart."},
            "previous_secret_expires_at": {
                "help_text": "After a secret rotation, the previous secret keeps verifying until this time."
            },
            "require_signature": {"help_text": "Refuse deliveries that carry only a bearer token."},
            "stale_after_days": {"help_text": STALE_HELP + " 0 to 36500; default 30."},
            "purge_after_days": {"help_text": PURGE_HELP + " 0 to 36500; default 0."},
            "signature_scheme": {
                "help_text": "How deliveries are signed with the connector's secret: "
                "`standard_webhooks` (webhook-* or svix-* headers, the default), `github` (X-Hub-Signature-256: "
                "sha256=<hex HMAC-SHA256 of the body>), `netbox` (X-Hook-Signature: <hex HMAC-SHA512 of the body>) "
                "or `hmac` (the four `hmac_*` fields). HMAC schemes key the HMAC with the whole `whsec_…` secret."
            },
            "hmac_header": {"help_text": "`hmac` scheme: the header holding the signature, e.g. `X-Signature`."},
            "hmac_algorithm": {"help_text": "`hmac` scheme: `sha1`, `sha256` or `sha512`."},
            "hmac_encoding": {"help_text": "`hmac` scheme: `hex` or `base64`."},
            "hmac_prefix": {"help_text": "`hmac` scheme: text before the encoded HMAC, e.g. `sha256=` (optional)."},
            "sync_delete_limit": {
                "help_text": "0 to 100 (default 30): a full sync that would delete more than this percentage of the "
                "connector's live records deletes nothing and is held until an admin confirms it (0: confirm "
                "every deletion; 100: never hold)."
            },
        }

    @extend_schema_field(ConnectorStatusSerializer)
    def get_status(self, connector: Connector) -> dict:
        status = connector.status
        return {"value": status.value, "label": status.label}

    def get_webhook_url(self, connector: Connector) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(connector.webhook_path) if request else connector.webhook_path

    def get_signing_secret_hint(self, connector: Connector) -> str:
        return mask_secret(connector.signing_secret)

    def get_signature(self, connector: Connector) -> str:
        return describe_scheme(connector)

    def validate(self, attrs: dict) -> dict:
        fields = ("signature_scheme", "hmac_header", "hmac_algorithm", "hmac_encoding", "hmac_prefix")
        current = {name: attrs.get(name, getattr(self.instance, name, None)) for name in fields}
        defaults = {"signature_scheme": "standard_webhooks", "hmac_algorithm": "sha256", "hmac_encoding": "hex"}
        values = {name: current[name] if current[name] is not None else defaults.get(name, "") for name in fields}
        errors = scheme_errors(*values.values())
        days = {"stale_after_days": 30, "purge_after_days": 0}
        errors |= lifecycle_errors(
            *(attrs.get(name, getattr(self.instance, name, dflt)) for name, dflt in days.items())
        )
        if errors:
            raise serializers.ValidationError(errors)
        # Last, once the body is valid: a taken name is a conflict with what exists (409), not a bad request.
        name = attrs.get("name")
        if name is not None and Connector.objects.holding_name(name, exclude=self.instance) is not None:
            raise Conflict({"name": [f"A connector named “{name}” already exists (names ignore case)."]})
        return attrs

    def validate_name(self, value: str) -> str:
        return value.strip()

    def validate_mapping(self, value: object) -> dict:
        try:
            return clean_mapping(value)
        except MappingError as exc:
            raise serializers.ValidationError({key: [message] for key, message in exc.errors.items()}) from None

    def validate_modules(self, value: list[str]) -> list[str]:
        # Keep the canonical order and drop repeats, so the same set always reads the same.
        return [code for code in Module.values if code in value]

    def validated_changes(self) -> dict:
        """``validated_data`` with the keyword names the service functions take."""
        changes = dict(self.validated_data)
        if "module_list" in changes:
            changes["modules"] = changes.pop("module_list")
        return changes


class ConnectorWithCredentialsSerializer(ConnectorSerializer):
    """The reply to a create: the connector and, this once, its clear credentials."""

    token = serializers.CharField(
        read_only=True,
        help_text="Bearer token for `Authorization: Bearer …` on the webhook. Shown only now: store it safely.",
    )
    signing_secret = serializers.CharField(
        read_only=True,
        help_text="Standard Webhooks signing secret (`whsec_…`). Shown only now: store it safely.",
    )

    class Meta(ConnectorSerializer.Meta):
        fields = [*ConnectorSerializer.Meta.fields, "token", "signing_secret"]


class RotatedSecretSerializer(serializers.Serializer):
    signing_secret = serializers.CharField(help_text="The new signing secret. Shown only now: store it safely.")
    signing_secret_hint = serializers.CharField(help_text="How the API shows this secret from now on.")
    previous_secret_expires_at = serializers.DateTimeField(
        help_text="The previous secret keeps verifying signatures until this time, so senders can switch."
    )


class RotatedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="The new bearer token. The previous one stopped working at once. Shown only now."
    )
    token_hint = serializers.CharField(help_text="How the API shows this token from now on.")


class RuleSelectionItemSerializer(serializers.ModelSerializer):
    """One rule of a connector's ordered selection."""

    id = serializers.IntegerField(source="rule.id", read_only=True, help_text="The identification rule's id.")
    name = serializers.CharField(source="rule.name", read_only=True)
    description = serializers.CharField(source="rule.description", read_only=True)
    attributes = serializers.ListField(
        source="rule.attributes",
        child=serializers.CharField(),
        read_only=True,
        help_text="Identifier kinds that must ALL match for the rule to match.",
    )
    is_system = serializers.BooleanField(
        source="rule.is_system", read_only=True, help_text="System rules stay first and on."
    )
    required = serializers.BooleanField(
        source="enabled", read_only=True, help_text="Whether the connector applies this rule."
    )
    position = serializers.IntegerField(read_only=True, help_text="0-based; rules are tried in this order.")

    class Meta:
        model = RuleSelection
        fields = ["id", "name", "description", "attributes", "is_system", "required", "position"]


class RuleSelectionSerializer(serializers.Serializer):
    """A connector's identification rules, in the order they are tried, and its two fallback options."""

    rules = RuleSelectionItemSerializer(many=True, read_only=True)
    create_unmanaged = serializers.BooleanField(
        read_only=True, help_text="When nothing matches, create a new unmanaged asset instead of skipping."
    )
    apply_default_rule = serializers.BooleanField(
        read_only=True,
        help_text="When a rule matches several assets, pick the most trusted source's instead of trying the next rule.",
    )


class RuleToggleSerializer(StrictJSONTypes, serializers.Serializer):
    id = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="An identification rule id from the connector's selection."
    )
    required = serializers.BooleanField(help_text="Whether the connector applies this rule.")


class RuleSelectionUpdateSerializer(StrictJSONTypes, serializers.Serializer):
    """The body of PUT and PATCH on a connector's rules."""

    rules = RuleToggleSerializer(
        many=True,
        help_text="PUT: every rule of the selection, in the new order. PATCH: only the rules to toggle; the order "
        "does not change.",
    )
    create_unmanaged = serializers.BooleanField(
        help_text="When nothing matches, create a new unmanaged asset instead of skipping."
    )
    apply_default_rule = serializers.BooleanField(
        help_text="When a rule matches several assets, pick the most trusted source's instead of trying the next rule."
    )

    def validate_rules(self, value: list[dict]) -> list[dict]:
        ids = [item["id"] for item in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("Each rule may be listed once.")
        return value

    def service_arguments(self, *, partial: bool) -> dict:
        """Keyword arguments for ``update_rule_selection``: PUT sets the order, PATCH only toggles."""
        data = self.validated_data
        arguments = {key: data[key] for key in ("create_unmanaged", "apply_default_rule") if key in data}
        if "rules" in data:
            arguments["enabled"] = {item["id"]: item["required"] for item in data["rules"]}
            if not partial:
                arguments["order"] = [item["id"] for item in data["rules"]]
        return arguments
