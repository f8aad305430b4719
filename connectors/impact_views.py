"""Rule-change impact pages: propose a change to a connector's rules and options, watch the preview compute
(progress, polled by HTMX; a plain refresh link without JavaScript), read what it would change, then Apply or
Cancel. Connector admins only: a preview reads the whole connector's records. The work is in
:mod:`assets.impact_previews` (and :mod:`assets.impact_tasks` to start one).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from assets.impact_models import ImpactPreview, ImpactStatus
from assets.impact_previews import PreviewError, apply_preview, cancel_preview, is_stale, proposal_problem
from assets.impact_tasks import start_preview
from connectors_site.common.htmx import HtmxHttpRequest
from connectors_site.common.roles import admin_required

from .impact_forms import ImpactProposalForm
from .views import connector_or_404

#: How often the page asks for progress while the preview computes.
POLL_SECONDS = 2


@admin_required
@require_http_methods(["GET", "POST"])
def impact_new(request: HttpRequest, connector_uuid) -> HttpResponse:
    """The proposal form; a valid proposal starts a preview in the background and opens its page."""
    connector = connector_or_404(connector_uuid)
    form = ImpactProposalForm(request.POST or None, connector=connector)
    if request.method == "POST" and form.is_valid():
        preview = start_preview(connector, form.proposal, actor=request.user)
        return redirect(preview.get_absolute_url())
    status = 400 if request.method == "POST" else 200
    recent = list(connector.impact_previews.select_related("created_by")[:5])
    return render(
        request,
        "connectors/connector_impact_form.html",
        {"connector": connector, "form": form, "recent": recent},
        status=status,
    )


def _preview_or_404(connector_uuid, preview_uuid) -> ImpactPreview:
    return get_object_or_404(
        ImpactPreview.objects.select_related("connector", "created_by", "applied_by"),
        uuid=preview_uuid,
        connector__uuid=connector_uuid,
    )


def _context(preview: ImpactPreview, **extra) -> dict:
    return {
        "connector": preview.connector,
        "preview": preview,
        "problem": proposal_problem(preview),
        "stale": is_stale(preview),
        "poll_seconds": POLL_SECONDS,
        "statuses": ImpactStatus,
        **extra,
    }


@admin_required
@require_http_methods(["GET"])
def impact_detail(request: HtmxHttpRequest, connector_uuid, preview_uuid) -> HttpResponse:
    """The preview: progress while it computes (HTMX asks for the ``status`` part only), then the numbers."""
    preview = _preview_or_404(connector_uuid, preview_uuid)
    template = "connectors/connector_impact.html"
    if request.htmx:
        template += "#status"
    return render(request, template, _context(preview))


@admin_required
@require_POST
def impact_apply(request: HttpRequest, connector_uuid, preview_uuid) -> HttpResponse:
    """Save the proposed rules and re-derive the connector's records under them (re-planned now)."""
    preview = _preview_or_404(connector_uuid, preview_uuid)
    try:
        preview = apply_preview(preview, actor=request.user)
    except PreviewError as error:
        return render(request, "connectors/connector_impact.html", _context(preview, error=str(error)), status=409)
    records = preview.applied_result["records"]
    messages.success(
        request,
        f"Rules saved and records re-identified: {records['moved']} moved into other assets, "
        f"{records['created']} split into new assets, {records['skipped']} skipped.",
    )
    return redirect(preview.get_absolute_url())


@admin_required
@require_POST
def impact_cancel(request: HttpRequest, connector_uuid, preview_uuid) -> HttpResponse:
    """Drop the proposal: nothing is saved."""
    preview = _preview_or_404(connector_uuid, preview_uuid)
    if cancel_preview(preview):
        messages.info(request, "Proposal cancelled: the rules are unchanged.")
    else:
        messages.info(request, f"This preview was {preview.get_status_display().lower()} already.")
    return redirect("connectors:connector_rules", connector_uuid=preview.connector.uuid)
