"""Rule-change impact: the preview re-identifies a connector's records under proposed rules without writing, and
Apply then does exactly what the preview counted."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from assets import impact_previews, inventory
from assets.engine.records import AssetRecord
from assets.impact import plan_reidentification
from assets.impact_apply import apply_proposal
from assets.impact_models import ImpactPreview, ImpactStatus
from assets.impact_previews import apply_preview, run_preview
from assets.impact_proposal import ProposalError, current_proposal, engine_config_for, parse_proposal
from assets.impact_tasks import start_preview
from assets.models import Asset, AssetEvent, Decision, IdentificationRule, Identifier, SourceRecord
from assets.ruledef_models import RuleImpactPreview
from assets.services import process_deletions, process_records
from connectors.models import WorkerHeartbeat
from connectors.worker import dead_workers

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def rec(key, **fields):
    return AssetRecord(source_key=key, updated_at=T0, **fields)


@pytest.fixture
def estate(cmdb, mdm):
    """A CMDB (rank 80) and an MDM (rank 40) with the default rules, and MDM records that a rule change moves."""
    process_records(
        cmdb,
        [
            rec("c1", hostname="web-01", serial_number="SN1", mac_addresses=("00:aa:00:00:00:01",)),
            rec("c2", hostname="db-01", serial_number="SN2", mac_addresses=("00:aa:00:00:00:02",)),
            rec("c3", hostname="app-01", serial_number="SN3"),
        ],
    )
    process_records(
        mdm,
        [
            rec("m1", hostname="web-01"),  # hostname only: its own asset (Hostname is off by default)
            rec("m2", hostname="other-02", serial_number="SN2"),  # merged into db-01 by serial number
            rec("m3", hostname="app-01", serial_number="SN3"),  # merged into app-01 by serial number
            rec("m4", hostname="lonely-04", serial_number="SN4"),  # its own asset
            rec("m5", hostname="kiosk"),
            rec("m6", hostname="kiosk"),  # a source's second record on a name alone: two assets
        ],
    )
    return cmdb, mdm


def proposal_for(connector, *, on=(), off=(), **options):
    """The connector's current configuration with some rules turned on or off (by name) and options changed."""
    names = dict(IdentificationRule.objects.values_list("pk", "name"))
    data = current_proposal(connector).as_json()
    for entry in data["rules"]:
        if names[entry["rule"]] in on:
            entry["enabled"] = True
        if names[entry["rule"]] in off:
            entry["enabled"] = False
    data.update(options)
    return parse_proposal(connector, data)


def placement(connector):
    """Source key -> (asset hostname, the asset's other connectors' keys), for the connector's live records."""
    result = {}
    for source in SourceRecord.objects.filter(connector=connector, deleted=False).select_related("asset"):
        others = sorted(source.asset.sources.exclude(pk=source.pk).values_list("source_key", flat=True))
        result[source.source_key] = (source.asset.hostname, tuple(others))
    return result


def row_counts():
    return {
        model.__name__: model.objects.count()
        for model in (Asset, SourceRecord, Identifier, Decision, AssetEvent, IdentificationRule)
    } | {"live": Asset.objects.live().count()}


