"""The Overview: inventory counts (stored, recounted when the inventory changes), the lists behind every number,
the activity buckets and charts, the needs-attention rows, and a query count that does not grow with connectors."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.tasks import default_task_backend
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assets.choices import AssetKind
from assets.engine.records import AssetRecord
from assets.inventory import merge_assets
from assets.models import Asset, InventoryCounts
from assets.overview import activity, counts
from assets.overview.charts import Column, Series, sparkline, stacked_bars
from assets.overview.tasks import refresh_counts_task
from assets.services import process_records
from connectors.choices import DeliveryStatus, SyncStatus
from connectors.models import Connector, Delivery, Sync
from connectors_site.common.roles import SENDERS
from tests.assets.factories import add_source, make_asset

OVERVIEW = "/overview/"


@pytest.fixture
def estate(make_connector):
    """CMDB: 3 live (unmanaged, 1 a possible duplicate, 1 stale), 1 retired; MDM: 1 shared with CMDB, 1 of its
    own (managed); 1 merged asset (never counted)."""
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    shared = make_asset(cmdb, "c1", hostname="web-01")
    add_source(shared, mdm, "m1", hostname="web-01")
    Asset.objects.filter(pk=make_asset(cmdb, "c2", hostname="web-02").pk).update(stale=True)
    Asset.objects.filter(pk=make_asset(cmdb, "c3", hostname="web-03").pk).update(possible_duplicate=True)
    make_asset(cmdb, "c4", hostname="old-04", deleted=True)
    make_asset(mdm, "m2", hostname="laptop-9", kind=AssetKind.MANAGED)
    loser = make_asset(mdm, "m3", hostname="web-02b")
    Asset.objects.filter(pk=loser.pk).update(merged_into=shared)
    return cmdb, mdm


def _cells(response) -> dict:
    """{row name: {count key: (value, href)}} from the page's context."""
    return {
        (row.connector.name if row.connector else "All"): {
            cell.definition.key: (cell.value, cell.href) for cell in row.cells
        }
        for row in response.context["inventory_rows"]
    }


@pytest.mark.django_db
def test_counts_by_connector_and_in_all(admin_ui, estate):
    cells = _cells(admin_ui.get(OVERVIEW))
    values = {row: {key: value for key, (value, _) in items.items()} for row, items in cells.items()}
    assert values == {
        "All": {"live": 4, "unmanaged": 3, "stale": 1, "retired": 1, "possible_duplicate": 1},
        "CMDB": {"live": 3, "unmanaged": 3, "stale": 1, "retired": 1, "possible_duplicate": 1},
        "MDM": {"live": 2, "unmanaged": 1, "stale": 0, "retired": 0, "possible_duplicate": 0},
    }


@pytest.mark.django_db
def test_every_number_links_to_a_list_of_as_many_assets(admin_ui, estate):
    for row, items in _cells(admin_ui.get(OVERVIEW)).items():
        for key, (value, href) in items.items():
            listed = admin_ui.get(href)
            assert listed.status_code == 200
            assert listed.context["page"].paginator.count == value, (row, key, href)


@pytest.mark.django_db
def test_counts_are_reused_until_the_inventory_changes(admin_ui, estate, monkeypatch):
    cmdb, _ = estate
    calls = []
    real = counts.compute_counts
    monkeypatch.setattr(counts, "compute_counts", lambda: calls.append(1) or real())
    admin_ui.get(OVERVIEW)
    admin_ui.get(OVERVIEW)
    assert len(calls) == 1
    # The worker's path writes a decision per record: the marker moves, the next view recounts.
    process_records(cmdb, [AssetRecord(source_key="c9", hostname="new-09")])
    response = admin_ui.get(OVERVIEW)
    assert len(calls) == 2
    assert _cells(response)["CMDB"]["live"][0] == 4
    # A merge writes an event: recounted too.
    survivor, other = Asset.objects.live().filter(hostname__in=["web-02", "web-03"]).order_by("pk")
    merge_assets(survivor, [other])
    assert _cells(admin_ui.get(OVERVIEW))["CMDB"]["live"][0] == 3
    assert len(calls) == 3


