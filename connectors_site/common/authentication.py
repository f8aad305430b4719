"""API token authentication: hashed tokens (django-rest-knox), roles loaded with the token, failures throttled.

Tokens are stored as SHA-512 digests and found by their first characters (knox's ``token_key``); the whole token
is compared in constant time against the digest. Every API request asks which roles its user has (a Sender may
read nothing but its own deliveries); reading them with the token keeps an API call at one query for its
credentials. An address that keeps presenting wrong tokens is answered 429 for a while
(:mod:`connectors_site.common.auth_throttle`), so tokens cannot be guessed at full speed.
"""

from __future__ import annotations

from hmac import compare_digest

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework import exceptions

from .auth_throttle import check_not_blocked, record_failure
from .roles import ROLE_GROUPS, remember_roles


class TokenWithRolesAuthentication(TokenAuthentication):
    def authenticate(self, request):
        self._request = request
        return super().authenticate(request)

    def authenticate_credentials(self, token):
        request = self._request
        check_not_blocked(request)
        try:
            try:
                text = token.decode("utf-8")
            except UnicodeDecodeError:
                raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
            return self._check(text)
        except exceptions.AuthenticationFailed:
            record_failure(request)
            raise

    def _check(self, token: str):
        memberships = {
            f"in_group_{index}": Exists(Group.objects.filter(name=name, user=OuterRef("user_id")))
            for index, name in enumerate(ROLE_GROUPS)
        }
        digest = hash_token(token)
        candidates = (
            get_token_model()
            .objects.select_related("user")
            .annotate(**memberships)
            .filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
        )
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                break
            if not auth_token.user.is_active:
                raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
            roles = [name for index, name in enumerate(ROLE_GROUPS) if getattr(auth_token, f"in_group_{index}")]
            remember_roles(auth_token.user, roles)
            return (auth_token.user, auth_token)
        raise exceptions.AuthenticationFailed(_("Invalid token."))


class TokenWithRolesScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token (the same header as before tokens were hashed)."""

    target_class = TokenWithRolesAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'Token-based authentication with required prefix "Token" (`manage.py create_api_token`)',
        }
