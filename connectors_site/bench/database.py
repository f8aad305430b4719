"""The benchmark's own database, and the helpers its raw SQL loading needs (sequences, ANALYZE).

:class:`BenchDatabase` never touches the configured database's data: on SQLite it migrates a fresh file in a
temporary folder, on PostgreSQL a fresh ``bench_<timestamp>_<random>`` database on the same server (created and
dropped through the ``postgres`` maintenance database). It points Django's default connection at it while the
benchmark runs and restores the connection settings, in place, afterwards (so a test run that calls the
benchmark goes on with its own test database).
"""

from __future__ import annotations

import copy
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import connection


class BenchDatabase:
    """Context manager: create, migrate and use a throw-away database; drop it on exit unless ``keep``."""

    def __init__(self, *, keep: bool = False, log=print):
        self.keep = keep
        self.log = log
        self.vendor = connection.vendor
        self.name = ""
        self._saved: dict | None = None
        self._tmpdir: Path | None = None

    # --- lifecycle ---

    def __enter__(self) -> BenchDatabase:
        if self.vendor not in ("sqlite", "postgresql"):
            raise CommandError(f"the benchmark supports SQLite and PostgreSQL, not {self.vendor}")
        if connection.in_atomic_block:
            raise CommandError("the benchmark switches databases: run it outside a transaction")
        self._saved = copy.deepcopy(connection.settings_dict)
        connection.close()
        if self.vendor == "sqlite":
            self._tmpdir = Path(tempfile.mkdtemp(prefix="connector-hub-bench-"))
            self.name = str(self._tmpdir / "bench.sqlite3")
        else:
            self.name = f"bench_{time.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(3)}"
            self._maintenance(f'CREATE DATABASE "{self.name}"')
        try:
            connection.settings_dict["NAME"] = self.name
            ContentType.objects.clear_cache()
            started = time.perf_counter()
            call_command("migrate", interactive=False, verbosity=0)
            self.migrate_seconds = time.perf_counter() - started
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        connection.close()
        if self._saved is not None:
            connection.settings_dict.clear()
            connection.settings_dict.update(self._saved)
            self._saved = None
        ContentType.objects.clear_cache()
        if self.keep:
            self.log(f"[cleanup] kept the benchmark database: {self.url}")
            return
        if self.vendor == "sqlite" and self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        elif self.vendor == "postgresql" and self.name:
            try:
                self._maintenance(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            except Exception as exc:  # never hide the benchmark's own error behind a cleanup failure
                self.log(f"[cleanup] could not drop {self.name}: {exc}")

    # --- helpers ---

    def _server_settings(self) -> dict:
        return self._saved if self._saved is not None else connection.settings_dict

    def _maintenance(self, sql: str) -> None:
        """Run CREATE/DROP DATABASE on the server, from the ``postgres`` database (or the configured one)."""
        import psycopg

        config = self._server_settings()
        params = {
            key: value
            for key, value in (
                ("host", config.get("HOST")),
                ("port", config.get("PORT")),
                ("user", config.get("USER")),
                ("password", config.get("PASSWORD")),
            )
            if value
        }
        last_error: Exception | None = None
        for dbname in ("postgres", config["NAME"]):
            try:
                with psycopg.connect(dbname=dbname, autocommit=True, **params) as maintenance:
                    maintenance.execute(sql)
                return
            except psycopg.OperationalError as exc:
                last_error = exc
        raise CommandError(f"cannot run {sql!r} on the PostgreSQL server: {last_error}")

    @property
    def url(self) -> str:
        """``DATABASE_URL`` of the benchmark database, for the web and worker subprocesses."""
        if self.vendor == "sqlite":
            return f"sqlite:///{self.name}"
        config = self._server_settings()
        auth = quote(config.get("USER") or "", safe="")
        if config.get("PASSWORD"):
            auth += ":" + quote(config["PASSWORD"], safe="")
        host = config.get("HOST") or "127.0.0.1"
        return f"postgres://{auth}@{host}:{config.get('PORT') or 5432}/{self.name}"

    @property
    def server_version(self) -> str:
        if self.vendor == "sqlite":
            import sqlite3

            return f"SQLite {sqlite3.sqlite_version}"
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0]}"


# --- fast loading ---------------------------------------------------------------------------------------------


def reset_sequences(*models) -> None:
    """After inserting explicit ids: move PostgreSQL's identity sequences past them (SQLite needs nothing)."""
    statements = connection.ops.sequence_reset_sql(no_style(), models)
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def analyze(*tables: str, vacuum: bool = False) -> None:
    """PostgreSQL: refresh planner statistics (and the visibility map) as autovacuum would after a bulk load.

    SQLite is left as the product leaves it (nothing runs ANALYZE there), so its numbers are what users get.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"{'VACUUM ' if vacuum else ''}ANALYZE {connection.ops.quote_name(table)}")
