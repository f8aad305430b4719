"""The intake rate limit: a fixed one-minute window per connector, counted in the database.

Every web process on every host counts in the same row, with one atomic upsert per request
(``INSERT … ON CONFLICT … DO UPDATE SET count = count + 1 RETURNING count``, on SQLite ≥ 3.35 and PostgreSQL),
so the limit holds however many processes serve. The first request of a new window deletes that connector's
older windows, so the table keeps about one row per active connector.

Only authenticated requests are counted, and a reply before authentication carries the nominal figures (the
whole limit remaining): an unknown connector and a known one with a wrong credential answer alike.

The replies carry Qualys-style headers: ``X-RateLimit-Limit``, ``X-RateLimit-Window-Sec``,
``X-RateLimit-Remaining`` and ``X-RateLimit-ToWait-Sec`` (0 while calls remain; otherwise the seconds until the
window ends), and ``Retry-After`` with a 429. With the limit turned off (0) no header is sent.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from .models import IntakeRateWindow

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateState:
    limit: int
    used: int
    #: Seconds until the current window ends.
    resets_in: int

    @property
    def exceeded(self) -> bool:
        return bool(self.limit) and self.used > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def to_wait(self) -> int:
        return self.resets_in if self.limit and self.remaining == 0 else 0

    def headers(self) -> dict[str, str]:
        if not self.limit:
            return {}
        found = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Window-Sec": str(WINDOW_SECONDS),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-ToWait-Sec": str(self.to_wait),
        }
        if self.exceeded:
            found["Retry-After"] = str(self.resets_in)
        return found


def _window(now: float) -> tuple[int, int]:
    window = int(now // WINDOW_SECONDS)
    return window, max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))


def nominal() -> RateState:
    """What a reply tells a caller that has not proved who it is: the limit, nothing counted."""
    return RateState(settings.WEBHOOK_RATE_LIMIT_PER_MINUTE, 0, _window(time.time())[1])


def hit(connector_id: int) -> RateState:
    """Count one request for the connector in the current window and return where it stands."""
    limit = settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    window, resets_in = _window(time.time())
    if not limit:
        return RateState(0, 0, resets_in)
    # Only quoted identifiers are formatted into the statement; the values are parameters.
    table = connection.ops.quote_name(IntakeRateWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (connector_id, window_start, count) VALUES (%s, %s, 1) "
            f"ON CONFLICT (connector_id, window_start) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [connector_id, window],
        )
        used = cursor.fetchone()[0]
    if used == 1:
        IntakeRateWindow.objects.filter(connector_id=connector_id, window_start__lt=window).delete()
    return RateState(limit, used, resets_in)
