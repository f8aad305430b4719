"""Django admin for support staff.

Every write goes through ``connectors.services`` (save, delete and the actions), so an edit made here leaves the same
audit row as one made in the app or the API. Credentials are never shown in clear: only the token hint and the start
of the signing secret; new ones are shown once, in a message, right after they are made.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator

from assets.admin import ReadOnlyAdminMixin, RuleSelectionInline

from . import services
from .api.serializers import mask_secret
from .choices import ConnectorStatus, Module
from .filtersets import with_module
from .inbox import replay_delivery
from .lifecycle import lifecycle_errors
from .models import Connector, ConnectorEvent, Delivery, RefusedAttempt, Sync, WorkerHeartbeat

FINISHED_RESULTS = [ConnectorStatus.SUCCESS, ConnectorStatus.PARTIAL, ConnectorStatus.ERROR]


class StatusFilter(admin.SimpleListFilter):
    """The derived status: Disabled when off, Pending until a delivery finished, else the last result."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return ConnectorStatus.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Connector]) -> QuerySet[Connector]:
        value = self.value()
        if value == ConnectorStatus.DISABLED:
            return queryset.filter(enabled=False)
        if value == ConnectorStatus.PENDING:
            return queryset.filter(enabled=True).filter(
                Q(last_delivery_at__isnull=True) | ~Q(last_result__in=FINISHED_RESULTS)
            )
        if value in FINISHED_RESULTS:
            return queryset.filter(enabled=True, last_delivery_at__isnull=False, last_result=value)
        return queryset


class ModuleFilter(admin.SimpleListFilter):
    title = "module"
    parameter_name = "module"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return Module.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Connector]) -> QuerySet[Connector]:
        value = self.value()
        return queryset.filter(with_module(value)) if value in Module.values else queryset


