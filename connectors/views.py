"""The Connectors app: integrations, the connector list and a connector's pages (its rules page is in
:mod:`connectors.rule_views`, its delivery log in :mod:`connectors.delivery_views`).

Views are thin: forms validate, ``connectors.services`` writes (and audits), templates render. Pages render in full
for a normal request and only the part that changed for an HTMX request (Django template partials). Every write
view is POST-only behind ``admin_required``; a Viewer gets 403 on them whatever the method.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import Count, Exists, F, OuterRef, Q
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from assets.models import Asset, SourceRecord
from assets.queries import conflict_count, stale_asset_count, with_asset_count
from connectors_site.common.htmx import HtmxHttpRequest, redirect_after_post, wants_partial
from connectors_site.common.navigation import next_url
from connectors_site.common.roles import SENDERS, admin_required
from connectors_site.common.sorting import Sorting

from . import one_time_secrets, refused
from .choices import Module, PayloadFormat, SignatureScheme
from .filtersets import ConnectorFilterSet
from .formats.mapped import example_body
from .formats.samples import EXAMPLE_FIELDS, csam_body, native_body, netbox_body, sample_record
from .forms import BulkActionForm, ConnectorForm
from .health import explain, with_latest_result
from .models import Connector, Delivery
from .services import (
    Credentials,
    create_connector,
    delete_connector,
    rotate_secret,
    rotate_token,
    set_enabled,
    update_connector,
    verification_secrets,
)
from .sync_views import held_syncs

PAGE_SIZE = 25
RECENT_DELIVERIES = 10
AUDIT_ROWS = 25
#: Session key prefix for credentials waiting to be shown once (popped by the page that shows them).
ONE_TIME_SECRETS_KEY = "connector-secrets:"
DUPLICATE_NAME = "A connector with this name already exists (names are compared ignoring case)."


# --- helpers --------------------------------------------------------------------------------------------------


def connector_or_404(connector_uuid) -> Connector:
    return get_object_or_404(Connector, uuid=connector_uuid)


def _remember_secrets(request: HttpRequest, connector: Connector, credentials: Credentials, reason: str) -> None:
    """Keep new credentials in the session, encrypted, until the next page shows them once or they expire."""
    key = ONE_TIME_SECRETS_KEY + str(connector.uuid)
    pending = one_time_secrets.read(request.session.get(key)) or {}
    pending.setdefault("reasons", []).append(reason)
    if credentials.token:
        pending["token"] = credentials.token
    if credentials.signing_secret:
        pending["signing_secret"] = credentials.signing_secret
    request.session[key] = one_time_secrets.seal(pending)


def _pop_secrets(request: HttpRequest, connector: Connector) -> tuple[dict | None, bool]:
    """The credentials waiting to be shown, and whether some were waiting but had expired."""
    sealed = request.session.pop(ONE_TIME_SECRETS_KEY + str(connector.uuid), None)
    shown = one_time_secrets.read(sealed)
    return shown, sealed is not None and shown is None


def sample_payload(connector: Connector) -> object | None:
    """A one-asset body in the connector's payload format, for the curl example (``None``: a mapped connector
    whose mapping is not set, or is more than plain paths, so no body can be made up for it)."""
    record = sample_record(*EXAMPLE_FIELDS)
    if connector.payload_format == PayloadFormat.MAPPED:
        return example_body(connector.mapping, record)
    if connector.payload_format == PayloadFormat.CSAM:
        return csam_body(record, {"connectorUuid": str(connector.uuid)})
    if connector.payload_format == PayloadFormat.NETBOX:
        return netbox_body(sample_record(), when="2026-11-28T09:15:00+00:00")
    return native_body(record)


def _sample_body(connector: Connector) -> str:
    """The sample payload laid out to read well in a terminal: one asset per line."""
    payload = sample_payload(connector)
    if connector.payload_format == PayloadFormat.MAPPED:
        return json.dumps(payload) if payload is not None else ""
    if connector.payload_format == PayloadFormat.CSAM:
        (item,) = payload["assetData"]
        return (
            f'{{"connectorMetaData": {json.dumps(payload["connectorMetaData"])},\n'
            ' "assetData": [\n'
            f'  {{"identityAttributes": {json.dumps(item["identityAttributes"])},\n'
            f'   "coreAttributes": {json.dumps(item["coreAttributes"])}}}\n'
            " ]}"
        )
    if connector.payload_format == PayloadFormat.NETBOX:
        return json.dumps(payload, indent=1)
    assets = ",\n".join(f"  {json.dumps(item)}" for item in payload["assets"])
    return f'{{"assets": [\n{assets}\n]}}'


def curl_example(connector: Connector, url: str, token: str | None = None) -> str:
    """A ready-to-paste command that sends one sample asset with the bearer token (or a placeholder for it)."""
    body = _sample_body(connector).replace("'", "'\\''")  # a quote in a mapped key must not end the shell string
    return (
        f"curl -X POST '{url}' \\\n"
        f'  -H "Authorization: Bearer {token or "$CONNECTOR_TOKEN"}" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        + (f"  --data '{body}'" if body else "  --data @body.json  # a body your inventory sends, saved to a file")
    )


@dataclass(frozen=True)
class DeletionImpact:
    """What deleting some connectors does to the inventory; shown before the admin confirms."""

    source_records: int
    assets: int
    assets_to_retire: int
    deliveries: int

    @property
    def assets_kept(self) -> int:
        return self.assets - self.assets_to_retire


def deletion_impact(connectors: Iterable[Connector]) -> DeletionImpact:
    """Counts for the confirmation page, computed the way ``delete_connector`` will act."""
    ids = [connector.pk for connector in connectors]
    records = SourceRecord.objects.filter(connector_id__in=ids)
    reported_elsewhere = SourceRecord.objects.filter(asset=OuterRef("pk"), deleted=False).exclude(connector_id__in=ids)
    assets = Asset.objects.filter(pk__in=records.values("asset_id"), retired=False)
    return DeletionImpact(
        source_records=records.count(),
        assets=assets.count(),
        assets_to_retire=assets.exclude(Exists(reported_elsewhere)).count(),
        deliveries=Delivery.objects.filter(connector_id__in=ids).count(),
    )


# --- integrations and the connector list -----------------------------------------------------------------------


def integrations(request: HttpRequest) -> HttpResponse:
    counts = Connector.objects.aggregate(total=Count("pk"), enabled=Count("pk", filter=Q(enabled=True)))
    return render(request, "connectors/integrations.html", {"counts": counts, "conflicts": conflict_count()})


SORT_FIELDS = {
    "name": Lower("name"),
    "state": F("enabled"),
    "last_delivery": F("last_delivery_at"),
    "assets": F("asset_count"),
    "created": F("created_at"),
}
DEFAULT_SORT = "name"


#: The list's links carry ``sort`` (see :mod:`connectors_site.common.sorting`).
SORT_PARAM = "sort"


def _order_by(sorting: Sorting) -> list:
    """The ``order_by`` arguments of a validated sort (``name`` / ``-name`` …)."""
    field = SORT_FIELDS[sorting.key]
    return [field.desc(nulls_last=True) if sorting.descending else field.asc(nulls_first=True), "pk"]


@vary_on_headers("HX-Request")
def connector_list(request: HtmxHttpRequest) -> HttpResponse:
    filterset = ConnectorFilterSet(request.GET, queryset=with_latest_result(with_asset_count(Connector.objects.all())))
    sorting = Sorting.from_request(request, SORT_FIELDS, default=DEFAULT_SORT, param=SORT_PARAM)
    page = Paginator(filterset.qs.order_by(*_order_by(sorting)), PAGE_SIZE).get_page(request.GET.get("page"))
    cleaned = filterset.form.cleaned_data if filterset.is_valid() else {}
    context = {
        "filterset": filterset,
        "page": page,
        "sorting": sorting,
        "filtered": any(value not in (None, "") for value in cleaned.values()),
        "query": cleaned.get("q", ""),
        "modules": Module.choices,
        "payload_formats": PayloadFormat.choices,
    }
    template = "connectors/connector_list.html"
    if wants_partial(request):
        template += "#results"
    return render(request, template, context)


@admin_required
@require_POST
def connector_bulk(request: HtmxHttpRequest) -> HttpResponse:
    """Enable, disable or delete the ticked connectors; deleting asks for confirmation on a page first."""
    back = next_url(request, reverse("connectors:connector_list"))
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect_after_post(request, back)
    action = form.cleaned_data["action"]
    chosen = list(Connector.objects.filter(uuid__in=form.cleaned_data["selected"]).order_by(Lower("name")))
    if not chosen:
        messages.error(request, "None of the selected connectors exists any more.")
        return redirect_after_post(request, back)
    if action == BulkActionForm.DELETE:
        if not form.cleaned_data["confirm"]:
            context = {"connectors": chosen, "impact": deletion_impact(chosen), "next": back}
            return render(request, "connectors/connector_bulk_delete.html", context)
        retired = sum(delete_connector(connector, actor=request.user) for connector in chosen)
        messages.success(
            request,
            f"Deleted {_count(len(chosen), 'connector')}; {_count(retired, 'asset')} no other source "
            "reports were retired.",
        )
        return redirect_after_post(request, back)
    enable = action == BulkActionForm.ENABLE
    changed = [c for c in chosen if c.enabled != enable]
    for connector in changed:
        set_enabled(connector, enable, actor=request.user)
    verb = "Enabled" if enable else "Disabled"
    unchanged = len(chosen) - len(changed)
    note = f" ({unchanged} already {verb.lower()})" if unchanged else ""
    messages.success(request, f"{verb} {_count(len(changed), 'connector')}{note}.")
    return redirect_after_post(request, back)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# --- one connector ---------------------------------------------------------------------------------------------


@admin_required
def connector_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ConnectorForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            connector, credentials = create_connector(actor=request.user, **form.cleaned_data)
        except IntegrityError:  # a concurrent create took the name between validation and insert
            form.add_error("name", DUPLICATE_NAME)
        else:
            _remember_secrets(request, connector, credentials, reason="created")
            return redirect_after_post(request, reverse("connectors:connector_ready", args=[connector.uuid]))
    return render(request, "connectors/connector_form.html", {"form": form, "connector": None})


@never_cache
@admin_required
def connector_ready(request: HttpRequest, connector_uuid) -> HttpResponse:
    """The webhook URL, and the new credentials exactly once: a reload no longer shows them."""
    connector = connector_or_404(connector_uuid)
    shown, expired = _pop_secrets(request, connector)
    webhook_url = request.build_absolute_uri(connector.webhook_path)
    context = {
        "connector": connector,
        "shown": shown,
        "expired": expired,
        "one_time_minutes": one_time_secrets.minutes(),
        "created": bool(shown and "created" in shown.get("reasons", [])),
        "webhook_url": webhook_url,
        "csam_sync_url": request.build_absolute_uri(reverse("csam_sync")),
        "curl": curl_example(connector, webhook_url, (shown or {}).get("token")),
    }
    return render(request, "connectors/connector_ready.html", context)


def connector_detail(request: HttpRequest, connector_uuid) -> HttpResponse:
    connector = get_object_or_404(
        with_latest_result(with_asset_count(Connector.objects.select_related("created_by"))),
        uuid=connector_uuid,
    )
    webhook_url = request.build_absolute_uri(connector.webhook_path)
    selection = list(connector.rule_selection.select_related("rule"))
    context = {
        "connector": connector,
        "webhook_url": webhook_url,
        "csam_sync_url": request.build_absolute_uri(reverse("csam_sync")),
        "curl": curl_example(connector, webhook_url),
        "rules_on": [item.rule for item in selection if item.enabled],
        "stale_assets": stale_asset_count(connector),
        "status": explain(connector),
        "deliveries": connector.deliveries.defer("body", "headers", "errors")[:RECENT_DELIVERIES],
        "events": connector.events.select_related("actor")[:AUDIT_ROWS],
        "audit_rows": AUDIT_ROWS,
        "previous_secret_valid": len(verification_secrets(connector)) > 1,
        "setup": sender_setup(request, connector),
        "refused_today": refused.counts_by_connector([connector.pk], since=refused.last_day()).get(connector.pk, 0),
        "held_syncs": held_syncs(connector),
    }
    return render(request, "connectors/connector_detail.html", context)


def sender_setup(request: HttpRequest, connector: Connector) -> dict:
    """What the connector page's "Set up the sender" card needs beyond the connector itself."""
    auth_url = request.build_absolute_uri(reverse("gateway_auth"))
    return {
        "netbox_scheme_ok": connector.signature_scheme == SignatureScheme.NETBOX,
        "gateway_url": auth_url.removesuffix("/auth"),  # scripts append /auth and the CSAM paths themselves
        "auth_url": auth_url,
        "senders_role": SENDERS,
    }