@pytest.mark.django_db
def test_counts_older_than_the_max_age_are_recounted(admin_ui, estate, settings, monkeypatch):
    settings.OVERVIEW_COUNTS_MAX_AGE = 60
    admin_ui.get(OVERVIEW)
    InventoryCounts.objects.update(computed_at=timezone.now() - timedelta(seconds=61))
    calls = []
    real = counts.compute_counts
    monkeypatch.setattr(counts, "compute_counts", lambda: calls.append(1) or real())
    admin_ui.get(OVERVIEW)
    assert calls == [1]


@pytest.mark.django_db
def test_a_large_inventory_is_recounted_by_the_worker(admin_ui, estate, settings, django_capture_on_commit_callbacks):
    cmdb, _ = estate
    settings.OVERVIEW_INLINE_ASSETS = 0
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_ui.get(OVERVIEW)
    # Never counted yet: the page says so and polls; one recount is queued, not one per view.
    assert not response.context["counts"].fresh
    assert "Counting the inventory" in response.text and 'hx-trigger="every 3s"' in response.text
    assert _cells(response)["CMDB"]["live"][0] is None
    with django_capture_on_commit_callbacks(execute=True):
        admin_ui.get(OVERVIEW)
    queued = [result for result in default_task_backend.results if result.task.name == "refresh_counts_task"]
    assert len(queued) == 1
    refresh_counts_task.call()
    partial = admin_ui.get(OVERVIEW, headers={"HX-Request": "true"})
    assert partial.context["counts"].fresh and "every 3s" not in partial.text
    assert "<h1>" not in partial.text and _cells(partial)["CMDB"]["live"][0] == 3
    # A change: the previous counts stay on the page, marked as being recounted.
    process_records(cmdb, [AssetRecord(source_key="c9", hostname="new-09")])
    stale = admin_ui.get(OVERVIEW)
    assert not stale.context["counts"].fresh and _cells(stale)["CMDB"]["live"][0] == 3
    assert "recounting" in stale.text


@pytest.mark.django_db
def test_query_count_does_not_grow_with_connectors(admin_ui, make_connector):
    def queries() -> int:
        admin_ui.get(OVERVIEW)  # counts stored
        with CaptureQueriesContext(connection) as captured:
            assert admin_ui.get(OVERVIEW).status_code == 200
        return len(captured.captured_queries)

    first = make_connector("C0")
    make_asset(first, "k0", hostname="h0")
    Delivery.objects.create(connector=first, status=DeliveryStatus.DEAD, last_error="boom")
    few = queries()
    for index in range(1, 6):
        connector = make_connector(f"C{index}")
        make_asset(connector, f"k{index}", hostname=f"h{index}")
        Delivery.objects.create(connector=connector, status=DeliveryStatus.FAILED, last_error="bad")
        Delivery.objects.create(connector=connector, status=DeliveryStatus.DEAD)
    assert queries() == few


def _delivery(connector, received_at, status=DeliveryStatus.PROCESSED, **counters) -> Delivery:
    delivery = Delivery.objects.create(connector=connector, status=status, **counters)
    Delivery.objects.filter(pk=delivery.pk).update(received_at=received_at)
    return delivery


@pytest.mark.django_db
def test_activity_buckets_hours_and_days(connector, settings):
    settings.TIME_ZONE = "UTC"
    now = datetime(2026, 11, 30, 15, 20, tzinfo=UTC)
    _delivery(connector, now - timedelta(minutes=5), records_created=3, records_errors=1)
    _delivery(connector, now - timedelta(minutes=10), DeliveryStatus.DEAD)
    _delivery(connector, now - timedelta(hours=2), records_merged=2)
    _delivery(connector, now - timedelta(days=3), DeliveryStatus.FAILED)
    _delivery(connector, now - timedelta(days=31))  # too old for either chart
    result = activity.delivery_activity(now)
    assert len(result.hours) == 24 and len(result.days) == 30
    assert result.hours[-1].start == datetime(2026, 11, 30, 15, tzinfo=UTC)
    assert result.hours[-1].deliveries == {"processed": 1, "dead": 1}
    assert result.hours[-1].records["created"] == 3 and result.hours[-1].records["errors"] == 1
    assert result.hours[-3].records["merged"] == 2
    assert sum(bucket.delivery_total for bucket in result.hours) == 3
    assert result.days[-1].delivery_total == 3 and result.days[-4].deliveries == {"failed": 1}
    assert sum(bucket.delivery_total for bucket in result.days) == 4
    sparks = result.per_connector[connector.pk]
    assert len(sparks) == activity.SPARKLINE_DAYS and sparks[-1].delivery_total == 3


