"""The settings-driven side of value validation (:mod:`assets.engine.validate`): what the intake and the worker
hand ``connectors.formats.parse`` so both judge a delivery's values the same way; and a parsed batch's errors,
warnings and ignored entries as replies and delivery rows list them."""

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


def error_dicts(errors) -> list[dict]:
    """Per-record errors as the intake reply and the delivery row list them."""
    return [{"index": e.index, "field": e.field, "message": e.message, "source_key": e.source_key} for e in errors]


def ignored_dicts(batch) -> list[dict]:
    """Entries left out on purpose, with why (the intake reply's ``ignored``)."""
    return [{"index": i.index, "object": i.what, "reason": i.reason} for i in batch.ignored]
