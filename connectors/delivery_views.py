"""The delivery log: a connector's deliveries, one delivery (outcomes, decisions, raw body), Replay and test sends.

Pages render in full for a normal request and only the part that changed for an HTMX request. While a delivery
is queued or processing, the part that shows it polls itself (``hx-trigger="every 2s"`` on the partial, rendered
only while something is pending, so polling stops by itself); a Refresh link does the same without JavaScript.
Writes go through ``connectors.inbox`` (which owns the transaction and the audit row); the write views are
POST-only behind ``admin_required``.
"""

from __future__ import annotations

import codecs
import json
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count
from django.db.models.fields.json import KT
from django.db.models.functions import Length, Substr
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from assets.choices import DecisionOutcome
from assets.decision_display import present
from assets.models import Decision
from connectors_site.common.htmx import HtmxHttpRequest, redirect_after_post, wants_partial
from connectors_site.common.roles import admin_required

from . import refused
from .choices import DeliveryStatus
from .chunks import chunk_summary
from .filtersets import DeliveryFilterSet
from .health import changed_inventory
from .inbox import MAX_REPLAY_SELECTED, replay_deliveries, replay_delivery, send_test_delivery
from .models import Connector, Delivery

PAGE_SIZE = 50
DECISIONS_PER_PAGE = 50
#: How much of a body the delivery page shows; the whole body is a download away.
BODY_PREVIEW_BYTES = 256 * 1024
#: A body that is not text is shown as a hex dump, which is four times longer: show less of it.
HEX_PREVIEW_BYTES = 16 * 1024


