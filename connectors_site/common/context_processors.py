from .roles import is_connector_admin


def roles(request):
    return {"can_write": is_connector_admin(request.user) if hasattr(request, "user") else False}