@pytest.mark.django_db
def test_settled_days_are_kept_until_something_changes_them(connector, connector_admin, django_assert_num_queries):
    from connectors.inbox import replay_delivery

    old = _delivery(connector, timezone.now() - timedelta(days=5), DeliveryStatus.DEAD)
    assert sum(day.deliveries.get("dead", 0) for day in activity.delivery_activity().days) == 1
    with django_assert_num_queries(3):  # the 24 hours, the live days, the marker: the settled days are kept
        activity.delivery_activity()
    replay_delivery(old, actor=connector_admin)  # audited, and queued again: the settled days are recounted
    days = activity.delivery_activity().days
    assert sum(day.deliveries.get("dead", 0) for day in days) == 0
    assert sum(day.deliveries.get("queued", 0) for day in days) == 1


@pytest.mark.django_db
def test_days_follow_the_local_time_zone(connector, settings):
    settings.TIME_ZONE = "America/New_York"
    now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 10:00 in New York
    _delivery(connector, datetime(2026, 11, 30, 4, 30, tzinfo=UTC))  # 23:30 the day before, in New York
    _delivery(connector, datetime(2026, 11, 30, 5, 30, tzinfo=UTC))  # 00:30 today
    with timezone.override("America/New_York"):
        days = activity.delivery_activity(now).days
    assert days[-1].delivery_total == 1 and days[-2].delivery_total == 1
    assert days[-1].start == datetime(2026, 11, 30, 5, tzinfo=UTC)


@pytest.mark.django_db
def test_chart_links_list_the_deliveries_of_their_bucket(admin_ui, connector):
    now = timezone.now()
    _delivery(connector, now - timedelta(minutes=1))
    _delivery(connector, now - timedelta(minutes=1), DeliveryStatus.DEAD)
    _delivery(connector, now - timedelta(days=2))
    charts = admin_ui.get(OVERVIEW).context["charts"]
    # The hour the two recent ones fell in (the current one, or the one before just after the hour struck).
    last_hour = next(column for column in reversed(charts["deliveries_hours"].columns) if column.column.total)
    assert admin_ui.get(last_hour.column.href).context["page"].paginator.count == last_hour.column.total == 2
    dead = next(segment for segment in last_hour.segments if segment.series.key == "dead")
    listed = admin_ui.get(dead.href)
    assert listed.context["page"].paginator.count == dead.value == 1
    days = charts["deliveries_days"]
    assert sum(admin_ui.get(c.column.href).context["page"].paginator.count for c in days.columns if c.column.total) == 3


@pytest.mark.django_db
def test_deliveries_list_refuses_bad_filters_with_a_message(admin_ui, connector):
    response = admin_ui.get(reverse("overview_deliveries") + "?received_after=soon&status=nope")
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 0
    assert 'role="alert"' in response.text


@pytest.mark.django_db
def test_needs_attention_lists_dead_deliveries_and_failing_connectors(admin_ui, make_connector):
    broken, flaky, fine = make_connector("Broken"), make_connector("Flaky"), make_connector("Fine")
    _delivery(broken, timezone.now(), DeliveryStatus.DEAD, last_error="gave up")
    _delivery(broken, timezone.now(), DeliveryStatus.DEAD)
    now = timezone.now()
    Connector.objects.filter(pk=broken.pk).update(last_result="error", last_delivery_at=now)
    Connector.objects.filter(pk=flaky.pk).update(last_result="partial", last_delivery_at=now)
    Connector.objects.filter(pk=fine.pk).update(last_result="success", last_delivery_at=now)
    rows = admin_ui.get(OVERVIEW).context["attention"]
    texts = [(row.level, row.count, row.text) for row in rows]
    assert texts == [
        ("bad", 2, "dead deliveries to Broken"),
        ("bad", None, "Broken: its last delivery failed"),
        ("warn", None, "Flaky: its last delivery had records in error"),
    ]
    assert rows[0].href == f"/connectors/{broken.uuid}/deliveries/?status=dead"
    health = {row.connector.name: row for row in admin_ui.get(OVERVIEW).context["health_rows"]}
    assert health["Broken"].problem.last_error == "gave up" or health["Broken"].problem.status == "dead"
    assert health["Fine"].problem is None and health["Broken"].days_failed == 2


