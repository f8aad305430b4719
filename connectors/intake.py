"""Webhook intake: authenticate, check, store, acknowledge. Nothing is identified here; the worker does that.

Order of checks (each answers problem+json, never a redirect, never a 5xx for what a client sent):
body over the limit → 413 (from Content-Length before reading, else while reading a chunked body; the same for
every connector, known or not) · unknown connector → 401 · credentials → 401 (on the CSAM path a bearer token or
gateway JWT is checked before the body is parsed) · (the request is counted against the rate limit from here on)
· ``Content-Encoding: gzip`` decompressed, 413 above the limit · disabled → 403 · rate limit → 429 · not JSON →
415 · malformed JSON or no valid record → 400 (the body is still stored as a *rejected* delivery when the sender
was authenticated, so the admin sees it; a body whose entries are all *ignored* — a NetBox site event — is
accepted) · a repeated idempotency key → 200 with the first delivery · otherwise
the delivery is stored and queued → 202 on ``/webhooks/``, 200 on the CSAM sync path (its clients accept only
200 and 207). Every reply carries the rate-limit headers of :mod:`connectors.ratelimit`.

``?dry_run=1`` (its value checked first: 400 unless 1/true/0/false) runs every check above with the same answers,
then identifies the records instead of storing anything, not even a rejected body (:mod:`connectors.dry_run`).

Credentials: the connector's bearer token, a signature under the connector's scheme (:mod:`connectors.signatures`)
or, on the CSAM sync path only, a gateway JWT of a user allowed to push (:mod:`connectors.gateway`).
"""

from __future__ import annotations

import time
import uuid

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors_site.common.api import JsonReplies
from connectors_site.common.db import get_unique

from . import dry_run, gateway, ratelimit, refused, signatures
from .bodies import IntakeRejected, decoded, read_body
from .choices import PayloadFormat
from .formats import PayloadError, csam_connector_uuid, decode_json, parse
from .formats.sync import read_sync
from .inbox import Received, store_delivery
from .intake_schema import (
    ACCEPTED_EXAMPLE,
    DRY_RUN_PARAMETER,
    ERROR_RESPONSES,
    WEBHOOK_OK,
    CsamReceiptSerializer,
    ok_response,
)
from .metrics import count_intake_request
from .models import Connector, Delivery
from .services import TOKEN_PREFIX, hash_token, token_matches, verification_secrets
from .syncs import sync_summary
from .value_checks import error_dicts, ignored_dicts, value_checks, warning_dicts