def test_preview_counts_merges_splits_and_unchanged_records_and_apply_does_exactly_that(estate):
    _, mdm = estate
    web, db = Asset.objects.get(sources__source_key="c1"), Asset.objects.get(sources__source_key="c2")
    m1_asset = Asset.objects.get(sources__source_key="m1")
    proposal = proposal_for(mdm, on={"Hostname"}, off={"Serial number"})

    plan = plan_reidentification(mdm, engine_config_for(mdm, proposal))
    previewed = plan.counts()
    assert previewed == {
        "records": {"total": 6, "unchanged": 4, "moved": 1, "created": 1, "skipped": 0, "errors": 0, "kept": 0},
        "assets": {"created": 1, "merged_away": 1, "retired": 0, "joined": 0, "flagged": 0},
    }
    assert {item.source_key: item.category for item in plan.changes} == {"m1": "moved", "m2": "created"}

    done = apply_proposal(mdm, proposal)
    assert done == previewed
    # The inventory is what the numbers say.
    assert SourceRecord.objects.get(connector=mdm, source_key="m1").asset_id == web.pk
    m1_asset.refresh_from_db()
    assert m1_asset.merged_into_id == web.pk and m1_asset.retired
    split = SourceRecord.objects.get(connector=mdm, source_key="m2").asset
    assert split.pk not in (db.pk, m1_asset.pk) and split.hostname == "other-02" and split.serial_number == "SN2"
    assert set(Identifier.objects.filter(source_record__source_key="m2").values_list("asset_id", flat=True)) == {
        split.pk
    }
    db.refresh_from_db()
    assert db.hostname == "db-01" and list(db.sources.values_list("source_key", flat=True)) == ["c2"]
    # The proposal is saved, and the changed records say why they moved.
    assert [rule.name for rule in engine_config_for(mdm, current_proposal(mdm)).rules] == [
        rule.name for rule in engine_config_for(mdm, proposal).rules
    ]
    moved = [d for d in Decision.objects.filter(connector=mdm) if d.reasons[0].startswith("re-identified after")]
    assert sorted((d.source_key, d.outcome) for d in moved) == [("m1", "merged"), ("m2", "created")]
    assert {d.asset_id for d in moved} == {web.pk, split.pk}
    event = mdm.events.filter(action="rules_changed").first()
    assert event.details["reidentified"].startswith("6 records: 1 moved into other assets, 1 split into new assets")
    # A second Apply of the same rules has nothing left to do.
    assert plan_reidentification(mdm, engine_config_for(mdm, proposal)).changes == []


def test_skipped_records_leave_the_inventory_and_their_assets_retire(estate):
    _, mdm = estate
    proposal = proposal_for(mdm, off={"Serial number"}, create_unmanaged=False)
    previewed = plan_reidentification(mdm, engine_config_for(mdm, proposal)).counts()
    assert previewed["records"] == {
        "total": 6,
        "unchanged": 0,
        "moved": 0,
        "created": 0,
        "skipped": 6,
        "errors": 0,
        "kept": 0,
    }
    assert previewed["assets"] == {"created": 0, "merged_away": 0, "retired": 4, "joined": 0, "flagged": 0}
    only_mdm = list(Asset.objects.filter(sources__source_key__in=["m1", "m4", "m5", "m6"]).values_list("pk", flat=True))

    assert apply_proposal(mdm, proposal) == previewed
    assert not SourceRecord.objects.filter(connector=mdm).exists()
    assert set(Asset.objects.filter(pk__in=only_mdm).values_list("retired", flat=True)) == {True}
    assert Asset.objects.live().count() == 3  # the CMDB's
    # The next delivery of a skipped record is identified under the new rules: skipped again.
    assert process_records(mdm, [rec("m4", hostname="lonely-04", serial_number="SN4")]).skipped == 1


def test_preview_writes_nothing(estate, connector_admin):
    _, mdm = estate
    before, places = row_counts(), placement(mdm)
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname"}, off={"Serial number"}), actor=connector_admin)
    assert run_preview(preview.pk) == ImpactStatus.READY
    assert row_counts() == before and placement(mdm) == places
    preview.refresh_from_db()
    assert preview.result["records"]["moved"] == 1 and preview.result["assets"]["merged_away"] == 1
    example = preview.result["examples"]["moved"][0]
    assert example["source_key"] == "m1" and example["to"]["name"] == "web-01" and example["rule"] == "Hostname"
    assert preview.result["examples"]["created"][0]["to"] == {"new": 1}


