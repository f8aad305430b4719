"""The connectors management API: every write goes through ``connectors.services``."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from assets import rule_selection
from assets.queries import with_asset_count
from connectors import services
from connectors.filtersets import ConnectorFilterSet
from connectors.health import with_latest_result
from connectors.models import Connector
from connectors_site.common.api import Conflict, StrictFilterBackend, problem
from connectors_site.common.authentication import TokenWithRolesAuthentication

from .serializers import (
    ConnectorSerializer,
    ConnectorWithCredentialsSerializer,
    ProblemSerializer,
    RotatedSecretSerializer,
    RotatedTokenSerializer,
    RuleSelectionSerializer,
    RuleSelectionUpdateSerializer,
)

PROBLEM = "application/problem+json"


def _problems(*codes: int) -> dict:
    described = {
        400: "The body is invalid: `errors` maps each field to its messages.",
        401: "No valid credentials: sign in or send `Authorization: Token <key>`.",
        403: "Signed in, but only Connector admins (or staff) may do this.",
        404: "No connector has this UUID.",
        409: "The name is taken by another connector (names ignore case).",
    }
    return {(code, PROBLEM): OpenApiResponse(ProblemSerializer, description=described[code]) for code in codes}


READ_ERRORS = _problems(401, 403)
DETAIL_READ_ERRORS = _problems(401, 403, 404)
WRITE_ERRORS = _problems(400, 401, 403, 404, 409)
ACTION_ERRORS = _problems(401, 403, 404)

CREATE_EXAMPLE = OpenApiExample(
    "A CMDB push connector",
    value={
        "name": "ServiceNow CMDB",
        "description": "Nightly export of the server CIs.",
        "modules": ["csam"],
        "payload_format": "native",
        "trust_rank": 70,
    },
    request_only=True,
)


class ConnectorOrdering(OrderingFilter):
    ordering_description = (
        "Sort by `name` (the default), `created_at`, `last_delivery_at`, `trust_rank` or `asset_count`; "
        "prefix `-` for descending."
    )


@extend_schema(tags=["Connectors"])
@extend_schema_view(
    list=extend_schema(
        summary="List connectors",
        description="Connectors ordered by name, with their status, state, last delivery and asset count. "
        "Filter with `q` (name or description), `enabled`, `payload_format` and `module`; sort with `ordering`; "
        "page with `limit` and `offset`.",
        responses={200: ConnectorSerializer(many=True), **READ_ERRORS},
    ),
    retrieve=extend_schema(
        summary="Show a connector",
        description="One connector by UUID. Credentials appear only as hints (`token_hint`, "
        "`signing_secret_hint`); the clear values are shown once, when they are made.",
        responses={200: ConnectorSerializer, **DETAIL_READ_ERRORS},
    ),
    create=extend_schema(
        summary="Create a connector",
        description="Creates an enabled connector with the default identification rules (every rule on except "
        "Hostname alone and IP address alone; Create unmanaged asset and Apply default rule on unless the body "
        "says otherwise). **The reply carries the bearer `token` and the `signing_secret` this one time**: "
        "later reads show only hints, and a lost credential can only be rotated. Needs Connector admin rights.",
        request=ConnectorSerializer,
        responses={201: ConnectorWithCredentialsSerializer, **_problems(400, 401, 403, 409)},
        examples=[CREATE_EXAMPLE],
    ),
    update=extend_schema(
        summary="Replace a connector's settings",
        description="`name` and `modules` are required; other editable fields left out keep their current "
        "values. The audit trail records each changed field with its old and new value. Credentials and the "
        "enabled state have their own actions. Needs Connector admin rights.",
        responses={200: ConnectorSerializer, **WRITE_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change some of a connector's settings",
        description="Sets only the fields in the body. The audit trail records each changed field with its old and "
        "new value. Needs Connector admin rights.",
        responses={200: ConnectorSerializer, **WRITE_ERRORS},
    ),
    destroy=extend_schema(
        summary="Delete a connector",
        description="Deletes the connector with its deliveries, decisions, rule selection and source records. "
        "**Assets are never erased**: an asset that no other source still reports is retired (kept, flagged "
        "retired, still searchable) and an asset that other connectors also report stays live. The audit trail "
        "keeps a `deleted` row. Needs Connector admin rights.",
        responses={204: None, **ACTION_ERRORS},
    ),
)
class ConnectorViewSet(viewsets.ModelViewSet):
    """Webhook connectors: their settings, credentials, state and identification rules."""

    serializer_class = ConnectorSerializer
    filterset_class = ConnectorFilterSet
    filter_backends = [StrictFilterBackend, ConnectorOrdering]
    ordering_fields = ["name", "created_at", "last_delivery_at", "trust_rank", "asset_count"]
    ordering = ["name"]
    # Token first: a script with no or a bad token gets 401 with `WWW-Authenticate: Token`, not a bare 403.
    authentication_classes = [TokenWithRolesAuthentication, SessionAuthentication]
    parser_classes = [JSONParser]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return with_latest_result(with_asset_count(Connector.objects.select_related("created_by")))

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = serializer.validated_changes()
        mapping = changes.pop("mapping", None)
        options = {key: changes.pop(key) for key in ("create_unmanaged", "apply_default_rule") if key in changes}
        try:
            with transaction.atomic():
                connector, credentials = services.create_connector(actor=request.user, **changes)
                if options:
                    services.update_connector(connector, actor=request.user, **options)
                if mapping:
                    services.set_mapping(connector, mapping, actor=request.user)
        except IntegrityError:
            # Two creates with the same name raced past validation; the unique constraint caught the second.
            raise Conflict({"name": ["A connector with this name already exists (names ignore case)."]}) from None
        connector.asset_count = 0
        connector.token = credentials.token
        connector.signing_secret = credentials.signing_secret
        reply = ConnectorWithCredentialsSerializer(connector, context=self.get_serializer_context())
        return Response(reply.data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: ConnectorSerializer) -> None:
        changes = serializer.validated_changes()
        mapping = changes.pop("mapping", None)
        try:
            with transaction.atomic():
                services.update_connector(serializer.instance, actor=self.request.user, **changes)
                if mapping is not None:
                    services.set_mapping(serializer.instance, mapping, actor=self.request.user)
        except IntegrityError:
            raise Conflict({"name": ["A connector with this name already exists (names ignore case)."]}) from None

    def perform_destroy(self, instance: Connector) -> None:
        services.delete_connector(instance, actor=self.request.user)

    def _connector_reply(self, connector: Connector) -> Response:
        return Response(ConnectorSerializer(connector, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Enable a connector",
        description="Deliveries are accepted again. Does nothing (and records nothing) when already enabled; "
        "otherwise writes an `enabled` audit row. Needs Connector admin rights.",
        request=None,
        responses={200: ConnectorSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, uuid=None) -> Response:
        return self._connector_reply(services.set_enabled(self.get_object(), True, actor=request.user))

    @extend_schema(
        summary="Disable a connector",
        description="Deliveries are refused with 403 until the connector is enabled again; stored data stays. "
        "Does nothing when already disabled; otherwise writes a `disabled` audit row. Needs Connector admin rights.",
        request=None,
        responses={200: ConnectorSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, uuid=None) -> Response:
        return self._connector_reply(services.set_enabled(self.get_object(), False, actor=request.user))

    @extend_schema(
        summary="Rotate the signing secret",
        description="Makes a new Standard Webhooks signing secret and **returns it this one time**. The previous "
        "secret keeps verifying signatures until `previous_secret_expires_at` so senders can switch without "
        "losing deliveries. Writes a `secret_rotated` audit row. Needs Connector admin rights.",
        request=None,
        responses={200: RotatedSecretSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", url_name="rotate-secret")
    def rotate_secret(self, request: Request, uuid=None) -> Response:
        connector = self.get_object()
        credentials = services.rotate_secret(connector, actor=request.user)
        reply = RotatedSecretSerializer(
            {
                "signing_secret": credentials.signing_secret,
                "signing_secret_hint": ConnectorSerializer().get_signing_secret_hint(connector),
                "previous_secret_expires_at": connector.previous_secret_expires_at,
            }
        )
        return Response(reply.data)

    @extend_schema(
        summary="Rotate the bearer token",
        description="Makes a new bearer token and **returns it this one time**. The previous token stops working "
        "at once (use signatures for a zero-downtime switch). Writes a `token_rotated` audit row. Needs Connector "
        "admin rights.",
        request=None,
        responses={200: RotatedTokenSerializer, **ACTION_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="rotate-token", url_name="rotate-token")
    def rotate_token(self, request: Request, uuid=None) -> Response:
        connector = self.get_object()
        credentials = services.rotate_token(connector, actor=request.user)
        return Response(RotatedTokenSerializer({"token": credentials.token, "token_hint": connector.token_hint}).data)

    @extend_schema(
        methods=["GET"],
        summary="Show a connector's identification rules",
        description="The rules the connector tries for each record, in order (`position`), whether each is on "
        "(`required`), and the two fallbacks: Create unmanaged asset and Apply default rule.",
        request=None,
        responses={200: RuleSelectionSerializer, **DETAIL_READ_ERRORS},
    )
    @extend_schema(
        methods=["PUT"],
        summary="Replace a connector's identification rules",
        description="`rules` lists every rule of the selection in the new order with its `required` flag; both "
        "options are required. Source native key stays first and on whatever the body says about its place, and at "
        "least one other rule must stay on; breaking either is a 400 whose `detail` says why. Writes a "
        "`rules_changed` audit row. Needs Connector admin rights.",
        request=RuleSelectionUpdateSerializer,
        responses={200: RuleSelectionSerializer, **WRITE_ERRORS},
        examples=[
            OpenApiExample(
                "Serial number first, hostname off",
                value={
                    "rules": [{"id": 1, "required": True}, {"id": 2, "required": True}, {"id": 8, "required": False}],
                    "create_unmanaged": True,
                    "apply_default_rule": True,
                },
                request_only=True,
            )
        ],
    )
    @extend_schema(
        methods=["PATCH"],
        summary="Toggle some of a connector's identification rules",
        description="Every member is optional. `rules` lists only the rules to turn on or off; the order does not "
        "change (use PUT to reorder). The same invariants as PUT apply. Needs Connector admin rights.",
        request=RuleSelectionUpdateSerializer,
        responses={200: RuleSelectionSerializer, **WRITE_ERRORS},
        examples=[
            OpenApiExample(
                "Turn on Hostname alone",
                value={"rules": [{"id": 8, "required": True}]},
                request_only=True,
            )
        ],
    )
    @action(
        detail=True,
        methods=["get", "put", "patch"],
        serializer_class=RuleSelectionSerializer,
        filterset_class=None,
        filter_backends=[],
        pagination_class=None,
    )
    def rules(self, request: Request, uuid=None) -> Response:
        connector = self.get_object()
        if request.method in ("PUT", "PATCH"):
            partial = request.method == "PATCH"
            body = RuleSelectionUpdateSerializer(data=request.data, partial=partial)
            body.is_valid(raise_exception=True)
            try:
                rule_selection.update_rule_selection(
                    connector, actor=request.user, **body.service_arguments(partial=partial)
                )
            except rule_selection.RuleSelectionError as error:
                return problem(400, detail=str(error), errors={"rules": [str(error)]})
        selection = connector.rule_selection.select_related("rule").order_by("position", "id")
        return Response(
            RuleSelectionSerializer(
                {
                    "rules": selection,
                    "create_unmanaged": connector.create_unmanaged,
                    "apply_default_rule": connector.apply_default_rule,
                }
            ).data
        )