def _headers(request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


def _unauthorized(detail: str) -> IntakeRejected:
    rejected = IntakeRejected(401, "Unauthorized", detail)
    rejected.response["WWW-Authenticate"] = 'Bearer realm="webhooks"'
    return rejected


class Authenticated:
    """Who pushed: ``method`` is "signature", "token" or "gateway"; ``user`` is set for a gateway token."""

    def __init__(self, method: str, user=None) -> None:
        self.method = method
        self.user = user


def authenticate(
    connector: Connector | None, headers: dict[str, str], body: bytes, *, gateway_tokens: bool = False
) -> Authenticated:
    """Return how the sender proved itself, or raise a 401.

    An unknown connector gets the same answer as a wrong credential, so connector ids cannot be probed. Token
    hashes and signatures are compared in constant time. ``gateway_tokens`` also accepts the JWT of a user
    allowed to push (the CSAM sync path).
    """
    authorization = headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    credential = credential.strip()
    if connector is None:
        raise _unauthorized("Missing or invalid credentials for this endpoint.")
    if signatures.is_signed(connector, headers):
        try:
            signatures.verify(connector, headers, body, verification_secrets(connector))
        except signatures.BodyNotText as exc:
            raise IntakeRejected(400, "Bad request", str(exc)) from None
        except signatures.SignatureRejected as exc:
            raise _unauthorized(f"Signature rejected: {exc}.") from None
        return Authenticated("signature")
    if connector.require_signature:
        raise _unauthorized(f"This connector requires {signatures.expected_headers(connector)}.")
    if scheme.lower() == "bearer" and credential:
        if credential.startswith(TOKEN_PREFIX):
            if token_matches(connector, credential):
                return Authenticated("token")
        elif gateway_tokens and gateway.looks_like_jwt(credential):
            user = gateway.user_for_token(credential)
            if user is not None:
                return Authenticated("gateway", user)
            raise _unauthorized(
                "The gateway token is invalid or expired, or its user may no longer push: get a new one from /auth."
            )
    if not authorization:
        raise _unauthorized(
            f"Send 'Authorization: Bearer <connector token>' or {signatures.expected_headers(connector)}."
        )
    raise _unauthorized("Missing or invalid credentials for this endpoint.")


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _idempotency_key(headers: dict[str, str], batch) -> str:
    """The sender's key, whole (the inbox stores one over 255 characters as its hash): ``webhook-id``, ``svix-id``,
    ``Idempotency-Key`` or the CSAM ``requestId``."""
    return (
        headers.get("webhook-id")
        or headers.get("svix-id")
        or headers.get("idempotency-key")
        or (batch.request_id if batch else "")
        or ""
    )


def _nothing_usable(batch, sync=None) -> str:
    """Why a parsed batch is refused as a whole ("" when it is not): no record, no deletion, nothing ignored on
    purpose (a NetBox site event is accepted and processed with no record). A full sync's part may be empty (a
    final part that only closes the sync), but not all invalid."""
    if batch.records or batch.deleted or batch.ignored or (sync is not None and not batch.errors):
        return ""
    return "No valid record in the delivery." if batch.errors else "The delivery holds no asset and no deletion."


def _status_url(request, delivery: Delivery) -> str:
    return request.build_absolute_uri(reverse("connectors-api:delivery-detail", args=[delivery.uuid]))


class _IntakeView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []
    throttle_classes: list = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JsonReplies
    #: Format used to parse bodies on this endpoint; None means the connector's own.
    payload_format: str | None = None
    #: Status of a newly stored delivery.
    created_status = status.HTTP_202_ACCEPTED
    #: Whether a gateway JWT (from POST /auth) authenticates here.
    gateway_tokens = False
    #: ``?dry_run=1``: every check, then identification with nothing written (:mod:`connectors.dry_run`).
    dry_run = False
    #: The endpoint label in metrics and refused attempts.
    endpoint = ""

    def post(self, request, *args, **kwargs):
        """Receive; a refusal that stored no delivery is noted as a refused attempt (connectors.refused)."""
        self.started = time.monotonic()
        self.connector: Connector | None = None
        self.stored = False
        try:
            self.dry_run = dry_run.requested(request.query_params)
            return self.receive(request, *args, **kwargs)
        except IntakeRejected as rejected:
            if not self.stored:
                connector = self.connector
                if connector is None and rejected.response.status_code == 413 and "connector_uuid" in kwargs:
                    # Refused before the lookup (the same answer for every connector), but noted against it.
                    connector = Connector.objects.filter(uuid=kwargs["connector_uuid"]).first()
                refused.record(request, connector, rejected.response.status_code, str(rejected), endpoint=self.endpoint)
            return rejected.response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in (getattr(self, "rate", None) or ratelimit.nominal()).headers().items():
            response[name] = value
        count_intake_request(self.endpoint, response.status_code)
        return response

    def authenticate(self, connector: Connector | None, headers: dict[str, str], body: bytes) -> str:
        """Authenticate, then count the request against the connector's rate limit; returns the method."""
        self.connector = connector
        found = authenticate(connector, headers, body, gateway_tokens=self.gateway_tokens)
        self.sender = found.user
        self.rate = ratelimit.hit(connector.pk)
        return found.method

    def store(self, connector: Connector, body: bytes, *, reply_status: int, **kwargs) -> Received | None:
        """Store the delivery with the reply it gets and the time taken so far; one pushed with a gateway token
        remembers its user (Senders read their own). A dry run stores nothing, not even a rejected body (None)."""
        if self.dry_run:
            return None
        sender = getattr(self, "sender", None)
        self.stored = True
        reply_ms = round((time.monotonic() - self.started) * 1000)
        return store_delivery(connector, body, reply_status=reply_status, reply_ms=reply_ms, sent_by=sender, **kwargs)

    def accept(self, request, connector: Connector, body: bytes, headers: dict, auth: str, data, batch) -> Response:
        if not connector.enabled:
            raise IntakeRejected(
                403, "Connector disabled", "This connector is disabled; enable it to accept deliveries."
            )
        if self.rate.exceeded:
            raise IntakeRejected(
                429,
                "Too many requests",
                f"This connector may send {self.rate.limit} deliveries a minute; retry in {self.rate.resets_in} s.",
            )
        fmt = self.payload_format or connector.payload_format
        rejected_reason, errors, sync = "", [], None
        if data is None:
            content_type = headers.get("content-type", "")
            if not _is_json(content_type):
                detail = f"Send the body as application/json (got {content_type or 'no Content-Type'})."
                self.store(
                    connector,
                    body,
                    content_type=content_type,
                    headers=headers,
                    authenticated_by=auth,
                    payload_format=fmt,
                    rejected_reason=detail,
                    reply_status=415,
                )
                raise IntakeRejected(415, "Unsupported media type", detail)
            try:
                data = decode_json(body)
                batch = parse(fmt, data, mapping=connector.mapping, checks=value_checks())
                sync = read_sync(data, fmt)
            except PayloadError as exc:
                rejected_reason, batch = str(exc), None
        if batch is not None:
            errors = error_dicts(batch.errors)
            rejected_reason = _nothing_usable(batch, sync)
        if self.dry_run:
            if rejected_reason:
                raise IntakeRejected(400, "Bad request", rejected_reason, errors=errors)
            return self.rehearse(connector, headers, batch)
        received: Received = self.store(
            connector,
            body,
            content_type=headers.get("content-type", ""),
            headers=headers,
            idempotency_key=_idempotency_key(headers, batch),
            authenticated_by=auth,
            payload_format=fmt,
            rejected_reason=rejected_reason,
            errors=errors,
            records_received=len(batch.records) + len(batch.errors) + len(batch.deleted) if batch else 0,
            reply_status=400 if rejected_reason else self.created_status,
            sync=sync,
        )
        if rejected_reason and received.created:
            raise IntakeRejected(
                400, "Bad request", rejected_reason, errors=errors, delivery_id=str(received.delivery.uuid)
            )
        return self.reply(request, received, batch)

    def rehearse(self, connector: Connector, headers: dict, batch) -> Response:
        """The dry-run reply: what pushing this batch would do, nothing written (:mod:`connectors.dry_run`)."""
        report = dry_run.rehearse(connector, batch, idempotency_key=_idempotency_key(headers, batch))
        body = {
            "dry_run": True,
            "records": len(batch.records) + len(batch.errors),
            "accepted": len(batch.records),
            **report,
            "errors": error_dicts(batch.errors),
            "warnings": warning_dicts(batch),
        }
        if batch.ignored:
            body["ignored"] = ignored_dicts(batch)
        return Response(body, status=status.HTTP_200_OK)

    def reply(self, request, received: Received, batch) -> Response:
        delivery = received.delivery
        body = {
            "delivery_id": str(delivery.uuid),
            "status": delivery.status,
            "status_url": _status_url(request, delivery),
            "duplicate": not received.created,
        }
        if received.created and batch is not None:
            body |= {
                "records": len(batch.records) + len(batch.errors),
                "accepted": len(batch.records),
                "deleted": len(batch.deleted),
                "errors": error_dicts(batch.errors),
                # Values dropped from accepted records as invalid for their field (the records still count).
                "warnings": warning_dicts(batch),
            }
            if batch.ignored:
                body["ignored"] = ignored_dicts(batch)
        if delivery.sync_id:
            body["sync"] = sync_summary(delivery.sync, request, final=delivery.sync_final)
        return Response(body, status=self.created_status if received.created else status.HTTP_200_OK)


class WebhookView(_IntakeView):
    """`POST /webhooks/<connector-uuid>` (or `PUT`, as NetBox may send): a delivery in the connector's payload
    format."""

    endpoint = "webhook"

    @extend_schema(
        operation_id="webhook_deliver",
        summary="Push assets to a connector",
        description=(
            'Send a batch in the connector\'s payload format (native: `{"assets": [...], "deleted": [...]}` or '
            "one asset object). Authenticate with `Authorization: Bearer <connector token>` or a signature under "
            "the connector's scheme: Standard Webhooks headers (`webhook-*` or `svix-*`) or an HMAC header such "
            "as GitHub's `X-Hub-Signature-256` or NetBox's `X-Hook-Signature`, made with the connector's secret. "
            "The body is stored and acknowledged at once (202) and processed in the background; invalid records "
            "are reported by index in `errors` and the valid ones are processed. A value invalid for its field (an "
            "IP that does not parse, a MAC of the wrong length, a host name with characters no DNS name has, a "
            "timestamp more than a day (by default) after receipt) is dropped from its record and reported in "
            "`warnings` (`index`, `source_key`, `field`, `value`, `message`); the record itself is still processed. "
            "Repeating a `webhook-id` or `Idempotency-Key` returns the first delivery (200) with no second effect. "
            "With `?dry_run=1` the records are identified and the decisions returned (200) with nothing written. "
            'A native or mapped body may carry `"sync": {"id": "<text>", "final": true|false}` at its top level: it '
            "is a part of a full sync, and once the final part and every earlier one are processed, the connector's "
            "records no part reported are deleted (held for an admin's confirmation above the connector's "
            "`sync_delete_limit`; see `/api/v1/syncs/`). The reply then names the sync in `sync`."
        ),
        tags=["intake"],
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("webhook-id", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("webhook-timestamp", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("webhook-signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            DRY_RUN_PARAMETER,
        ],
        responses={
            202: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Stored and queued.",
                examples=[OpenApiExample("Accepted", value=ACCEPTED_EXAMPLE)],
            ),
            200: WEBHOOK_OK,
            **ERROR_RESPONSES,
        },
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhook_deliver_put",
        summary="Push assets to a connector (PUT)",
        description="The same as POST, for senders that let the admin choose the method (NetBox webhooks).",
        tags=["intake"],
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[DRY_RUN_PARAMETER],
        responses={
            202: OpenApiResponse(OpenApiTypes.OBJECT, description="Stored and queued."),
            200: WEBHOOK_OK,
            **ERROR_RESPONSES,
        },
    )
    def put(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def receive(self, request, connector_uuid: uuid.UUID):
        raw = read_body(request)
        connector = get_unique(Connector, "uuid", connector_uuid)
        if connector is None:
            raise _unauthorized("Missing or invalid credentials for this endpoint.")
        headers = _headers(request)
        auth = self.authenticate(connector, headers, raw)  # signatures cover the bytes as sent
        body = decoded(headers, raw)
        return self.accept(request, connector, body, headers, auth, None, None)


class CsamSyncView(_IntakeView):
    """The Qualys CSAM connector push API, so scripts written for it work unchanged."""

    payload_format = PayloadFormat.CSAM
    created_status = status.HTTP_200_OK
    gateway_tokens = True
    endpoint = "csam"

    @extend_schema(
        operation_id="csam_asset_data_sync",
        summary="Push assets in the Qualys CSAM connector format",
        description=(
            "Compatible with CSAM's `POST /rest/2.0/am/connector/asset/data/sync`: the connector comes from "
            "`connectorMetaData.connectorUuid`, `connectorMetaData.requestId` is the idempotency key. "
            "Authenticate with the connector's credentials, as on `/webhooks/<uuid>`, or with "
            "`Authorization: Bearer <jwt>` from `POST /auth` (a user allowed to push). Answers 200 (CSAM's "
            "clients accept only 200 and 207), also for a repeated `requestId`; the errors are those of "
            "`/webhooks/<uuid>`. The reply is shaped like CSAM's (`message`, `responseCode: "
            "SUCCESSFULLY_PUBLISHED`, `assetsError` keyed by record index) plus our `delivery_id`, `status_url` and "
            "`warnings` (values dropped from accepted records, as on `/webhooks/<uuid>`). With `?dry_run=1` the "
            "records are identified and the decisions returned with nothing written; the reply is then the dry-run "
            "report of `/webhooks/<uuid>`, not CSAM's shape."
        ),
        tags=["intake"],
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[DRY_RUN_PARAMETER],
        responses={
            200: ok_response(
                CsamReceiptSerializer, "CsamSyncReply", "Published (stored and queued), or a repeated `requestId`."
            ),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def receive(self, request):
        raw = read_body(request)
        headers = _headers(request)
        named = _bearer_connector(headers)  # a credential that names its connector is checked before parsing
        body = decoded(headers, raw)
        try:
            data = decode_json(body)
        except PayloadError as exc:
            raise IntakeRejected(400, "Bad request", str(exc)) from None
        connector = _connector_from_body(data)
        if named is not None and (connector is None or connector.pk != named.pk):
            raise _unauthorized("Missing or invalid credentials for this endpoint.")
        auth = self.authenticate(connector, headers, raw)
        if not _is_json(headers.get("content-type", "")):
            return self.accept(request, connector, body, headers, auth, None, None)
        try:
            batch = parse(PayloadFormat.CSAM, data, checks=value_checks())
        except PayloadError as exc:
            self.store(
                connector,
                body,
                content_type=headers.get("content-type", ""),
                headers=headers,
                authenticated_by=auth,
                payload_format=PayloadFormat.CSAM,
                rejected_reason=str(exc),
                reply_status=400,
            )
            raise IntakeRejected(400, "Bad request", str(exc)) from None
        return self.accept(request, connector, body, headers, auth, data, batch)

    def reply(self, request, received: Received, batch) -> Response:
        response = super().reply(request, received, batch)
        errors: dict[str, list[str]] = {}
        for error in response.data.get("errors", []):
            errors.setdefault(str(error["index"]), []).append(f"{error['field']}: {error['message']}")
        response.data = {
            "message": "Assets published successfully" if received.created else "Request already received",
            "responseCode": "SUCCESSFULLY_PUBLISHED",
            "assetsError": errors,
            **response.data,
        }
        return response


def _bearer_connector(headers: dict[str, str]) -> Connector | None:
    """Check a bearer credential before the body is parsed: a connector token names its connector, a gateway JWT
    its user. Returns the token's connector (the body must name the same one), None when the credential is a
    valid JWT or none of these (a signature needs the connector the body names); a wrong one is a 401 at once.

    A token is found by its SHA-256 hash, as stored: tokens are random, so where a lookup stops says nothing of
    any token, and the hashes are then compared in constant time as on ``/webhooks/``.
    """
    scheme, _, credential = headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        return None
    if credential.startswith(TOKEN_PREFIX):
        connector = Connector.objects.filter(token_hash=hash_token(credential)).first()
        if connector is None or not token_matches(connector, credential):
            raise _unauthorized("Missing or invalid credentials for this endpoint.")
        return connector
    if gateway.looks_like_jwt(credential) and gateway.user_for_token(credential) is None:
        raise _unauthorized(
            "The gateway token is invalid or expired, or its user may no longer push: get a new one from /auth."
        )
    return None


def _connector_from_body(data) -> Connector | None:
    raw = csam_connector_uuid(data)
    try:
        connector_uuid = uuid.UUID(raw) if raw else None
    except ValueError:
        connector_uuid = None
    return get_unique(Connector, "uuid", connector_uuid) if connector_uuid else None
