"""Deployment settings: `check --deploy` is clean with the README's production environment; HSTS and the HTTPS
redirect work when turned on, and the health check stays reachable over plain HTTP."""

from __future__ import annotations

import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]


def readme_production_environment() -> dict[str, str]:
    """The variables the README's Deployment section exports, with real values where it writes `...`."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deployment", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    found = {}
    for line in block.splitlines():
        if not line.startswith("export "):
            continue
        for word in shlex.split(line, comments=True)[1:]:
            name, _, value = word.partition("=")
            found[name] = value
    generated = {"SECRET_KEY": secrets.token_urlsafe(50), "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    return {name: generated.get(name, value) if value == "..." else value for name, value in found.items()}


def test_the_readme_environment_sets_the_security_settings():
    env = readme_production_environment()
    for name in ("SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_COOKIES", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"):
        assert env.get(name), name


@pytest.mark.parametrize("production", [True, False], ids=["readme-production-env", "laptop-defaults"])
def test_check_deploy(tmp_path, production):
    # The test run's own variables are no deployment's (browser tests set DJANGO_ALLOW_ASYNC_UNSAFE).
    skip = {"DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {key: value for key, value in os.environ.items() if key not in skip}
    env["DATA_DIR"] = str(tmp_path)
    if production:
        env |= readme_production_environment()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    if production:
        assert result.returncode == 0, output
        assert "System check identified no issues" in output, output
    else:  # the laptop defaults are not for production, and check --deploy says so
        assert result.returncode != 0
        for code in ("security.W004", "security.W008", "security.W012", "security.W016"):
            assert code in output


@pytest.mark.django_db
def test_hsts_and_https_redirect_when_turned_on(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    plain = client.get("/accounts/login/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/accounts/login/"
    secure = client.get("/accounts/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert client.get("/healthz").status_code == 200  # load balancers probe over plain HTTP


@pytest.mark.django_db
def test_behind_the_proxy_the_forwarded_scheme_counts(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    assert client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="http").status_code == 301


def test_no_hsts_or_redirect_by_default(settings):
    from django.conf import settings as django_settings

    assert django_settings.SECURE_HSTS_SECONDS == 0 or os.environ.get("SECURE_HSTS_SECONDS")
    assert django_settings.SECURE_REDIRECT_EXEMPT == [r"^healthz$"]
