"""Impact of a change to a rule definition: the preview runs Apply's sequence (each connector that uses the rule,
in creation order, against the inventory the ones before it left) and rolls it back, so its per-connector and
total numbers are what Apply then does, even when the connectors' records interact through the edited rule."""

from datetime import UTC, datetime

import pytest
from django.db import transaction
from django.urls import reverse

from assets import inventory
from assets.engine.records import AssetRecord
from assets.impact import plan_reidentification
from assets.impact_models import ImpactStatus
from assets.impact_proposal import current_proposal, engine_config_for
from assets.models import (
    Asset,
    AssetEvent,
    Decision,
    IdentificationRule,
    Identifier,
    RuleEvent,
    RuleSelection,
    SourceRecord,
)
from assets.ruledef_impact import preview_definition_change
from assets.ruledef_models import RuleImpactPreview
from assets.ruledef_previews import (
    ProgressChannel,
    apply_rule_preview,
    cancel_rule_preview,
    run_rule_preview,
    start_rule_preview,
)
from assets.services import process_records
from connectors.models import ConnectorEvent

T0 = datetime(2026, 11, 1, tzinfo=UTC)
IP_ONLY = {"name": "IP address only", "attributes": ["ip_address"], "description": "Any shared IP address."}


def rec(key, **fields):
    return AssetRecord(source_key=key, updated_at=T0, **fields)


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def shared(make_connector):
    """Two connectors (A created first) whose records share an IP address under different host names: apart
    under the default rules, tied together once "Hostname + IP address" is redefined as the IP address alone
    (the default "IP address" rule is deleted first, as that definition would repeat it)."""
    inventory.delete_identification_rule(IdentificationRule.objects.get(name="IP address"))
    a, b = make_connector("A", trust_rank=80), make_connector("B", trust_rank=40)
    process_records(a, [rec("a1", hostname="web-a", ip_addresses=("10.0.0.5",)), rec("a2", serial_number="SA2")])
    process_records(
        b,
        [
            rec("b1", hostname="web-b", ip_addresses=("10.0.0.5",)),
            rec("b2", hostname="lone", ip_addresses=("10.9.9.9",)),
        ],
    )
    return a, b, IdentificationRule.objects.get(name="Hostname + IP address")


def row_counts():
    return {
        model.__name__: model.objects.count()
        for model in (Asset, SourceRecord, Identifier, Decision, AssetEvent, RuleEvent, ConnectorEvent)
    } | {"live": Asset.objects.live().count(), "merged": Asset.objects.filter(merged_into__isnull=False).count()}


def numbers(entry):
    return entry["records"], entry["assets"]


def test_preview_equals_apply_for_connectors_that_interact_through_the_rule(shared, connector_admin):
    _, b, rule = shared
    assert SourceRecord.objects.get(source_key="a1").asset_id != SourceRecord.objects.get(source_key="b1").asset_id
    before = row_counts()

    preview = start_rule_preview(rule, IP_ONLY, actor=connector_admin)
    assert preview.total == 4 and preview.changes == [
        "Name: Hostname + IP address → IP address only",
        "Attributes: Hostname + IP address → IP address",
        "Description changed",
    ]
    assert run_rule_preview(preview.pk) == ImpactStatus.READY
    preview.refresh_from_db()
    result = preview.result

    # Nothing written: the rule, the inventory and the audit trails are as they were.
    assert row_counts() == before | {"RuleEvent": before["RuleEvent"]}
    rule.refresh_from_db()
    assert rule.attributes == ["hostname", "ip_address"] and rule.name == "Hostname + IP address"
    assert SourceRecord.objects.get(source_key="a1").asset_id != SourceRecord.objects.get(source_key="b1").asset_id

    # A goes first: a1 joins b1's asset (its own merged away); B then finds b1 already with a1: unchanged.
    assert [entry["name"] for entry in result["connectors"]] == ["A", "B"]
    a_entry, b_entry = result["connectors"]
    assert a_entry["records"] == {
        "total": 2,
        "unchanged": 1,
        "moved": 1,
        "created": 0,
        "skipped": 0,
        "errors": 0,
        "kept": 0,
    }
    assert a_entry["assets"]["merged_away"] == 1
    assert b_entry["records"]["unchanged"] == 2 and b_entry["records"]["moved"] == 0
    assert result["records"]["total"] == 4 and result["records"]["moved"] == 1
    assert [row["source_key"] for row in a_entry["examples"]["moved"]] == ["a1"]
    # Independent previews would disagree: B alone, against today's inventory, would move b1 into a1's asset.
    with transaction.atomic():
        IdentificationRule.objects.filter(pk=rule.pk).update(attributes=["ip_address"])
        alone = plan_reidentification(b, engine_config_for(b, current_proposal(b))).counts()
        transaction.set_rollback(True)
    assert alone["records"]["moved"] == 1

    applied = apply_rule_preview(preview, actor=connector_admin)
    done = applied.applied_result
    assert done["as_previewed"] and not done["stale"]
    assert [numbers(entry) for entry in done["connectors"]] == [numbers(entry) for entry in result["connectors"]]
    assert (done["records"], done["assets"]) == (result["records"], result["assets"])
    # ... and the inventory is what the numbers say.
    rule.refresh_from_db()
    assert rule.attributes == ["ip_address"] and rule.name == "IP address only"
    assert SourceRecord.objects.get(source_key="a1").asset_id == SourceRecord.objects.get(source_key="b1").asset_id
    after = row_counts()
    assert after["merged"] == before["merged"] + 1 and after["live"] == before["live"] - 1
    assert [event.details["reidentified"][:40] for event in ConnectorEvent.objects.filter(action="rules_changed")]


