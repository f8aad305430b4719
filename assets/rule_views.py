"""CSAM identification rule definitions: the list, create, edit and delete.

Which rules a connector applies, and in what order, is its own page (:mod:`connectors.rule_views`). Every write
is a function of :mod:`assets.inventory` (which owns its transaction and audit row).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from connectors.models import Connector
from connectors_site.common.roles import admin_required

from . import inventory
from .forms import RuleForm
from .models import IdentificationRule, RuleEvent

RULE_EVENTS_SHOWN = 10


@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    rules = IdentificationRule.objects.annotate(
        used_by=Count("selections", filter=Q(selections__enabled=True))
    ).order_by("-is_system", "position", "id")
    return render(
        request,
        "assets/rule_list.html",
        {
            "rules": list(rules),
            "connector_count": Connector.objects.count(),
            "events": list(RuleEvent.objects.select_related("actor")[:RULE_EVENTS_SHOWN]),
        },
    )


@require_http_methods(["GET", "POST"])
@admin_required
def rule_create(request: HttpRequest) -> HttpResponse:
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        rule = inventory.create_identification_rule(
            name=data["name"], attributes=data["attributes"], description=data["description"], actor=request.user
        )
        messages.success(
            request,
            f"Rule {rule.name} created. It is off for every connector: turn it on from a connector's "
            "Asset Identification Rules page.",
        )
        return redirect("assets:rule_list")
    return render(request, "assets/rule_form.html", {"form": form, "rule": None})


@require_http_methods(["GET", "POST"])
@admin_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(IdentificationRule, pk=pk)
    if rule.is_system:
        if request.method == "POST":
            raise PermissionDenied(f"{rule.name} is a system rule and is read only.")
        return render(request, "assets/rule_form.html", {"rule": rule, "read_only": True})
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            inventory.update_identification_rule(
                rule,
                name=data["name"],
                attributes=data["attributes"],
                description=data["description"],
                actor=request.user,
            )
        except inventory.InventoryError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                f"Rule {rule.name} saved. Connectors that use it match the new way from their next delivery; to "
                "re-identify the records a connector already sent, use Preview a rule change on its rules page "
                "(Preview impact, next to Save, does it for every connector before saving).",
            )
            return redirect("assets:rule_list")
    recent = list(rule.impact_previews.select_related("created_by")[:5])
    return render(request, "assets/rule_form.html", {"form": form, "rule": rule, "recent": recent})


@require_http_methods(["GET", "POST"])
@admin_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(IdentificationRule, pk=pk)
    context = {
        "rule": rule,
        "using": list(
            Connector.objects.filter(rule_selection__rule=rule, rule_selection__enabled=True)
            .order_by("name")
            .only("uuid", "name")
        ),
        "stranded": inventory.connectors_left_without_rules(rule),
    }
    if rule.is_system:
        if request.method == "POST":
            raise PermissionDenied(f"{rule.name} is a system rule and cannot be deleted.")
        return render(request, "assets/rule_delete.html", context, status=403)
    if request.method == "POST":
        try:
            inventory.delete_identification_rule(rule, actor=request.user)
        except inventory.InventoryError as error:
            context["error"] = str(error)
            return render(request, "assets/rule_delete.html", context, status=409)
        messages.success(request, f"Rule {rule.name} deleted.")
        return HttpResponseRedirect(reverse("assets:rule_list"))
    return render(request, "assets/rule_delete.html", context)