def test_apply_of_a_preview_reports_what_it_did_and_if_the_inventory_changed_since(estate, connector_admin):
    _, mdm = estate
    proposal = proposal_for(mdm, on={"Hostname"}, off={"Serial number"})
    preview = start_preview(mdm, proposal, actor=connector_admin)
    run_preview(preview.pk)
    preview.refresh_from_db()
    process_records(mdm, [rec("m7", hostname="app-01")])  # a delivery after the preview: it is stale
    assert impact_previews.is_stale(preview)

    applied = apply_preview(preview, actor=connector_admin)
    assert applied.status == ImpactStatus.APPLIED and applied.applied_result["stale"]
    assert applied.applied_result["records"]["total"] == 7  # re-planned: the new record is counted
    assert not applied.applied_result["as_previewed"]
    with pytest.raises(impact_previews.PreviewError):
        apply_preview(applied, actor=connector_admin)


def test_an_unchanged_inventory_applies_as_previewed(estate, connector_admin):
    _, mdm = estate
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname", "IP address"}), actor=connector_admin)
    run_preview(preview.pk)
    applied = apply_preview(preview, actor=connector_admin)
    assert not applied.applied_result["stale"] and applied.applied_result["as_previewed"]


def test_progress_is_stored_batch_by_batch_for_a_big_connector(mdm, connector_admin, monkeypatch):
    process_records(mdm, [rec(f"k{i}", hostname=f"h-{i}", serial_number=f"S{i}") for i in range(25)])
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname"}), actor=connector_admin)
    seen = []
    original = impact_previews.plan_reidentification

    def watching(connector, config, *, progress, batch_size):
        def report(read, total):
            progress(read, total)
            row = ImpactPreview.objects.get(pk=preview.pk)
            seen.append((row.status, row.processed, row.total))

        return original(connector, config, progress=report, batch_size=batch_size)

    monkeypatch.setattr(impact_previews, "plan_reidentification", watching)
    assert run_preview(preview.pk, batch_size=10) == ImpactStatus.READY
    assert seen == [("running", 0, 25), ("running", 10, 25), ("running", 20, 25), ("running", 25, 25)]
    preview.refresh_from_db()
    assert (preview.processed, preview.total, preview.percent) == (25, 25, 100)


def _heartbeat(worker_id: str, seconds_ago: float) -> None:
    when = timezone.now() - timedelta(seconds=seconds_ago)
    WorkerHeartbeat.objects.create(worker_id=worker_id, hostname="h", pid=1, started_at=when, last_beat=when)


def test_a_preview_whose_worker_died_is_failed_by_the_sweep(mdm, connector_admin, settings):
    process_records(mdm, [rec(f"k{i}", hostname=f"h-{i}") for i in range(5)])
    _heartbeat("dead", settings.HEARTBEAT_STALE_SECONDS + 60)
    _heartbeat("alive", 1)
    ran = start_preview(mdm, current_proposal(mdm), actor=connector_admin)
    assert run_preview(ran.pk, worker_id="dead") == ImpactStatus.READY  # finished before its worker died: kept
    orphaned = start_preview(mdm, current_proposal(mdm), actor=connector_admin)
    running = start_preview(mdm, current_proposal(mdm), actor=connector_admin)
    ImpactPreview.objects.filter(pk=orphaned.pk).update(status=ImpactStatus.RUNNING, claimed_by="dead")
    ImpactPreview.objects.filter(pk=running.pk).update(status=ImpactStatus.RUNNING, claimed_by="alive")
    rule = IdentificationRule.objects.first()
    rule_preview = RuleImpactPreview.objects.create(rule=rule, status=ImpactStatus.RUNNING, claimed_by="dead")

    assert impact_previews.fail_orphaned_previews(dead_workers()) == 2
    statuses = dict(ImpactPreview.objects.values_list("pk", "status"))
    assert statuses == {ran.pk: ImpactStatus.READY, orphaned.pk: ImpactStatus.FAILED, running.pk: ImpactStatus.RUNNING}
    orphaned.refresh_from_db()
    rule_preview.refresh_from_db()
    assert orphaned.error == rule_preview.error == impact_previews.ORPHANED
    assert rule_preview.status == ImpactStatus.FAILED and orphaned.finished_at is not None
    assert ImpactPreview.objects.get(pk=ran.pk).claimed_by == "dead"


