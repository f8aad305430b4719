"""The two roles, as Django groups: Connector admins may change everything, Viewers only look."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

CONNECTOR_ADMINS = "Connector admins"
VIEWERS = "Viewers"


def is_connector_admin(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    cached = getattr(user, "_is_connector_admin", None)
    if cached is None:
        cached = user.groups.filter(name=CONNECTOR_ADMINS).exists()
        user._is_connector_admin = cached
    return cached


def admin_required(view):
    """Refuse (403) a write view to anyone who is not a connector admin."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_connector_admin(request.user):
            raise PermissionDenied("Only Connector admins can do this.")
        return view(request, *args, **kwargs)

    return wrapper
