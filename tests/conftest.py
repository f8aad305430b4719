import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.cache import cache

from connectors.services import create_connector
from connectors_site.common.roles import CONNECTOR_ADMINS, VIEWERS


@pytest.fixture(autouse=True)
def _fast_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    cache.clear()  # failed API token counts live in the cache: each test starts with none


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
        connector, credentials = create_connector(name=name, actor=connector_admin, **kwargs)
        connector.credentials = credentials
        return connector

    return make


@pytest.fixture
def connector(make_connector):
    """A CSAM connector with the default rule selection; ``connector.credentials`` holds token and secret."""
    return make_connector()


def database_url_for_subprocess() -> str:
    """The URL of the test database, for real worker processes started by a test."""
    from django.db import connection

    config = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{config['NAME']}"
    auth = config["USER"] + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    return f"postgres://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{config['NAME']}"


@pytest.fixture
def start_worker(settings, tmp_path):
    """Start real `run_worker` processes against the test database; they are killed after the test."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
    processes = []
    root = Path(__file__).resolve().parent.parent

    def start(*extra_args, env=None):
        log = open(tmp_path / f"worker-{len(processes)}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--interval", "0.1", "--no-startup-delay", *extra_args],
            cwd=root,
            env={**os.environ, "DATABASE_URL": database_url_for_subprocess(), "PYTHONUNBUFFERED": "1", **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log_path = log.name
        processes.append((process, log))
        return process

    yield start
    for process, log in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        log.close()


def wait_for(predicate, *, timeout=60.0, interval=0.1, message="condition"):
    """Poll until ``predicate()`` is truthy (returning it) or fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {message}")
        time.sleep(interval)
