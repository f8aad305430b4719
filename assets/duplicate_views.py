"""CSAM duplicates: groups of live assets that share a strong value, and the merge an admin confirms.

Reading is done here with a fixed number of queries per page of groups; the merge is
:func:`assets.inventory.merge_assets` (which owns its transaction and audit row).
"""

from __future__ import annotations

import functools
import operator
import uuid
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from connectors_site.common.htmx import HtmxHttpRequest, wants_partial
from connectors_site.common.navigation import next_url
from connectors_site.common.roles import admin_required

from . import duplicates as dismissals
from . import inventory
from .choices import AssetAction, AssetKind, IdentifierKind
from .forms import MergeForm
from .models import Asset, AssetEvent, Identifier
from .views import EVENTS_SHOWN, LIST_FIELDS, live_sources

DUPLICATE_GROUPS_PER_PAGE = 20
#: Identifier kinds that make two live assets look like one machine, strongest first.
DUPLICATE_KINDS: tuple[str, ...] = (
    IdentifierKind.SERIAL,
    IdentifierKind.HARDWARE_UUID,
    IdentifierKind.MAC,
    IdentifierKind.HOSTNAME,
)


@dataclass
class DuplicateGroup:
    """Assets that share one or more values: ``shared`` lists (attribute label, value) pairs."""

    shared: list[tuple[str, str]]
    assets: list[Asset]
    #: The shared (kind, value) pairs, as the "Not a duplicate" form posts them ("kind:value").
    pairs: list[str] = field(default_factory=list)
    default_survivor: Asset | None = None
    #: Why the default survivor is suggested ("most sources (3)").
    why_kept: str = ""


def _live_identifiers(kind: str) -> QuerySet:
    kinds = [kind] if kind in DUPLICATE_KINDS else list(DUPLICATE_KINDS)
    return Identifier.objects.filter(kind__in=kinds, asset__merged_into__isnull=True, asset__retired=False)


#: The attributes counted to tell the richer of two records (the ones a person compares in the group's table).
RICHNESS_FIELDS = (
    "hostname",
    "fqdn",
    "serial_number",
    "hardware_uuid",
    "cloud_instance_id",
    "mac_addresses",
    "ip_addresses",
    "os",
    "os_version",
    "manufacturer",
    "model",
)


def richness(asset: Asset) -> tuple[int, int]:
    """How much an asset knows: its live sources, and how many of ``RICHNESS_FIELDS`` have a value."""
    return len(asset.live_sources), sum(1 for name in RICHNESS_FIELDS if getattr(asset, name))


def _keep_first(asset: Asset) -> tuple:
    """The asset a merge keeps by default, the richer record: a managed one, then the one with most live sources,
    then the one with most attributes known, then the one seen most recently, then the oldest."""
    sources, filled = richness(asset)
    seen = asset.last_seen.timestamp() if asset.last_seen else float("-inf")
    return (asset.kind != AssetKind.MANAGED, -sources, -filled, -seen, asset.pk)


def _why_kept(keep: Asset, others: list[Asset]) -> str:
    """Why ``keep`` is suggested, in the words of the first criterion of :func:`_keep_first` that set it apart."""
    sources, filled = richness(keep)
    if keep.kind == AssetKind.MANAGED and any(other.kind != AssetKind.MANAGED for other in others):
        return "managed"
    if all(richness(other)[0] < sources for other in others):
        return f"most sources ({sources})"
    if all(richness(other) < (sources, filled) for other in others):
        return f"most attributes known ({filled})"
    if keep.last_seen and all(other.last_seen is None or other.last_seen < keep.last_seen for other in others):
        return "seen most recently"
    return "oldest record"


def _duplicate_groups(page: Page, kind: str) -> list[DuplicateGroup]:
    pairs = [(row["kind"], row["value"]) for row in page.object_list]
    if not pairs:
        return []
    members = (
        _live_identifiers(kind)
        .filter(functools.reduce(operator.or_, (Q(kind=k, value=v) for k, v in pairs)))
        .values_list("kind", "value", "asset_id")
        .distinct()
    )
    by_pair: dict[tuple[str, str], set[int]] = {}
    for k, v, asset_id in members:
        by_pair.setdefault((k, v), set()).add(asset_id)
    asset_ids = set().union(*by_pair.values()) if by_pair else set()
    assets = Asset.objects.only(*LIST_FIELDS, *RICHNESS_FIELDS).prefetch_related(live_sources())
    assets = {asset.pk: asset for asset in assets.filter(pk__in=asset_ids)}
    labels = dict(IdentifierKind.choices)
    # The same assets often share several values (serial and hostname): one group, listing every shared value.
    groups: dict[frozenset[int], DuplicateGroup] = {}
    for k, v in pairs:
        ids = frozenset(pk for pk in by_pair.get((k, v), ()) if pk in assets)
        if len(ids) < 2:
            continue
        if ids not in groups:
            members_of = sorted((assets[pk] for pk in ids), key=_keep_first)
            why = _why_kept(members_of[0], members_of[1:])
            groups[ids] = DuplicateGroup([], members_of, default_survivor=members_of[0], why_kept=why)
        groups[ids].shared.append((labels.get(k, k), v))
        groups[ids].pairs.append(f"{k}:{v}")
    return list(groups.values())


