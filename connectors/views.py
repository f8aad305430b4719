"""The Connectors app: integrations, the connector list, a connector's pages and its identification rules.

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
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from assets.models import Asset, SourceRecord
from connectors_site.roles import admin_required

from .choices import Module, PayloadFormat
from .filtersets import ConnectorFilterSet
from .formats.samples import EXAMPLE_FIELDS, csam_body, native_body, sample_record
from .forms import (
    PREVIEW_SAMPLE_TEXT,
    BulkActionForm,
    ConnectorForm,
    PreviewForm,
    RuleMoveForm,
    RuleOptionForm,
    RuleRequiredForm,
)
from .models import Connector, ConnectorRule, Delivery
from .preview import preview_identification
from .services import (
    Credentials,
    RuleSelectionError,
    do_create_connector,
    do_delete_connector,
    do_rotate_secret,
    do_rotate_token,
    do_set_enabled,
    do_update_connector,
    do_update_rule_selection,
    verification_secrets,
)

PAGE_SIZE = 25
RECENT_DELIVERIES = 10
AUDIT_ROWS = 25
#: Session key prefix for credentials waiting to be shown once (popped by the page that shows them).
ONE_TIME_SECRETS_KEY = "connector-secrets:"
DUPLICATE_NAME = "A connector with this name already exists (names are compared ignoring case)."


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# --- helpers --------------------------------------------------------------------------------------------------


def _get_connector(connector_uuid) -> Connector:
    return get_object_or_404(Connector, uuid=connector_uuid)


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    """After a POST: a client-side redirect for HTMX, an ordinary 302 otherwise."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _next_url(request: HttpRequest, default: str) -> str:
    """Where to go after an action: the ``next`` field if it points into this site, else ``default``."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _remember_secrets(request: HttpRequest, connector: Connector, credentials: Credentials, reason: str) -> None:
    """Keep new credentials in the session until the next page shows them, once."""
    key = ONE_TIME_SECRETS_KEY + str(connector.uuid)
    pending = request.session.get(key, {})
    pending.setdefault("reasons", []).append(reason)
    if credentials.token:
        pending["token"] = credentials.token
    if credentials.signing_secret:
        pending["signing_secret"] = credentials.signing_secret
    request.session[key] = pending


def _pop_secrets(request: HttpRequest, connector: Connector) -> dict | None:
    return request.session.pop(ONE_TIME_SECRETS_KEY + str(connector.uuid), None)


def sample_payload(connector: Connector) -> dict:
    """A one-asset body in the connector's payload format, for the curl example."""
    record = sample_record(*EXAMPLE_FIELDS)
    if connector.payload_format == PayloadFormat.CSAM:
        return csam_body(record, {"connectorUuid": str(connector.uuid)})
    return native_body(record)


def _sample_body(connector: Connector) -> str:
    """The sample payload laid out to read well in a terminal: one asset per line."""
    payload = sample_payload(connector)
    if connector.payload_format == PayloadFormat.CSAM:
        (item,) = payload["assetData"]
        return (
            f'{{"connectorMetaData": {json.dumps(payload["connectorMetaData"])},\n'
            ' "assetData": [\n'
            f'  {{"identityAttributes": {json.dumps(item["identityAttributes"])},\n'
            f'   "coreAttributes": {json.dumps(item["coreAttributes"])}}}\n'
            " ]}"
        )
    assets = ",\n".join(f"  {json.dumps(item)}" for item in payload["assets"])
    return f'{{"assets": [\n{assets}\n]}}'


