"""Full syncs in the Connectors app: a connector's syncs, one sync with its parts, and Confirm / Discard.

Views are thin: ``connectors.sync_actions`` writes (and audits); the write views are POST-only behind
``admin_required``. The connector page shows held syncs in a banner (``connectors/includes/sync_held.html``).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from connectors_site.common.htmx import HtmxHttpRequest, redirect_after_post
from connectors_site.common.navigation import next_url
from connectors_site.common.roles import admin_required

from .api.syncs import with_part_counts
from .choices import SyncStatus
from .models import Connector, Sync, SyncKey
from .sync_actions import SyncStateError, confirm_sync, discard_sync
from .syncs import outstanding_parts

PAGE_SIZE = 25
PARTS_PER_PAGE = 50
DELETED_SHOWN = 100


def held_syncs(connector: Connector) -> list[Sync]:
    """The connector's syncs waiting for a confirmation, oldest first (the connector page's banner)."""
    return list(connector.syncs.filter(status=SyncStatus.HELD).order_by("id"))


def sync_list(request: HttpRequest, connector_uuid) -> HttpResponse:
    connector = get_object_or_404(Connector, uuid=connector_uuid)
    page = Paginator(with_part_counts(connector.syncs.order_by("-id")), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "connectors/sync_list.html", {"connector": connector, "page": page})


def sync_detail(request: HttpRequest, sync_uuid) -> HttpResponse:
    sync = get_object_or_404(with_part_counts(Sync.objects.all()), uuid=sync_uuid)
    parts = Paginator(sync.parts.defer("body", "headers", "errors").order_by("id"), PARTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "sync": sync,
        "connector": sync.connector,
        "parts": parts,
        "waiting_for": list(outstanding_parts(sync).values_list("status", flat=True).order_by("id")[:1000]),
        "deleted_keys": list(
            SyncKey.objects.filter(sync=sync, deleted=True)
            .order_by("source_key")
            .values_list("source_key", flat=True)[:DELETED_SHOWN]
        ),
        "deleted_shown": DELETED_SHOWN,
    }
    return render(request, "connectors/sync_detail.html", context)


def _act(request: HtmxHttpRequest, sync_uuid, act, done: str) -> HttpResponse:
    sync = get_object_or_404(Sync.objects.select_related("connector"), uuid=sync_uuid)
    try:
        act(sync, actor=request.user)
    except SyncStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(sync=sync))
    return redirect_after_post(request, next_url(request, sync.get_absolute_url()))


@admin_required
@require_POST
def sync_confirm(request: HtmxHttpRequest, sync_uuid) -> HttpResponse:
    return _act(
        request,
        sync_uuid,
        confirm_sync,
        "Confirmed: full sync “{sync.sync_id}” deletes the records it no longer reports, in the background.",
    )


@admin_required
@require_POST
def sync_discard(request: HtmxHttpRequest, sync_uuid) -> HttpResponse:
    return _act(request, sync_uuid, discard_sync, "Discarded full sync “{sync.sync_id}”: nothing was deleted.")
