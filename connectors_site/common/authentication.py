"""DRF token authentication that loads the user's roles in the same query as the token.

Every API request asks which roles its user has (a Sender may read nothing but its own deliveries); reading
them with the token keeps an API call at the queries it had before Senders existed.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from .roles import ROLE_GROUPS, remember_roles


class TokenWithRolesAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        model = self.get_model()
        memberships = {
            f"in_group_{index}": Exists(Group.objects.filter(name=name, user=OuterRef("user_id")))
            for index, name in enumerate(ROLE_GROUPS)
        }
        try:
            token = model.objects.select_related("user").annotate(**memberships).get(key=key)
        except model.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        remember_roles(
            token.user, [name for index, name in enumerate(ROLE_GROUPS) if getattr(token, f"in_group_{index}")]
        )
        return (token.user, token)