def test_a_cancelled_preview_stops_at_its_next_batch(mdm, connector_admin):
    process_records(mdm, [rec(f"k{i}", hostname=f"h-{i}") for i in range(5)])
    preview = start_preview(mdm, current_proposal(mdm), actor=connector_admin)
    impact_previews.cancel_preview(preview)
    assert run_preview(preview.pk) == ImpactStatus.CANCELLED
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.CANCELLED and preview.result == {}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rules": "all"}, "must list"),
        ({"trust_rank": 0}, "trust rank"),
        ({"create_unmanaged": "yes"}, "create_unmanaged"),
    ],
)
def test_a_malformed_proposal_is_refused(mdm, change, message):
    data = current_proposal(mdm).as_json() | change
    with pytest.raises(ProposalError, match=message):
        parse_proposal(mdm, data)


def test_a_proposal_keeps_the_rule_invariants(mdm):
    data = current_proposal(mdm).as_json()
    for entry in data["rules"]:
        entry["enabled"] = False
    with pytest.raises(ProposalError, match="cannot be turned off"):
        parse_proposal(mdm, data)
    data["rules"][0]["enabled"] = True
    with pytest.raises(ProposalError, match="must stay on"):
        parse_proposal(mdm, data)
    with pytest.raises(ProposalError, match="changed since"):
        parse_proposal(mdm, {**data, "rules": data["rules"][1:]})


# -- the pages


def form_data(connector, *, on=(), off=(), **options):
    """The proposal form as an admin would submit it: the current rules and options with some changed."""
    data = {
        "trust_rank": connector.trust_rank,
        **({"create_unmanaged": "on"} if connector.create_unmanaged else {}),
        **({"apply_default_rule": "on"} if connector.apply_default_rule else {}),
    }
    for place, item in enumerate(connector.rule_selection.select_related("rule"), start=1):
        data[f"position_{item.rule_id}"] = place
        if (item.enabled or item.rule.name in on) and item.rule.name not in off:
            data[f"required_{item.rule_id}"] = "on"
    data.update(options)
    return data


def test_the_pages_preview_then_apply_a_change(estate, admin_ui, settings, django_capture_on_commit_callbacks):
    _, mdm = estate
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    rules_page = admin_ui.get(reverse("connectors:connector_rules", args=[mdm.uuid]))
    assert reverse("connectors:impact_new", args=[mdm.uuid]) in rules_page.content.decode()
    assert admin_ui.get(reverse("connectors:impact_new", args=[mdm.uuid])).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_ui.post(
            reverse("connectors:impact_new", args=[mdm.uuid]), form_data(mdm, on={"Hostname"}, off={"Serial number"})
        )
    assert response.status_code == 302
    preview = ImpactPreview.objects.get()
    assert preview.status == ImpactStatus.READY  # the task ran when the row was committed
    page = admin_ui.get(response["Location"]).content.decode()
    assert "Hostname: off → required" in page and "Serial number: required → off" in page
    assert "Move into another existing asset (merge)</dt><dd>1</dd>" in page
    assert "Split off into a new asset</dt><dd>1</dd>" in page

    response = admin_ui.post(reverse("connectors:impact_apply", args=[mdm.uuid, preview.uuid]))
    assert response.status_code == 302
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.APPLIED and preview.applied_result["as_previewed"]
    assert "Exactly as the preview below said" in admin_ui.get(response["Location"]).content.decode()
    # Applied once: a second Apply is refused, with a reason and no 500.
    again = admin_ui.post(reverse("connectors:impact_apply", args=[mdm.uuid, preview.uuid]))
    assert again.status_code == 409 and "only a finished one can be applied" in again.content.decode()


def test_the_page_shows_progress_and_polls_while_the_preview_runs(estate, admin_ui):
    _, mdm = estate
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname"}))
    ImpactPreview.objects.filter(pk=preview.pk).update(status=ImpactStatus.RUNNING, total=120, processed=40)
    url = reverse("connectors:impact_detail", args=[mdm.uuid, preview.uuid])
    page = admin_ui.get(url).content.decode()
    assert "40 of 120 records read (33%)" in page and 'hx-trigger="every 2s"' in page
    assert f'<a href="{url}">refresh</a>' in page
    part = admin_ui.get(url, headers={"HX-Request": "true"}).content.decode()
    assert part.lstrip().startswith('<div id="impact-status"') and "<html" not in part


