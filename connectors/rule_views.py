"""A connector's Asset Identification Rules page: which rules it applies and in what order, its two options, and
a preview of which rule would decide a pasted record.

Each write answers an HTMX request with only the part it changed (``connector_rules.html#rule_list`` or
``#options``), and a plain form post with a redirect back to the page, or the page with the error.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from assets.models import RuleSelection
from assets.rule_selection import RuleSelectionError, update_rule_selection
from connectors_site.common.htmx import HtmxHttpRequest
from connectors_site.common.roles import admin_required

from .forms import PREVIEW_SAMPLE_TEXT, PreviewForm, RuleMoveForm, RuleOptionForm, RuleRequiredForm
from .models import Connector
from .preview import preview_identification
from .views import connector_or_404


def _rules_context(connector: Connector, *, focus: str = "", **extra) -> dict:
    """The rules page. ``focus`` names the button to focus after an HTMX swap (``toggle-<id>``, ``move-up-<id>``…)."""
    selection: list[RuleSelection] = list(connector.rule_selection.select_related("rule"))
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
    connector = connector_or_404(connector_uuid)
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
        update_rule_selection(connector, actor=request.user, **change)
    except RuleSelectionError as exc:
        return str(exc)
    return ""


@admin_required
@require_POST
def connector_rule_required(request: HtmxHttpRequest, connector_uuid, rule_id: int) -> HttpResponse:
    """Turn one rule on or off."""
    connector = connector_or_404(connector_uuid)
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
    connector = connector_or_404(connector_uuid)
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
    connector = connector_or_404(connector_uuid)
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


def connector_rule_preview(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """Which rule would decide one pasted record, and why. Writes nothing, so Viewers may use it too."""
    connector = connector_or_404(connector_uuid)
    form = PreviewForm(request.POST)
    preview = preview_identification(connector, form.cleaned_data["record"]) if form.is_valid() else None
    context = _rules_context(connector, preview=preview)
    context["preview_form"] = form
    template = "connectors/connector_rules.html"
    if request.htmx:
        template += "#preview"
    return render(request, template, context)
