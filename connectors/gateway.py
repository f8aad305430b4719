"""Qualys API gateway compatibility: ``POST /auth`` hands a hub user a JWT that pushes on the CSAM sync path.

Scripts written for Qualys CSAM first call ``<gateway>/auth`` with a form (``username``, ``password``,
``token=true``) and read the token from the body (``201``, the JWT as plain text; Qualys documents 201 Created and
401 Unauthorized), then push with ``Authorization: Bearer <jwt>``. The same works here with the credentials of a
hub user allowed to push (Connector admins, staff, Senders).

The token is HS256-signed with a key derived from ``SECRET_KEY`` (so every host that shares the secret key
accepts it), lasts 4 hours like Qualys's, and names its user (``sub`` = user id, ``username``). It is checked
again on every use: a deactivated user, one who lost the role or changed password cannot push with it.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

import jwt
from django.contrib.auth import authenticate, get_user_model
from django.http import HttpResponse
from django.utils.crypto import salted_hmac
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.views import APIView

from connectors_site.common.api import problem
from connectors_site.common.roles import may_push

ALGORITHM = "HS256"
LIFETIME = timedelta(hours=4)
ISSUER = "connector-hub"
_KEY_PURPOSE = "connectors.gateway.jwt-signing-key"


def _signing_key() -> bytes:
    return salted_hmac(_KEY_PURPOSE, "HS256", algorithm="sha256").digest()


def _user_stamp(user) -> str:
    """Changes when the password changes, so a token dies with the old password (like Django's sessions)."""
    return user.get_session_auth_hash()[:16]


def issue_token(user, *, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "iss": ISSUER,
        "sub": str(user.pk),
        "username": user.get_username(),
        "iat": issued,
        "exp": issued + LIFETIME,
        "pwd": _user_stamp(user),
    }
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM)


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("eyJ")


def user_for_token(token: str):
    """The user a valid token names, if that user may still push; else None."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    user = get_user_model().objects.filter(pk=claims["sub"]).first() if claims["sub"].isdigit() else None
    if user is None or user.get_username() != claims.get("username"):
        return None
    if not hmac.compare_digest(str(claims.get("pwd", "")), _user_stamp(user)) or not may_push(user):
        return None
    return user


class GatewayAuthView(APIView):
    """``POST /auth``: exchange a hub user's name and password for a gateway token (Qualys gateway style)."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    parser_classes = [FormParser, MultiPartParser]

    @extend_schema(
        operation_id="gateway_auth",
        summary="Get a gateway token (Qualys /auth)",
        description=(
            "Form-encoded `username`, `password` and `token=true` (other fields are ignored), as sent to the "
            "Qualys API gateway. Answers 201 with the JWT as the `text/plain` body, valid for 4 hours; use it as "
            "`Authorization: Bearer <jwt>` on `/rest/2.0/am/connector/asset/data/sync`. Only users allowed to "
            "push (Connector admins, staff, Senders) get one; anything else is 401."
        ),
        tags=["intake"],
        auth=[],
        request={"application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={
            (201, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The JWT."),
            400: OpenApiResponse(description="`token=true` missing."),
            401: OpenApiResponse(description="Wrong user name or password, or a user not allowed to push."),
        },
    )
    def post(self, request):
        username = str(request.data.get("username", ""))
        password = str(request.data.get("password", ""))
        if str(request.data.get("token", "")).strip().lower() != "true":
            return problem(400, "Bad request", "Send token=true to get a token, as the Qualys gateway expects.")
        # authenticate() runs the password hasher for an unknown user too, and refuses inactive users.
        user = authenticate(request._request, username=username, password=password) if username else None
        if user is None or not may_push(user):
            response = problem(
                401, "Unauthorized", "Wrong user name or password, or this user may not push to connectors."
            )
            response["WWW-Authenticate"] = 'Bearer realm="gateway"'
            return response
        return HttpResponse(issue_token(user), status=201, content_type="text/plain")