def test_an_invalid_proposal_is_refused_next_to_the_form(estate, admin_ui):
    _, mdm = estate
    url = reverse("connectors:impact_new", args=[mdm.uuid])
    everything_off = form_data(mdm, off=set(IdentificationRule.objects.values_list("name", flat=True)))
    response = admin_ui.post(url, everything_off)
    assert response.status_code == 400 and "must stay on" in response.content.decode()
    response = admin_ui.post(url, form_data(mdm, trust_rank="high"))
    assert response.status_code == 400 and "Enter a whole number" in response.content.decode()
    assert not ImpactPreview.objects.exists()


def test_cancel_keeps_the_rules(estate, admin_ui):
    _, mdm = estate
    before = current_proposal(mdm)
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname"}))
    run_preview(preview.pk)
    response = admin_ui.post(reverse("connectors:impact_cancel", args=[mdm.uuid, preview.uuid]))
    assert response.status_code == 302
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.CANCELLED and current_proposal(mdm) == before
    refused = admin_ui.post(reverse("connectors:impact_apply", args=[mdm.uuid, preview.uuid]))
    assert refused.status_code == 409


def test_only_admins_preview_and_apply(estate, viewer_ui, make_connector):
    _, mdm = estate
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname"}))
    run_preview(preview.pk)
    urls = [
        ("get", reverse("connectors:impact_new", args=[mdm.uuid])),
        ("post", reverse("connectors:impact_new", args=[mdm.uuid])),
        ("get", reverse("connectors:impact_detail", args=[mdm.uuid, preview.uuid])),
        ("post", reverse("connectors:impact_apply", args=[mdm.uuid, preview.uuid])),
        ("post", reverse("connectors:impact_cancel", args=[mdm.uuid, preview.uuid])),
    ]
    for method, url in urls:
        assert getattr(viewer_ui, method)(url).status_code == 403, url
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.READY
    rules_page = viewer_ui.get(reverse("connectors:connector_rules", args=[mdm.uuid])).content.decode()
    assert reverse("connectors:impact_new", args=[mdm.uuid]) not in rules_page


def test_a_preview_belongs_to_its_connector(estate, admin_ui):
    cmdb, mdm = estate
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname"}))
    assert admin_ui.get(reverse("connectors:impact_detail", args=[cmdb.uuid, preview.uuid])).status_code == 404
    assert admin_ui.post(reverse("connectors:impact_apply", args=[cmdb.uuid, preview.uuid])).status_code == 404


# -- joins, trust rank, bounded queries


def test_a_record_that_now_ties_two_assets_joins_them_as_previewed(cmdb, mdm, make_connector):
    edr = make_connector("EDR", trust_rank=30)
    process_records(cmdb, [rec("c1", hostname="pc-1", ip_addresses=("10.9.0.1",))])
    process_records(mdm, [rec("m1", hostname="laptop-x", mac_addresses=("00:bb:00:00:00:01",))])
    # With MAC address off, the EDR record matches the CMDB's asset by Hostname + IP address only.
    process_records(
        edr,
        [rec("e1", hostname="pc-1", ip_addresses=("10.9.0.1",), mac_addresses=("00:bb:00:00:00:01",))],
        config=engine_config_for(edr, proposal_for(edr, off={"MAC address"})),
    )
    cmdb_asset, mdm_asset = Asset.objects.get(sources__source_key="c1"), Asset.objects.get(sources__source_key="m1")
    assert SourceRecord.objects.get(source_key="e1").asset_id == cmdb_asset.pk
    # Now the MAC address ties the record to the MDM's asset as well: one machine.
    proposal = proposal_for(edr)
    plan = plan_reidentification(edr, engine_config_for(edr, proposal))
    previewed = plan.counts()
    assert previewed["assets"]["joined"] == 1

    assert apply_proposal(edr, proposal) == previewed
    mdm_asset.refresh_from_db()
    assert mdm_asset.merged_into_id == cmdb_asset.pk  # the CMDB is the most trusted source: its asset survives
    assert sorted(cmdb_asset.sources.values_list("source_key", flat=True)) == ["c1", "e1", "m1"]
    event = AssetEvent.objects.get(asset=cmdb_asset, action="merged")
    assert event.details["automatic"] and event.details["source_keys"] == ["e1"]


