"""The roles, as Django groups: Connector admins may change everything, Viewers only look, Senders only push.

A Sender may push to connectors with a gateway token and read the deliveries it pushed, nothing else: a user who
is in Senders and neither a Connector admin nor a Viewer sees no other page and no other API resource.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied

CONNECTOR_ADMINS = "Connector admins"
VIEWERS = "Viewers"
SENDERS = "Senders"
ROLE_GROUPS = (CONNECTOR_ADMINS, VIEWERS, SENDERS)


def remember_roles(user, names) -> None:
    """Record the user's role groups when they were loaded with the user (saves a query per request)."""
    user._role_groups = frozenset(names)


def _group_names(user) -> frozenset[str]:
    cached = getattr(user, "_role_groups", None)
    if cached is None:
        remember_roles(user, user.groups.filter(name__in=ROLE_GROUPS).values_list("name", flat=True))
        cached = user._role_groups
    return cached


def is_connector_admin(user) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return CONNECTOR_ADMINS in _group_names(user)


def may_push(user) -> bool:
    """Connector admins (and staff) and Senders may push deliveries with a gateway token."""
    if not (user.is_authenticated and user.is_active):
        return False
    return is_connector_admin(user) or SENDERS in _group_names(user)


def is_sender_only(user) -> bool:
    """A Sender and nothing more: may push and read its own deliveries, and may not look at anything else."""
    if not user.is_authenticated or is_connector_admin(user):
        return False
    groups = _group_names(user)
    return SENDERS in groups and VIEWERS not in groups


def admin_required(view):
    """Refuse (403) a write view to anyone who is not a connector admin."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_connector_admin(request.user):
            raise PermissionDenied("Only Connector admins can do this.")
        return view(request, *args, **kwargs)

    return wrapper