def _recent_events() -> list[AssetEvent]:
    return list(
        AssetEvent.objects.filter(
            action__in=[
                AssetAction.MERGED,
                AssetAction.UNMERGED,
                AssetAction.SPLIT,
                AssetAction.UNSPLIT,
                AssetAction.DISTINCT,
                AssetAction.INDISTINCT,
            ]
        )
        .select_related("actor", "asset")
        .only(
            "id",
            "action",
            "details",
            "undone",
            "created_at",
            "actor__username",
            "asset__uuid",
            "asset__hostname",
            "asset__fqdn",
            "asset__netbios_name",
            "asset__serial_number",
        )[:EVENTS_SHOWN]
    )


@require_GET
@vary_on_headers("HX-Request")
def duplicates(request: HtmxHttpRequest) -> HttpResponse:
    """Groups of live assets sharing a serial, hardware UUID, MAC or hostname, a page of groups at a time."""
    kind = request.GET.get("kind", "")
    kind_rank = Case(
        *(When(kind=value, then=Value(rank)) for rank, value in enumerate(DUPLICATE_KINDS)),
        output_field=IntegerField(),
    )
    identifiers = _live_identifiers(kind)
    hidden = dismissals.hidden_values()  # values only assets declared "not a duplicate" share
    if hidden is not None:
        identifiers = identifiers.exclude(hidden)
    groups = (
        identifiers.values("kind", "value")
        .annotate(assets=Count("asset", distinct=True), rank=kind_rank)
        .filter(assets__gt=1)
        .order_by("rank", "value")
    )
    page = Paginator(groups, DUPLICATE_GROUPS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "groups": _duplicate_groups(page, kind),
        "kind": kind if kind in DUPLICATE_KINDS else "",
        "kinds": [(value, dict(IdentifierKind.choices)[value]) for value in DUPLICATE_KINDS],
        "flagged": Asset.objects.live().filter(possible_duplicate=True).exists(),
        "events": _recent_events(),
    }
    if wants_partial(request):
        return render(request, "assets/duplicates.html#results", context)
    return render(request, "assets/duplicates.html", context)


@require_POST
@admin_required
def merge(request: HtmxHttpRequest) -> HttpResponse:
    back = next_url(request, reverse("assets:duplicates"))
    form = MergeForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    survivor = form.cleaned_data["survivor_asset"]
    try:
        inventory.merge_assets(survivor, form.cleaned_data["other_assets"], actor=request.user)
    except inventory.InventoryError as error:
        messages.error(request, str(error))
        return redirect(back)
    count = len(form.cleaned_data["other_assets"])
    messages.success(
        request,
        format_html(
            'Merged {} asset{} into <a href="{}">{}</a>. Undo it from Latest change above if this was a mistake.',
            count,
            "" if count == 1 else "s",
            survivor.get_absolute_url(),
            survivor.display_name,
        ),
    )
    return redirect(back)


class DistinctForm(forms.Form):
    """One duplicates group declared "not a duplicate": its assets and the values they share ("kind:value")."""

    group = forms.TypedMultipleChoiceField(choices=(), coerce=str)
    shared = forms.TypedMultipleChoiceField(choices=(), coerce=str)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("group", "shared"):
            self.fields[name].valid_value = lambda value: True  # checked in clean()

    def clean(self) -> dict:
        data = super().clean()
        try:
            uuids = {str(uuid.UUID(value)) for value in data.get("group") or ()}
        except ValueError as error:
            raise ValidationError("Some of the assets are not valid asset ids.") from error
        pairs = []
        for item in data.get("shared") or ():
            kind, sep, value = item.partition(":")
            if not sep or kind not in DUPLICATE_KINDS or not value:
                raise ValidationError("The shared value is not one the Duplicates view shows.")
            pairs.append((kind, value))
        data["assets"] = list(Asset.objects.filter(uuid__in=uuids)) if uuids else []
        if len(data["assets"]) != len(uuids):
            raise ValidationError("Some of these assets no longer exist; reload the page.")
        data["pairs"] = pairs
        return data


@require_POST
@admin_required
def not_duplicate(request: HtmxHttpRequest) -> HttpResponse:
    """Declare a group's assets different machines: the group leaves the page until another asset shares the
    value, their possible-duplicate flags are cleared, and the change is audited."""
    back = next_url(request, reverse("assets:duplicates"))
    form = DistinctForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(back)
    try:
        dismissals.dismiss(form.cleaned_data["assets"], form.cleaned_data["pairs"], actor=request.user)
    except dismissals.DismissalError as error:
        messages.error(request, str(error))
        return redirect(back)
    names = ", ".join(asset.display_name for asset in form.cleaned_data["assets"])
    messages.success(
        request,
        f"Marked as different machines: {names}. They leave this page until another asset shares the value "
        "(Undo is under Latest change).",
    )
    return redirect(back)
