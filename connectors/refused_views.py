"""A connector's refused intake attempts (:mod:`connectors.refused`): what its sender got wrong, newest first."""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from . import refused
from .choices import RefusalReason
from .models import Connector, RefusedAttempt

PAGE_SIZE = 50


def refused_list(request: HttpRequest, connector_uuid) -> HttpResponse:
    """The connector's refused attempts, newest first, optionally of one reason; the last day's counts above."""
    connector = get_object_or_404(Connector, uuid=connector_uuid)
    reason = request.GET.get("reason", "")
    if reason not in RefusalReason.values:
        reason = ""
    attempts = RefusedAttempt.objects.filter(connector=connector)
    if reason:
        attempts = attempts.filter(reason=reason)
    page = Paginator(attempts.order_by("-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "connector": connector,
        "page": page,
        "reason": reason,
        "reasons": RefusalReason.choices,
        "summary": refused.summary(connector, since=refused.last_day()),
        "sample_per_minute": refused.REFUSED_SAMPLE_PER_MINUTE,
        "keep": refused.REFUSED_KEEP_PER_CONNECTOR,
        "retention_days": refused.retention_days(settings.DELIVERY_RETENTION_DAYS),
    }
    return render(request, "connectors/refused_list.html", context)
