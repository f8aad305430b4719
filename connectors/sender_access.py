"""Keeps a Sender (a user who may only push) to the pages of the deliveries it pushed.

Every other page of the site is open to any signed-in user as a Viewer; one rule here, ahead of every view, is
what makes a Sender no viewer: its own delivery pages, signing out, and nothing else (403; another user's delivery
is a 404, as if it did not exist). The API and the intake are not pages: DRF's permissions decide there
(``connectors_site.common.permissions``, and the deliveries API lists only a Sender's own deliveries).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from connectors_site.common.roles import is_sender_only

from .models import Delivery

OWN_DELIVERY_VIEWS = {"connectors:delivery_detail", "connectors:delivery_body"}
OPEN_VIEWS = {"login", "logout"}


class SenderAccessMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not is_sender_only(user):
            return None
        if getattr(view_func, "login_required", True) is False:
            return None  # the intake, /auth and the API check their own credentials and permissions
        view_name = request.resolver_match.view_name if request.resolver_match else ""
        if view_name in OPEN_VIEWS:
            return None
        if view_name in OWN_DELIVERY_VIEWS:
            if not Delivery.objects.filter(uuid=view_kwargs.get("delivery_uuid"), sent_by=user).exists():
                raise Http404("No such delivery.")
            return None
        raise PermissionDenied("Senders may push deliveries and read their own deliveries, nothing else.")