class ConnectorAdminForm(forms.ModelForm):
    modules = forms.MultipleChoiceField(
        choices=Module.choices, widget=forms.CheckboxSelectMultiple, initial=[Module.CSAM]
    )

    class Meta:
        model = Connector
        fields = [
            "name",
            "description",
            "modules",
            "enabled",
            "payload_format",
            "require_signature",
            "trust_rank",
            "create_unmanaged",
            "apply_default_rule",
            "stale_after_days",
            "purge_after_days",
            "sync_delete_limit",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["modules"] = self.instance.module_list

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

    def clean(self) -> dict:
        cleaned = super().clean()
        days = (cleaned.get("stale_after_days"), cleaned.get("purge_after_days"))
        for field, message in lifecycle_errors(*days).items():
            self.add_error(field, message)
        return cleaned

    def clean_modules(self) -> str:
        chosen = set(self.cleaned_data["modules"])
        # The model's column is comma separated; a stable order keeps the audit diff quiet.
        return ",".join(code for code in Module.values if code in chosen)


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    form = ConnectorAdminForm
    list_display = [
        "name",
        "enabled",
        "status_label",
        "payload_format",
        "module_names",
        "trust_rank",
        "last_delivery_at",
        "created_at",
    ]
    list_filter = ["enabled", StatusFilter, "payload_format", ModuleFilter]
    search_fields = ["name", "description", "uuid"]
    readonly_fields = [
        "uuid",
        "status_label",
        "webhook_path",
        "token_hint_display",
        "signing_secret_display",
        "previous_secret_expires_at",
        "last_delivery_at",
        "created_by",
        "created_at",
        "updated_at",
    ]
    inlines = [RuleSelectionInline]
    actions = ["enable_connectors", "disable_connectors", "rotate_secrets", "rotate_tokens"]

    def get_fieldsets(self, request: HttpRequest, obj: Connector | None = None):
        basics = (None, {"fields": ["name", "description", "modules", "enabled"]})
        identification = ("Identification", {"fields": ["trust_rank", "create_unmanaged", "apply_default_rule"]})
        lifecycle = (
            "Stale, purge and full syncs",
            {"fields": ["stale_after_days", "purge_after_days", "sync_delete_limit"]},
        )
        if obj is None:
            intake = ("Intake", {"fields": ["payload_format", "require_signature"]})
            return [basics, intake, identification, lifecycle]
        intake = (
            "Intake",
            {
                "fields": [
                    "webhook_path",
                    "payload_format",
                    "require_signature",
                    "token_hint_display",
                    "signing_secret_display",
                    "previous_secret_expires_at",
                ],
                "description": "Credentials are shown once, when made. Use the Rotate actions for new ones.",
            },
        )
        activity = (
            "Activity",
            {"fields": ["uuid", "status_label", "last_delivery_at", "created_by", "created_at", "updated_at"]},
        )
        return [basics, intake, identification, lifecycle, activity]

    @admin.display(description="Status")
    def status_label(self, connector: Connector) -> str:
        return connector.status.label

    @admin.display(description="Modules")
    def module_names(self, connector: Connector) -> str:
        return ", ".join(connector.module_labels)

    @admin.display(description="Bearer token")
    def token_hint_display(self, connector: Connector) -> str:
        return f"{connector.token_hint}…" if connector.token_hint else ""

    @admin.display(description="Signing secret")
    def signing_secret_display(self, connector: Connector) -> str:
        return mask_secret(connector.signing_secret)

    # --- writes, all through the services ---------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Connector, form: ConnectorAdminForm, change: bool) -> None:
        data = dict(form.cleaned_data)
        data["modules"] = data["modules"].split(",")
        enabled = data.pop("enabled")
        with transaction.atomic():
            if change:
                # ``obj`` already carries the form's values; the service must diff against what is stored.
                connector = Connector.objects.select_for_update().get(pk=obj.pk)
                services.update_connector(connector, actor=request.user, **data)
            else:
                options = {key: data.pop(key) for key in ("create_unmanaged", "apply_default_rule")}
                connector, credentials = services.create_connector(actor=request.user, **data)
                services.update_connector(connector, actor=request.user, **options)
                self._show_once(request, connector, credentials)
            services.set_enabled(connector, enabled, actor=request.user)
        for field in Connector._meta.concrete_fields:
            setattr(obj, field.attname, getattr(connector, field.attname))
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: Connector) -> None:
        retired = services.delete_connector(obj, actor=request.user)
        self._report_retired(request, retired)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        retired = sum(services.delete_connector(connector, actor=request.user) for connector in queryset)
        self._report_retired(request, retired)

    def _report_retired(self, request: HttpRequest, retired: int) -> None:
        if retired:
            self.message_user(request, f"{retired} asset(s) no other source reports were retired (not erased).")

    def _show_once(self, request: HttpRequest, connector: Connector, credentials: services.Credentials) -> None:
        parts = []
        if credentials.token:
            parts.append(format_html("bearer token <code>{}</code>", credentials.token))
        if credentials.signing_secret:
            parts.append(format_html("signing secret <code>{}</code>", credentials.signing_secret))
        self.message_user(
            request,
            format_html(
                "{}: copy the new {} now; it is not shown again.",
                connector.name,
                format_html(" and ".join(["{}"] * len(parts)), *parts),
            ),
            messages.WARNING,
        )

    @admin.action(description="Enable selected connectors", permissions=["change"])
    def enable_connectors(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            services.set_enabled(connector, True, actor=request.user)
        self.message_user(request, f"Enabled {len(queryset)} connector(s).", messages.SUCCESS)

    @admin.action(description="Disable selected connectors", permissions=["change"])
    def disable_connectors(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            services.set_enabled(connector, False, actor=request.user)
        self.message_user(request, f"Disabled {len(queryset)} connector(s).", messages.SUCCESS)

    @admin.action(
        description="Rotate signing secret (the previous one keeps working for a while)", permissions=["change"]
    )
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            self._show_once(request, connector, services.rotate_secret(connector, actor=request.user))
            self.message_user(
                request,
                f"{connector.name}: the previous signing secret keeps verifying until "
                f"{connector.previous_secret_expires_at:%Y-%m-%d %H:%M %Z}.",
            )

    @admin.action(description="Rotate bearer token (the previous one stops working at once)", permissions=["change"])
    def rotate_tokens(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            self._show_once(request, connector, services.rotate_token(connector, actor=request.user))


@admin.register(ConnectorEvent)
class ConnectorEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The audit trail. Read only: a trail anyone could edit would prove nothing."""

    list_display = ["created_at", "connector_name", "action", "actor"]
    list_filter = ["action"]
    search_fields = ["connector_name"]
    list_select_related = ["actor"]
    fields = ["created_at", "connector", "connector_name", "action", "actor", "details"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["worker_id", "hostname", "pid", "started_at", "last_beat"]
    search_fields = ["worker_id", "hostname"]
    ordering = ["-last_beat"]


@admin.register(RefusedAttempt)
class RefusedAttemptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Intake requests refused before a delivery was stored; those with no connector hit an unknown URL."""

    list_display = ["at", "connector", "reason", "status_code", "address", "endpoint", "count"]
    list_filter = ["reason", "endpoint", ("connector", admin.EmptyFieldListFilter)]
    search_fields = ["address", "connector__name"]
    list_select_related = ["connector"]
    date_hierarchy = "at"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Deliveries as received. Read only (the body is evidence); the one write is reprocessing, via the service."""

    list_display = ["received_at", "connector", "status", "records_received", "records_errors", "attempts", "size"]
    list_filter = ["status", "payload_format", "is_test", "connector"]
    search_fields = ["uuid", "idempotency_key", "connector__name"]
    list_select_related = ["connector"]
    date_hierarchy = "received_at"
    actions = ["reprocess"]
    exclude = ["body"]
    readonly_fields = ["body_preview"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body")

    @admin.display(description="Body (first 20 kB)")
    def body_preview(self, delivery: Delivery) -> str:
        text = bytes(delivery.body[:20_000]).decode("utf-8", errors="replace")
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", Truncator(text).chars(20_000))

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff

    @admin.action(description="Reprocess selected deliveries", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        count = 0
        for delivery in queryset.select_related("connector"):
            replay_delivery(delivery, actor=request.user)
            count += 1
        self.message_user(request, f"{count} deliveries queued for reprocessing.", messages.SUCCESS)


@admin.register(Sync)
class SyncAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Full syncs. Read only: confirming or discarding a held one is done on the connector page or in the API,
    which audit it."""

    list_display = ["started_at", "connector", "sync_id", "status", "reported", "would_delete", "deleted"]
    list_filter = ["status", "connector"]
    search_fields = ["uuid", "sync_id", "connector__name"]
    list_select_related = ["connector"]
    date_hierarchy = "started_at"
