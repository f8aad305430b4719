"""Health: is the database reachable, is a worker alive, is work piling up? No secrets in any of it."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.models import Max, Min
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

#: A queued delivery older than this means the workers are not keeping up (or none runs).
QUEUE_STALE_AFTER = timedelta(minutes=10)


def health_report() -> dict:
    from connectors.choices import DeliveryStatus
    from connectors.models import Delivery, WorkerHeartbeat

    now = timezone.now()
    report: dict = {"database": "ok", "workers": "unknown", "queue": "unknown"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:
        report["database"] = f"error: {type(exc).__name__}"
        report["ok"] = False
        return report
    beats = WorkerHeartbeat.objects.aggregate(newest=Max("last_beat"))
    # A worker silent for longer than HEARTBEAT_STALE_SECONDS is presumed gone (its deliveries are taken over).
    alive = WorkerHeartbeat.objects.filter(last_beat__gte=now - timedelta(seconds=settings.HEARTBEAT_STALE_SECONDS))
    alive = alive.count()
    report["workers_alive"] = alive
    report["last_worker_beat_seconds"] = round((now - beats["newest"]).total_seconds(), 1) if beats["newest"] else None
    report["workers"] = "ok" if alive else "none alive"
    oldest = Delivery.objects.filter(status=DeliveryStatus.QUEUED).aggregate(oldest=Min("received_at"))["oldest"]
    age = (now - oldest).total_seconds() if oldest else 0.0
    report["oldest_queued_delivery_seconds"] = round(age, 1)
    report["queue"] = "ok" if age <= QUEUE_STALE_AFTER.total_seconds() else "backlog"
    report["dead_deliveries"] = Delivery.objects.filter(status=DeliveryStatus.DEAD).count()
    report["ok"] = report["workers"] == "ok" and report["queue"] == "ok"
    return report


@never_cache
@login_not_required
def healthz(request):
    """For load balancers: 200 while the database answers (this web process can serve). `?strict=1` also
    requires a live worker and no queue backlog, for monitoring."""
    report = health_report()
    healthy = report["database"] == "ok" and (report["ok"] or request.GET.get("strict") != "1")
    return JsonResponse({**report, "status": "ok" if healthy else "unhealthy"}, status=200 if healthy else 503)
