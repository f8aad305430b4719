"""The settings-driven side of value validation (:mod:`assets.engine.validate`): what the intake and the worker
hand ``connectors.formats.parse`` so both judge a delivery's values the same way."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .formats import ValueChecks

#: Most warnings kept on a delivery row (all are counted in ``warnings_count``), as for per-record errors.
MAX_STORED_WARNINGS = 1000


def value_checks(received_at: datetime | None = None) -> ValueChecks:
    """Checks against ``received_at`` (the delivery's receipt time; now at intake) and the
    ``FUTURE_TIMESTAMP_TOLERANCE_HOURS`` setting."""
    return ValueChecks(
        received_at=received_at or timezone.now(),
        future_tolerance=timedelta(hours=settings.FUTURE_TIMESTAMP_TOLERANCE_HOURS),
    )


def warning_dicts(batch) -> list[dict]:
    """A parsed batch's value warnings as the intake reply and the delivery row list them."""
    return [warning.as_dict() for warning in batch.warnings]
