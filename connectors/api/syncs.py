"""`/api/v1/syncs/`: full syncs, their parts' counts, and the confirmation a held one waits for."""

from __future__ import annotations

import django_filters
from django.db.models import Count, Q
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from connectors_site.common.api import Conflict, StrictFilterBackend
from connectors_site.common.authentication import TokenWithRolesAuthentication

from ..choices import SyncStatus
from ..models import Sync
from ..sync_actions import SyncStateError, confirm_sync, discard_sync
from ..syncs import DONE

STATUS_HELP = (
    "`open`: receiving parts (waits for the final part and for every part to be processed); `held`: it would "
    "delete more than the connector's `sync_delete_limit` percent of its live records, so **nothing was deleted**: "
    "it waits for a Connector admin to confirm or discard it; `deleting`: deleting in the background; "
    "`completed`: done; `discarded`: dropped, nothing deleted."
)


class SyncFilterSet(django_filters.FilterSet):
    connector = django_filters.UUIDFilter(field_name="connector__uuid", label="Connector (uuid)")
    status = django_filters.MultipleChoiceFilter(choices=SyncStatus.choices)
    sync_id = django_filters.CharFilter(label="The sender's sync id (exact)")

    class Meta:
        model = Sync
        fields = ["connector", "status", "sync_id"]


class SyncExampleSerializer(serializers.Serializer):
    source_key = serializers.CharField()
    asset = serializers.UUIDField(help_text="The asset the record belongs to.")
    hostname = serializers.CharField(allow_blank=True)


class SyncSerializer(serializers.ModelSerializer):
    sync_uuid = serializers.UUIDField(source="uuid", read_only=True, help_text="This sync's id in the API.")
    id = serializers.CharField(source="sync_id", read_only=True, help_text="The sender's sync id.")
    connector = serializers.UUIDField(source="connector.uuid", read_only=True)
    # A plain string in the schema, its values in the text: an enum named "status" would collide with the
    # delivery's in the schema's components.
    status = serializers.CharField(read_only=True, help_text=STATUS_HELP)
    held = serializers.SerializerMethodField(help_text="True while the sync waits for a confirmation.")
    parts = serializers.IntegerField(
        source="part_count", read_only=True, help_text="Deliveries received as parts of this sync."
    )
    parts_done = serializers.IntegerField(read_only=True, help_text="Parts processed so far.")
    final_received = serializers.SerializerMethodField(help_text="Whether the part marked final has arrived.")
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    examples = SyncExampleSerializer(
        many=True, read_only=True, help_text="A held sync: some of the records it would delete."
    )

    class Meta:
        model = Sync
        fields = [
            "sync_uuid",
            "id",
            "connector",
            "status",
            "held",
            "started_at",
            "final_received",
            "final_received_at",
            "evaluated_at",
            "finished_at",
            "parts",
            "parts_done",
            "reported",
            "live_records",
            "would_delete",
            "delete_limit",
            "deleted",
            "examples",
            "decided_by",
            "decided_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "reported": {"help_text": "Distinct source keys the parts reported (counted when weighed)."},
            "live_records": {"help_text": "The connector's live records when the deletions were weighed."},
            "would_delete": {"help_text": "Live records no part reported (nor another delivery since it began)."},
            "delete_limit": {"help_text": "The connector's limit (percent of live records) when weighed."},
            "deleted": {"help_text": "Records deleted so far."},
        }

    def get_held(self, sync: Sync) -> bool:
        return sync.status == SyncStatus.HELD

    def get_final_received(self, sync: Sync) -> bool:
        return sync.final_received_at is not None


def with_part_counts(queryset):
    """Syncs with how many parts they have and how many are processed (one query)."""
    return queryset.select_related("connector", "decided_by").annotate(
        part_count=Count("parts"), parts_done=Count("parts", filter=Q(parts__status__in=DONE))
    )


@extend_schema(tags=["Syncs"])
@extend_schema_view(
    list=extend_schema(
        summary="List full syncs",
        description="Newest first. Filter by `connector` (uuid), `status` (repeatable; `held` lists the syncs "
        "waiting for a confirmation) or `sync_id`.",
    ),
    retrieve=extend_schema(summary="A full sync", description=f"Its parts' counts and where it stands. {STATUS_HELP}"),
)
class SyncViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Full syncs: a sender's complete list of records in parts, and the deletions of what it no longer reports."""

    serializer_class = SyncSerializer
    authentication_classes = [TokenWithRolesAuthentication, SessionAuthentication]
    filterset_class = SyncFilterSet
    filter_backends = [StrictFilterBackend]
    lookup_field = "uuid"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return with_part_counts(Sync.objects.order_by("-id"))

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise NotFound() from None

    def _reply(self, sync: Sync, code: int) -> Response:
        fresh = self.get_queryset().get(pk=sync.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(
        summary="Confirm a held sync's deletions",
        description="A `held` sync deletes what it no longer reports, in the background (status `deleting`, then "
        "`completed`). Records other deliveries reported since the sync started are still kept. Audited as "
        "`sync_confirmed`. 409 when the sync is not held. Needs Connector admin rights.",
        request=None,
        responses={202: SyncSerializer, 409: OpenApiResponse(description="The sync is not held.")},
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, uuid=None):
        try:
            sync = confirm_sync(self.get_object(), actor=request.user)
        except SyncStateError as exc:
            raise Conflict(str(exc)) from None
        return self._reply(sync, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Discard a sync",
        description="An `open` or `held` sync is dropped: nothing is deleted (its parts' records stay written). "
        "Audited as `sync_discarded`. 409 when it is deleting or over. Needs Connector admin rights.",
        request=None,
        responses={200: SyncSerializer, 409: OpenApiResponse(description="The sync is deleting or over.")},
    )
    @action(detail=True, methods=["post"])
    def discard(self, request, uuid=None):
        try:
            sync = discard_sync(self.get_object(), actor=request.user)
        except SyncStateError as exc:
            raise Conflict(str(exc)) from None
        return self._reply(sync, status.HTTP_200_OK)
