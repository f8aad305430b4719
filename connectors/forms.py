"""Forms of the Connectors app. They validate input only; the views hand ``cleaned_data`` to connectors.services."""

from __future__ import annotations

import json
import uuid

from django import forms

from .choices import MODULE_HELP, HmacAlgorithm, HmacEncoding, Module, PayloadFormat, SignatureScheme
from .formats.mapped import MappingError, clean_mapping
from .formats.samples import IDENTITY_FIELDS, one_field_per_line, sample_record
from .lifecycle import MAX_DAYS, PURGE_HELP, STALE_HELP, lifecycle_errors
from .models import Connector
from .signatures import scheme_errors

NAME_MAX_LENGTH = Connector._meta.get_field("name").max_length
DESCRIPTION_MAX_LENGTH = 1000


class DescribedCheckboxes(forms.CheckboxSelectMultiple):
    """Checkboxes, each described by a sentence of its own (``option.data.help``, linked by aria-describedby)."""

    def __init__(self, *args, descriptions: dict[str, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.descriptions = descriptions

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None) -> dict:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        option["help"] = self.descriptions.get(value, "")
        if option["help"] and option["attrs"].get("id"):
            option["help_id"] = f"{option['attrs']['id']}_help"
            option["attrs"]["aria-describedby"] = option["help_id"]
        return option


class ConnectorForm(forms.Form):
    """Basic details plus the advanced settings; used to create a connector and to edit one (``instance``)."""

    name = forms.CharField(
        label="Connector name",
        max_length=NAME_MAX_LENGTH,
        help_text="Unique; shown in the connector list, the asset sources and the audit trail.",
        error_messages={
            "required": "Enter a name for the connector.",
            "max_length": "Use at most %(limit_value)d characters (this name has %(show_value)d).",
        },
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Optional: which system sends to this connector, who owns it.",
        error_messages={"max_length": "Use at most %(limit_value)d characters (this text has %(show_value)d)."},
    )
    modules = forms.MultipleChoiceField(
        label="Modules to enable",
        choices=Module.choices,
        widget=DescribedCheckboxes(descriptions=MODULE_HELP),
        initial=[Module.CSAM],
        error_messages={"required": "Choose at least one module."},
    )
    payload_format = forms.ChoiceField(
        label="Payload format",
        choices=PayloadFormat.choices,
        initial=PayloadFormat.NATIVE,
        help_text="Native JSON for scripts and most tools; the Qualys CSAM format for senders built for "
        "the CSAM connector push API.",
    )
    trust_rank = forms.IntegerField(
        label="Trust rank",
        min_value=1,
        max_value=100,
        initial=50,
        help_text="From 1 to 100. When sources disagree about an attribute, the most trusted one wins.",
    )
    #: Left empty, each takes its default (a form from before these settings existed sends neither).
    stale_after_days = forms.IntegerField(
        label="Stale after (days)", min_value=0, max_value=MAX_DAYS, initial=30, required=False, help_text=STALE_HELP
    )
    purge_after_days = forms.IntegerField(
        label="Purge after (days)", min_value=0, max_value=MAX_DAYS, initial=0, required=False, help_text=PURGE_HELP
    )
    sync_delete_limit = forms.IntegerField(
        label="Full sync deletion limit (%)",
        min_value=0,
        max_value=100,
        initial=30,
        required=False,
        help_text="A full sync that would delete more than this share of the connector's live records deletes "
        "nothing until a Connector admin confirms it. 0 asks every time; 100 never asks.",
        error_messages={
            "min_value": "Enter a percentage from 0 to 100.",
            "max_value": "Enter a percentage from 0 to 100.",
        },
    )
    require_signature = forms.BooleanField(
        label="Require a signature",
        required=False,
        help_text="Refuse deliveries that carry only the bearer token.",
    )
    signature_scheme = forms.ChoiceField(
        label="Signature scheme",
        choices=SignatureScheme.choices,
        initial=SignatureScheme.STANDARD_WEBHOOKS,
        required=False,
        help_text="How the sender signs deliveries with this connector's signing secret. GitHub-style and NetBox "
        "senders key their HMAC with the whole whsec_… secret as shown here.",
    )
    hmac_header = forms.CharField(
        label="HMAC header",
        required=False,
        max_length=100,
        help_text="Custom HMAC header scheme only: the header holding the signature, e.g. X-Signature.",
    )
    hmac_algorithm = forms.ChoiceField(
        label="HMAC algorithm", choices=HmacAlgorithm.choices, initial=HmacAlgorithm.SHA256, required=False
    )
    hmac_encoding = forms.ChoiceField(
        label="HMAC encoding", choices=HmacEncoding.choices, initial=HmacEncoding.HEX, required=False
    )
    hmac_prefix = forms.CharField(
        label="HMAC prefix",
        required=False,
        max_length=20,
        strip=False,
        help_text="Optional text before the encoded HMAC, e.g. sha256=.",
    )

    def __init__(self, *args, instance: Connector | None = None, **kwargs) -> None:
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": instance.name,
                "description": instance.description,
                "modules": instance.module_list,
                "payload_format": instance.payload_format,
                "trust_rank": instance.trust_rank,
                "stale_after_days": instance.stale_after_days,
                "purge_after_days": instance.purge_after_days,
                "sync_delete_limit": instance.sync_delete_limit,
                "require_signature": instance.require_signature,
                "signature_scheme": instance.signature_scheme,
                "hmac_header": instance.hmac_header,
                "hmac_algorithm": instance.hmac_algorithm,
                "hmac_encoding": instance.hmac_encoding,
                "hmac_prefix": instance.hmac_prefix,
            }
        super().__init__(*args, **kwargs)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        holder = Connector.objects.holding_name(name, exclude=self.instance)
        if holder is not None:
            raise forms.ValidationError(
                "A connector named “%(name)s” already exists (names are compared ignoring case).",
                code="unique",
                params={"name": holder.name},
            )
        return name

    def clean_stale_after_days(self) -> int:
        value = self.cleaned_data.get("stale_after_days")
        return 30 if value is None else value

    def clean_purge_after_days(self) -> int:
        value = self.cleaned_data.get("purge_after_days")
        return 0 if value is None else value

    def clean_sync_delete_limit(self) -> int:
        """Left empty: the connector keeps its limit (a new one gets the default, 30)."""
        value = self.cleaned_data["sync_delete_limit"]
        if value is None:
            return self.instance.sync_delete_limit if self.instance is not None else 30
        return value

    def clean_modules(self) -> list[str]:
        chosen = set(self.cleaned_data["modules"])
        return [code for code in Module.values if code in chosen]  # a stable order, whatever the browser sent

    def clean(self) -> dict:
        cleaned = super().clean()
        cleaned["hmac_algorithm"] = cleaned.get("hmac_algorithm") or HmacAlgorithm.SHA256
        cleaned["hmac_encoding"] = cleaned.get("hmac_encoding") or HmacEncoding.HEX
        if "signature_scheme" in cleaned:
            cleaned["signature_scheme"] = cleaned["signature_scheme"] or SignatureScheme.STANDARD_WEBHOOKS
            fields = ("signature_scheme", "hmac_header", "hmac_algorithm", "hmac_encoding", "hmac_prefix")
            for field, message in scheme_errors(*(cleaned.get(name) or "" for name in fields)).items():
                self.add_error(field, message)
        days = (cleaned.get("stale_after_days"), cleaned.get("purge_after_days"))
        for field, message in lifecycle_errors(*days).items():
            self.add_error(field, message)
        return cleaned


