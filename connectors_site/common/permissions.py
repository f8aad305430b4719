from rest_framework.permissions import SAFE_METHODS, BasePermission

from .roles import is_connector_admin, is_sender_only


class ReadAnyWriteAdmin(BasePermission):
    """Any signed-in user but a Sender may read; writes need the Connector admins group or staff status."""

    message = "Only Connector admins can change this."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if is_sender_only(request.user):
            self.message = "Senders may push deliveries and read their own deliveries, nothing else."
            return False
        return request.method in SAFE_METHODS or is_connector_admin(request.user)
