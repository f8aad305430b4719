"""Secrets at rest: signing secrets encrypted with rotatable keys, API tokens hashed, one-time credentials brief."""

from __future__ import annotations

import importlib
import io
import re
import time
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from knox.models import AuthToken
from rest_framework.test import APIClient

from connectors.models import Connector
from connectors.services import rotate_secret, verification_secrets
from connectors.views import ONE_TIME_SECRETS_KEY
from connectors_site.common.encryption import UndecryptableSecret

from .helpers import asset, post_signed

pytestmark = pytest.mark.django_db

encryption_migration = importlib.import_module("connectors.migrations.0006_encrypt_signing_secrets_at_rest")
#: What the migrations' functions use of their schema editor (a real one cannot open inside a test's transaction).
EDITOR = SimpleNamespace(connection=connection)
token_migration = importlib.import_module("connectors_site.migrations.0001_hash_drf_api_tokens")


def stored(connector, column="signing_secret") -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM connectors_connector WHERE id = %s", [connector.pk])
        return cursor.fetchone()[0]


# --- signing secrets -----------------------------------------------------------------------------------------


def test_signing_secrets_are_stored_encrypted_and_read_in_clear(connector):
    secret = connector.credentials.signing_secret
    assert secret.startswith("whsec_")
    raw = stored(connector)
    assert secret not in raw and raw.startswith("gAAAAA")
    assert Connector.objects.get(pk=connector.pk).signing_secret == secret

    rotate_secret(connector)
    fresh = Connector.objects.get(pk=connector.pk)
    assert fresh.previous_signing_secret == secret
    assert secret not in stored(connector, "previous_signing_secret")
    assert verification_secrets(fresh) == [fresh.signing_secret, secret]


def test_a_delivery_signed_with_the_current_or_previous_secret_verifies(client, connector):
    old = connector.credentials.signing_secret
    assert post_signed(client, connector, {"assets": [asset(1)]}).status_code == 202
    new = rotate_secret(connector).signing_secret
    assert post_signed(client, connector, {"assets": [asset(2)]}, secret=new).status_code == 202
    assert post_signed(client, connector, {"assets": [asset(3)]}, secret=old).status_code == 202


def test_keys_rotate_newest_encrypts_all_decrypt(connector, settings):
    secret = connector.credentials.signing_secret
    old_keys = list(settings.FIELD_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *old_keys]
    assert Connector.objects.get(pk=connector.pk).signing_secret == secret  # an old key still decrypts

    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "1 connector" in out.getvalue()
    assert Fernet(new_key.encode()).decrypt(stored(connector).encode()).decode() == secret

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key may go now
    assert Connector.objects.get(pk=connector.pk).signing_secret == secret


def test_a_lost_key_fails_loudly_not_with_garbage(connector, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(UndecryptableSecret):
        Connector.objects.get(pk=connector.pk)


def test_generate_prints_a_usable_key():
    out = io.StringIO()
    call_command("rotate_encryption_key", "--generate", stdout=out)
    Fernet(out.getvalue().strip().encode())


def test_the_migration_encrypts_plain_rows_and_its_reverse_decrypts_them(connector):
    secret = connector.credentials.signing_secret
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE connectors_connector SET signing_secret = %s, previous_signing_secret = %s WHERE id = %s",
            [secret, "whsec_previous", connector.pk],
        )
    encryption_migration.encrypt_rows(apps, EDITOR)
    assert stored(connector).startswith("gAAAAA")
    fresh = Connector.objects.get(pk=connector.pk)
    assert (fresh.signing_secret, fresh.previous_signing_secret) == (secret, "whsec_previous")

    encryption_migration.encrypt_rows(apps, EDITOR)  # a rerun leaves encrypted rows alone
    assert Connector.objects.get(pk=connector.pk).signing_secret == secret

    encryption_migration.decrypt_rows(apps, EDITOR)
    assert stored(connector) == secret
    assert stored(connector, "previous_signing_secret") == "whsec_previous"


# --- API tokens ----------------------------------------------------------------------------------------------


def test_create_api_token_prints_a_token_that_is_stored_only_as_a_digest(connector_admin):
    out = io.StringIO()
    call_command("create_api_token", "carol", stdout=out)
    token = out.getvalue().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    row = AuthToken.objects.get(user=connector_admin)
    assert token not in (row.digest, row.token_key) and len(row.token_key) == 15
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/connectors/").status_code == 200


def test_expired_and_revoked_tokens_stop_working(connector_admin):
    out = io.StringIO()
    call_command("create_api_token", "carol", "--days", "1", stdout=out)
    token = out.getvalue().strip()
    AuthToken.objects.update(expiry="2000-01-01T00:00:00Z")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/connectors/").status_code == 401
    assert not AuthToken.objects.exists()  # the expired token is gone

    call_command("create_api_token", "carol", stdout=io.StringIO())
    call_command("create_api_token", "carol", "--revoke-all", stdout=io.StringIO(), stderr=io.StringIO())
    assert AuthToken.objects.count() == 1


def test_plain_drf_tokens_are_converted_and_keep_working(connector_admin):
    key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # a DRF token: 40 hex characters
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp NOT NULL, user_id integer)"
        )
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
                [key, "2024-05-01 10:00:00", connector_admin.pk],
            )
        token_migration.convert(apps, EDITOR)
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM authtoken_token")
            assert cursor.fetchone()[0] == 0  # no plain key left behind
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE authtoken_token")
    row = AuthToken.objects.get()
    assert row.user == connector_admin and row.created.year == 2024 and key not in row.digest
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/connectors/").status_code == 200


# --- one-time credentials ------------------------------------------------------------------------------------


def create(admin_ui):
    payload = {"name": "CMDB", "modules": ["csam"], "payload_format": "native", "trust_rank": "50"}
    response = admin_ui.post("/connectors/new/", payload)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Connector.objects.get(name="CMDB"), response["Location"]


def test_fresh_credentials_wait_in_the_session_only_encrypted(admin_ui):
    connector, _ = create(admin_ui)
    waiting = admin_ui.session[ONE_TIME_SECRETS_KEY + str(connector.uuid)]
    assert isinstance(waiting, str)
    assert connector.signing_secret not in waiting and "chk_" not in waiting and "whsec_" not in waiting


def test_fresh_credentials_expire_after_a_few_minutes(admin_ui, settings, monkeypatch):
    connector, location = create(admin_ui)
    later = time.time() + settings.ONE_TIME_SECRETS_TTL_SECONDS + 5
    monkeypatch.setattr("cryptography.fernet.time.time", lambda: later)
    page = admin_ui.get(location).content.decode()
    assert connector.signing_secret not in page
    assert "waited more than 5 minutes" in page
    assert "rotate the token" in page and "rotate the signing secret" in page
    assert ONE_TIME_SECRETS_KEY + str(connector.uuid) not in admin_ui.session


def test_fresh_credentials_show_within_the_time(admin_ui):
    connector, location = create(admin_ui)
    page = admin_ui.get(location).content.decode()
    assert connector.signing_secret in page
