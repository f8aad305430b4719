"""Django admin for support staff: connectors, their audit trail and worker heartbeats."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.choices import ConnectorAction
from connectors.models import Connector, ConnectorEvent, WorkerHeartbeat
from connectors.services import set_enabled, token_matches, update_connector

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:connectors_connector_changelist")
ADD = reverse("admin:connectors_connector_add")


def change_url(connector: Connector) -> str:
    return reverse("admin:connectors_connector_change", args=[connector.pk])


def form_data(connector: Connector | None = None, **overrides) -> dict:
    """What the change form posts, including the (read only) rules inline's management form."""
    rules = connector.rule_selection.count() if connector else 0
    data = {
        "name": connector.name if connector else "New source",
        "description": connector.description if connector else "",
        "modules": connector.module_list if connector else ["csam"],
        "enabled": "on",
        "payload_format": connector.payload_format if connector else "native",
        "trust_rank": connector.trust_rank if connector else 50,
        "create_unmanaged": "on",
        "apply_default_rule": "on",
        "stale_after_days": connector.stale_after_days if connector else 30,
        "purge_after_days": connector.purge_after_days if connector else 0,
        "sync_delete_limit": connector.sync_delete_limit if connector else 30,
        "rule_selection-TOTAL_FORMS": rules,
        "rule_selection-INITIAL_FORMS": rules,
        "rule_selection-MIN_NUM_FORMS": 0,
        "rule_selection-MAX_NUM_FORMS": 1000,
    }
    for item, selection in enumerate(connector.rule_selection.all() if connector else []):
        data[f"rule_selection-{item}-id"] = selection.pk
        data[f"rule_selection-{item}-connector"] = connector.pk
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def messages_text(response) -> str:
    return " ".join(str(message) for message in response.context["messages"])


def names_listed(response) -> list[str]:
    return [str(connector) for connector in response.context["cl"].result_list]


# --- pages ------------------------------------------------------------------------------------------------------


def test_changelist_shows_connectors_without_secrets(admin_client, connector):
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "CMDB" in html and "Pending" in html and "CSAM" in html
    assert connector.credentials.token not in html
    assert connector.credentials.signing_secret not in html


def test_change_page_masks_the_credentials(admin_client, connector):
    response = admin_client.get(change_url(connector))
    assert response.status_code == 200
    html = response.content.decode()
    assert connector.credentials.token not in html
    assert connector.credentials.signing_secret not in html
    assert connector.signing_secret[:10] + "…" in html  # whsec_ and four characters
    assert connector.token_hint + "…" in html
    assert "token_hash" not in html and connector.token_hash not in html
    assert "Source native key" in html  # the rule selection inline


def test_add_page_renders(admin_client, defaults):
    response = admin_client.get(ADD)
    assert response.status_code == 200
    assert 'name="modules"' in response.content.decode()


def test_changelist_query_count_is_constant(admin_client, make_connector, django_assert_max_num_queries):
    for index in range(3):
        make_connector(f"Source {index:02}")
    with django_assert_max_num_queries(50) as few:
        admin_client.get(CHANGELIST)
    for index in range(3, 20):
        make_connector(f"Source {index:02}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get(CHANGELIST)
    assert len(names_listed(response)) == 20


# --- search and filters -----------------------------------------------------------------------------------------


@pytest.fixture
def three(make_connector):
    cmdb = make_connector("ServiceNow CMDB", description="Server CIs")
    mdm = make_connector("Intune", description="Laptops", modules=["csam", "log"], payload_format="csam")
    script = make_connector("Cloud script", modules=["log"])
    set_enabled(script, False)
    return cmdb, mdm, script


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "laptops"}, ["Intune"]),
        ({"q": "servicenow"}, ["ServiceNow CMDB"]),
        ({"enabled__exact": "0"}, ["Cloud script"]),
        ({"payload_format__exact": "csam"}, ["Intune"]),
        ({"module": "log"}, ["Cloud script", "Intune"]),
        ({"module": "csam"}, ["Intune", "ServiceNow CMDB"]),
        ({"status": "disabled"}, ["Cloud script"]),
        ({"status": "pending"}, ["Intune"]),
        ({"status": "success"}, ["ServiceNow CMDB"]),
        ({"status": "error"}, []),
    ],
)
def test_search_and_filters(admin_client, three, params, expected):
    cmdb = three[0]
    Connector.objects.filter(pk=cmdb.pk).update(last_delivery_at=timezone.now(), last_result="success")
    response = admin_client.get(CHANGELIST, params)
    assert response.status_code == 200
    assert sorted(names_listed(response)) == expected


