"""Stale and purge as an admin sees them: the Stale filter and badges, the purge in the asset's history, the
connector page's count and settings, the form and the API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from assets.engine.records import AssetRecord
from assets.lifecycle import apply_lifecycle
from assets.models import Asset, SourceRecord
from assets.services import process_records
from connectors.models import Connector
from tests.connectors.test_admin import form_data

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def machine(i: int) -> AssetRecord:
    return AssetRecord(source_key=f"k-{i}", hostname=f"host-{i}", serial_number=f"SN{i:06d}")


@pytest.fixture
def estate(make_connector):
    """host-1 stale (its only source, CMDB, stopped reporting it), host-2 fresh."""
    cmdb = make_connector("CMDB")
    process_records(cmdb, [machine(1), machine(2)])
    SourceRecord.objects.filter(source_key="k-1").update(reported_at=timezone.now() - 31 * DAY)
    apply_lifecycle(timezone.now())
    return cmdb


@pytest.fixture
def api(connector_admin) -> APIClient:
    client = APIClient()
    client.force_authenticate(connector_admin)
    return client


def page(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_the_stale_filter_and_badge_on_the_asset_list(admin_ui, estate):
    listed = page(admin_ui.get(reverse("assets:asset_list"), {"stale": "true"}))
    assert "host-1" in listed and "host-2" not in listed
    assert ">stale</span>" in listed
    assert 'name="stale" value="true" checked' in listed

    fresh = page(admin_ui.get(reverse("assets:asset_list"), {"stale": "false"}))
    assert "host-2" in fresh and "host-1" not in fresh
    everything = page(admin_ui.get(reverse("assets:asset_list")))
    assert "host-1" in everything and "host-2" in everything  # stale assets stay listed


def test_the_asset_page_says_stale_and_shows_a_purge_in_its_history(admin_ui, make_connector):
    cmdb = make_connector("CMDB", stale_after_days=10, purge_after_days=20)
    process_records(cmdb, [machine(1)])
    asset = Asset.objects.get(hostname="host-1")
    reported = SourceRecord.objects.get().reported_at

    apply_lifecycle(reported + 11 * DAY)
    stale = page(admin_ui.get(asset.get_absolute_url()))
    assert "<strong>Stale.</strong>" in stale and "Last reported" in stale

    apply_lifecycle(reported + 21 * DAY)
    purged = page(admin_ui.get(asset.get_absolute_url()))
    assert f"Purged: not reported since {reported:%Y-%m-%d %H:%M} UTC" in purged  # the trace reads as a sentence
    assert "deleted by source" in purged and "Retired" in purged
    assert "<strong>Stale.</strong>" not in purged


def test_the_connector_page_counts_its_stale_assets_and_links_to_them(admin_ui, estate):
    detail = page(admin_ui.get(estate.get_absolute_url()))
    assert f'?connector={estate.uuid}&amp;stale=true">1 stale</a>' in detail
    assert "Stale after 30 days unreported; never purged" in detail


def test_the_connector_form_edits_the_rules_and_refuses_a_purge_before_stale(admin_ui, connector):
    edit = reverse("connectors:connector_edit", args=[connector.uuid])
    form = page(admin_ui.get(edit))
    assert 'name="stale_after_days"' in form and 'name="purge_after_days"' in form
    body = {"name": "CMDB", "modules": ["csam"], "payload_format": "native", "trust_rank": "50"}

    refused = admin_ui.post(edit, body | {"stale_after_days": "30", "purge_after_days": "7"})
    assert "Purge after at least the stale period (30 days)" in page(refused)
    refused = admin_ui.post(edit, body | {"stale_after_days": "0", "purge_after_days": "7"})
    assert "set a stale period first" in page(refused)
    refused = admin_ui.post(edit, body | {"stale_after_days": "-1"})
    assert "greater than or equal to 0" in page(refused)

    saved = admin_ui.post(edit, body | {"stale_after_days": "14", "purge_after_days": "90"})
    assert saved.status_code == 302
    connector.refresh_from_db()
    assert (connector.stale_after_days, connector.purge_after_days) == (14, 90)


def test_the_api_shows_and_filters_stale_assets(api, estate):
    body = api.get("/api/v1/assets/", {"stale": "true"}).json()
    assert [item["hostname"] for item in body["results"]] == ["host-1"]
    assert body["results"][0]["stale"] is True
    fresh = api.get("/api/v1/assets/", {"stale": "false"}).json()["results"]
    assert [(item["hostname"], item["stale"]) for item in fresh] == [("host-2", False)]
    assert api.get("/api/v1/assets/", {"stale": "soon"}).status_code == 400
    detail = api.get(f"/api/v1/assets/{Asset.objects.get(hostname='host-1').uuid}/").json()
    (source,) = detail["sources"]
    assert detail["stale"] is True and source["stale"] is True and source["reported_at"]


def test_the_api_sets_and_checks_the_connector_rules(api, defaults):
    created = api.post(
        "/api/v1/connectors/",
        {"name": "EDR", "modules": ["csam"], "stale_after_days": 7, "purge_after_days": 30},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert (created.json()["stale_after_days"], created.json()["purge_after_days"]) == (7, 30)
    url = f"/api/v1/connectors/{created.json()['uuid']}/"

    refused = api.patch(url, {"purge_after_days": 3}, format="json")
    assert refused.status_code == 400 and "purge_after_days" in refused.json()["errors"]
    assert (
        api.post(
            "/api/v1/connectors/", {"name": "X", "modules": ["csam"], "purge_after_days": 5}, format="json"
        ).status_code
        == 400
    )
    assert api.patch(url, {"stale_after_days": 36_501}, format="json").status_code == 400

    assert api.patch(url, {"stale_after_days": 0, "purge_after_days": 0}, format="json").status_code == 200
    assert Connector.objects.get(name="EDR").stale_after_days == 0


def test_django_admin_edits_the_rules_through_the_service_and_checks_them(admin_client, connector):
    change = reverse("admin:connectors_connector_change", args=[connector.pk])
    form = page(admin_client.get(change))
    assert 'name="stale_after_days"' in form and "Stale, purge and full syncs" in form

    refused = admin_client.post(change, form_data(connector, purge_after_days=5))
    assert "Purge after at least the stale period" in page(refused)
    saved = admin_client.post(change, form_data(connector, stale_after_days=7, purge_after_days=14))
    assert saved.status_code == 302
    connector.refresh_from_db()
    assert (connector.stale_after_days, connector.purge_after_days) == (7, 14)
