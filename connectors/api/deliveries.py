"""`/api/v1/deliveries/`: the delivery log for machines, and the status URL a 202 reply points to."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ..deliveries import replay_delivery
from ..filtersets import DeliveryFilterSet
from ..models import Delivery


class DeliveryErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="Position of the record in the batch.")
    field = serializers.CharField(help_text="The field at fault (a path such as `ip_addresses[2]`).")
    message = serializers.CharField()
    source_key = serializers.CharField(allow_blank=True)


class DeliverySerializer(serializers.ModelSerializer):
    delivery_id = serializers.UUIDField(source="uuid", read_only=True)
    connector = serializers.UUIDField(source="connector.uuid", read_only=True)
    connector_name = serializers.CharField(source="connector.name", read_only=True)
    counts = serializers.SerializerMethodField()

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
        ]
        read_only_fields = fields

    def get_counts(self, delivery) -> dict[str, int]:
        return {
            "received": delivery.records_received,
            "created": delivery.records_created,
            "updated": delivery.records_updated,
            "merged": delivery.records_merged,
            "skipped": delivery.records_skipped,
            "deleted": delivery.records_deleted,
            "errors": delivery.records_errors,
        }


class DeliveryDetailSerializer(DeliverySerializer):
    errors = DeliveryErrorSerializer(many=True, read_only=True, help_text="Per-record problems.")

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "errors", "headers"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(
        summary="List deliveries",
        description="Newest first. Filter by connector uuid, status (repeatable), receipt time or idempotency key.",
    ),
    retrieve=extend_schema(
        summary="A delivery's status",
        description="The status URL of a 202 reply. `status` moves queued → processing → processed / partial / "
        "failed; `rejected` bodies could not be parsed and `dead` ones failed every attempt (their body is kept: "
        "replay them). `errors` lists per-record problems by index.",
    ),
)
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Delivery.objects.select_related("connector").defer("body").order_by("-id")
    lookup_field = "uuid"
    filterset_class = DeliveryFilterSet

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