@pytest.mark.django_db
def test_needs_attention_lists_syncs_held_for_confirmation(admin_ui, make_connector):
    cmdb, quiet = make_connector("CMDB"), make_connector("Quiet")
    Sync.objects.create(connector=cmdb, sync_id="nightly-1", status=SyncStatus.HELD, would_delete=40)
    Sync.objects.create(connector=quiet, sync_id="nightly-1", status=SyncStatus.COMPLETED)
    rows = admin_ui.get(OVERVIEW).context["attention"]
    assert [(row.level, row.count, row.text) for row in rows] == [
        ("warn", 1, "full sync of CMDB held: confirm or discard the deletions")
    ]
    assert rows[0].href == f"/connectors/{cmdb.uuid}/"
    assert "Confirm" in admin_ui.get(rows[0].href).text


@pytest.mark.django_db
def test_empty_overview_says_what_to_do(admin_ui, defaults):
    response = admin_ui.get(OVERVIEW)
    assert "Create a connector" in response.text
    assert "Nothing needs attention" in response.text


@pytest.mark.django_db
def test_sign_in_lands_on_the_overview_and_senders_are_kept_out(client, connector_admin, django_user_model):
    response = client.post("/accounts/login/", {"username": "carol", "password": "pw-carol-123"})
    assert response.status_code == 302 and response.url == OVERVIEW
    assert client.get("/").url == OVERVIEW
    sender = django_user_model.objects.create_user("sam", password="pw-sam-12345")
    sender.groups.add(Group.objects.get_or_create(name=SENDERS)[0])
    client.force_login(sender)
    assert client.get(OVERVIEW).status_code == 403


@pytest.mark.django_db
def test_viewer_sees_the_overview(viewer_ui, estate):
    assert viewer_ui.get(OVERVIEW).status_code == 200


def test_stacked_bars_geometry():
    series = [Series("ok", "OK"), Series("bad", "Bad")]
    columns = [
        Column("a", "A", {"ok": 6, "bad": 2}, "/a"),
        Column("b", "", {}, "/b"),
        Column("c", "C", {"bad": 3}, "/c"),
    ]
    chart = stacked_bars(columns, series, width=400, height=200, unit="deliveries")
    assert chart.maximum == 8 and chart.total == 11 and chart.totals == {"ok": 6, "bad": 5}
    ok, bad = chart.columns[0].segments
    plot = chart.bottom - chart.top
    assert ok.height == pytest.approx(plot * 6 / 8, abs=0.01) and bad.height == pytest.approx(plot * 2 / 8, abs=0.01)
    assert ok.y + ok.height == pytest.approx(chart.bottom) and bad.y + bad.height == pytest.approx(ok.y)
    assert ok.title == "a: 6 ok" and chart.columns[0].title == "a: 8 deliveries"
    assert chart.columns[1].segments == [] and [tick.label for tick in chart.x_ticks] == ["A", "C"]
    assert [tick.label for tick in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert chart.columns[2].cells == [(0, "/c"), (3, "/c")]


def test_sparkline_marks_failures_and_empty_days():
    bars = sparkline([("d1", 0, 0, "/1"), ("d2", 10, 1, "/2"), ("d3", 5, 0, "/3")], width=30, height=21)
    assert [bar.height for bar in bars] == [1.0, 20.0, 10.0]
    assert bars[1].failed_height == 2.0 and bars[0].failed_height == 0 and bars[2].failed_height == 0
    assert bars[1].title == "d2: 10 deliveries, 1 failed" and bars[0].title == "d1: 0 deliveries"
