import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group

from connectors.services import do_create_connector
from connectors_site.roles import CONNECTOR_ADMINS, VIEWERS


@pytest.fixture(autouse=True)
def _fast_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


_defaults_migration = importlib.import_module("assets.migrations.0003_default_rules")


@pytest.fixture
def defaults(db):
    """The default rules and groups the data migration makes (transactional tests flush them, so re-make them)."""
    _defaults_migration.create_rules(apps, None)
    _defaults_migration.create_groups(apps, None)


@pytest.fixture
def connector_admin(django_user_model, defaults):
    user = django_user_model.objects.create_user("carol", password="pw-carol-123")
    user.groups.add(Group.objects.get(name=CONNECTOR_ADMINS))
    return user


@pytest.fixture
def viewer(django_user_model, defaults):
    user = django_user_model.objects.create_user("victor", password="pw-victor-123")
    user.groups.add(Group.objects.get(name=VIEWERS))
    return user


@pytest.fixture
def admin_ui(client, connector_admin):
    """A test client signed in as a Connector admin (not staff)."""
    client.force_login(connector_admin)
    return client


@pytest.fixture
def viewer_ui(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def make_connector(connector_admin):
    def make(name="CMDB", **kwargs):
        connector, credentials = do_create_connector(name=name, actor=connector_admin, **kwargs)
        connector.credentials = credentials
        return connector

    return make


@pytest.fixture
def connector(make_connector):
    """A CSAM connector with the default rule selection; ``connector.credentials`` holds token and secret."""
    return make_connector()
