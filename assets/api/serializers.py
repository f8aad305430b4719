"""Serializers of the inventory API: a lean asset for lists, the full asset with provenance and sources for one,
and identification rule definitions (written through :mod:`assets.inventory`, like the CSAM pages)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors_site.common.api import Conflict, StrictJSONTypes

from ..choices import IdentifierKind
from ..engine.identifiers import SOURCE_NATIVE_KEY
from ..engine.records import REPORTED_ATTRIBUTES
from ..inventory import TAKEN, clean_rule_definition
from ..models import Asset, IdentificationRule, SourceRecord


class ConflictSourceSerializer(serializers.Serializer):
    connector_uuid = serializers.UUIDField()
    connector_name = serializers.CharField()
    source_key = serializers.CharField(help_text="The record's key in that source.")


class ConflictValueSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="The value one source reports (normalized).")
    source = ConflictSourceSerializer(help_text="The source that reports it.")


def _conflicts(asset: Asset, sources) -> dict:
    """The stored conflicts (kind -> [{"value", "source": source record id}]) with each source named."""
    by_id = {source.pk: source for source in sources}
    shown = {}
    for kind, items in (asset.identifier_conflicts or {}).items():
        shown[kind] = [
            {
                "value": item["value"],
                "source": {
                    "connector_uuid": str(source.connector.uuid),
                    "connector_name": source.connector.name,
                    "source_key": source.source_key,
                },
            }
            for item in items
            if (source := by_id.get(item.get("source"))) is not None
        ]
    return shown


CONFLICTS_HELP = (
    "Strong identifiers (serial_number, hardware_uuid, cloud_instance_id) on which the asset's live sources report "
    "different real values, with the source of each: a possible false merge of two machines (split one source "
    "out in CSAM). Placeholder values never count and values are compared normalized. Empty when they agree; "
    "`conflict=true` lists only the assets where it is not."
)


class AssetListSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="assets-api:asset-detail", lookup_field="uuid")
    name = serializers.CharField(
        source="display_name",
        read_only=True,
        help_text="The first real (not junk) hostname, FQDN, NetBIOS name or serial, else the uuid.",
    )
    identifier_conflicts = serializers.SerializerMethodField(help_text=CONFLICTS_HELP)

    class Meta:
        model = Asset
        fields = [
            "uuid",
            "url",
            "name",
            "kind",
            "hostname",
            "fqdn",
            "ip_addresses",
            "mac_addresses",
            "serial_number",
            "os",
            "os_version",
            "first_seen",
            "last_seen",
            "retired",
            "possible_duplicate",
            "stale",
            "identifier_conflicts",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "stale": {
                "help_text": "Every live source of the asset is stale: its connector has not reported it within the "
                "connector's `stale_after_days`. A new report clears it."
            }
        }

    @extend_schema_field(serializers.DictField(child=serializers.ListField(child=ConflictValueSerializer())))
    def get_identifier_conflicts(self, asset: Asset) -> dict:
        if not asset.identifier_conflict:
            return {}
        # Lists prefetch the sources of the conflicting assets only (``conflict_sources``); one asset has them all.
        sources = getattr(asset, "conflict_sources", None)
        return _conflicts(asset, asset.sources.all() if sources is None else sources)


class ConnectorRefSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    name = serializers.CharField()


class SourceRefSerializer(serializers.Serializer):
    connector_uuid = serializers.UUIDField()
    connector_name = serializers.CharField()
    source_key = serializers.CharField(help_text="The record's key in that source.")
    trust_rank = serializers.IntegerField(help_text="The connector's trust rank (1-100).")


class ProvenanceSerializer(serializers.Serializer):
    value = serializers.JSONField(help_text="The value shown (text, or a list for IPs, MACs and tags).")
    source = SourceRefSerializer(allow_null=True, help_text="The source the value came from.")


class SourceRecordSerializer(serializers.ModelSerializer):
    connector = ConnectorRefSerializer(read_only=True)
    attributes = serializers.JSONField(read_only=True, help_text="Normalized attributes, as last reported.")
    extra = serializers.JSONField(read_only=True, help_text="Free attributes the source sent.")

    class Meta:
        model = SourceRecord
        fields = [
            "connector",
            "source_key",
            "attributes",
            "extra",
            "source_updated_at",
            "first_seen",
            "last_seen",
            "reported_at",
            "stale",
            "deleted",
            "deleted_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "last_seen": {"help_text": "When the source says it last saw the machine."},
            "reported_at": {"help_text": "When the connector last reported this record, changed or not (our clock)."},
            "stale": {"help_text": "Not reported within the connector's `stale_after_days`."},
        }


class AssetDetailSerializer(AssetListSerializer):
    provenance = serializers.SerializerMethodField(
        help_text="For each reported attribute: the value shown and the source it came from."
    )
    sources = SourceRecordSerializer(many=True, read_only=True)

    class Meta(AssetListSerializer.Meta):
        fields = [
            *AssetListSerializer.Meta.fields,
            *(name for name in REPORTED_ATTRIBUTES if name not in AssetListSerializer.Meta.fields),
            "retired_at",
            "created_at",
            "updated_at",
            "provenance",
            "sources",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=ProvenanceSerializer()))
    def get_provenance(self, asset: Asset) -> dict:
        by_id = {source.pk: source for source in asset.sources.all()}
        shown = {}
        for name in REPORTED_ATTRIBUTES:
            if name not in asset.provenance:
                continue
            source = by_id.get(asset.provenance[name])
            shown[name] = {
                "value": getattr(asset, name),
                "source": None
                if source is None
                else {
                    "connector_uuid": str(source.connector.uuid),
                    "connector_name": source.connector.name,
                    "source_key": source.source_key,
                    "trust_rank": source.connector.trust_rank,
                },
            }
        return shown


class RuleAttributesField(serializers.ListField):
    """A rule's identifier kinds: any of :class:`IdentifierKind` in a body; a reply may also show
    ``source_native_key``, the attribute of the system rule no request can create."""


class RuleAttributesFieldExtension(OpenApiSerializerFieldExtension):
    target_class = RuleAttributesField

    def map_serializer_field(self, auto_schema, direction):
        # One enum only (drf-spectacular would merge two enums of one property name into one component).
        items = {"type": "string"}
        if direction == "request":
            items["enum"] = list(IdentifierKind.values)
        else:
            items["description"] = f"An identifier kind, or `{SOURCE_NATIVE_KEY}` (the system rule's)."
        return {"type": "array", "items": items, "minItems": 1, "uniqueItems": True}


class IdentificationRuleSerializer(StrictJSONTypes, serializers.ModelSerializer):
    attributes = RuleAttributesField(
        child=serializers.ChoiceField(choices=IdentifierKind.choices),
        allow_empty=False,
        help_text="Identifier kinds that must all match, in order; each at most once.",
    )
    used_by = serializers.IntegerField(read_only=True, help_text="Connectors that have this rule turned on.")

    class Meta:
        model = IdentificationRule
        fields = [
            "id",
            "name",
            "description",
            "attributes",
            "is_system",
            "position",
            "default_enabled",
            "used_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "is_system", "position", "default_enabled", "used_by", "created_at", "updated_at"]
        # Uniqueness (case-insensitive) is checked by clean_rule_definition, with a better message.
        extra_kwargs = {"name": {"validators": []}}

    def validate(self, data: dict) -> dict:
        name = data.get("name", self.instance.name if self.instance else "")
        attributes = data.get("attributes", self.instance.attributes if self.instance else [])
        try:
            data["name"], data["attributes"] = clean_rule_definition(name, attributes, instance=self.instance)
        except DjangoValidationError as error:
            taken = all(item.code == TAKEN for items in error.error_dict.values() for item in items)
            raise (Conflict if taken else serializers.ValidationError)(error.message_dict) from error
        return data
