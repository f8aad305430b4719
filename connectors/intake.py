"""Webhook intake: authenticate, check, store, acknowledge. Nothing is identified here; the worker does that.

Order of checks (each answers problem+json, never a redirect, never a 5xx for what a client sent):
unknown connector → 401 · body over the limit → 413 (from Content-Length, before reading) · credentials → 401 ·
disabled → 403 · rate limit → 429 · not JSON → 415 · malformed JSON or no valid record → 400 (the body is still
stored as a *rejected* delivery when the sender was authenticated, so the admin sees it) · a repeated
idempotency key → 200 with the first delivery · otherwise the delivery is stored and queued → 202.
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView
from standardwebhooks.webhooks import Webhook

from connectors_site.common.api import problem

from .choices import PayloadFormat
from .formats import PARSERS, PayloadError, csam_connector_uuid, decode_json
from .inbox import Received, store_delivery
from .models import Connector, Delivery
from .services import token_matches, verification_secrets

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


class IntakeRejected(Exception):
    """Ends intake with a problem response."""

    def __init__(self, status_code: int, title: str, detail: str, **extra):
        super().__init__(detail)
        self.response = problem(status_code, title, detail, **extra)


def _headers(request) -> dict[str, str]:
    return {key.lower(): value for key, value in request.headers.items()}


def _check_size(request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.WEBHOOK_MAX_BODY_BYTES:
        raise IntakeRejected(
            413,
            "Payload too large",
            f"The body is {length} bytes; this endpoint accepts at most "
            f"{settings.WEBHOOK_MAX_BODY_BYTES} bytes. Split the batch into several deliveries.",
        )


def _read_body(request) -> bytes:
    try:
        body = request._request.body
    except RequestDataTooBig:
        body = None
    if body is None or len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise IntakeRejected(
            413, "Payload too large", f"This endpoint accepts at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes."
        )
    return body


def _unauthorized(detail: str) -> IntakeRejected:
    rejected = IntakeRejected(401, "Unauthorized", detail)
    rejected.response["WWW-Authenticate"] = 'Bearer realm="webhooks"'
    return rejected


def authenticate(connector: Connector | None, headers: dict[str, str], body: bytes) -> str:
    """Return how the sender proved itself ("signature" or "token"), or raise a 401.

    An unknown connector gets the same answer as a wrong credential, so connector ids cannot be probed. Both the
    token hash and the signatures are compared in constant time.
    """
    signed = any(name in headers for name in SIGNATURE_HEADERS)
    authorization = headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if connector is None:
        raise _unauthorized("Missing or invalid credentials for this endpoint.")
    if signed:
        missing = [name for name in SIGNATURE_HEADERS if not headers.get(name)]
        if missing:
            raise _unauthorized(f"Standard Webhooks headers incomplete: missing {', '.join(missing)}.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise IntakeRejected(
                400, "Bad request", "The body is not valid UTF-8, so its signature cannot be checked."
            ) from None
        problem_seen = "the signature does not match the body with this connector's signing secret"
        for secret in verification_secrets(connector):
            try:
                Webhook(secret).verify(text, headers, json_parse=False)
                return "signature"
            except Exception as exc:  # the library raises assorted errors on malformed headers
                message = str(exc)
                if "too old" in message or "too new" in message:
                    problem_seen = f"webhook-timestamp is outside the accepted ±5 minutes ({message.lower()})"
                elif message == "Invalid Signature Headers":
                    problem_seen = "webhook-timestamp is not a Unix timestamp"
                elif message != "No matching signature found":
                    problem_seen = "webhook-signature is malformed (expected space-separated 'v1,<base64>' values)"
        raise _unauthorized(f"Signature rejected: {problem_seen}.")
    if connector.require_signature:
        raise _unauthorized(
            "This connector requires Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature)."
        )
    if scheme.lower() == "bearer" and credential and token_matches(connector, credential.strip()):
        return "token"
    if not authorization:
        raise _unauthorized("Send 'Authorization: Bearer <connector token>' or Standard Webhooks signature headers.")
    raise _unauthorized("Missing or invalid credentials for this endpoint.")


def _check_rate(connector: Connector) -> None:
    """A fixed one-minute window per connector (per web process with the default local-memory cache)."""
    limit = settings.WEBHOOK_RATE_LIMIT_PER_MINUTE
    if not limit:
        return
    window = int(time.time() // 60)
    key = f"intake-rate:{connector.pk}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:
        count = 1
    if count > limit:
        retry_after = 60 - int(time.time() % 60)
        rejected = IntakeRejected(
            429, "Too many requests", f"This connector may send {limit} deliveries a minute; retry in {retry_after} s."
        )
        rejected.response["Retry-After"] = str(retry_after)
        raise rejected


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _error_dicts(errors) -> list[dict]:
    return [{"index": e.index, "field": e.field, "message": e.message, "source_key": e.source_key} for e in errors]


def _status_url(request, delivery: Delivery) -> str:
    return request.build_absolute_uri(reverse("connectors-api:delivery-detail", args=[delivery.uuid]))


class _IntakeView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes: list = []
    throttle_classes: list = []
    #: Format used to parse bodies on this endpoint; None means the connector's own.
    payload_format: str | None = None

    def post(self, request, *args, **kwargs):
        try:
            return self.receive(request, *args, **kwargs)
        except IntakeRejected as rejected:
            return rejected.response

    def accept(self, request, connector: Connector, body: bytes, headers: dict, auth: str, data, batch) -> Response:
        if not connector.enabled:
            raise IntakeRejected(
                403, "Connector disabled", "This connector is disabled; enable it to accept deliveries."
            )
        _check_rate(connector)
        fmt = self.payload_format or connector.payload_format
        rejected_reason, errors = "", []
        if data is None:
            content_type = headers.get("content-type", "")
            if not _is_json(content_type):
                detail = f"Send the body as application/json (got {content_type or 'no Content-Type'})."
                store_delivery(
                    connector,
                    body,
                    content_type=content_type,
                    headers=headers,
                    authenticated_by=auth,
                    payload_format=fmt,
                    rejected_reason=detail,
                )
                raise IntakeRejected(415, "Unsupported media type", detail)
            try:
                data = decode_json(body)
                batch = PARSERS[fmt](data)
            except PayloadError as exc:
                rejected_reason = str(exc)
        if batch is not None:
            errors = _error_dicts(batch.errors)
            if not batch.records and not batch.deleted:
                rejected_reason = (
                    "No valid record in the delivery." if errors else "The delivery holds no asset and no deletion."
                )
        key = headers.get("webhook-id") or headers.get("idempotency-key") or (batch.request_id if batch else "") or ""
        received: Received = store_delivery(
            connector,
            body,
            content_type=headers.get("content-type", ""),
            headers=headers,
            idempotency_key=key,
            authenticated_by=auth,
            payload_format=fmt,
            rejected_reason=rejected_reason,
            errors=errors,
        )
        if rejected_reason and received.created:
            raise IntakeRejected(
                400, "Bad request", rejected_reason, errors=errors, delivery_id=str(received.delivery.uuid)
            )
        return self.reply(request, received, batch)

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
                "errors": _error_dicts(batch.errors),
            }
        return Response(body, status=status.HTTP_202_ACCEPTED if received.created else status.HTTP_200_OK)


ACCEPTED_EXAMPLE = {
    "delivery_id": "7d0f2c9e-3a51-4b9e-8f0e-2c1b5a6d7e80",
    "status": "queued",
    "status_url": "https://hub.example.com/api/v1/deliveries/7d0f2c9e-3a51-4b9e-8f0e-2c1b5a6d7e80/",
    "duplicate": False,
    "records": 2,
    "accepted": 1,
    "deleted": 0,
    "errors": [{"index": 1, "field": "source_key", "message": "is required", "source_key": ""}],
}
ERROR_RESPONSES = {
    400: OpenApiResponse(description="Malformed JSON, or no valid record (problem+json with `errors` by index)."),
    401: OpenApiResponse(description="No or bad credentials, or an unknown connector."),
    403: OpenApiResponse(description="The connector is disabled."),
    413: OpenApiResponse(description="The body is over the size limit (default 10 MiB)."),
    415: OpenApiResponse(description="The body is not JSON."),
    429: OpenApiResponse(description="Rate limit exceeded; see `Retry-After`."),
}


class WebhookView(_IntakeView):
    """`POST /webhooks/<connector-uuid>`: a delivery in the connector's payload format."""

    @extend_schema(
        operation_id="webhook_deliver",
        summary="Push assets to a connector",
        description=(
            'Send a batch in the connector\'s payload format (native: `{"assets": [...], "deleted": [...]}` or '
            "one asset object). Authenticate with `Authorization: Bearer <connector token>` or Standard Webhooks "
            "headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) signed with the connector's secret. "
            "The body is stored and acknowledged at once (202) and processed in the background; invalid records "
            "are reported by index and the valid ones are processed. Repeating a `webhook-id` or "
            "`Idempotency-Key` returns the first delivery (200) with no second effect."
        ),
        tags=["intake"],
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("webhook-id", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("webhook-timestamp", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter("webhook-signature", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
        ],
        responses={
            202: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Stored and queued.",
                examples=[OpenApiExample("Accepted", value=ACCEPTED_EXAMPLE)],
            ),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="A repeated idempotency key: the first delivery."),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def receive(self, request, connector_uuid: uuid.UUID):
        connector = Connector.objects.filter(uuid=connector_uuid).first()
        if connector is None:
            raise _unauthorized("Missing or invalid credentials for this endpoint.")
        _check_size(request)
        body = _read_body(request)
        headers = _headers(request)
        auth = authenticate(connector, headers, body)
        return self.accept(request, connector, body, headers, auth, None, None)


class CsamSyncView(_IntakeView):
    """The Qualys CSAM connector push API, so scripts written for it work unchanged."""

    payload_format = PayloadFormat.CSAM

    @extend_schema(
        operation_id="csam_asset_data_sync",
        summary="Push assets in the Qualys CSAM connector format",
        description=(
            "Compatible with CSAM's `POST /rest/2.0/am/connector/asset/data/sync`: the connector comes from "
            "`connectorMetaData.connectorUuid`, `connectorMetaData.requestId` is the idempotency key. Same "
            "authentication and status codes as `/webhooks/<uuid>`. The reply is shaped like CSAM's "
            "(`message`, `responseCode: SUCCESSFULLY_PUBLISHED`, `assetsError` keyed by record index) plus our "
            "`delivery_id` and `status_url`."
        ),
        tags=["intake"],
        auth=[],
        request={"application/json": OpenApiTypes.OBJECT},
        responses={202: OpenApiTypes.OBJECT, 200: OpenApiTypes.OBJECT, **ERROR_RESPONSES},
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def receive(self, request):
        _check_size(request)
        body = _read_body(request)
        headers = _headers(request)
        try:
            data = decode_json(body)
        except PayloadError as exc:
            raise IntakeRejected(400, "Bad request", str(exc)) from None
        connector = _connector_from_body(data)
        auth = authenticate(connector, headers, body)
        if not _is_json(headers.get("content-type", "")):
            return self.accept(request, connector, body, headers, auth, None, None)
        try:
            batch = PARSERS[PayloadFormat.CSAM](data)
        except PayloadError as exc:
            store_delivery(
                connector,
                body,
                content_type=headers.get("content-type", ""),
                headers=headers,
                authenticated_by=auth,
                payload_format=PayloadFormat.CSAM,
                rejected_reason=str(exc),
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


def _connector_from_body(data) -> Connector | None:
    raw = csam_connector_uuid(data)
    try:
        connector_uuid = uuid.UUID(raw) if raw else None
    except ValueError:
        connector_uuid = None
    return Connector.objects.filter(uuid=connector_uuid).first() if connector_uuid else None