def curl_example(connector: Connector, url: str, token: str | None = None) -> str:
    """A ready-to-paste command that sends one sample asset with the bearer token (or a placeholder for it)."""
    return (
        f"curl -X POST '{url}' \\\n"
        f'  -H "Authorization: Bearer {token or "$CONNECTOR_TOKEN"}" \\\n'
        "  -H 'Content-Type: application/json' \\\n"
        f"  --data '{_sample_body(connector)}'"
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
    """Counts for the confirmation page, computed the way ``do_delete_connector`` will act."""
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
    return render(request, "connectors/integrations.html", {"counts": counts})


SORT_FIELDS = {
    "name": Lower("name"),
    "state": F("enabled"),
    "last_delivery": F("last_delivery_at"),
    "assets": F("asset_count"),
    "created": F("created_at"),
}
DEFAULT_SORT = "name"


def _ordering(sort: str) -> tuple[str, list]:
    """The validated sort key (``name`` / ``-name`` …) and the ``order_by`` arguments it stands for."""
    key = sort.removeprefix("-")
    if key not in SORT_FIELDS:
        sort = key = DEFAULT_SORT
    field = SORT_FIELDS[key]
    ordered = field.desc(nulls_last=True) if sort.startswith("-") else field.asc(nulls_first=True)
    return sort, [ordered, "pk"]


@vary_on_headers("HX-Request")
def connector_list(request: HtmxHttpRequest) -> HttpResponse:
    filterset = ConnectorFilterSet(request.GET, queryset=Connector.objects.with_asset_count())
    sort, ordering = _ordering(request.GET.get("sort", DEFAULT_SORT))
    page = Paginator(filterset.qs.order_by(*ordering), PAGE_SIZE).get_page(request.GET.get("page"))
    cleaned = filterset.form.cleaned_data if filterset.is_valid() else {}
    context = {
        "filterset": filterset,
        "page": page,
        "sort": sort,
        "filtered": any(value not in (None, "") for value in cleaned.values()),
        "query": cleaned.get("q", ""),
        "modules": Module.choices,
        "payload_formats": PayloadFormat.choices,
    }
    template = "connectors/connector_list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#results"
    return render(request, template, context)


@admin_required
@require_POST
def connector_bulk(request: HtmxHttpRequest) -> HttpResponse:
    """Enable, disable or delete the ticked connectors; deleting asks for confirmation on a page first."""
    back = _next_url(request, reverse("connectors:connector_list"))
    form = BulkActionForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return _redirect(request, back)
    action = form.cleaned_data["action"]
    chosen = list(Connector.objects.filter(uuid__in=form.cleaned_data["selected"]).order_by(Lower("name")))
    if not chosen:
        messages.error(request, "None of the selected connectors exists any more.")
        return _redirect(request, back)
    if action == BulkActionForm.DELETE:
        if not form.cleaned_data["confirm"]:
            context = {"connectors": chosen, "impact": deletion_impact(chosen), "next": back}
            return render(request, "connectors/connector_bulk_delete.html", context)
        retired = sum(do_delete_connector(connector, actor=request.user) for connector in chosen)
        messages.success(
            request,
            f"Deleted {_count(len(chosen), 'connector')}; {_count(retired, 'asset')} no other source "
            "reports were retired.",
        )
        return _redirect(request, back)
    enable = action == BulkActionForm.ENABLE
    changed = [c for c in chosen if c.enabled != enable]
    for connector in changed:
        do_set_enabled(connector, enable, actor=request.user)
    verb = "Enabled" if enable else "Disabled"
    unchanged = len(chosen) - len(changed)
    note = f" ({unchanged} already {verb.lower()})" if unchanged else ""
    messages.success(request, f"{verb} {_count(len(changed), 'connector')}{note}.")
    return _redirect(request, back)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# --- one connector ---------------------------------------------------------------------------------------------


@admin_required
def connector_create(request: HtmxHttpRequest) -> HttpResponse:
    form = ConnectorForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            connector, credentials = do_create_connector(actor=request.user, **form.cleaned_data)
        except IntegrityError:  # a concurrent create took the name between validation and insert
            form.add_error("name", DUPLICATE_NAME)
        else:
            _remember_secrets(request, connector, credentials, reason="created")
            return _redirect(request, reverse("connectors:connector_ready", args=[connector.uuid]))
    return render(request, "connectors/connector_form.html", {"form": form, "connector": None})


@never_cache
@admin_required
def connector_ready(request: HttpRequest, connector_uuid) -> HttpResponse:
    """The webhook URL, and the new credentials exactly once: a reload no longer shows them."""
    connector = _get_connector(connector_uuid)
    shown = _pop_secrets(request, connector)
    webhook_url = request.build_absolute_uri(connector.webhook_path)
    context = {
        "connector": connector,
        "shown": shown,
        "created": bool(shown and "created" in shown.get("reasons", [])),
        "webhook_url": webhook_url,
        "csam_sync_url": request.build_absolute_uri(reverse("csam_sync")),
        "curl": curl_example(connector, webhook_url, (shown or {}).get("token")),
    }
    return render(request, "connectors/connector_ready.html", context)


def connector_detail(request: HttpRequest, connector_uuid) -> HttpResponse:
    connector = get_object_or_404(
        Connector.objects.with_asset_count().select_related("created_by"),
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
        "deliveries": connector.deliveries.defer("body", "headers", "errors")[:RECENT_DELIVERIES],
        "events": connector.events.select_related("actor")[:AUDIT_ROWS],
        "audit_rows": AUDIT_ROWS,
        "previous_secret_valid": len(verification_secrets(connector)) > 1,
    }
    return render(request, "connectors/connector_detail.html", context)


@admin_required
def connector_edit(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    connector = _get_connector(connector_uuid)
    form = ConnectorForm(request.POST if request.method == "POST" else None, instance=connector)
    if form.is_bound and form.is_valid():
        before = connector.updated_at
        try:
            do_update_connector(connector, actor=request.user, **form.cleaned_data)
        except IntegrityError:
            form.add_error("name", DUPLICATE_NAME)
        else:
            if connector.updated_at != before:
                messages.success(request, f"Saved the changes to {connector.name}.")
            else:
                messages.info(request, "Nothing changed.")
            return _redirect(request, connector.get_absolute_url())
    return render(request, "connectors/connector_form.html", {"form": form, "connector": connector})


def _set_enabled(request: HtmxHttpRequest, connector_uuid, enabled: bool) -> HttpResponse:
    connector = _get_connector(connector_uuid)
    do_set_enabled(connector, enabled, actor=request.user)
    if enabled:
        messages.success(request, f"{connector.name} is enabled: it accepts deliveries.")
    else:
        messages.success(request, f"{connector.name} is disabled: deliveries are refused until you enable it.")
    return _redirect(request, _next_url(request, connector.get_absolute_url()))


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
    connector = _get_connector(connector_uuid)
    if request.method == "POST":
        name = connector.name
        retired = do_delete_connector(connector, actor=request.user)
        messages.success(request, f"Deleted {name}; {_count(retired, 'asset')} no other source reports were retired.")
        return _redirect(request, reverse("connectors:connector_list"))
    context = {"connector": connector, "impact": deletion_impact([connector])}
    return render(request, "connectors/connector_delete.html", context)


def _rotate(request: HtmxHttpRequest, connector_uuid, kind: str) -> HttpResponse:
    connector = _get_connector(connector_uuid)
    if request.method == "POST":
        if kind == "secret":
            credentials = do_rotate_secret(connector, actor=request.user)
        else:
            credentials = do_rotate_token(connector, actor=request.user)
        _remember_secrets(request, connector, credentials, reason=f"{kind}_rotated")
        return _redirect(request, reverse("connectors:connector_ready", args=[connector.uuid]))
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


# --- asset identification rules ---------------------------------------------------------------------------------


def _rules_context(connector: Connector, *, focus: str = "", **extra) -> dict:
    """The rules page. ``focus`` names the button to focus after an HTMX swap (``toggle-<id>``, ``move-up-<id>``…)."""
    selection: list[ConnectorRule] = list(connector.rule_selection.select_related("rule"))
    for item in selection:
        item.focus = focus.removesuffix(f"-{item.rule_id}") if focus.endswith(f"-{item.rule_id}") else ""
    movable = [item.rule_id for item in selection if not item.rule.is_system]
    return {
        "connector": connector,
        "selection": selection,
        "first_movable": movable[0] if movable else None,
        "last_movable": movable[-1] if movable else None,
        "focus": focus,
        "preview_form": PreviewForm(initial={"record": PREVIEW_SAMPLE_TEXT}),
        **extra,
    }


def connector_rules(request: HttpRequest, connector_uuid) -> HttpResponse:
    connector = _get_connector(connector_uuid)
    return render(request, "connectors/connector_rules.html", _rules_context(connector))


def _rules_changed(
    request: HtmxHttpRequest,
    connector: Connector,
    *,
    partial: str,
    error: str = "",
    saved: str = "",
    focus: str = "",
) -> HttpResponse:
    """The answer to a rules write: the changed part for HTMX; otherwise back to the page with a message, or the
    page with the error (400). Either way a refusal shows next to what it is about, never as a 500."""
    context = _rules_context(connector, focus=focus, error=error, error_in=partial, saved=saved)
    if request.htmx:
        return render(request, f"connectors/connector_rules.html#{partial}", context)
    if error:
        return render(request, "connectors/connector_rules.html", context, status=400)
    messages.success(request, saved)
    return redirect("connectors:connector_rules", connector_uuid=connector.uuid)


def _apply_rule_change(connector: Connector, request: HttpRequest, **change) -> str:
    """Run the service; return its refusal as text (empty when it worked)."""
    try:
        do_update_rule_selection(connector, actor=request.user, **change)
    except RuleSelectionError as exc:
        return str(exc)
    return ""


@admin_required
@require_POST
def connector_rule_required(request: HtmxHttpRequest, connector_uuid, rule_id: int) -> HttpResponse:
    """Turn one rule on or off."""
    connector = _get_connector(connector_uuid)
    item = connector.rule_selection.select_related("rule").filter(rule_id=rule_id).first()
    form = RuleRequiredForm(request.POST)
    if item is None:
        error = "That rule is not part of this connector's selection."
    elif not form.is_valid():
        error = "Choose whether the rule is required."
    else:
        error = _apply_rule_change(connector, request, enabled={rule_id: form.cleaned_data["required"]})
    saved = ""
    if not error:
        state = "required" if form.cleaned_data["required"] else "off"
        saved = f"{item.rule.name} is now {state}."
    return _rules_changed(request, connector, partial="rule_list", error=error, saved=saved, focus=f"toggle-{rule_id}")


def moved(order: list[int], rule_id: int, offset: int, fixed: set[int]) -> list[int] | None:
    """``order`` with ``rule_id`` swapped with its neighbour ``offset`` places away, or None when it cannot go
    there (the end of the list, or a fixed rule such as the system one)."""
    index = order.index(rule_id)
    other = index + offset
    if rule_id in fixed or not 0 <= other < len(order) or order[other] in fixed:
        return None
    result = list(order)
    result[index], result[other] = result[other], result[index]
    return result


def _focus_after_move(order: list[int], rule_id: int, up: bool, fixed: set[int]) -> str:
    """Keep focus on the button just used, unless the rule reached the end of the list and that button is now
    disabled: then on its other move button."""
    movable = [other for other in order if other not in fixed]
    if rule_id in movable and len(movable) > 1:
        if up and rule_id == movable[0]:
            return f"move-down-{rule_id}"
        if not up and rule_id == movable[-1]:
            return f"move-up-{rule_id}"
    return f"move-{'up' if up else 'down'}-{rule_id}"


@admin_required
@require_POST
def connector_rule_move(request: HtmxHttpRequest, connector_uuid, rule_id: int) -> HttpResponse:
    """Move one rule a place up or down (Source native key stays first)."""
    connector = _get_connector(connector_uuid)
    selection = list(connector.rule_selection.select_related("rule"))
    item = next((item for item in selection if item.rule_id == rule_id), None)
    form = RuleMoveForm(request.POST)
    if item is None or not form.is_valid():
        error = "Choose a rule of this connector and a direction to move it."
        return _rules_changed(request, connector, partial="rule_list", error=error)
    up = form.cleaned_data["direction"] == RuleMoveForm.UP
    order = [other.rule_id for other in selection]
    fixed = {other.rule_id for other in selection if other.rule.is_system}
    new_order = moved(order, rule_id, -1 if up else 1, fixed)
    if new_order is None:
        if item.rule.is_system:
            error = f"{item.rule.name} is a system rule: it always comes first."
        elif up:
            error = f"{item.rule.name} is already first after the system rule."
        else:
            error = f"{item.rule.name} is already last."
    else:
        error = _apply_rule_change(connector, request, order=new_order)
    final_order = order if error else new_order
    saved = (
        ""
        if error
        else f"{item.rule.name} moved {'up' if up else 'down'} to position {final_order.index(rule_id) + 1}."
    )
    focus = _focus_after_move(final_order, rule_id, up, fixed)
    return _rules_changed(request, connector, partial="rule_list", error=error, saved=saved, focus=focus)


@admin_required
@require_POST
def connector_rule_options(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """Turn Create unmanaged asset or Apply default rule on or off."""
    connector = _get_connector(connector_uuid)
    form = RuleOptionForm(request.POST)
    error = saved = ""
    option = request.POST.get("option", "")
    if not form.is_valid():
        error = "Choose an option and whether it is on."
    else:
        option, on = form.cleaned_data["option"], form.cleaned_data["value"]
        error = _apply_rule_change(connector, request, **{option: on})
        label = Connector._meta.get_field(option).verbose_name
        saved = "" if error else f"{label} is now {'on' if on else 'off'}."
    return _rules_changed(request, connector, partial="options", error=error, saved=saved, focus=f"option-{option}")


@require_POST
def connector_rule_preview(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """Which rule would decide one pasted record, and why. Writes nothing, so Viewers may use it too."""
    connector = _get_connector(connector_uuid)
    form = PreviewForm(request.POST)
    preview = preview_identification(connector, form.cleaned_data["record"]) if form.is_valid() else None
    context = _rules_context(connector, preview=preview)
    context["preview_form"] = form
    template = "connectors/connector_rules.html"
    if request.htmx:
        template += "#preview"
    return render(request, template, context)
