"""Django admin for support staff: the inventory is looked at here, not edited.

Assets, source records, identifiers and decisions come from the connectors' deliveries; changing them by hand would
be overwritten by the next delivery and break the provenance, so they are read only. Identification rule definitions
are editable, except the system rules.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpRequest

from connectors.models import Connector

from . import inventory
from .choices import IdentifierKind
from .engine.records import REPORTED_ATTRIBUTES
from .models import Asset, AssetEvent, Decision, IdentificationRule, Identifier, RuleEvent, RuleSelection, SourceRecord


class ReadOnlyAdminMixin:
    """Viewing only: no add, change or delete button, and the views refuse them (403)."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SourceRecordInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SourceRecord
    fields = ["connector", "source_key", "source_updated_at", "last_seen", "reported_at", "stale", "deleted"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("connector")


@admin.register(Asset)
class AssetAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["name", "kind", "os", "serial_number", "last_seen", "retired", "stale", "possible_duplicate"]
    list_filter = ["kind", "retired", "stale", "possible_duplicate"]
    search_fields = ["hostname", "fqdn", "serial_number", "uuid"]
    inlines = [SourceRecordInline]
    fieldsets = [
        (None, {"fields": ["uuid", "kind", "retired", "retired_at", "stale", "possible_duplicate", "merged_into"]}),
        (
            "Attributes (reconciled from the sources)",
            {"fields": [*REPORTED_ATTRIBUTES, "provenance"]},
        ),
        ("Timestamps", {"fields": ["first_seen", "last_seen", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Name", ordering="hostname")
    def name(self, asset: Asset) -> str:
        return asset.display_name


@admin.register(SourceRecord)
class SourceRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "source_key",
        "connector",
        "asset",
        "source_updated_at",
        "last_seen",
        "reported_at",
        "stale",
        "deleted",
    ]
    list_filter = ["deleted", "stale", "connector"]
    search_fields = ["source_key", "asset__hostname", "asset__uuid"]
    list_select_related = ["connector", "asset"]
    raw_id_fields = ["asset", "last_delivery"]


@admin.register(Identifier)
class IdentifierAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["kind", "value", "asset", "source_record"]
    list_filter = ["kind"]
    search_fields = ["value"]
    list_select_related = ["asset", "source_record"]
    raw_id_fields = ["asset", "source_record"]


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "connector", "source_key", "outcome", "rule_name", "asset"]
    list_filter = ["outcome", "connector"]
    search_fields = ["source_key", "asset__hostname"]
    list_select_related = ["connector", "asset"]
    raw_id_fields = ["delivery", "asset", "rule"]


@admin.register(AssetEvent)
class AssetEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "asset", "action", "actor", "undone"]
    list_filter = ["action", "undone"]
    search_fields = ["asset__hostname", "asset__uuid"]
    list_select_related = ["asset", "actor"]


class RuleSelectionInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A connector's rule selection, shown on the connector's admin page. Read only: it has invariants (system rule
    first and on, one rule on) that the rules page and the API enforce through ``update_rule_selection``."""

    model = RuleSelection
    verbose_name = "identification rule"
    verbose_name_plural = "Identification rules (change them on the connector's rules page or with the API)"
    fields = ["position", "rule", "attributes", "enabled"]
    readonly_fields = fields
    extra = 0

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("rule")

    @admin.display(description="Attributes (all must match)")
    def attributes(self, item: RuleSelection) -> str:
        return " + ".join(item.rule.attribute_labels)


@admin.register(RuleEvent)
class RuleEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who created, changed or deleted which identification rule definition."""

    list_display = ["created_at", "rule_name", "action", "actor"]
    list_filter = ["action"]
    search_fields = ["rule_name"]
    list_select_related = ["actor"]


class IdentificationRuleForm(forms.ModelForm):
    attributes = forms.MultipleChoiceField(
        choices=IdentifierKind.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="An asset matches when ALL of these match (list attributes such as IPs: any shared value).",
    )

    class Meta:
        model = IdentificationRule
        fields = ["name", "description", "attributes"]

    def clean_attributes(self) -> list[str]:
        chosen = set(self.cleaned_data["attributes"])
        return [kind for kind in IdentifierKind.values if kind in chosen]

    def validate_unique(self) -> None:
        pass  # clean() checks names ignoring case, with a clearer message than the unique index's.

    def clean(self) -> dict:
        data = super().clean()
        if "name" in data and "attributes" in data:
            try:
                data["name"], data["attributes"] = inventory.clean_rule_definition(
                    data["name"], data["attributes"], instance=self.instance if self.instance.pk else None
                )
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    for message in messages:
                        self.add_error(field, message)
        return data


@admin.register(IdentificationRule)
class IdentificationRuleAdmin(admin.ModelAdmin):
    """Rule definitions, written through ``assets.inventory`` like the CSAM rules pages.

    System rules (Source native key) are read only and cannot be deleted. A new rule is added to every connector's
    selection turned off; position and "on for new connectors" are not edited here.
    """

    form = IdentificationRuleForm
    list_display = ["name", "attribute_list", "is_system", "default_enabled", "position"]
    list_filter = ["is_system", "default_enabled"]
    search_fields = ["name", "description"]
    ordering = ["position", "id"]
    readonly_fields = ["is_system", "position", "default_enabled"]

    @admin.display(description="Attributes (all must match)")
    def attribute_list(self, rule: IdentificationRule) -> str:
        return " + ".join(rule.attribute_labels)

    def has_change_permission(self, request: HttpRequest, obj: IdentificationRule | None = None) -> bool:
        if obj is not None and obj.is_system:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: IdentificationRule | None = None) -> bool:
        if obj is not None and obj.is_system:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: IdentificationRule, form, change: bool) -> None:
        data = form.cleaned_data
        fields = {"name": data["name"], "attributes": data["attributes"], "description": data["description"]}
        if change:
            # ``obj`` already carries the form's values; the service works on the stored row.
            rule = inventory.update_identification_rule(
                IdentificationRule.objects.get(pk=obj.pk), actor=request.user, **fields
            )
        else:
            rule = inventory.create_identification_rule(actor=request.user, **fields)
        for field in IdentificationRule._meta.concrete_fields:
            setattr(obj, field.attname, getattr(rule, field.attname))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: IdentificationRule) -> None:
        inventory.delete_identification_rule(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for rule in queryset:
            try:
                inventory.delete_identification_rule(rule, actor=request.user)
            except inventory.InventoryError as error:
                self.message_user(request, str(error), messages.ERROR)

    def get_deleted_objects(self, objs, request: HttpRequest):
        """Refuse to delete the last rule turned on for some connector: it would identify nothing."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        rule_ids = [rule.pk for rule in objs]
        other_rule_on = RuleSelection.objects.filter(
            connector=OuterRef("pk"), enabled=True, rule__is_system=False
        ).exclude(rule_id__in=rule_ids)
        stranded = (
            Connector.objects.filter(rule_selection__rule_id__in=rule_ids, rule_selection__enabled=True)
            .exclude(Exists(other_rule_on))
            .distinct()
            .order_by("name")
        )
        protected = list(protected) + [
            f"Connector “{connector.name}”: this is its only identification rule turned on besides Source "
            "native key; turn another one on first"
            for connector in stranded
        ]
        return deleted, model_count, perms_needed, protected
