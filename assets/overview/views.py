"""The Overview page and the cross-connector delivery list its charts link to.

A fixed number of queries whatever the number of connectors: the change marker and the stored counts, the
connectors with their last problem delivery, two activity aggregates, one query per "needs attention" source.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from connectors.choices import DeliveryStatus
from connectors.filtersets import DeliveryFilterSet
from connectors.models import Connector, Delivery
from connectors_site.common.htmx import HtmxHttpRequest, wants_partial

from . import activity as act
from .attention import needs_attention
from .charts import BarChart, Column, Series, SparkBar, sparkline, stacked_bars
from .counts import COUNTS, CountDefinition, CurrentCounts, asset_list_url, current_counts
from .svg import bar_chart_figure, sparkline_svg
from .tasks import request_refresh

DELIVERIES_PER_PAGE = 50
#: A connector's last problem: the newest delivery that failed, died, was rejected or had records in error.
PROBLEM_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.REJECTED, DeliveryStatus.PARTIAL)


@dataclass(frozen=True)
class Cell:
    definition: CountDefinition
    value: int | None
    href: str


@dataclass(frozen=True)
class InventoryRow:
    connector: Connector | None
    cells: list[Cell]


@dataclass(frozen=True)
class HealthRow:
    connector: Connector
    bars: list[SparkBar]
    days_total: int
    days_failed: int
    problem: Delivery | None

    @property
    def sparkline(self) -> SafeString:
        failed = f", {self.days_failed} failed" if self.days_failed else ""
        # Safe: assets.overview.svg escapes every text and attribute it writes.
        return mark_safe(sparkline_svg(self.bars, label=f"{self.days_total} deliveries in 14 days{failed}"))


def _inventory_rows(counts: CurrentCounts, connectors: list[Connector]) -> list[InventoryRow]:
    total = counts.total()
    rows = [InventoryRow(None, [Cell(d, total.get(d.key), asset_list_url(d)) for d in COUNTS])]
    for connector in connectors:
        mine = counts.for_connector(connector.pk)
        cells = [Cell(d, mine.get(d.key, 0) if counts.counts else None, asset_list_url(d, connector)) for d in COUNTS]
        rows.append(InventoryRow(connector, cells))
    return rows


def _deliveries_url(base: str, bucket: act.Bucket, status: str = "") -> str:
    """``base`` (a delivery list) filtered to the deliveries of ``bucket`` (and ``status``)."""
    params = {"received_after": bucket.start.isoformat(), "received_before": bucket.end.isoformat()}
    if status:
        params["status"] = status
    return f"{base}?{urlencode(params)}"


def _label(bucket: act.Bucket, hourly: bool) -> str:
    start = timezone.localtime(bucket.start)
    if hourly:
        end = timezone.localtime(bucket.end)
        return f"{date_format(start, 'M j, H:i')}–{date_format(end, 'H:i')}"
    return date_format(start, "D M j")


def _tick(bucket: act.Bucket, index: int, hourly: bool) -> str:
    start = timezone.localtime(bucket.start)
    if hourly:
        return date_format(start, "H:i") if index % 4 == 3 else ""
    return date_format(start, "M j") if index % 6 == 5 else ""


DELIVERY_SERIES = [Series(key, label) for key, label in act.DELIVERY_STATUSES]
RECORD_SERIES = [Series(key, label) for key, label in act.RECORD_OUTCOMES]


def _charts(activity: act.Activity) -> dict[str, BarChart]:
    """The four charts: deliveries by status and records by outcome, hourly (24 h) and daily (30 days)."""
    charts, base = {}, reverse("overview_deliveries")
    for name, buckets, hourly in (("hours", activity.hours, True), ("days", activity.days, False)):
        delivery_columns, record_columns = [], []
        for index, bucket in enumerate(buckets):
            label, tick, href = _label(bucket, hourly), _tick(bucket, index, hourly), _deliveries_url(base, bucket)
            series_hrefs = {key: _deliveries_url(base, bucket, key) for key, _ in act.DELIVERY_STATUSES}
            delivery_columns.append(Column(label, tick, bucket.deliveries, href, series_hrefs))
            record_columns.append(Column(label, tick, bucket.records, href))
        charts[f"deliveries_{name}"] = stacked_bars(delivery_columns, DELIVERY_SERIES, unit="deliveries")
        charts[f"records_{name}"] = stacked_bars(record_columns, RECORD_SERIES, unit="records")
    return charts


FIGURES = {
    # chart name: (element id, title, unit, bucket)
    "deliveries_hours": ("deliveries-24h", "Deliveries, last 24 hours", "deliveries", "hour"),
    "deliveries_days": ("deliveries-30d", "Deliveries, last 30 days", "deliveries", "day"),
    "records_hours": ("records-24h", "Records, last 24 hours", "records", "hour"),
    "records_days": ("records-30d", "Records, last 30 days", "records", "day"),
}


def _figures(charts: dict[str, BarChart]) -> dict[str, SafeString]:
    figures = {}
    for name, (chart_id, title, unit, bucket) in FIGURES.items():
        html = bar_chart_figure(charts[name], chart_id=chart_id, title=title, unit=unit, bucket_name=bucket)
        figures[name] = mark_safe(html)  # safe: assets.overview.svg escapes what it writes
    return figures


def _health_rows(connectors: list[Connector], activity: act.Activity) -> list[HealthRow]:
    problems = Delivery.objects.filter(pk__in=[c.problem_id for c in connectors if c.problem_id]).only(
        "uuid", "status", "received_at", "last_error", "records_errors"
    )
    problem_by_id = {problem.pk: problem for problem in problems}
    rows, labels = [], {}
    for connector in connectors:
        buckets = activity.per_connector.get(connector.pk) or act.empty_sparkline()
        base = reverse("connectors:delivery_list", args=[connector.uuid])
        points = []
        for bucket in buckets:
            failed = sum(bucket.deliveries.get(status, 0) for status in act.FAILED_STATUSES)
            label = labels.get(bucket.start) or labels.setdefault(bucket.start, _label(bucket, False))
            points.append((label, bucket.delivery_total, failed, _deliveries_url(base, bucket)))
        rows.append(
            HealthRow(
                connector,
                sparkline(points),
                sum(point[1] for point in points),
                sum(point[2] for point in points),
                problem_by_id.get(connector.problem_id),
            )
        )
    return rows


def _connectors() -> list[Connector]:
    last_problem = (
        Delivery.objects.filter(connector=OuterRef("pk"), status__in=PROBLEM_STATUSES).order_by("-id").values("pk")
    )
    return list(
        Connector.objects.only("uuid", "name", "enabled", "last_delivery_at", "last_result")
        .annotate(problem_id=Subquery(last_problem[:1]))
        .order_by("name")
    )


@require_GET
@vary_on_headers("HX-Request")
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """Inventory counts by connector, activity charts, connector health and what needs attention."""
    counts = current_counts()
    if not counts.fresh:
        request_refresh()
    connectors = _connectors()
    context = {
        "counts": counts,
        "definitions": COUNTS,
        "inventory_rows": _inventory_rows(counts, connectors),
        "connectors": connectors,
    }
    if wants_partial(request):  # the counts poll themselves while a recount runs
        return render(request, "assets/overview.html#counts", context)
    activity = act.delivery_activity()
    charts = _charts(activity)
    context |= {
        "charts": charts,
        "figures": _figures(charts),
        "health_rows": _health_rows(connectors, activity),
        "attention": needs_attention({connector.pk: connector for connector in connectors}),
        "now": timezone.now(),
    }
    return render(request, "assets/overview.html", context)


@require_GET
def overview_deliveries(request: HttpRequest) -> HttpResponse:
    """Deliveries to every connector, filtered like the API (connector, status, received after / before)."""
    queryset = Delivery.objects.select_related("connector").defer("body", "headers", "errors", "mapping")
    filterset = DeliveryFilterSet(request.GET, queryset=queryset)
    valid = filterset.is_valid()
    results = filterset.qs.order_by("-id") if valid else queryset.none()
    page = Paginator(results, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    cleaned = filterset.form.cleaned_data if valid else {}
    context = {
        "page": page,
        "filterset": filterset,
        "valid": valid,
        "statuses": DeliveryStatus.choices,
        "selected_status": (cleaned.get("status") or [""])[0],
        "received_after": cleaned.get("received_after"),
        "received_before": cleaned.get("received_before"),
        "connector_uuid": cleaned.get("connector"),
        "connectors": Connector.objects.only("uuid", "name").order_by("name"),
        "filtered": any(value not in (None, "", []) for value in cleaned.values()),
    }
    return render(request, "assets/overview_deliveries.html", context)
