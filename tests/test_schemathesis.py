"""Schemathesis over every operation of the OpenAPI schema, in-process against the WSGI app: 0 failures.

The management API runs twice with every check schemathesis has: with an admin's API token (every operation
reachable, writes included) and with no credentials (every operation must answer a documented problem+json 401 or
403). The intake operations (webhooks, the CSAM sync path, the gateway's /auth) run with no credentials and with an
admin's API token (not an intake credential) under two checks only: never a 5xx, and every error problem+json.
Their full schemas are the intake's to keep; the checks here are the promise the whole product makes.

Examples are few per operation (``MAX_EXAMPLES``, derandomized) so the run stays well within a minute per database.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from assets.models import Asset

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 10
INTAKE_PATHS = r"^/(webhooks/|rest/|auth$)"
HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _load(*, intake: bool):
    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    loaded = loaded.include(path_regex=INTAKE_PATHS) if intake else loaded.exclude(path_regex=INTAKE_PATHS)
    loaded.app = WSGIHandler()
    return loaded


#: A superuser's API token, made afresh in each operation's test (see ``_data``).
ADMIN_TOKEN = "f" * 64


management_as_admin = _load(intake=False)
management_anonymous = _load(intake=False)
intake = _load(intake=True)


@management_as_admin.auth(refresh_interval=None)
class AdminToken:
    def get(self, case, context):
        return ADMIN_TOKEN

    def set(self, case, data, context):
        case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


@pytest.fixture(autouse=True)
def _in_test_transaction():
    """Like Django's test client: the handler must not close the test's database connection after a request."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _data(connector):
    admin = get_user_model().objects.create_superuser("fuzz-admin", password="pw-fuzz-admin-1")
    # A known token, stored the way the token library stores every token (a key prefix and a digest).
    AuthToken(
        user=admin, expiry=None, token_key=ADMIN_TOKEN[: CONSTANTS.TOKEN_KEY_LENGTH], digest=hash_token(ADMIN_TOKEN)
    ).save(force_insert=True)
    Asset.objects.create(hostname="web-01", ip_addresses=["10.0.0.1"])


def problem_json_errors(ctx, response, case):
    """Every error reply is RFC 9457 problem details."""
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/problem+json"), f"{response.status_code} as {content_type}"
        assert response.json()["status"] == response.status_code


#: A connector's HMAC settings are checked together, and only when its scheme is `hmac` (on PATCH, the stored one):
#: a rule across fields and state that OpenAPI 3.0 cannot state. A schema-valid connector body may meet it, and
#: nothing else: its 400 names HMAC settings only.
#: Fields whose rules OpenAPI 3.0 cannot state: HMAC settings count only under the HMAC scheme, a mapping's
#: expressions must be valid JMESPath, and a purge period needs a stale period no longer than itself. A
#: schema-valid connector may be refused for these, and only these.
RULES_BEYOND_THE_SCHEMA = {
    "signature_scheme",
    "hmac_header",
    "hmac_algorithm",
    "hmac_encoding",
    "hmac_prefix",
    "mapping",
    "purge_after_days",
}


def only_unstatable_rules_refuse_valid_connectors(ctx, response, case):
    if case.meta is not None and case.meta.generation.mode.is_positive and response.status_code == 400:
        assert set(response.json().get("errors", {})) <= RULES_BEYOND_THE_SCHEMA, response.json()


def connector_write(case) -> bool:
    return case.method in ("POST", "PUT", "PATCH") and case.operation.path in (
        "/api/v1/connectors/",
        "/api/v1/connectors/{uuid}/",
    )


@management_as_admin.parametrize()
@HYPOTHESIS
def test_management_api_with_an_admin_token(case):
    if connector_write(case):
        case.call_and_validate(
            excluded_checks=[positive_data_acceptance],
            additional_checks=[problem_json_errors, only_unstatable_rules_refuse_valid_connectors],
        )
    else:
        case.call_and_validate(additional_checks=[problem_json_errors])


@management_anonymous.parametrize()
@HYPOTHESIS
def test_management_api_without_credentials(case):
    response = case.call_and_validate(additional_checks=[problem_json_errors])
    assert response.status_code in (401, 403, 404, 405)


@intake.parametrize()
@HYPOTHESIS
def test_intake_never_fails_and_always_explains(case):
    case.call_and_validate(checks=[not_a_server_error, problem_json_errors])
    case.call_and_validate(
        headers={"Authorization": f"Token {ADMIN_TOKEN}"}, checks=[not_a_server_error, problem_json_errors]
    )
