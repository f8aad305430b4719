"""connectors.services: every write, its effect and the audit row written next to it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from assets.models import Asset, IdentificationRule, RuleSelection, SourceRecord
from assets.rule_selection import RuleSelectionError, update_rule_selection
from connectors.choices import ConnectorAction, Module, PayloadFormat
from connectors.models import Connector, ConnectorEvent
from connectors.services import (
    TOKEN_PREFIX,
    create_connector,
    delete_connector,
    hash_token,
    rotate_secret,
    rotate_token,
    set_enabled,
    token_matches,
    update_connector,
    verification_secrets,
)

pytestmark = pytest.mark.django_db


def add_source(connector, key: str, asset: Asset | None = None, **fields) -> Asset:
    asset = asset or Asset.objects.create(hostname=key)
    now = timezone.now()
    SourceRecord.objects.create(
        connector=connector, source_key=key, asset=asset, first_seen=now, last_seen=now, **fields
    )
    return asset


def actions(connector) -> list[str]:
    return list(
        ConnectorEvent.objects.filter(connector_name=connector.name).order_by("id").values_list("action", flat=True)
    )


def rule_ids(*names: str) -> list[int]:
    by_name = dict(IdentificationRule.objects.values_list("name", "pk"))
    return [by_name[name] for name in names]


# --- create -------------------------------------------------------------------------------------------------------


def test_create_stores_hashes_installs_default_rules_and_audits(connector_admin, defaults):
    connector, credentials = create_connector(
        name="  CMDB  ",
        description=" export ",
        modules=[Module.CSAM, Module.DELIVERY_LOG],
        payload_format=PayloadFormat.CSAM,
        trust_rank=70,
        require_signature=True,
        actor=connector_admin,
    )
    assert (connector.name, connector.description, connector.modules) == ("CMDB", "export", "csam,log")
    assert (connector.payload_format, connector.trust_rank, connector.require_signature) == ("csam", 70, True)
    assert connector.enabled and connector.create_unmanaged and connector.apply_default_rule
    assert credentials.token.startswith(TOKEN_PREFIX)
    assert connector.token_hash == hash_token(credentials.token) != credentials.token
    assert connector.token_hint == credentials.token[:8]
    assert credentials.signing_secret.startswith("whsec_") and connector.signing_secret == credentials.signing_secret
    assert token_matches(connector, credentials.token) and not token_matches(connector, "chk_wrong")

    rules = list(connector.rule_selection.select_related("rule"))
    assert rules[0].rule.name == "Source native key" and rules[0].enabled
    off = {item.rule.name for item in rules if not item.enabled}
    assert off == {"Hostname", "IP address"}
    assert [item.position for item in rules] == list(range(len(rules)))

    (event,) = ConnectorEvent.objects.all()
    assert (event.action, event.actor, event.connector) == (ConnectorAction.CREATED, connector_admin, connector)
    assert event.details == {"modules": ["csam", "log"]}


def test_create_refuses_a_name_differing_only_in_case(make_connector):
    make_connector("CMDB")
    with pytest.raises(IntegrityError):
        make_connector("cmdb")


def test_anonymous_actor_is_recorded_as_nobody(defaults, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    connector, _ = create_connector(name="X", actor=AnonymousUser())
    assert ConnectorEvent.objects.get().actor is None
    assert connector.created_by is None


# --- update, enable -----------------------------------------------------------------------------------------------


def test_update_changes_fields_and_audits_the_diff(connector, connector_admin):
    update_connector(connector, actor=connector_admin, name=" CMDB 2 ", trust_rank=90, modules=["log"])
    connector.refresh_from_db()
    assert (connector.name, connector.trust_rank, connector.modules) == ("CMDB 2", 90, "log")
    assert not connector.csam_enabled
    event = ConnectorEvent.objects.get(action=ConnectorAction.EDITED)
    assert event.details == {
        "changes": {"name": ["CMDB", "CMDB 2"], "trust_rank": [50, 90], "modules": ["csam", "log"]}
    }
    assert event.connector_name == "CMDB 2"


def test_update_without_change_writes_nothing(connector):
    update_connector(connector, name="CMDB", trust_rank=50)
    assert actions(connector) == [ConnectorAction.CREATED]


def test_update_refuses_fields_that_are_not_editable(connector):
    with pytest.raises(TypeError, match="token_hash"):
        update_connector(connector, token_hash="x")


def test_set_enabled_audits_only_real_changes(connector, connector_admin):
    set_enabled(connector, False, actor=connector_admin)
    set_enabled(connector, False, actor=connector_admin)
    set_enabled(connector, True, actor=connector_admin)
    connector.refresh_from_db()
    assert connector.enabled
    assert actions(connector) == [ConnectorAction.CREATED, ConnectorAction.DISABLED, ConnectorAction.ENABLED]
    assert connector.status == "pending"
    set_enabled(connector, False)
    assert connector.status == "disabled"


# --- credentials --------------------------------------------------------------------------------------------------


def test_rotate_token_stops_the_old_token_at_once(connector, connector_admin):
    old = connector.credentials.token
    credentials = rotate_token(connector, actor=connector_admin)
    connector.refresh_from_db()
    assert credentials.signing_secret is None
    assert token_matches(connector, credentials.token)
    assert not token_matches(connector, old)
    assert connector.token_hint == credentials.token[:8]
    assert actions(connector)[-1] == ConnectorAction.TOKEN_ROTATED


def test_rotate_secret_keeps_the_previous_secret_during_the_overlap(connector, connector_admin, settings):
    settings.SECRET_ROTATION_OVERLAP_HOURS = 2
    old = connector.signing_secret
    before = timezone.now()
    credentials = rotate_secret(connector, actor=connector_admin)
    connector.refresh_from_db()
    assert credentials.token is None
    assert connector.signing_secret == credentials.signing_secret != old
    assert connector.previous_signing_secret == old
    expires = connector.previous_secret_expires_at
    assert before + timedelta(hours=2) <= expires <= timezone.now() + timedelta(hours=2)
    assert verification_secrets(connector) == [credentials.signing_secret, old]
    event = ConnectorEvent.objects.get(action=ConnectorAction.SECRET_ROTATED)
    assert event.details == {"previous_valid_until": expires.isoformat()}


def test_previous_secret_stops_after_the_overlap(connector):
    old = connector.signing_secret
    rotate_secret(connector)
    connector.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    assert verification_secrets(connector) == [connector.signing_secret]
    assert old not in verification_secrets(connector)


def test_a_second_rotation_drops_the_oldest_secret(connector):
    first = connector.signing_secret
    rotate_secret(connector)
    second = connector.signing_secret
    rotate_secret(connector)
    assert verification_secrets(connector) == [connector.signing_secret, second]
    assert first not in verification_secrets(connector)


def test_a_new_connector_has_only_its_current_secret(connector):
    assert verification_secrets(connector) == [connector.signing_secret]


# --- delete -------------------------------------------------------------------------------------------------------


def test_delete_retires_assets_no_other_source_reports(make_connector, connector_admin):
    cmdb, mdm = make_connector("CMDB"), make_connector("MDM")
    orphan = add_source(cmdb, "only-cmdb")
    shared = add_source(cmdb, "both", asset=add_source(mdm, "mdm-both"))
    left_by_mdm = add_source(cmdb, "mdm-deleted", asset=add_source(mdm, "gone", deleted=True))
    already_retired = add_source(cmdb, "old", asset=Asset.objects.create(hostname="old", retired=True))

    retired = delete_connector(cmdb, actor=connector_admin)

    assert retired == 2
    assert not Connector.objects.filter(name="CMDB").exists()
    assert not SourceRecord.objects.filter(source_key__in=["only-cmdb", "both", "mdm-deleted", "old"]).exists()
    for asset in (orphan, shared, left_by_mdm, already_retired):
        asset.refresh_from_db()
    assert orphan.retired and orphan.retired_at is not None
    assert left_by_mdm.retired
    assert not shared.retired
    assert Asset.objects.count() == 4  # retired, never erased
    event = ConnectorEvent.objects.get(action=ConnectorAction.DELETED)
    assert (event.connector, event.connector_name, event.actor) == (None, "CMDB", connector_admin)
    # The rest of the audit trail survives the connector too.
    assert ConnectorEvent.objects.filter(connector_name="CMDB", action=ConnectorAction.CREATED).exists()


def test_delete_removes_its_rule_selection(connector):
    delete_connector(connector)
    assert not RuleSelection.objects.exists()


# --- rule selection -----------------------------------------------------------------------------------------------


def test_rule_selection_reorders_toggles_and_audits(connector, connector_admin):
    current = [item.rule_id for item in connector.rule_selection.all()]
    system, serial, hardware, *rest = current
    new_order = [hardware, serial, system, *rest]  # the system rule is put back first whatever is asked
    (hostname,) = rule_ids("Hostname")
    result = update_rule_selection(
        connector, actor=connector_admin, order=new_order, enabled={serial: False, hostname: True}
    )
    assert [item.rule_id for item in result] == [system, hardware, serial, *rest]
    stored = list(connector.rule_selection.all())
    assert [item.rule_id for item in stored] == [system, hardware, serial, *rest]
    assert {item.rule_id: item.enabled for item in stored}[serial] is False
    assert {item.rule_id: item.enabled for item in stored}[hostname] is True
    event = ConnectorEvent.objects.get(action=ConnectorAction.RULES_CHANGED)
    assert event.actor == connector_admin
    assert event.details["required"] == {"Serial number": False, "Hostname": True}
    assert event.details["order"][:3] == ["Source native key", "Hardware UUID", "Serial number"]


def test_rule_selection_sets_the_two_options(connector):
    update_rule_selection(connector, create_unmanaged=False, apply_default_rule=False)
    connector.refresh_from_db()
    assert not connector.create_unmanaged and not connector.apply_default_rule
    event = ConnectorEvent.objects.get(action=ConnectorAction.RULES_CHANGED)
    assert event.details == {"create_unmanaged": False, "apply_default_rule": False}


def test_rule_selection_without_change_writes_no_audit_row(connector):
    order = [item.rule_id for item in connector.rule_selection.all()]
    update_rule_selection(connector, order=order, create_unmanaged=True)
    assert not ConnectorEvent.objects.filter(action=ConnectorAction.RULES_CHANGED).exists()


def test_rule_selection_refuses_turning_off_the_system_rule(connector):
    (system,) = rule_ids("Source native key")
    with pytest.raises(RuleSelectionError, match="system rule"):
        update_rule_selection(connector, enabled={system: False})
    assert connector.rule_selection.get(rule_id=system).enabled


def test_rule_selection_keeps_at_least_one_rule_on(connector):
    others = {item.rule_id: False for item in connector.rule_selection.filter(rule__is_system=False)}
    with pytest.raises(RuleSelectionError, match="At least one"):
        update_rule_selection(connector, enabled=others)
    assert connector.rule_selection.filter(enabled=True, rule__is_system=False).count() == 6
    assert not ConnectorEvent.objects.filter(action=ConnectorAction.RULES_CHANGED).exists()


def test_rule_selection_refuses_an_incomplete_order_or_a_foreign_rule(connector):
    order = [item.rule_id for item in connector.rule_selection.all()]
    with pytest.raises(RuleSelectionError, match="each of the connector's rules once"):
        update_rule_selection(connector, order=order[:-1])
    with pytest.raises(RuleSelectionError, match="not part of"):
        update_rule_selection(connector, enabled={max(order) + 1000: True})


def test_deleting_a_connector_shows_what_the_remaining_sources_report(make_connector):
    from assets.engine.records import AssetRecord
    from assets.services import process_records

    trusted, other = make_connector("Trusted", trust_rank=90), make_connector("Other", trust_rank=10)
    process_records(trusted, [AssetRecord(source_key="t", serial_number="SN-1", os="FromTrusted")])
    process_records(other, [AssetRecord(source_key="o", serial_number="SN-1", os="FromOther")])
    assert Asset.objects.get().os == "FromTrusted"
    assert delete_connector(trusted) == 0  # the asset is still reported by the other source
    asset = Asset.objects.get()
    assert asset.os == "FromOther" and not asset.retired


def test_a_new_trust_rank_re_derives_the_connectors_assets(make_connector, django_capture_on_commit_callbacks):
    from assets.engine.records import AssetRecord
    from assets.services import process_records
    from connectors.tasks import reconcile_connector_assets_task

    cmdb, mdm = make_connector("CMDB", trust_rank=60), make_connector("MDM", trust_rank=40)
    process_records(cmdb, [AssetRecord(source_key="c", serial_number="SN-9", os="FromCMDB")])
    process_records(mdm, [AssetRecord(source_key="m", serial_number="SN-9", os="FromMDM")])
    assert Asset.objects.get().os == "FromCMDB"
    from django.tasks import default_task_backend

    with django_capture_on_commit_callbacks(execute=True):
        update_connector(mdm, trust_rank=90)
    enqueued = [result.task.name for result in default_task_backend.results]
    assert "reconcile_connector_assets_task" in enqueued
    # The test settings' task backend only records the task: run it as the worker would.
    assert reconcile_connector_assets_task.call(mdm.pk) == 1
    assert Asset.objects.get().os == "FromMDM"
