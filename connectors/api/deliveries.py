"""`/api/v1/deliveries/`: the delivery log for machines, and the status URL a 202 reply points to."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from connectors_site.common.api import StrictFilterBackend
from connectors_site.common.authentication import TokenWithRolesAuthentication
from connectors_site.common.permissions import ReadAnyWriteAdmin
from connectors_site.common.roles import is_sender_only

from ..filtersets import DeliveryFilterSet
from ..inbox import replay_delivery
from ..models import Delivery
from ..services import TOKEN_PREFIX, token_matches
from ..syncs import sync_summary


class ConnectorBearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer <connector token>`: lets a sender read the status of its own deliveries.

    It authenticates no user; the token is checked against the delivery's connector by
    :class:`ConnectorOwnsDelivery`, in constant time.
    """

    def authenticate(self, request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip().startswith(TOKEN_PREFIX):
            return None
        return AnonymousUser(), token.strip()

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="webhooks"'


class ConnectorBearerScheme(OpenApiAuthenticationExtension):
    target_class = ConnectorBearerAuthentication
    name = "connectorToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "The connector's webhook bearer token."}


class ConnectorOwnsDelivery(BasePermission):
    """Staff and viewers as usual; a connector token only for that connector's own delivery status; a Sender
    reads the deliveries it pushed (the queryset holds no others)."""

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, str):
            return view.action == "retrieve"
        if request.user.is_authenticated and is_sender_only(request.user):
            return view.action in ("list", "retrieve")
        return ReadAnyWriteAdmin().has_permission(request, view)

    def has_object_permission(self, request, view, obj) -> bool:
        if isinstance(request.auth, str) and not token_matches(obj.connector, request.auth):
            # Not 403: that would tell a token holder which delivery ids exist on other connectors.
            raise NotFound()
        return True


class DeliveryErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="Position of the record in the batch.")
    field = serializers.CharField(help_text="The field at fault (a path such as `ip_addresses[2]`).")
    message = serializers.CharField()
    source_key = serializers.CharField(allow_blank=True)


class DeliveryWarningSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the record in the batch.")
    source_key = serializers.CharField(allow_blank=True)
    field = serializers.CharField(help_text="The record attribute (`ip_addresses`, `hostname`, `updated_at`...).")
    value = serializers.CharField(help_text="The dropped value as sent (at most 100 characters).")
    message = serializers.CharField()


class DeliverySerializer(serializers.ModelSerializer):
    delivery_id = serializers.UUIDField(source="uuid", read_only=True)
    connector = serializers.UUIDField(source="connector.uuid", read_only=True)
    connector_name = serializers.CharField(source="connector.name", read_only=True)
    counts = serializers.SerializerMethodField()
    sync = serializers.SerializerMethodField(
        help_text="The full sync this delivery is a part of (`null`: none): the sender's `id`, its `status` (`held` "
        "means it waits for an admin's confirmation and deleted nothing), whether this is the `final` part, and "
        "the sync's `url`."
    )

    class Meta:
        model = Delivery
        fields = [
            "delivery_id",
            "connector",
            "connector_name",
            "status",
            "received_at",
            "started_at",
            "finished_at",
            "attempts",
            "idempotency_key",
            "payload_format",
            "content_type",
            "size",
            "authenticated_by",
            "is_test",
            "counts",
            "last_error",
            "reply_status",
            "reply_ms",
            "sync",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "reply_status": {"help_text": "The HTTP status the sender got (empty for test deliveries and old rows)."},
            "reply_ms": {"help_text": "Milliseconds the hub took to answer, up to storing the delivery."},
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "id": {"type": "string"},
                "sync_uuid": {"type": "string", "format": "uuid"},
                "status": {
                    "type": "string",
                    "description": "`open`, `held`, `deleting`, `completed` or `discarded` (see `/api/v1/syncs/`).",
                },
                "url": {"type": "string", "format": "uri"},
                "final": {"type": "boolean"},
            },
        }
    )
    def get_sync(self, delivery) -> dict | None:
        if delivery.sync_id is None:
            return None
        return sync_summary(delivery.sync, self.context.get("request"), final=delivery.sync_final)

    def get_counts(self, delivery) -> dict[str, int]:
        return {
            "received": delivery.records_received,
            "created": delivery.records_created,
            "updated": delivery.records_updated,
            "merged": delivery.records_merged,
            "skipped": delivery.records_skipped,
            "deleted": delivery.records_deleted,
            "errors": delivery.records_errors,
            "warnings": delivery.warnings_count,
        }


class DeliveryDetailSerializer(DeliverySerializer):
    errors = DeliveryErrorSerializer(many=True, read_only=True, help_text="Per-record problems.")
    warnings = DeliveryWarningSerializer(
        many=True,
        read_only=True,
        help_text="Values dropped from accepted records as invalid for their field (the first 1000; "
        "`counts.warnings` counts them all). The records were processed with their other values.",
    )

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "errors", "warnings", "headers"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="List deliveries",
        description="Newest first. Filter by connector uuid, status (repeatable), receipt time, idempotency key "
        "or `sync` (a full sync's `sync_uuid`: its parts).",
    ),
    retrieve=extend_schema(
        summary="A delivery's status",
        description="The status URL of a 202 reply, readable with an API token or session, or with the "
        "connector's own bearer token (for its own deliveries). `status` moves queued → processing → "
        "processed / partial / failed; `rejected` bodies could not be parsed and `dead` ones failed every "
        "attempt (their body is kept: replay them). `errors` lists per-record problems by index.",
    ),
)
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Delivery.objects.select_related("connector", "sync").defer("body").order_by("-id")
    authentication_classes = [SessionAuthentication, TokenWithRolesAuthentication, ConnectorBearerAuthentication]
    permission_classes = [ConnectorOwnsDelivery]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"
    filterset_class = DeliveryFilterSet
    filter_backends = [StrictFilterBackend]

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.request.user.is_authenticated and is_sender_only(self.request.user):
            queryset = queryset.filter(sent_by=self.request.user)
        return queryset

    def get_object(self):
        # One 404, worded the same, whether the delivery does not exist or belongs to another connector.
        try:
            return super().get_object()
        except Http404:
            raise NotFound() from None

    def get_serializer_class(self):
        return DeliveryDetailSerializer if self.action != "list" else DeliverySerializer

    @extend_schema(
        summary="Replay a delivery",
        description="Process the stored body again (idempotent: the inventory ends the same). Works on dead, "
        "failed and rejected deliveries. Needs the Connector admins group or staff.",
        request=None,
        responses=DeliveryDetailSerializer,
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, uuid=None):
        delivery = replay_delivery(self.get_object(), actor=request.user)
        return Response(DeliveryDetailSerializer(delivery, context={"request": request}).data, status=202)