def test_search_by_uuid(admin_client, three):
    response = admin_client.get(CHANGELIST, {"q": str(three[1].uuid)})
    assert names_listed(response) == ["Intune"]


# --- writes go through the services -----------------------------------------------------------------------------


def test_adding_creates_through_the_service_and_shows_credentials_once(admin_client, defaults):
    response = admin_client.post(ADD, form_data(name="Jamf", modules=["csam", "log"], trust_rank=70), follow=True)
    assert response.status_code == 200
    connector = Connector.objects.get(name="Jamf")
    assert connector.module_list == ["csam", "log"] and connector.trust_rank == 70
    assert connector.rule_selection.exists()  # the default rules the service installs
    assert ConnectorEvent.objects.filter(connector=connector, action=ConnectorAction.CREATED).exists()
    text = messages_text(response)
    token = re.search(r"chk_[\w-]+", text).group()
    assert token_matches(connector, token)
    assert connector.signing_secret in text
    again = admin_client.get(change_url(connector)).content.decode()
    assert token not in again and connector.signing_secret not in again


def test_adding_with_options_off(admin_client, defaults):
    data = form_data(name="Strict", create_unmanaged=None, apply_default_rule=None, enabled=None)
    admin_client.post(ADD, data)
    connector = Connector.objects.get(name="Strict")
    assert not connector.create_unmanaged and not connector.apply_default_rule and not connector.enabled


def test_editing_goes_through_the_service(admin_client, connector):
    response = admin_client.post(change_url(connector), form_data(connector, description="Nightly", trust_rank=90))
    assert response.status_code == 302, response.context["adminform"].form.errors
    connector.refresh_from_db()
    assert (connector.description, connector.trust_rank) == ("Nightly", 90)
    event = ConnectorEvent.objects.get(connector=connector, action=ConnectorAction.EDITED)
    assert event.details["changes"]["trust_rank"] == [50, 90]
    assert event.actor.username == "admin"


def test_the_full_sync_deletion_limit_is_edited_through_the_service(admin_client, connector):
    response = admin_client.post(change_url(connector), form_data(connector, sync_delete_limit=101))
    assert response.context["adminform"].form.errors["sync_delete_limit"]  # a share of the records: at most 100
    response = admin_client.post(change_url(connector), form_data(connector, sync_delete_limit=5))
    assert response.status_code == 302, response.context["adminform"].form.errors
    connector.refresh_from_db()
    assert connector.sync_delete_limit == 5
    event = ConnectorEvent.objects.get(connector=connector, action=ConnectorAction.EDITED)
    assert event.details["changes"]["sync_delete_limit"] == [30, 5]


def test_unticking_enabled_disables_through_the_service(admin_client, connector):
    admin_client.post(change_url(connector), form_data(connector, enabled=None))
    connector.refresh_from_db()
    assert connector.enabled is False
    assert ConnectorEvent.objects.filter(connector=connector, action=ConnectorAction.DISABLED).exists()


def test_a_taken_name_is_refused_with_a_clear_message(admin_client, make_connector):
    make_connector("CMDB")
    other = make_connector("MDM")
    response = admin_client.post(change_url(other), form_data(other, name="cmdb"))
    assert response.status_code == 200
    assert "A connector named “CMDB” already exists" in response.content.decode()
    other.refresh_from_db()
    assert other.name == "MDM"


def test_at_least_one_module(admin_client, connector):
    response = admin_client.post(change_url(connector), form_data(connector, modules=[]))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["modules"]


def test_deleting_goes_through_the_service(admin_client, connector):
    delete_url = reverse("admin:connectors_connector_delete", args=[connector.pk])
    assert admin_client.get(delete_url).status_code == 200
    response = admin_client.post(delete_url, {"post": "yes"})
    assert response.status_code == 302
    assert not Connector.objects.exists()
    assert ConnectorEvent.objects.filter(connector_name="CMDB", action=ConnectorAction.DELETED).exists()


def test_bulk_delete_goes_through_the_service(admin_client, three):
    pks = [connector.pk for connector in three]
    response = admin_client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": pks, "post": "yes"})
    assert response.status_code == 302
    assert not Connector.objects.exists()
    assert ConnectorEvent.objects.filter(action=ConnectorAction.DELETED).count() == 3


# --- actions ----------------------------------------------------------------------------------------------------


def run_action(client, action: str, *connectors: Connector):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [c.pk for c in connectors]}, follow=True)


