"""The page django-axes answers a locked-out sign-in with (the UI's and Django admin's): 429 and what to do."""

from __future__ import annotations

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.shortcuts import render


def lockout_response(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "cooloff_minutes": max(1, round(cool_off.total_seconds() / 60)) if cool_off else None,
    }
    return render(request, "registration/locked_out.html", context, status=429)
