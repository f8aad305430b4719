"""Reviewing duplicates: the richer record is suggested as the one to keep, the kept row is not offered for
merging, "Not a duplicate" takes a group off the page (audited, and the worker does not flag the same evidence
again), and the latest change's Undo is at the top."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assets.choices import AssetAction
from assets.models import Asset, AssetEvent, DuplicateDismissal
from connectors.inbox import store_delivery
from connectors.worker import process_delivery
from tests.assets.factories import add_source, make_asset

pytestmark = pytest.mark.django_db

DUPLICATES = reverse("assets:duplicates")
NOT_DUPLICATE = reverse("assets:not_duplicate")


@pytest.fixture
def twins(cmdb, mdm, make_connector):
    """A poor record (one source, a host name and serial) made first, and a richer one (two sources, more known)."""
    poor = make_asset(cmdb, "c-1", hostname="twin", serial_number="SN-TWIN")
    rich = make_asset(mdm, "m-1", hostname="twin", serial_number="SN-TWIN", os="Linux", ip_addresses=["10.0.0.9"])
    add_source(rich, make_connector("NetBox"), "nb-1", hostname="twin", manufacturer="Dell")
    return poor, rich


def _survivor_checked(page: str) -> str:
    return re.search(r'name="survivor" value="([^"]+)"[^>]*checked', page).group(1)


def test_the_richer_record_is_suggested_as_the_one_to_keep(admin_ui, twins):
    _poor, rich = twins
    page = admin_ui.get(DUPLICATES).content.decode()
    assert _survivor_checked(page) == str(rich.uuid)
    assert "suggested: most sources (2)</span>" in page
    assert page.count('<span class="kept-note">kept</span>') == 2  # shown on whichever row is kept


def test_with_equal_sources_more_attributes_then_newest_wins(admin_ui, cmdb, mdm):
    make_asset(cmdb, "c-1", hostname="pair", serial_number="SN-PAIR")
    fuller = make_asset(mdm, "m-1", hostname="pair", serial_number="SN-PAIR", os="Linux", model="R640")
    page = admin_ui.get(DUPLICATES).content.decode()
    assert _survivor_checked(page) == str(fuller.uuid)
    assert "suggested: most attributes known (4)" in page


def test_merging_never_merges_the_kept_asset_into_itself(admin_ui, twins):
    poor, rich = twins
    admin_ui.post(reverse("assets:merge"), {"survivor": str(rich.uuid), "assets": [str(rich.uuid), str(poor.uuid)]})
    rich.refresh_from_db()
    poor.refresh_from_db()
    assert rich.merged_into is None and poor.merged_into == rich


def test_the_latest_change_and_its_undo_are_at_the_top(admin_ui, twins, cmdb):
    poor, rich = twins
    make_asset(cmdb, "x", hostname="other", serial_number="SN-OTHER")
    make_asset(cmdb, "y", hostname="other", serial_number="SN-OTHER")
    response = admin_ui.post(
        reverse("assets:merge"), {"survivor": str(rich.uuid), "assets": [str(poor.uuid)]}, follow=True
    )
    page = response.content.decode()
    assert "Undo it from Latest change above" in page
    latest = page.index('id="latest-title"')
    assert latest < page.index('class="card dup-group"')  # above the groups
    assert latest < page.index("Undo merge") < page.index('class="card dup-group"')


def test_not_a_duplicate_takes_the_group_off_the_page_and_is_audited(admin_ui, twins, connector_admin, cmdb):
    poor, rich = twins
    Asset.objects.filter(pk__in=[poor.pk, rich.pk]).update(possible_duplicate=True)
    response = admin_ui.post(
        NOT_DUPLICATE,
        {
            "group": [str(poor.uuid), str(rich.uuid)],
            "shared": ["serial_number:SN-TWIN", "hostname:twin"],
            "next": DUPLICATES,
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Marked as different machines: twin, twin." in page
    assert "No duplicates" in page and 'name="survivor"' not in page
    assert not Asset.objects.filter(pk__in=[poor.pk, rich.pk], possible_duplicate=True).exists()
    event = AssetEvent.objects.get(action=AssetAction.DISTINCT)
    assert event.actor == connector_admin
    assert event.details["shared"] == [["hostname", "twin"], ["serial_number", "SN-TWIN"]]
    assert "are different machines" in page  # in the recent changes

    # A third asset with the same serial is new evidence: the group is back, with all three.
    make_asset(cmdb, "c-3", hostname="twin-3", serial_number="SN-TWIN")
    page = admin_ui.get(DUPLICATES).content.decode()
    assert page.count('name="survivor"') == 3


def test_the_worker_does_not_flag_assets_declared_distinct(admin_ui, twins, make_connector):
    poor, rich = twins
    admin_ui.post(NOT_DUPLICATE, {"group": [str(poor.uuid), str(rich.uuid)], "shared": ["serial_number:SN-TWIN"]})
    third = make_connector("Scanner")
    body = json.dumps({"assets": [{"source_key": "s-1", "serial_number": "SN-TWIN"}]}).encode()
    process_delivery(store_delivery(third, body).delivery.pk)
    # The serial rule saw both and the default rule chose one: without the dismissal, that one would be flagged.
    assert not Asset.objects.filter(pk__in=[poor.pk, rich.pk], possible_duplicate=True).exists()


def test_without_a_dismissal_the_same_record_flags_the_chosen_asset(twins, make_connector):
    poor, rich = twins
    body = json.dumps({"assets": [{"source_key": "s-1", "serial_number": "SN-TWIN"}]}).encode()
    process_delivery(store_delivery(make_connector("Scanner"), body).delivery.pk)
    assert Asset.objects.filter(pk__in=[poor.pk, rich.pk], possible_duplicate=True).exists()


@pytest.mark.parametrize(
    "data",
    [
        {"group": ["not-a-uuid"], "shared": ["serial_number:SN-TWIN"]},
        {"group": [], "shared": ["serial_number:SN-TWIN"]},
        {"shared": ["password:x"]},
        {"shared": ["serial_number:SN-ELSEWHERE"]},
        {"shared": []},
    ],
)
def test_bad_not_a_duplicate_requests_are_refused_with_a_message(admin_ui, twins, data):
    poor, rich = twins
    data = {"group": [str(poor.uuid), str(rich.uuid)], **data}
    response = admin_ui.post(NOT_DUPLICATE, data, follow=True)
    assert response.status_code == 200
    assert 'class="msg msg-error"' in response.content.decode()
    assert not DuplicateDismissal.objects.exists()


def test_viewers_cannot_dismiss(viewer_ui, twins):
    poor, rich = twins
    response = viewer_ui.post(NOT_DUPLICATE, {"group": [str(poor.uuid), str(rich.uuid)], "shared": ["hostname:twin"]})
    assert response.status_code == 403
    assert not DuplicateDismissal.objects.exists()


def test_dismissals_cost_a_fixed_number_of_queries(admin_ui, cmdb, mdm):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            admin_ui.get(DUPLICATES)
        return len(captured)

    pairs = [
        (make_asset(cmdb, f"c{i}", hostname=f"d-{i}"), make_asset(mdm, f"m{i}", hostname=f"d-{i}")) for i in range(6)
    ]
    for a, b in pairs[:1]:
        admin_ui.post(NOT_DUPLICATE, {"group": [str(a.uuid), str(b.uuid)], "shared": [f"hostname:{a.hostname}"]})
    few = queries()
    for a, b in pairs[1:4]:
        admin_ui.post(NOT_DUPLICATE, {"group": [str(a.uuid), str(b.uuid)], "shared": [f"hostname:{a.hostname}"]})
    assert queries() == few
    assert admin_ui.get(DUPLICATES).content.decode().count('name="survivor"') == 4


def test_not_a_duplicate_can_be_undone_from_the_top_of_the_page(admin_ui, twins, connector_admin):
    poor, rich = twins
    Asset.objects.filter(pk=poor.pk).update(possible_duplicate=True)
    page = admin_ui.post(
        NOT_DUPLICATE,
        {"group": [str(poor.uuid), str(rich.uuid)], "shared": ["serial_number:SN-TWIN"], "next": DUPLICATES},
        follow=True,
    ).content.decode()
    assert page.index('id="latest-title"') < page.index("Undo “not a duplicate”")
    event = AssetEvent.objects.get(action=AssetAction.DISTINCT)
    page = admin_ui.post(reverse("assets:event_undo", args=[event.pk]), {"next": DUPLICATES}, follow=True)
    page = page.content.decode()
    assert "Not a duplicate undone." in page
    assert page.count('name="survivor"') == 2  # the group is back
    assert not DuplicateDismissal.objects.exists()
    assert list(Asset.objects.filter(possible_duplicate=True)) == [poor]  # the flag it had, and only that one
    assert AssetEvent.objects.get(action=AssetAction.INDISTINCT).actor == connector_admin
    again = admin_ui.post(reverse("assets:event_undo", args=[event.pk]), follow=True).content.decode()
    assert "This was undone already." in again
