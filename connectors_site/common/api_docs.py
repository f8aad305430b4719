"""Who may read the OpenAPI schema and the API docs: signed-in users and API tokens, or anyone with API_DOCS_PUBLIC."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from rest_framework.permissions import BasePermission


class ApiDocsAccess(BasePermission):
    def has_permission(self, request, view) -> bool:
        return settings.API_DOCS_PUBLIC or bool(request.user and request.user.is_authenticated)


def docs_view(view):
    """The docs page: a browser without a session goes to the sign-in page and comes back (the page itself loads
    the schema with the session); an API token works too, since DRF authenticates the view."""

    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code in (401, 403) and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return response

    return login_not_required(wrapped)