# --- the raw body ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyPreview:
    """What the delivery page shows of a raw body: ``kind`` is json, text, binary (a hex dump) or empty."""

    kind: str
    text: str
    shown: int
    total: int

    @property
    def truncated(self) -> bool:
        return self.shown < self.total


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\],:]|[^\s{}\[\],:"]+', re.DOTALL)
_OPEN, _CLOSE = ("{", "["), ("}", "]")


def reindent_json(text: str, indent: str = "  ") -> str:
    """Lay JSON text out like ``json.dumps(..., indent=2)`` without parsing it.

    A tokenizer, not a parser, so the first 256 KiB of a larger body (cut in the middle of a value) still reads
    like the pretty-printed whole.
    """
    out: list[str] = []
    depth = 0
    previous = ""
    for token in _JSON_TOKEN.findall(text):
        if token in _CLOSE:
            depth = max(depth - 1, 0)
            if previous not in _OPEN:
                out.append("\n" + indent * depth)
            out.append(token)
        elif token == ",":
            out.append(",")
        elif token == ":":
            out.append(": ")
        else:
            if previous in _OPEN or previous == ",":
                out.append("\n" + indent * depth)
            out.append(token)
            if token in _OPEN:
                depth += 1
        previous = token
    return "".join(out)


def hex_dump(data: bytes) -> str:
    """``offset  hex bytes  ascii`` lines, 16 bytes each, with anything unprintable shown as a dot."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hex_part = " ".join(f"{byte:02x}" for byte in chunk)
        text = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in chunk)
        lines.append(f"{offset:08x}  {hex_part:<47}  {text}")
    return "\n".join(lines)


def body_preview(head: bytes, total: int) -> BodyPreview:
    """A readable view of the first bytes of a body whose full length is ``total``.

    A whole body that is JSON is parsed and pretty-printed; the beginning of a longer one is re-indented as it
    stands. UTF-8 text that is not JSON is shown as it is (the template escapes it), anything else as a hex dump.
    """
    if total == 0:
        return BodyPreview("empty", "", 0, 0)
    head = head[:BODY_PREVIEW_BYTES]
    complete = len(head) >= total
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # Not final for a cut body: a character split by the cut is held back instead of failing.
        text = decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        shown = head[:HEX_PREVIEW_BYTES]
        return BodyPreview("binary", hex_dump(shown), len(shown), total)
    if complete:
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            return BodyPreview("text", text, total, total)
        return BodyPreview("json", pretty, total, total)
    shown = len(head) - len(decoder.getstate()[0])
    if text.lstrip()[:1] in _OPEN:
        return BodyPreview("json", reindent_json(text), shown, total)
    return BodyPreview("text", text, shown, total)


# --- the delivery log ---------------------------------------------------------------------------------------------


@vary_on_headers("HX-Request")
def delivery_list(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """A connector's deliveries, newest first, filtered by the FilterSet the API uses too; each row with the reply
    the sender got, why it failed (its last error or its first per-record error) and a Replay button; the
    refused attempts of the last day above."""
    connector = get_object_or_404(Connector, uuid=connector_uuid)
    deliveries = (
        connector.deliveries.select_related("sync")
        .defer("body", "headers", "errors", "warnings")
        .annotate(
            # The first per-record error only, not the whole list.
            first_error=KT("errors__0__message"),
            first_error_field=KT("errors__0__field"),
            first_error_index=KT("errors__0__index"),
        )
    )
    filterset = DeliveryFilterSet(request.GET, queryset=deliveries)
    page = Paginator(filterset.qs.order_by("-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    cleaned = filterset.form.cleaned_data if filterset.is_valid() else {}
    context = {
        "connector": connector,
        "page": page,
        "pending": any(delivery.is_pending for delivery in page.object_list),
        "filtered": any(value not in (None, "", []) for value in cleaned.values()),
        "selected_status": (cleaned.get("status") or [""])[0],
        "statuses": DeliveryStatus.choices,
        "retention_days": settings.DELIVERY_RETENTION_DAYS,
        "query": _kept_query(request.GET),
    }
    template = "connectors/delivery_list.html"
    if wants_partial(request):
        template += "#results"
    else:
        context["refused"] = refused.summary(connector, since=refused.last_day())
    return render(request, template, context)


#: The delivery log's own query parameters: after a replay from the log, it comes back with these.
_LOG_PARAMETERS = ("status", "idempotency_key", "page")


def _kept_query(params: QueryDict) -> str:
    """The log's filters and page from a query string, re-encoded (nothing else goes back into a URL)."""
    kept = QueryDict(mutable=True)
    for name in _LOG_PARAMETERS:
        for value in params.getlist(name)[:5]:
            kept.appendlist(name, value[:300])
    return kept.urlencode()


@admin_required
@require_POST
def delivery_replay_selected(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """Replay from the log: one row's Replay button (``only``) or the checked rows (``delivery``), then back to
    the log as it was filtered. Rows still queued or processing are left alone."""
    connector = get_object_or_404(Connector, uuid=connector_uuid)
    chosen = [request.POST["only"]] if request.POST.get("only") else request.POST.getlist("delivery")
    uuids = []
    for value in chosen[:MAX_REPLAY_SELECTED]:
        try:
            uuids.append(uuid.UUID(value))
        except ValueError:
            continue
    back = reverse("connectors:delivery_list", args=[connector.uuid])
    if query := _kept_query(QueryDict(request.POST.get("query", ""))):
        back += "?" + query
    if not uuids:
        messages.error(request, "Select at least one delivery to replay.")
        return redirect_after_post(request, back)
    replayed, pending = replay_deliveries(connector, uuids, actor=request.user)
    if replayed:
        messages.success(request, f"{replayed} deliver{'y' if replayed == 1 else 'ies'} queued again.")
    if pending:
        messages.info(
            request,
            f"{pending} deliver{'y was' if pending == 1 else 'ies were'} already queued or being processed: "
            "nothing to replay yet.",
        )
    if not replayed and not pending:
        messages.error(request, "None of the selected deliveries belongs to this connector.")
    return redirect_after_post(request, back)


# --- one delivery -------------------------------------------------------------------------------------------------


def _decisions(request: HttpRequest, delivery: Delivery, *, live: bool) -> dict:
    """The delivery's decisions, in record order, one page at a time, optionally of one outcome only."""
    decisions = Decision.objects.filter(delivery=delivery)
    counts = dict(decisions.order_by().values_list("outcome").annotate(count=Count("pk")))
    outcome = request.GET.get("outcome", "")
    if outcome not in DecisionOutcome.values:
        outcome = ""
    shown = decisions.filter(outcome=outcome) if outcome else decisions
    page: Page = Paginator(shown.select_related("asset").order_by("pk"), DECISIONS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    page.object_list = present(list(page.object_list))
    return {
        "decision_page": page,
        "decision_total": sum(counts.values()),
        "outcome": outcome,
        "outcome_counts": [
            (value, label, counts[value]) for value, label in DecisionOutcome.choices if value in counts
        ],
        # While the page polls, the polled URL keeps the decision page: navigate with real links then.
        "decisions_htmx": not live,
    }


@vary_on_headers("HX-Request")
def delivery_detail(request: HtmxHttpRequest, delivery_uuid) -> HttpResponse:
    """One delivery: its status and what it means, counts, per-record errors, decisions and the raw body.

    An HTMX request targeting ``#decisions`` gets the decisions (paging, outcome filter); any other the live
    part (status, counts, errors), with the decisions swapped out-of-band so they fill in while it processes.
    """
    partial = ""
    if wants_partial(request):
        partial = "decisions" if request.htmx.target == "decisions" else "live"
    queryset = Delivery.objects.select_related("connector", "sync").defer("body")
    if not partial:
        # Only the beginning of the body leaves the database, however large it is.
        queryset = queryset.annotate(body_head=Substr("body", 1, BODY_PREVIEW_BYTES), body_length=Length("body"))
    delivery = get_object_or_404(queryset, uuid=delivery_uuid)
    context = {
        "delivery": delivery,
        "connector": delivery.connector,
        "max_attempts": settings.DELIVERY_MAX_ATTEMPTS,
        "duration": (
            delivery.finished_at - delivery.started_at
            if delivery.finished_at and delivery.started_at and delivery.finished_at >= delivery.started_at
            else None
        ),
        "errors_kept": len(delivery.errors),
        "inventory_changed": changed_inventory(delivery),
        "chunks": chunk_summary(delivery),
        "refresh_decisions": partial == "live",
        **_decisions(request, delivery, live=delivery.is_pending),
    }
    template = "connectors/delivery_detail.html"
    if partial:
        return render(request, f"{template}#{partial}", context)
    context["body"] = body_preview(bytes(delivery.body_head or b""), delivery.body_length or 0)
    return render(request, template, context)


def delivery_body(request: HttpRequest, delivery_uuid) -> HttpResponse:
    """The raw body exactly as received, as a download (never rendered by the browser)."""
    delivery = get_object_or_404(Delivery.objects.only("uuid", "body", "content_type"), uuid=delivery_uuid)
    extension = "json" if "json" in delivery.content_type else "bin"
    response = HttpResponse(bytes(delivery.body), content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"delivery-{delivery.uuid}.{extension}"
    )
    return response


@admin_required
@require_POST
def delivery_replay(request: HtmxHttpRequest, delivery_uuid) -> HttpResponse:
    """Process the stored body again (safe: processing is idempotent)."""
    delivery = get_object_or_404(Delivery.objects.select_related("connector").defer("body"), uuid=delivery_uuid)
    if delivery.is_pending:
        messages.info(request, "This delivery is already queued or being processed: there is nothing to replay yet.")
    else:
        replay_delivery(delivery, actor=request.user)
        messages.success(request, "Delivery queued again.")
    return redirect_after_post(request, delivery.get_absolute_url())


@admin_required
@require_POST
def connector_test_delivery(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """Send one sample asset through the real path (stored, queued, processed by a worker) and show it."""
    connector = get_object_or_404(Connector, uuid=connector_uuid)
    if not connector.enabled:
        messages.error(request, f"{connector.name} is disabled: enable it before sending a test delivery.")
        return redirect_after_post(request, connector.get_absolute_url())
    delivery = send_test_delivery(connector, actor=request.user)
    if connector.csam_enabled:
        messages.success(request, "Test delivery queued; it appears in the inventory once processed.")
    else:
        messages.success(
            request, "Test delivery queued; CSAM is off for this connector, so it is identified and logged only."
        )
    return redirect_after_post(request, delivery.get_absolute_url())