class UUIDListField(forms.Field):
    """Several UUIDs under one name (the ticked rows of a table)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"invalid": "The selection is not valid; reload the page and try again."}

    def to_python(self, value) -> list[uuid.UUID]:
        try:
            return [uuid.UUID(str(item)) for item in value or []]
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class BulkActionForm(forms.Form):
    """An action applied to the connectors ticked in the Manage Connectors table."""

    ENABLE, DISABLE, DELETE = "enable", "disable", "delete"

    action = forms.ChoiceField(choices=[(ENABLE, "Enable"), (DISABLE, "Disable"), (DELETE, "Delete")])
    selected = UUIDListField(error_messages={"required": "Select at least one connector first."})
    confirm = forms.BooleanField(required=False)


class RuleRequiredForm(forms.Form):
    """Turn one rule of a connector's selection on or off (the value wanted, so a repeated click is harmless)."""

    required = forms.TypedChoiceField(choices=[("1", "On"), ("0", "Off")], coerce=lambda value: value == "1")


class RuleMoveForm(forms.Form):
    UP, DOWN = "up", "down"

    direction = forms.ChoiceField(choices=[(UP, "Move up"), (DOWN, "Move down")])


class RuleOptionForm(forms.Form):
    """Set one of the two identification options of a connector."""

    option = forms.ChoiceField(
        choices=[("create_unmanaged", "Create unmanaged asset"), ("apply_default_rule", "Apply default rule")]
    )
    value = forms.TypedChoiceField(choices=[("1", "On"), ("0", "Off")], coerce=lambda value: value == "1")


#: The sample asset's identity as the preview textarea shows it: one field per line.
PREVIEW_SAMPLE_TEXT = one_field_per_line(sample_record(*IDENTITY_FIELDS))


class PreviewForm(forms.Form):
    """One asset record, pasted as JSON in the connector's native format, to preview its identification."""

    record = forms.CharField(
        label="Record (JSON)",
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "mono"}),
        help_text="One asset object with native fields: source_key, hostname, fqdn, ip_addresses, "
        "mac_addresses, serial_number, hardware_uuid, cloud_instance_id, …",
        error_messages={"required": "Paste one record as a JSON object."},
    )

    def clean_record(self) -> dict:
        text = self.cleaned_data["record"]
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                "This is not valid JSON: %(error)s (line %(line)d, column %(column)d).",
                params={"error": exc.msg, "line": exc.lineno, "column": exc.colno},
            ) from None
        if isinstance(value, dict) and isinstance(value.get("assets"), list) and len(value["assets"]) == 1:
            value = value["assets"][0]  # a whole one-asset delivery body pasted as is
        if not isinstance(value, dict):
            raise forms.ValidationError('Paste one record: a JSON object such as {"source_key": "…", …}.')
        return value


