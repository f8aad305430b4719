"""The stale and purge rules: the write path's "reported at", the lifecycle pass with an explicit clock, purges
as source-side deletes, bounded batches and the worker's schedule."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assets.choices import DecisionOutcome
from assets.engine.records import AssetRecord
from assets.lifecycle import apply_lifecycle, purge_cutoff, stale_cutoff
from assets.models import Asset, Decision, Identifier, SourceRecord
from assets.services import delete_source_records, process_records
from connectors.choices import Module
from connectors.management.commands import run_worker
from connectors.services import update_connector

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def machine(i: int, **extra) -> AssetRecord:
    fields = {"source_key": f"k-{i}", "hostname": f"host-{i}", "serial_number": f"SN{i:06d}", "os": "Linux"}
    fields.update(extra)
    return AssetRecord(**fields)


def source(connector, key="k-1") -> SourceRecord:
    return SourceRecord.objects.get(connector=connector, source_key=key)


def asset(hostname="host-1") -> Asset:
    return Asset.objects.get(hostname=hostname)


def test_a_new_connector_goes_stale_after_30_days_and_never_purges(connector):
    assert (connector.stale_after_days, connector.purge_after_days) == (30, 0)
    now = timezone.now()
    assert stale_cutoff(connector, now) == now - 30 * DAY
    assert purge_cutoff(connector, now) is None


def test_reported_at_is_our_clock_not_the_sources_last_seen(connector):
    long_ago = timezone.now() - 400 * DAY
    before = timezone.now()
    process_records(connector, [machine(1, last_seen=long_ago, updated_at=long_ago)])
    record = source(connector)
    assert record.last_seen == long_ago  # what the source says
    assert record.reported_at >= before  # when we heard it
    apply_lifecycle(timezone.now())
    record.refresh_from_db()
    assert not record.stale and not asset().stale


def test_a_record_not_reported_for_the_stale_period_is_stale_and_so_is_its_asset(connector):
    process_records(connector, [machine(1), machine(2)])
    reported = source(connector).reported_at

    early = apply_lifecycle(reported + 30 * DAY - timedelta(seconds=1))
    assert early.marked_stale == 0 and not asset().stale

    result = apply_lifecycle(reported + 30 * DAY + timedelta(seconds=1))
    assert (result.marked_stale, result.assets_changed, result.more) == (2, 2, False)
    assert source(connector).stale and asset().stale and asset("host-2").stale
    assert not asset().retired  # stale is not gone: the asset stays listed, with its sources and identifiers
    assert Identifier.objects.filter(asset=asset()).exists()

    again = apply_lifecycle(reported + 40 * DAY)
    assert (again.marked_stale, again.assets_changed) == (0, 0)


def test_an_asset_is_stale_only_when_all_its_live_sources_are(make_connector):
    cmdb = make_connector("CMDB", stale_after_days=10)
    edr = make_connector("EDR", stale_after_days=60)
    process_records(cmdb, [machine(1)])
    process_records(edr, [machine(1, source_key="edr-1")])
    reported = source(edr, "edr-1").reported_at

    apply_lifecycle(reported + 20 * DAY)
    assert source(cmdb).stale and not source(edr, "edr-1").stale
    assert not asset().stale

    apply_lifecycle(reported + 61 * DAY)
    assert asset().stale


@pytest.mark.parametrize("changed", [False, True], ids=["same report again", "changed report"])
def test_a_report_makes_the_record_and_its_asset_fresh_again(connector, changed):
    process_records(connector, [machine(1), machine(2)])
    apply_lifecycle(timezone.now() + 31 * DAY)
    assert asset().stale

    again = machine(1, os="Windows") if changed else machine(1)
    process_records(connector, [again])  # no lifecycle pass: the write path clears the flags itself
    assert not source(connector).stale and not asset().stale
    assert asset("host-2").stale
    assert apply_lifecycle(timezone.now() + DAY).marked_stale == 0
    assert not asset().stale


def test_an_out_of_order_record_still_counts_as_a_report(connector):
    now = timezone.now()
    process_records(connector, [machine(1, updated_at=now)])
    apply_lifecycle(now + 31 * DAY)
    stored_last_seen = source(connector).last_seen

    process_records(connector, [machine(1, updated_at=now - 5 * DAY, os="Older")])
    record = source(connector)
    assert asset().os == "Linux"  # the older record changed nothing ...
    assert not record.stale and not asset().stale  # ... but the connector did report it
    assert record.last_seen == stored_last_seen


def test_unchanged_reports_of_stale_records_take_the_same_queries_whatever_their_number(make_connector):
    def rereport(connector, count: int, first: int) -> int:
        records = [machine(i) for i in range(first, first + count)]
        process_records(connector, records)
        SourceRecord.objects.filter(connector=connector).update(reported_at=timezone.now() - 40 * DAY)
        apply_lifecycle(timezone.now())
        assert Asset.objects.filter(sources__connector=connector, stale=True).count() == count
        with CaptureQueriesContext(connection) as queries:
            process_records(connector, records)
        assert not Asset.objects.filter(sources__connector=connector, stale=True).exists()
        return len(queries)

    assert rereport(make_connector("Few"), 3, 0) == rereport(make_connector("Many"), 40, 100)


def test_relaxing_or_turning_off_the_rule_makes_records_fresh_again(connector, connector_admin):
    process_records(connector, [machine(1)])
    reported = source(connector).reported_at
    apply_lifecycle(reported + 40 * DAY)
    assert asset().stale

    update_connector(connector, actor=connector_admin, stale_after_days=90)
    result = apply_lifecycle(reported + 40 * DAY)
    assert result.refreshed == 1 and not source(connector).stale and not asset().stale

    apply_lifecycle(reported + 100 * DAY)
    assert asset().stale
    update_connector(connector, actor=connector_admin, stale_after_days=0)
    apply_lifecycle(reported + 1000 * DAY)
    assert not source(connector).stale and not asset().stale


def test_a_stale_record_past_the_purge_period_is_deleted_as_by_the_source(make_connector):
    connector = make_connector("CMDB", stale_after_days=30, purge_after_days=60)
    process_records(connector, [machine(1)])
    reported = source(connector).reported_at

    assert apply_lifecycle(reported + 45 * DAY).purged == 0
    assert source(connector).stale and not source(connector).deleted

    result = apply_lifecycle(reported + 61 * DAY)
    assert result.purged == 1
    record = source(connector)
    assert record.deleted and record.deleted_at == reported + 61 * DAY
    assert not Identifier.objects.filter(source_record=record).exists()
    retired = asset()
    assert retired.retired and not retired.stale  # retired says more than stale
    decision = Decision.objects.get(source_key="k-1", outcome=DecisionOutcome.DELETED)
    assert decision.asset == retired and decision.delivery is None
    assert decision.reasons[0].startswith(f"purged: not reported since {reported:%Y-%m-%d %H:%M} UTC")
    assert "60 days" in decision.reasons[0]

    assert apply_lifecycle(reported + 100 * DAY).purged == 0  # purged once


def test_a_purge_keeps_the_asset_of_another_live_source(make_connector):
    cmdb = make_connector("CMDB", stale_after_days=10, purge_after_days=20, trust_rank=90)
    edr = make_connector("EDR", trust_rank=10)
    process_records(cmdb, [machine(1, os="CMDB OS")])
    process_records(edr, [machine(1, source_key="edr-1", os="EDR OS")])
    assert asset().os == "CMDB OS"

    apply_lifecycle(source(cmdb).reported_at + 21 * DAY)
    kept = asset()
    assert source(cmdb).deleted and not kept.retired and not kept.stale
    assert kept.os == "EDR OS"  # re-derived from the live source left


def test_a_purged_record_reported_again_comes_back(make_connector):
    connector = make_connector("CMDB", stale_after_days=1, purge_after_days=2)
    process_records(connector, [machine(1)])
    apply_lifecycle(timezone.now() + 3 * DAY)
    assert asset().retired
    process_records(connector, [machine(1)])
    record, back = source(connector), asset()
    assert not record.deleted and not record.stale and not back.retired and not back.stale


def test_purge_never_applies_without_the_stale_rule_or_without_csam(make_connector, connector_admin):
    never_stale = make_connector("Static", stale_after_days=0, purge_after_days=10)
    logs_only = make_connector("Logs", stale_after_days=1, purge_after_days=2)
    process_records(never_stale, [machine(1)])
    process_records(logs_only, [machine(2)])
    update_connector(logs_only, actor=connector_admin, modules=[Module.DELIVERY_LOG])

    result = apply_lifecycle(timezone.now() + 100 * DAY)
    assert result.purged == 0
    assert not source(never_stale).stale and source(logs_only, "k-2").stale
    assert not SourceRecord.objects.filter(deleted=True).exists()


def test_the_purge_rechecks_inside_the_lock_so_a_fresh_report_wins(connector):
    process_records(connector, [machine(1)])
    cutoff = timezone.now() - 10 * DAY
    result = delete_source_records(connector, ["k-1"], only=Q(stale=True, reported_at__lt=cutoff), why=str)
    assert (result.deleted, result.skipped) == (0, 1)
    assert not source(connector).deleted
    assert not Decision.objects.filter(outcome=DecisionOutcome.DELETED).exists()


def test_a_pass_works_in_bounded_batches_and_says_when_work_is_left(connector):
    process_records(connector, [machine(i) for i in range(5)])
    later = timezone.now() + 31 * DAY

    first = apply_lifecycle(later, batch_size=2, max_batches=2)
    assert (first.marked_stale, first.batches, first.more) == (4, 2, True)
    second = apply_lifecycle(later, batch_size=2, max_batches=2)
    assert (second.marked_stale, second.more) == (1, False)
    assert Asset.objects.filter(stale=True).count() == 5


def test_a_batch_takes_the_same_queries_whatever_its_size(make_connector):
    def one_batch(connector, count: int, first: int) -> int:
        process_records(connector, [machine(i) for i in range(first, first + count)])
        later = timezone.now() + 31 * DAY
        with CaptureQueriesContext(connection) as queries:
            result = apply_lifecycle(later, batch_size=count)
        assert result.marked_stale == count
        return len(queries)

    first = make_connector("Few")
    few = one_batch(first, 2, 0)
    first.delete()  # a pass visits every connector: measure with one each time
    assert one_batch(make_connector("Many"), 30, 100) == few


def test_a_purge_batch_takes_the_same_queries_whatever_its_size(make_connector):
    def one_purge(connector, count: int, first: int) -> int:
        process_records(connector, [machine(i) for i in range(first, first + count)])
        apply_lifecycle(timezone.now() + 3 * DAY)
        with CaptureQueriesContext(connection) as queries:
            result = apply_lifecycle(timezone.now() + 6 * DAY, batch_size=count)
        assert result.purged == count
        return len(queries)

    first = make_connector("Few", stale_after_days=2, purge_after_days=5)
    few = one_purge(first, 2, 0)
    first.delete()
    many = one_purge(make_connector("Many", stale_after_days=2, purge_after_days=5), 30, 100)
    assert many == few


def test_the_worker_runs_the_pass_and_comes_back_soon_when_work_is_left(connector, settings):
    settings.LIFECYCLE_INTERVAL_SECONDS = 900
    settings.LIFECYCLE_BATCH_SIZE = 1
    settings.LIFECYCLE_MAX_BATCHES = 1
    process_records(connector, [machine(1), machine(2)])
    SourceRecord.objects.update(reported_at=timezone.now() - 31 * DAY)

    assert run_worker._lifecycle(15.0) == 15.0
    assert SourceRecord.objects.filter(stale=True).count() == 1
    # The second batch is the pass's last: whether work is left is known on the next pass, which finds none.
    assert run_worker._lifecycle(15.0) == 15.0
    assert Asset.objects.filter(stale=True).count() == 2
    assert run_worker._lifecycle(15.0) == 900