def test_disable_and_enable_actions_write_audit_rows(admin_client, connector):
    run_action(admin_client, "disable_connectors", connector)
    connector.refresh_from_db()
    assert connector.enabled is False
    assert ConnectorEvent.objects.filter(connector=connector, action=ConnectorAction.DISABLED).count() == 1
    run_action(admin_client, "enable_connectors", connector)
    connector.refresh_from_db()
    assert connector.enabled is True
    assert ConnectorEvent.objects.filter(connector=connector, action=ConnectorAction.ENABLED).count() == 1


def test_rotate_secret_action_shows_the_new_secret_once(admin_client, connector):
    old = connector.credentials.signing_secret
    response = run_action(admin_client, "rotate_secrets", connector)
    connector.refresh_from_db()
    assert connector.signing_secret != old and connector.previous_signing_secret == old
    assert connector.signing_secret in messages_text(response)
    assert ConnectorEvent.objects.filter(connector=connector, action=ConnectorAction.SECRET_ROTATED).count() == 1
    later = admin_client.get(change_url(connector)).content.decode()
    assert connector.signing_secret not in later and old not in later


def test_rotate_token_action(admin_client, connector):
    response = run_action(admin_client, "rotate_tokens", connector)
    connector.refresh_from_db()
    token = re.search(r"chk_[\w-]+", messages_text(response)).group()
    assert token_matches(connector, token)
    assert not token_matches(connector, connector.credentials.token)
    assert ConnectorEvent.objects.filter(connector=connector, action=ConnectorAction.TOKEN_ROTATED).count() == 1


def test_a_viewer_with_staff_status_but_no_permissions_cannot_use_the_admin(client, viewer, connector):
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    assert client.get(CHANGELIST).status_code == 403


# --- read-only models -------------------------------------------------------------------------------------------


def test_audit_trail_is_read_only(admin_client, connector):
    update_connector(connector, description="changed")
    event = ConnectorEvent.objects.filter(connector=connector).first()
    changelist = admin_client.get(reverse("admin:connectors_connectorevent_changelist"))
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert "CMDB" in html
    assert reverse("admin:connectors_connectorevent_add") not in html
    assert admin_client.get(reverse("admin:connectors_connectorevent_add")).status_code == 403
    view = admin_client.get(reverse("admin:connectors_connectorevent_change", args=[event.pk]))
    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    delete_url = reverse("admin:connectors_connectorevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert ConnectorEvent.objects.filter(pk=event.pk).exists()


def test_audit_trail_filters_and_search(admin_client, make_connector):
    first = make_connector("CMDB")
    make_connector("MDM")
    set_enabled(first, False)
    url = reverse("admin:connectors_connectorevent_changelist")
    actions = [str(event.action) for event in admin_client.get(url, {"action": "disabled"}).context["cl"].result_list]
    assert actions == ["disabled"]
    found = admin_client.get(url, {"q": "mdm"}).context["cl"].result_list
    assert {event.connector_name for event in found} == {"MDM"}


def test_heartbeats_are_read_only(admin_client):
    now = timezone.now()
    beat = WorkerHeartbeat.objects.create(worker_id="w1", hostname="box", pid=42, started_at=now, last_beat=now)
    response = admin_client.get(reverse("admin:connectors_workerheartbeat_changelist"))
    assert response.status_code == 200 and "box" in response.content.decode()
    assert admin_client.get(reverse("admin:connectors_workerheartbeat_add")).status_code == 403
    delete_url = reverse("admin:connectors_workerheartbeat_delete", args=[beat.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403


def test_delivery_admin_is_read_only_and_reprocesses_through_the_service(admin_client, connector):
    from connectors.choices import ConnectorAction
    from connectors.inbox import store_delivery
    from connectors.models import ConnectorEvent, Delivery

    delivery = store_delivery(connector, b'{"assets": [{"source_key": "admin-1"}]}').delivery
    Delivery.objects.filter(pk=delivery.pk).update(status="dead", attempts=5)
    changelist = admin_client.get("/admin/connectors/delivery/")
    assert changelist.status_code == 200 and "dead" in changelist.content.decode().lower()
    page = admin_client.get(f"/admin/connectors/delivery/{delivery.pk}/change/")
    assert page.status_code == 200 and "admin-1" in page.content.decode()
    assert admin_client.get("/admin/connectors/delivery/add/").status_code == 403
    response = admin_client.post(
        "/admin/connectors/delivery/", {"action": "reprocess", "_selected_action": [delivery.pk]}, follow=True
    )
    assert "1 deliveries queued for reprocessing" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "queued" and delivery.attempts == 0
    assert ConnectorEvent.objects.filter(action=ConnectorAction.REPLAYED).exists()