#: The mapping editor's label and help (with an example expression) for each native field.
MAPPING_FIELD_HELP: dict[str, tuple[str, str]] = {
    "source_key": ("Source key", "Required: the record's stable unique id in the sender, e.g. id or to_string(id)."),
    "hostname": ("Hostname", "e.g. name or host.name"),
    "fqdn": ("FQDN", "e.g. dns_name"),
    "netbios_name": ("NetBIOS name", "e.g. netbios"),
    "serial_number": ("Serial number", "e.g. hw.serial"),
    "hardware_uuid": ("Hardware UUID", "e.g. bios.uuid"),
    "cloud_provider": ("Cloud provider", "e.g. cloud.provider"),
    "cloud_instance_id": ("Cloud instance ID", "e.g. cloud.instance_id"),
    "os": ("Operating system", "e.g. os.name"),
    "os_version": ("OS version", "e.g. os.version"),
    "manufacturer": ("Manufacturer", "e.g. hw.vendor"),
    "model": ("Model", "e.g. hw.model"),
    "asset_type": ("Asset type", "e.g. type"),
    "ip_addresses": ("IP addresses", "An array or one value, e.g. net.ips or interfaces[].ip"),
    "mac_addresses": ("MAC addresses", "An array or one value, e.g. interfaces[].mac"),
    "tags": ("Tags", "An array or one value, e.g. labels or [team, env]"),
    "attributes": (
        "Attributes",
        "An object of extra values kept with the source, e.g. {site: site.name, owner: owner}",
    ),
    "updated_at": ("Updated at", "An RFC 3339 timestamp, e.g. modified"),
    "last_seen": ("Last seen", "An RFC 3339 timestamp, e.g. last_contact"),
}


def _expression_input(label: str, help_text: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,  # clean_mapping says what is missing, with the same words as the API
        help_text=help_text,
        widget=forms.TextInput(
            attrs={"class": "mono", "spellcheck": "false", "autocomplete": "off", "autocapitalize": "off"}
        ),
    )


class MappingForm(forms.Form):
    """The mapped format's expressions (one input per native field) and a sample body to preview them with."""

    records = _expression_input(
        "Records",
        "Selects the asset records in the body: e.g. data.devices[] (an array inside the body), @ (the body is "
        "itself an array of records) or device (one object).",
    )
    deleted = _expression_input(
        "Deleted source keys",
        "Optional: selects the source keys the sender says are gone, e.g. removed[].id.",
    )
    sample = forms.CharField(
        label="Sample body (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "mono"}),
        help_text="Paste a body your inventory sends to see the records the mapping makes of it. It is not stored.",
    )
    #: Error keys of clean_mapping → the input they are shown next to.
    ERROR_FIELDS = {"records": "records", "deleted": "deleted"}

    def __init__(self, *args, read_only: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        sample = self.fields.pop("sample")
        for name, (label, help_text) in MAPPING_FIELD_HELP.items():
            self.fields[name] = _expression_input(label, help_text)
        self.fields["sample"] = sample
        for name, input_ in self.fields.items():
            # The help, and the slot the live preview fills with this input's errors.
            input_.widget.attrs["aria-describedby"] = f"id_{name}_helptext id_{name}_errors"
            if read_only and name != "sample":
                input_.widget.attrs["readonly"] = True
        self.fields["records"].widget.attrs["aria-required"] = "true"
        self.fields["source_key"].widget.attrs["aria-required"] = "true"

    @classmethod
    def initial_from(cls, mapping: dict) -> dict:
        return {
            "records": mapping.get("records", ""),
            "deleted": mapping.get("deleted", ""),
            **mapping.get("fields", {}),
        }

    @property
    def field_inputs(self) -> list:
        return [self[name] for name in MAPPING_FIELD_HELP]

    def raw_mapping(self) -> dict:
        """The mapping as typed (trimmed; empty expressions left out)."""
        data = self.cleaned_data
        fields = {name: data.get(name, "").strip() for name in MAPPING_FIELD_HELP if data.get(name, "").strip()}
        return {
            "records": data.get("records", "").strip(),
            "deleted": data.get("deleted", "").strip(),
            "fields": fields,
        }

    def clean_sample(self) -> object:
        text = self.cleaned_data["sample"]
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                "This is not valid JSON: %(error)s (line %(line)d, column %(column)d).",
                params={"error": exc.msg, "line": exc.lineno, "column": exc.colno},
            ) from None

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            self.mapping = clean_mapping(self.raw_mapping())
        except MappingError as exc:
            self.mapping = None
            for key, message in exc.errors.items():
                name = self.ERROR_FIELDS.get(key) or key.removeprefix("fields.")
                if name in self.fields:
                    self.add_error(name, f"{self.fields[name].label} {message}.")
                else:
                    self.add_error(None, f"{key}: {message}.")
        return cleaned
