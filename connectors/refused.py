"""Refused intake attempts: requests answered 4xx before a delivery was stored, kept so a misconfigured sender
(wrong token, stale secret, disabled connector, oversized or malformed bodies, too fast) is visible.

What is kept: the time, the reason, the status code, the address (:func:`connectors_site.common.client_ip`), the
endpoint and, for a known connector, the problem detail the sender got. Never a body or a header. An attempt on
a URL that names no known connector is kept with its address and reason only.

Cheap and bounded, so a flood of bad requests costs little:

* **Sampled**: each process writes at most ``REFUSED_SAMPLE_PER_MINUTE`` rows a minute per (connector, reason)
  (unknown connectors share one allowance). Further attempts are counted in memory and folded into the next
  row written for that key (its ``count``), so the sums stay right while a row costs one INSERT.
* **Pruned**: the workers' hourly housekeeping deletes rows older than ``DELIVERY_RETENTION_DAYS`` (at most
  ``REFUSED_RETENTION_DAYS``) and keeps the newest ``REFUSED_KEEP_PER_CONNECTOR`` rows per connector.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Sum
from django.utils import timezone

from connectors_site.common.client_ip import client_ip

from .choices import RefusalReason
from .metrics import count_intake_request
from .models import Connector, RefusedAttempt

logger = logging.getLogger(__name__)

#: Rows one process writes per (connector, reason) per minute; the rest are folded into the next row's count.
REFUSED_SAMPLE_PER_MINUTE = 10
#: Rows kept per connector (and for unknown connectors together), newest first.
REFUSED_KEEP_PER_CONNECTOR = 1000
#: Refused attempts are kept at most this long, whatever the delivery retention.
REFUSED_RETENTION_DAYS = 30.0


@dataclass
class _Window:
    minute: int = -1
    written: int = 0
    #: Attempts not written since the last row for this key.
    pending: int = 0


class Sampler:
    """Per-process allowance of rows per key and minute; thread-safe (web processes run requests in threads)."""

    def __init__(self, per_minute: int = REFUSED_SAMPLE_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._windows: dict[tuple, _Window] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple, now: float | None = None) -> int:
        """How many attempts a row written now stands for (0: don't write, it is counted for later)."""
        minute = int((time.time() if now is None else now) // 60)
        with self._lock:
            window = self._windows.setdefault(key, _Window())
            if window.minute != minute:
                window.minute, window.written = minute, 0
            if window.written >= self.per_minute:
                window.pending += 1
                return 0
            window.written += 1
            count, window.pending = window.pending + 1, 0
            return count

    def give_back(self, key: tuple, count: int) -> None:
        """A row that could not be written: its attempts wait for the next one."""
        with self._lock:
            self._windows.setdefault(key, _Window()).pending += count


sampler = Sampler()


def record(request, connector: Connector | None, status_code: int, detail: str, *, endpoint: str) -> None:
    """Note one refused attempt (sampled; one INSERT when written). Never raises: the refusal goes out anyway."""
    reason = RefusalReason.for_status(status_code)
    key = (connector.pk if connector else None, reason)
    count = sampler.take(key)
    if not count:
        return
    try:
        RefusedAttempt.objects.create(
            connector=connector,
            at=timezone.now(),
            reason=reason,
            status_code=status_code,
            # For a URL that names no known connector, only the address and the reason.
            detail=detail[:300] if connector else "",
            address=client_ip(request),
            endpoint=endpoint[:10],
            count=count,
        )
    except DatabaseError:
        sampler.give_back(key, count)
        logger.warning("could not record a refused intake attempt", exc_info=True)


def last_day():
    """The start of the window the delivery log and the connector page count refused attempts over."""
    return timezone.now() - timedelta(days=1)


_WEBHOOK_PATH = re.compile(r"^/webhooks/([^/]+)/?$")
_CSAM_PATH = re.compile(r"^/rest/2\.0/am/connector/asset/data/sync/?$")


def _asgi_request(scope) -> SimpleNamespace:
    """What :func:`client_ip` reads of a request, from an ASGI scope."""
    headers = dict(scope.get("headers") or [])
    client = scope.get("client") or ("", 0)
    meta = {"REMOTE_ADDR": client[0] or ""}
    if forwarded := headers.get(b"x-forwarded-for"):
        meta["HTTP_X_FORWARDED_FOR"] = forwarded.decode("latin-1")
    return SimpleNamespace(META=meta)


def _record_from_scope(scope, status_code: int, detail: str) -> None:
    path = scope.get("path", "")
    if webhook := _WEBHOOK_PATH.match(path):
        endpoint = "webhook"
        try:
            connector = Connector.objects.filter(uuid=uuid.UUID(webhook.group(1))).first()
        except ValueError:
            connector = None
    elif _CSAM_PATH.match(path):
        endpoint, connector = "csam", None  # the connector is named in the body, which was not read
    else:
        return
    try:
        record(_asgi_request(scope), connector, status_code, detail, endpoint=endpoint)
    finally:
        connection.close()  # a thread of the executor, not a request thread: leave no connection behind


async def record_before_django(scope, status_code: int, detail: str) -> None:
    """Note an intake request the server refused before Django saw it (``408`` a body too slow, ``413`` over the
    size the server reads; see :class:`connectors_site.serving.BodyDeadline`). Such a request cost its sender a
    stalled connection or a body past the limit, so the connector lookup is cheap by comparison. The request is
    counted in ``hub_intake_requests_total`` too."""
    path = scope.get("path", "")
    if _WEBHOOK_PATH.match(path):
        count_intake_request("webhook", status_code)
    elif _CSAM_PATH.match(path):
        count_intake_request("csam", status_code)
    else:
        return
    try:
        await sync_to_async(_record_from_scope, thread_sensitive=False)(scope, status_code, detail)
    except Exception:
        logger.warning("could not note a refused intake attempt", exc_info=True)


def counts_by_connector(connector_ids, *, since=None) -> dict[int, int]:
    """Refused attempts per connector (summing sampled rows' counts), optionally since a time; one query."""
    rows = RefusedAttempt.objects.filter(connector_id__in=list(connector_ids))
    if since is not None:
        rows = rows.filter(at__gte=since)
    return dict(rows.order_by().values_list("connector_id").annotate(total=Sum("count")))


def summary(connector: Connector, *, since) -> list[tuple[str, str, int]]:
    """(reason, label, attempts) since a time for one connector, most frequent first; one query."""
    rows = (
        RefusedAttempt.objects.filter(connector=connector, at__gte=since)
        .order_by()
        .values_list("reason")
        .annotate(total=Sum("count"), rows=Count("pk"))
    )
    labels = dict(RefusalReason.choices)
    found = [(reason, labels.get(reason, reason), total) for reason, total, _ in rows]
    return sorted(found, key=lambda item: -item[2])


def retention_days(delivery_retention: float) -> float:
    """Days refused attempts are kept: as long as deliveries, but never more than ``REFUSED_RETENTION_DAYS``."""
    return REFUSED_RETENTION_DAYS if delivery_retention <= 0 else min(delivery_retention, REFUSED_RETENTION_DAYS)


def prune_refused_attempts(*, days: float | None = None, keep: int = REFUSED_KEEP_PER_CONNECTOR) -> int:
    """Delete refused attempts past their age and beyond the newest ``keep`` per connector; returns how many."""
    retention = retention_days(settings.DELIVERY_RETENTION_DAYS if days is None else days)
    deleted = RefusedAttempt.objects.filter(at__lt=timezone.now() - timedelta(days=retention)).delete()[0]
    over = (
        RefusedAttempt.objects.order_by().values_list("connector_id").annotate(rows=Count("pk")).filter(rows__gt=keep)
    )
    for connector_id, _ in list(over):
        of_connector = RefusedAttempt.objects.filter(connector_id=connector_id)  # None: IS NULL
        cutoff = of_connector.order_by("-id").values_list("id", flat=True)[keep - 1]
        deleted += of_connector.filter(id__lt=cutoff).delete()[0]
    return deleted