def test_a_trust_rank_change_re_derives_the_connectors_assets(estate):
    _, mdm = estate
    db = Asset.objects.get(sources__source_key="c2")
    assert db.hostname == "db-01"  # the CMDB (80) outranks the MDM (40)
    proposal = proposal_for(mdm, trust_rank=90)
    previewed = plan_reidentification(mdm, engine_config_for(mdm, proposal)).counts()
    assert apply_proposal(mdm, proposal) == previewed
    db.refresh_from_db()
    mdm.refresh_from_db()
    assert mdm.trust_rank == 90 and db.hostname == "other-02"


def _queries(django_assert_max_num_queries, work, limit):
    with django_assert_max_num_queries(limit) as captured:
        work()
    return len(captured)


def test_preview_and_apply_cost_a_bounded_number_of_queries(cmdb, mdm, django_assert_max_num_queries):
    process_records(cmdb, [rec(f"c{i}", hostname=f"h-{i}", serial_number=f"S{i}") for i in range(60)])
    counts = []
    for size in (10, 60):
        SourceRecord.objects.filter(connector=mdm).delete()
        process_records(mdm, [rec(f"m{i}", hostname=f"h-{i}") for i in range(size)])
        proposal = proposal_for(mdm, on={"Hostname"})
        config = engine_config_for(mdm, proposal)
        planned = _queries(django_assert_max_num_queries, lambda c=config: plan_reidentification(mdm, c), 12)
        applied = _queries(django_assert_max_num_queries, lambda p=proposal: apply_proposal(mdm, p), 45)
        counts.append((planned, applied))
        assert SourceRecord.objects.filter(connector=mdm, asset__sources__connector=cmdb).count() == size
        update = current_proposal(mdm).as_json()
        for entry in update["rules"]:
            if IdentificationRule.objects.get(pk=entry["rule"]).name == "Hostname":
                entry["enabled"] = False
        apply_proposal(mdm, parse_proposal(mdm, update))
    assert counts[0] == counts[1]  # six times the records, the same queries


def test_records_an_admin_split_or_merged_by_hand_stay_where_they_are(estate, connector_admin):
    _, mdm = estate
    app = Asset.objects.get(sources__source_key="c3")
    inventory.split_source(SourceRecord.objects.get(connector=mdm, source_key="m3"), actor=connector_admin)
    split_asset = SourceRecord.objects.get(connector=mdm, source_key="m3").asset
    # Without the split, the Hostname rule would put m3 back on app-01; the admin's split wins.
    proposal = proposal_for(mdm, on={"Hostname"}, off={"Serial number"})
    plan = plan_reidentification(mdm, engine_config_for(mdm, proposal))
    assert {item.source_key: item.category for item in plan.items}["m3"] == "kept"
    previewed = plan.counts()
    assert previewed["records"]["kept"] == 1 and previewed["records"]["moved"] == 1

    assert apply_proposal(mdm, proposal) == previewed
    assert SourceRecord.objects.get(connector=mdm, source_key="m3").asset_id == split_asset.pk != app.pk


class _Rollback(Exception):
    pass


def _grouping(connector):
    """Each of the connector's records with the other records (any connector's) on its asset: the inventory's
    shape, whatever the asset ids."""
    return {
        source.source_key: tuple(
            sorted(source.asset.sources.exclude(pk=source.pk).values_list("source_key", flat=True))
        )
        for source in SourceRecord.objects.filter(connector=connector, deleted=False).select_related("asset")
    }


