"""`manage.py serve [ADDR:PORT]`: the whole product in one command.

Applies migrations, makes sure an admin login exists, then runs the web server (gunicorn's asyncio workers, see
:mod:`connectors_site.serving`; static files by whitenoise) and the background worker side by side until Ctrl-C
(or SIGTERM) stops both.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from connectors_site.common.roles import CONNECTOR_ADMINS
from connectors_site.serving import gunicorn_command, prepare_metrics_dir


def ensure_admin(stdout) -> None:
    """Create the `admin` superuser on first start; print its random password once unless ADMIN_PASSWORD is set."""
    User = get_user_model()
    password = os.environ.get("ADMIN_PASSWORD")
    user = User.objects.filter(username="admin").first()
    if user is None:
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser("admin", "", password)
        user.groups.add(Group.objects.get(name=CONNECTOR_ADMINS))
        if generated:
            stdout.write(
                "\n  Created the admin login.\n"
                f"    username: admin\n    password: {password}\n"
                "  This password is shown only now; change it in the admin (or set ADMIN_PASSWORD).\n\n"
            )
        else:
            stdout.write("Created the admin login with the password from ADMIN_PASSWORD.\n")
    elif password and not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
        stdout.write("Set the admin password from ADMIN_PASSWORD.\n")


def prepare_database() -> str:
    """Apply the migrations and say what that did: created a new database, upgraded one, or nothing to do."""
    executor = MigrationExecutor(connection)
    fresh = not executor.recorder.has_table() or not executor.recorder.applied_migrations()
    pending = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    call_command("migrate", interactive=False, verbosity=0)
    where = f"{connection.display_name}: {connection.settings_dict['NAME']}"
    if fresh:
        return f"Created the database ({where})."
    if pending:
        return f"Upgraded the database ({where}): {pending} migration{'s' if pending != 1 else ''} applied."
    return f"Database is up to date ({where})."


class Command(BaseCommand):
    help = "Migrate, ensure an admin login, and run the web server and the background worker until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="ADDR:PORT (default 127.0.0.1:8000)")
        parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (default 2)")
        parser.add_argument("--workers", type=int, default=1, help="background worker processes (default 1)")

    def handle(self, *args, addrport: str, web_workers: int, workers: int, **options):
        if ":" not in addrport:
            addrport = f"127.0.0.1:{addrport}" if addrport.isdigit() else f"{addrport}:8000"
        self.stdout.write(prepare_database())
        call_command("collectstatic", interactive=False, verbosity=0)
        ensure_admin(self.stdout)
        python = sys.executable
        commands = [
            gunicorn_command(
                addrport, workers=web_workers, extra=["--access-logfile", "-", "--graceful-timeout", "10"]
            ),
            *([python, "manage.py", "run_worker"] for _ in range(workers)),
        ]
        # The web processes count intake requests for /metrics in files here (set before they import anything).
        metrics_dir, made_here = prepare_metrics_dir()
        environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        processes = [subprocess.Popen(command, env=environment) for command in commands]
        self.stdout.write(self.style.SUCCESS(f"Serving on http://{addrport}/ with {workers} worker(s). Ctrl-C stops."))

        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        try:
            while not stopping:
                for process in processes:
                    if process.poll() is not None:
                        exit_code = process.returncode or 1
                        self.stderr.write(f"{' '.join(process.args[1:4])} exited ({process.returncode}); stopping.")
                        stopping = True
                time.sleep(0.3)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for process in processes:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        if made_here:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if exit_code:
            raise CommandError("A process stopped unexpectedly.", returncode=exit_code)