def test_progress_counts_every_connectors_records_and_the_background_run_reports_it(shared):
    _, _, rule = shared
    seen = []
    preview_definition_change(rule.pk, IP_ONLY, progress=lambda read, total: seen.append((read, total)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    assert [read for read, _ in seen] == sorted(read for read, _ in seen)


@pytest.mark.django_db(transaction=True)
def test_the_background_run_shows_progress_to_other_connections_while_it_runs(make_connector, monkeypatch, settings):
    """On SQLite through a file, on PostgreSQL through a second connection: readable while the transaction that
    is rolled back is still open."""
    settings.IDENTIFICATION_CHUNK_SIZE = 1
    inventory.delete_identification_rule(IdentificationRule.objects.get(name="IP address"))
    a, b = make_connector("A"), make_connector("B")
    process_records(a, [rec(f"a{n}", hostname=f"a{n}", ip_addresses=(f"10.0.0.{n}",)) for n in range(1, 4)])
    process_records(b, [rec(f"b{n}", hostname=f"b{n}", ip_addresses=(f"10.0.0.{n}",)) for n in range(1, 3)])
    rule = IdentificationRule.objects.get(name="Hostname + IP address")
    preview = start_rule_preview(rule, IP_ONLY)
    observed = []
    report = ProgressChannel.report

    def watching(self, processed, total):
        report(self, processed, total)
        observed.append(ProgressChannel.read(RuleImpactPreview.objects.get(pk=preview.pk)))

    monkeypatch.setattr(ProgressChannel, "report", watching)
    assert run_rule_preview(preview.pk) == ImpactStatus.READY
    assert (0, 5) in observed and (3, 5) in observed and observed[-1] == (5, 5)
    preview.refresh_from_db()
    assert (preview.processed, preview.total) == (5, 5)
    folder = settings.DATA_DIR / "rule-impact"
    assert not folder.exists() or not list(folder.iterdir())  # the channel cleans up after itself


def test_a_change_that_touches_no_connector_says_so_and_apply_just_saves(shared, connector_admin):
    _, _, rule = shared
    before = row_counts()
    # A new name alone changes no match.
    preview = start_rule_preview(rule, {**IP_ONLY, "attributes": ["hostname", "ip_address"]}, actor=connector_admin)
    assert preview.total == 0
    run_rule_preview(preview.pk)
    preview.refresh_from_db()
    assert preview.result == {"connectors": [], "records": {}, "assets": {}}
    applied = apply_rule_preview(preview, actor=connector_admin).applied_result
    assert applied["as_previewed"] and applied["connectors"] == []
    rule.refresh_from_db()
    assert rule.name == "IP address only"
    assert row_counts() == before | {"RuleEvent": before["RuleEvent"] + 1}
    # A rule no connector has turned on: nothing to re-identify either.
    RuleSelection.objects.filter(rule=rule).update(enabled=False)
    assert start_rule_preview(rule, IP_ONLY).total == 0


def test_a_preview_above_the_bound_is_refused(shared, settings):
    from assets.ruledef_previews import PreviewError

    settings.RULE_IMPACT_PREVIEW_MAX_RECORDS = 3
    with pytest.raises(PreviewError, match="re-identifies 4 records of 2 connectors"):
        start_rule_preview(shared[2], IP_ONLY)
    assert not RuleImpactPreview.objects.exists()


def test_cancel_stops_a_running_preview_and_nothing_is_applied(shared):
    rule = shared[2]
    preview = start_rule_preview(rule, IP_ONLY)
    RuleImpactPreview.objects.filter(pk=preview.pk).update(status=ImpactStatus.RUNNING)
    preview.refresh_from_db()
    assert cancel_rule_preview(preview)
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.CANCELLED
    with pytest.raises(Exception, match="only a finished one can be applied"):
        apply_rule_preview(preview)
    rule.refresh_from_db()
    assert rule.attributes == ["hostname", "ip_address"]


def _form(definition):
    data = {"name": definition["name"], "description": definition["description"]}
    for index, attribute in enumerate(definition["attributes"], start=1):
        data[f"attribute_{index}"] = attribute
    return data


def test_the_pages_preview_from_the_edit_form_then_apply(
    shared, admin_ui, settings, django_capture_on_commit_callbacks
):
    _, _, rule = shared
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    edit = admin_ui.get(reverse("assets:rule_edit", args=[rule.pk])).content.decode()
    new_url = reverse("assets:rule_impact_new", args=[rule.pk])
    assert f'formaction="{new_url}"' in edit and ">Preview impact</button>" in edit

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_ui.post(new_url, _form(IP_ONLY))
    assert response.status_code == 302
    preview = RuleImpactPreview.objects.get()
    assert preview.status == ImpactStatus.READY
    page = admin_ui.get(response["Location"]).content.decode()
    assert (
        "4 records of 2 connectors re-identified" in page and "Attributes: Hostname + IP address → IP address" in page
    )
    assert "Move into another existing asset (merge)</dt><dd>1</dd>" in page

    response = admin_ui.post(reverse("assets:rule_impact_apply", args=[rule.pk, preview.uuid]))
    assert response.status_code == 302
    assert "Exactly as the preview below said" in admin_ui.get(response["Location"]).content.decode()
    again = admin_ui.post(reverse("assets:rule_impact_apply", args=[rule.pk, preview.uuid]))
    assert again.status_code == 409 and "only a finished one can be applied" in again.content.decode()


def test_bad_input_gets_the_form_again_with_its_errors(shared, admin_ui):
    _, _, rule = shared
    url = reverse("assets:rule_impact_new", args=[rule.pk])
    response = admin_ui.post(url, _form({**IP_ONLY, "name": ""}))
    assert response.status_code == 400 and "Give the rule a name." in response.content.decode()
    taken = admin_ui.post(url, _form({**IP_ONLY, "attributes": ["serial_number"]}))
    assert taken.status_code == 400 and "has these attributes already" in taken.content.decode()
    system = IdentificationRule.objects.get(is_system=True)
    assert admin_ui.post(reverse("assets:rule_impact_new", args=[system.pk]), _form(IP_ONLY)).status_code == 403
    assert not RuleImpactPreview.objects.exists()


def test_the_page_shows_progress_and_polls_while_the_preview_runs(shared, admin_ui):
    rule = shared[2]
    preview = start_rule_preview(rule, IP_ONLY)
    RuleImpactPreview.objects.filter(pk=preview.pk).update(status=ImpactStatus.RUNNING)
    path = ProgressChannel._path(preview.pk, "json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"processed": 1, "total": 4}')
    url = reverse("assets:rule_impact_detail", args=[rule.pk, preview.uuid])
    page = admin_ui.get(url).content.decode()
    assert "1 of 4 records read (25%)" in page and 'hx-trigger="every 2s"' in page
    assert f'<a href="{url}">refresh</a>' in page
    part = admin_ui.get(url, headers={"HX-Request": "true"}).content.decode()
    assert part.lstrip().startswith('<div id="impact-status"') and "<html" not in part


def test_only_admins_preview_and_apply(shared, viewer_ui):
    rule = shared[2]
    preview = start_rule_preview(rule, IP_ONLY)
    for method, name, args in (
        ("post", "assets:rule_impact_new", [rule.pk]),
        ("get", "assets:rule_impact_detail", [rule.pk, preview.uuid]),
        ("post", "assets:rule_impact_apply", [rule.pk, preview.uuid]),
        ("post", "assets:rule_impact_cancel", [rule.pk, preview.uuid]),
    ):
        url = reverse(name, args=args)
        assert getattr(viewer_ui, method)(url).status_code == 403, url
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.QUEUED


def test_apply_of_a_definition_no_longer_valid_is_refused_with_the_reason(shared, admin_ui):
    _, _, rule = shared
    preview = start_rule_preview(rule, IP_ONLY)
    run_rule_preview(preview.pk)
    inventory.create_identification_rule(name="IP address only", attributes=["ip_address", "mac_address"])
    before = row_counts()
    response = admin_ui.post(reverse("assets:rule_impact_apply", args=[rule.pk, preview.uuid]))
    assert response.status_code == 409 and "exists already" in response.content.decode()
    assert row_counts() == before
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.READY


def test_the_page_lists_each_connector_in_order_with_its_numbers(shared):
    from django.template.loader import render_to_string

    rule = shared[2]
    preview = start_rule_preview(rule, IP_ONLY)
    run_rule_preview(preview.pk)
    preview.refresh_from_db()
    html = render_to_string(
        "assets/rule_impact.html#status", {"preview": preview, "rule": rule, "statuses": ImpactStatus}
    )
    rows = [row.split("</th>")[1] for row in html.split('<th scope="row">')[1:]]
    cells = [[cell.split("</td>")[0] for cell in row.split("<td>")[1:]] for row in rows]
    assert cells == [
        ["2", "1", "1", "0", "0", "0", "1", "0", "0", "0"],
        ["2", "2", "0", "0", "0", "0", "0", "0", "0", "0"],
    ]
    assert html.index(">A</a>") < html.index(">B</a>")


def test_a_running_preview_cancelled_stops_and_rolls_back(shared, admin_ui):
    rule = shared[2]
    preview = start_rule_preview(rule, IP_ONLY)
    before = row_counts()
    ProgressChannel.request_cancel(preview.pk)  # as the Cancel button does while it runs (SQLite)
    assert run_rule_preview(preview.pk) == ImpactStatus.CANCELLED
    assert row_counts() == before
    rule.refresh_from_db()
    assert rule.attributes == ["hostname", "ip_address"]
    assert not ProgressChannel._path(preview.pk, "cancel").exists()
    # The rule's edit page lists it.
    edit = admin_ui.get(reverse("assets:rule_edit", args=[rule.pk])).content.decode()
    assert preview.get_absolute_url() in edit and "Recent impact previews" in edit


def test_preview_equals_apply_on_a_tangled_estate_of_three_connectors(make_connector, connector_admin):
    """Records of three connectors drawn from small pools of names, addresses and serials: moves, splits, merges
    and joins of each connector feed the next one's; the preview still counts exactly what Apply does."""
    import random

    inventory.delete_identification_rule(IdentificationRule.objects.get(name="IP address"))
    pick = random.Random(7)
    connectors = [make_connector(name, trust_rank=rank) for name, rank in (("A", 50), ("B", 70), ("C", 30))]
    for number, connector in enumerate(connectors):
        records = []
        for n in range(25):
            fields = {"hostname": f"h{pick.randrange(8)}", "ip_addresses": (f"10.0.0.{pick.randrange(10)}",)}
            if pick.random() < 0.3:
                fields["serial_number"] = f"S{pick.randrange(6)}"
            records.append(rec(f"{number}-{n}", **fields))
        process_records(connector, records)
    rule = IdentificationRule.objects.get(name="Hostname + IP address")
    before = row_counts()

    preview = start_rule_preview(rule, IP_ONLY, actor=connector_admin)
    run_rule_preview(preview.pk)
    preview.refresh_from_db()
    assert preview.status == ImpactStatus.READY and row_counts() == before
    result = preview.result
    assert [entry["name"] for entry in result["connectors"]] == ["A", "B", "C"]
    assert result["records"]["total"] == 75 and result["records"]["unchanged"] < 75

    done = apply_rule_preview(preview, actor=connector_admin).applied_result
    assert done["as_previewed"]
    assert [numbers(entry) for entry in done["connectors"]] == [numbers(entry) for entry in result["connectors"]]
    assert (done["records"], done["assets"]) == (result["records"], result["assets"])


def test_a_connector_changed_since_the_preview_makes_it_stale(shared, admin_ui):
    from assets.rule_selection import update_rule_selection

    _, b, rule = shared
    preview = start_rule_preview(rule, IP_ONLY)
    run_rule_preview(preview.pk)
    update_rule_selection(b, create_unmanaged=False)
    url = reverse("assets:rule_impact_detail", args=[rule.pk, preview.uuid])
    assert "changed since this preview ran" in admin_ui.get(url).content.decode()