@pytest.mark.parametrize(
    "change",
    [
        {"on": {"Hostname"}, "off": {"Serial number"}},
        {"on": {"Hostname", "IP address"}},
        {"off": {"Serial number", "MAC address"}, "create_unmanaged": False},
    ],
)
def test_apply_groups_the_records_as_a_fresh_delivery_under_the_new_rules_would(estate, change):
    _, mdm = estate
    proposal = proposal_for(mdm, **change)
    records = [
        rec(source.source_key, **{k: tuple(v) if isinstance(v, list) else v for k, v in source.attributes.items()})
        for source in SourceRecord.objects.filter(connector=mdm).order_by("pk")
    ]
    try:
        with transaction.atomic():
            apply_proposal(mdm, proposal)
            applied = _grouping(mdm)
            raise _Rollback
    except _Rollback:
        pass
    keys = list(SourceRecord.objects.filter(connector=mdm).values_list("source_key", flat=True))
    process_deletions(mdm, keys)
    SourceRecord.objects.filter(connector=mdm).delete()
    process_records(mdm, records, config=engine_config_for(mdm, proposal))
    assert applied == _grouping(mdm)


def test_the_rules_as_saved_re_identify_records_after_a_rule_definition_changed(estate, admin_ui):
    _, mdm = estate
    rule = IdentificationRule.objects.get(name="Serial number")
    inventory.update_identification_rule(rule, attributes=["serial_number", "hostname"])
    # Saved definitions apply to future deliveries; the records already received are re-identified on request.
    response = admin_ui.post(reverse("connectors:impact_new", args=[mdm.uuid]), form_data(mdm))
    preview = ImpactPreview.objects.get()
    assert response["Location"] == preview.get_absolute_url()
    run_preview(preview.pk)
    page = admin_ui.get(preview.get_absolute_url()).content.decode()
    assert "re-identified under the rules as saved" in page
    preview.refresh_from_db()
    # m2 (other-02, SN2) no longer matches db-01 by serial number + hostname: it splits off.
    assert preview.result["records"]["created"] == 1
    assert [row["source_key"] for row in preview.result["examples"]["created"]] == ["m2"]
    assert apply_preview(preview).applied_result["as_previewed"]


def test_a_preview_made_before_a_rule_was_added_cannot_be_applied(estate, admin_ui):
    _, mdm = estate
    preview = start_preview(mdm, proposal_for(mdm, on={"Hostname"}))
    run_preview(preview.pk)
    inventory.create_identification_rule(name="Serial + MAC", attributes=["serial_number", "mac_address"])
    page = admin_ui.get(preview.get_absolute_url()).content.decode()
    assert "Hostname: off → required" in page and "a rule was added or deleted" in page
    response = admin_ui.post(reverse("connectors:impact_apply", args=[mdm.uuid, preview.uuid]))
    assert response.status_code == 409 and "propose it again" in response.content.decode()
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.READY


def test_the_default_rules_choice_is_flagged_as_previewed(cmdb, mdm):
    process_records(
        cmdb,
        [rec("a", hostname="dup", serial_number="SA"), rec("b", hostname="dup", serial_number="SB")],
    )
    process_records(mdm, [rec("m", hostname="dup")])
    proposal = proposal_for(mdm, on={"Hostname"})
    previewed = plan_reidentification(mdm, engine_config_for(mdm, proposal)).counts()
    assert previewed["records"]["moved"] == 1 and previewed["assets"]["flagged"] == 1
    assert apply_proposal(mdm, proposal) == previewed
    chosen = SourceRecord.objects.get(connector=mdm, source_key="m").asset
    assert chosen.possible_duplicate and chosen.sources.filter(connector=cmdb).exists()


def test_without_the_csam_module_apply_only_saves_the_rules(estate, make_connector):
    log_only = make_connector("Log only", modules=["log"])
    proposal = proposal_for(log_only, on={"Hostname"})
    before = row_counts()
    done = apply_proposal(log_only, proposal)
    assert done["records"]["total"] == 0 and current_proposal(log_only) == proposal
    assert row_counts() == before
