"""Impact pages for a change to a rule definition: started by **Preview impact** next to Save on the rule's edit
form, they show progress (polled by HTMX; a refresh link without JavaScript), then per-connector and total
numbers with examples, and Apply or Cancel. Connector admins only, as editing a rule. The work is in
:mod:`assets.ruledef_previews` and :mod:`assets.ruledef_impact`.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from connectors_site.common.htmx import HtmxHttpRequest
from connectors_site.common.roles import admin_required

from .forms import RuleForm
from .impact_models import ImpactStatus
from .models import IdentificationRule
from .ruledef_models import RuleImpactPreview
from .ruledef_previews import (
    PreviewError,
    ProgressChannel,
    apply_rule_preview,
    cancel_rule_preview,
    is_stale,
    start_rule_preview,
)

#: How often the page asks for progress while the preview computes.
POLL_SECONDS = 2


def _editable_rule(pk: int) -> IdentificationRule:
    rule = get_object_or_404(IdentificationRule, pk=pk)
    if rule.is_system:
        raise PermissionDenied(f"{rule.name} is a system rule and is read only.")
    return rule


@require_POST
@admin_required
def rule_impact_new(request: HttpRequest, pk: int) -> HttpResponse:
    """The edit form's **Preview impact** button: a valid definition starts a preview and opens its page; an
    invalid one shows the form again with its errors, as Save would."""
    rule = _editable_rule(pk)
    form = RuleForm(request.POST, instance=rule)
    if form.is_valid():
        data = form.cleaned_data
        definition = {"name": data["name"], "attributes": data["attributes"], "description": data["description"]}
        try:
            preview = start_rule_preview(rule, definition, actor=request.user)
        except PreviewError as error:
            form.add_error(None, str(error))
            return render(request, "assets/rule_form.html", {"form": form, "rule": rule}, status=409)
        return redirect(preview.get_absolute_url())
    return render(request, "assets/rule_form.html", {"form": form, "rule": rule}, status=400)


def _preview_or_404(pk: int, preview_uuid) -> RuleImpactPreview:
    return get_object_or_404(
        RuleImpactPreview.objects.select_related("rule", "created_by", "applied_by"), uuid=preview_uuid, rule_id=pk
    )


def _context(preview: RuleImpactPreview, **extra) -> dict:
    processed, total = ProgressChannel.read(preview) if preview.pending else (preview.processed, preview.total)
    return {
        "rule": preview.rule,
        "preview": preview,
        "processed": processed,
        "total": total,
        "percent": int(100 * processed / total) if total else 0,
        "stale": is_stale(preview),
        "poll_seconds": POLL_SECONDS,
        "statuses": ImpactStatus,
        **extra,
    }


@require_GET
@admin_required
def rule_impact_detail(request: HtmxHttpRequest, pk: int, preview_uuid) -> HttpResponse:
    """The preview: progress while it runs (HTMX asks for the ``status`` part only), then the numbers."""
    preview = _preview_or_404(pk, preview_uuid)
    template = "assets/rule_impact.html"
    if request.htmx:
        template += "#status"
    return render(request, template, _context(preview))


@require_POST
@admin_required
def rule_impact_apply(request: HttpRequest, pk: int, preview_uuid) -> HttpResponse:
    """Save the definition and re-identify the connectors that use the rule (run again now)."""
    preview = _preview_or_404(pk, preview_uuid)
    try:
        preview = apply_rule_preview(preview, actor=request.user)
    except (PreviewError, ValidationError) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        return render(request, "assets/rule_impact.html", _context(preview, error=text), status=409)
    records = preview.applied_result["records"]
    messages.success(
        request,
        f"Rule {preview.rule.name} saved"
        + (
            f" and {records.get('total', 0)} records re-identified: {records.get('moved', 0)} moved into other "
            f"assets, {records.get('created', 0)} split into new assets, {records.get('skipped', 0)} skipped."
            if preview.applied_result["connectors"]
            else ": no connector's records needed re-identifying."
        ),
    )
    return redirect(preview.get_absolute_url())


@require_POST
@admin_required
def rule_impact_cancel(request: HttpRequest, pk: int, preview_uuid) -> HttpResponse:
    """Drop the proposal: nothing is saved."""
    preview = _preview_or_404(pk, preview_uuid)
    if cancel_rule_preview(preview):
        messages.info(request, "Proposal cancelled: the rule is unchanged.")
    else:
        messages.info(request, f"This preview was {preview.get_status_display().lower()} already.")
    return redirect("assets:rule_edit", pk=preview.rule_id)