@admin_required
def connector_edit(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    connector = connector_or_404(connector_uuid)
    form = ConnectorForm(request.POST if request.method == "POST" else None, instance=connector)
    if form.is_bound and form.is_valid():
        before = connector.updated_at
        try:
            update_connector(connector, actor=request.user, **form.cleaned_data)
        except IntegrityError:
            form.add_error("name", DUPLICATE_NAME)
        else:
            if connector.updated_at != before:
                messages.success(request, f"Saved the changes to {connector.name}.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect_after_post(request, connector.get_absolute_url())
    return render(request, "connectors/connector_form.html", {"form": form, "connector": connector})


def _set_enabled(request: HtmxHttpRequest, connector_uuid, enabled: bool) -> HttpResponse:
    connector = connector_or_404(connector_uuid)
    set_enabled(connector, enabled, actor=request.user)
    if enabled:
        messages.success(request, f"{connector.name} is enabled: it accepts deliveries.")
    else:
        messages.success(request, f"{connector.name} is disabled: deliveries are refused until you enable it.")
    return redirect_after_post(request, next_url(request, connector.get_absolute_url()))


@admin_required
@require_POST
def connector_enable(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    return _set_enabled(request, connector_uuid, True)


@admin_required
@require_POST
def connector_disable(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    return _set_enabled(request, connector_uuid, False)


@admin_required
def connector_delete(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """GET: what deleting will do (counts); POST: delete."""
    connector = connector_or_404(connector_uuid)
    if request.method == "POST":
        name = connector.name
        retired = delete_connector(connector, actor=request.user)
        messages.success(request, f"Deleted {name}; {_count(retired, 'asset')} no other source reports were retired.")
        return redirect_after_post(request, reverse("connectors:connector_list"))
    context = {"connector": connector, "impact": deletion_impact([connector])}
    return render(request, "connectors/connector_delete.html", context)


def _rotate(request: HtmxHttpRequest, connector_uuid, kind: str) -> HttpResponse:
    connector = connector_or_404(connector_uuid)
    if request.method == "POST":
        if kind == "secret":
            credentials = rotate_secret(connector, actor=request.user)
        else:
            credentials = rotate_token(connector, actor=request.user)
        _remember_secrets(request, connector, credentials, reason=f"{kind}_rotated")
        return redirect_after_post(request, reverse("connectors:connector_ready", args=[connector.uuid]))
    context = {
        "connector": connector,
        "kind": kind,
        "overlap_hours": settings.SECRET_ROTATION_OVERLAP_HOURS,
        "previous_secret_valid": len(verification_secrets(connector)) > 1,
    }
    return render(request, "connectors/connector_rotate.html", context)


@admin_required
def connector_rotate_secret(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    return _rotate(request, connector_uuid, "secret")


@admin_required
def connector_rotate_token(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    return _rotate(request, connector_uuid, "token")
