"""`manage.py run_worker`: django-tasks-db's `db_worker`, plus a heartbeat and the recovery sweep.

Start as many as you like, on any host that reaches the database. Each one beats into WorkerHeartbeat every
WORKER_HEARTBEAT_SECONDS from a thread of its own (so a long chunk in the task loop never delays a beat), under the
worker id its delivery claims carry: a worker silent for HEARTBEAT_STALE_SECONDS is presumed dead and its deliveries
are taken over. Every SWEEP_INTERVAL seconds it re-enqueues deliveries whose processing was lost (a worker killed
mid-delivery or mid-chunk, a task row that vanished), so the task queue is never the only record of pending work.
Hourly, it deletes deliveries past DELIVERY_RETENTION_DAYS, old and surplus refused intake attempts, finished
task rows older than a day and heartbeats of workers gone for a day, and empties the identity lock table
(PostgreSQL). Every LIFECYCLE_INTERVAL_SECONDS it applies the connectors' stale and purge rules
(assets.lifecycle) in bounded batches; a pass that leaves work comes back after the next sweep.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.tasks import task_backends
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.management.commands import db_worker

from assets.identity_locks import prune_identity_locks
from assets.impact_previews import fail_orphaned_previews
from assets.lifecycle import apply_lifecycle
from connectors.models import WorkerHeartbeat
from connectors.refused import prune_refused_attempts
from connectors.tasks import recover_chunks, recover_deliveries, recover_syncs
from connectors.worker import WORKER_ID, dead_workers, prune_deliveries

logger = logging.getLogger(__name__)

#: Sweeps are cheap (indexed): every 15 s, a dead worker's delivery is re-enqueued soon after its heartbeat goes stale.
SWEEP_INTERVAL = float(os.environ.get("SWEEP_INTERVAL", "15"))
#: Retention runs hourly, the first time a minute after start (not in the way of a worker's first deliveries).
PRUNE_DELAY, PRUNE_INTERVAL = 60, 3600


def _prune_task_results() -> None:
    """The task rows only trigger processing (the Delivery row is the record): keep a day of finished ones."""
    if isinstance(task_backends["default"], DatabaseBackend):
        call_command("prune_db_task_results", min_age_days=1, queue_name="*", verbosity=0)


def beat(started) -> None:
    """Say this worker is alive, under the id its delivery claims carry (connectors.worker.WORKER_ID)."""
    WorkerHeartbeat.objects.update_or_create(
        worker_id=WORKER_ID[:100],
        defaults={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": started,
            "last_beat": timezone.now(),
        },
    )


def _heartbeat(stop: threading.Event, started) -> None:
    """Beat until stopped; nothing else runs in this thread, so neither a long chunk nor a sweep delays a beat."""
    while not stop.wait(settings.WORKER_HEARTBEAT_SECONDS):
        try:
            close_old_connections()
            beat(started)
        except Exception:  # the database may be briefly away
            logger.exception("worker heartbeat failed; retrying")
        finally:
            connection.close()


def _prune_heartbeats() -> None:
    WorkerHeartbeat.objects.filter(last_beat__lt=timezone.now() - timedelta(days=1)).delete()


def _lifecycle(sweep_interval: float) -> float:
    """One lifecycle pass; returns the seconds until the next one (soon when this one left work)."""
    result = apply_lifecycle(timezone.now())
    if result.marked_stale or result.refreshed or result.purged:
        logger.info(
            "lifecycle: %d records stale, %d fresh again, %d purged, %d asset flags changed",
            result.marked_stale,
            result.refreshed,
            result.purged,
            result.assets_changed,
        )
    return sweep_interval if result.more else settings.LIFECYCLE_INTERVAL_SECONDS


def _housekeeping(stop: threading.Event, sweep_interval: float) -> None:
    next_sweep = 0.0
    next_prune = next_lifecycle = time.monotonic() + PRUNE_DELAY
    while not stop.is_set():
        try:
            close_old_connections()
            if time.monotonic() >= next_sweep:
                recover_deliveries()
                recover_chunks()
                recover_syncs()
                fail_orphaned_previews(dead_workers())
                next_sweep = time.monotonic() + sweep_interval
            if time.monotonic() >= next_prune:
                prune_deliveries()
                prune_refused_attempts()
                _prune_task_results()
                _prune_heartbeats()
                prune_identity_locks()
                next_prune = time.monotonic() + PRUNE_INTERVAL
            if time.monotonic() >= next_lifecycle:
                next_lifecycle = time.monotonic() + _lifecycle(sweep_interval)
        except Exception:  # the database may be briefly away; the worker itself reports real trouble
            logger.exception("worker housekeeping failed; retrying")
        finally:
            connection.close()
        soonest = min(next_sweep, next_prune, next_lifecycle) - time.monotonic()
        stop.wait(max(0.1, min(sweep_interval, soonest)))


class Command(db_worker.Command):
    help = "Run a background worker (db_worker) with a heartbeat and the recovery sweep for lost deliveries."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--sweep-interval",
            type=float,
            default=SWEEP_INTERVAL,
            help="Seconds between recovery sweeps (default %(default)s)",
        )
        parser.set_defaults(reload=False, worker_id=WORKER_ID[:64])

    def handle(self, *args, sweep_interval: float, **options):
        stop = threading.Event()
        started = timezone.now()
        beat(started)  # before the first claim: every claim this worker makes is backed by a heartbeat row
        connection.close()
        heartbeat = threading.Thread(target=_heartbeat, args=(stop, started), name="heartbeat", daemon=True)
        heartbeat.start()
        threading.Thread(target=_housekeeping, args=(stop, sweep_interval), name="housekeeping", daemon=True).start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
            heartbeat.join(timeout=5)  # a beat in flight must not bring the row back
            WorkerHeartbeat.objects.filter(worker_id=WORKER_ID[:100]).delete()
