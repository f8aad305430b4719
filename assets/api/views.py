"""`/api/v1/assets/` (read only) and `/api/v1/identification-rules/`.

The asset list takes the same filters as the CSAM page (one :class:`~assets.filtersets.AssetFilterSet`); the
old uuid of a merged asset answers 302 to the asset it was merged into, like the page does.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from connectors_site.common.api import Conflict, StrictFilterBackend

from .. import inventory
from ..filtersets import AssetAPIFilterSet
from ..models import Asset, IdentificationRule, SourceRecord
from .serializers import AssetDetailSerializer, AssetListSerializer, IdentificationRuleSerializer

PROBLEM = OpenApiResponse(OpenApiTypes.OBJECT, description="Problem details (RFC 9457).")
TAKEN = OpenApiResponse(OpenApiTypes.OBJECT, description="Another rule has this name or these attributes.")
#: Path ids the routes take; anything else is a problem+json 404 before any query (no overflow, no cast error).
UUID_PATTERN = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
ID_PATTERN = "[0-9]{1,18}"


@extend_schema_view(
    list=extend_schema(
        summary="List assets",
        description="Live assets by default (retired ones with `include_retired=true`; merged assets never), "
        "newest first unless `ordering` says otherwise. `conflict=true`: only assets whose sources disagree on a "
        "serial number, hardware UUID or cloud instance ID (see `identifier_conflicts`). `stale=true`: only "
        "assets every live source of which has gone unreported for its connector's `stale_after_days`. "
        "`q` searches hostname, FQDN and serial number "
        "(contains) and IP and MAC addresses (from their start, any spelling: `00-1A-2B` finds `00:1a:2b:…`).",
    ),
    retrieve=extend_schema(
        summary="Get an asset",
        description="Every reconciled attribute, the source each value came from (`provenance`) and what every "
        "source reported. A merged asset's uuid answers 302 to the asset it was merged into.",
        responses={200: AssetDetailSerializer, 302: OpenApiResponse(description="Merged: see Location."), 404: PROBLEM},
    ),
)
class AssetViewSet(viewsets.ReadOnlyModelViewSet):
    lookup_field = "uuid"
    lookup_value_regex = UUID_PATTERN
    filterset_class = AssetAPIFilterSet
    filter_backends = [StrictFilterBackend]

    def get_queryset(self):
        if self.action == "retrieve":
            return Asset.objects.prefetch_related(
                Prefetch(
                    "sources",
                    queryset=SourceRecord.objects.select_related("connector").order_by(
                        "deleted", "-connector__trust_rank", "connector__name", "source_key"
                    ),
                )
            )
        conflict_sources = SourceRecord.objects.filter(deleted=False, asset__identifier_conflict=True).select_related(
            "connector"
        )
        return Asset.objects.defer("provenance", "tags").prefetch_related(
            Prefetch(
                "sources",
                queryset=conflict_sources.only("id", "asset_id", "source_key", "connector__uuid", "connector__name"),
                to_attr="conflict_sources",
            )
        )

    def get_serializer_class(self):
        return AssetDetailSerializer if self.action == "retrieve" else AssetListSerializer

    def filter_queryset(self, queryset):
        # The filters shape lists; one asset is found by uuid whatever its state (retired, merged).
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def retrieve(self, request, *args, **kwargs):
        asset = self.get_object()
        if asset.merged_into_id:
            survivor = inventory.resolve_survivor(asset)
            url = reverse("assets-api:asset-detail", kwargs={"uuid": survivor.uuid})
            return HttpResponseRedirect(request.build_absolute_uri(url))
        return Response(self.get_serializer(asset).data)


@extend_schema_view(
    list=extend_schema(
        summary="List identification rule definitions",
        description="Every rule, system rules first, with how many connectors have it turned on.",
    ),
    retrieve=extend_schema(
        summary="Get an identification rule definition", responses={200: IdentificationRuleSerializer, 404: PROBLEM}
    ),
    create=extend_schema(
        summary="Create an identification rule",
        description="A rule matches when all its attributes match. The new rule is added to every connector's "
        "selection turned off, at the end; turn it on per connector with `/api/v1/connectors/<uuid>/rules/`.",
        responses={201: IdentificationRuleSerializer, 400: PROBLEM, 403: PROBLEM, 409: TAKEN},
    ),
    update=extend_schema(
        summary="Replace an identification rule",
        description="System rules are read only (403).",
        responses={200: IdentificationRuleSerializer, 400: PROBLEM, 403: PROBLEM, 409: TAKEN},
    ),
    partial_update=extend_schema(
        summary="Change an identification rule",
        description="System rules are read only (403).",
        responses={200: IdentificationRuleSerializer, 400: PROBLEM, 403: PROBLEM, 409: TAKEN},
    ),
    destroy=extend_schema(
        summary="Delete an identification rule",
        description="Removes it from every connector's selection. Refused for system rules (403) and for a rule "
        "that is the only one a connector has turned on (409).",
        responses={204: None, 403: PROBLEM, 409: PROBLEM},
    ),
)
class IdentificationRuleViewSet(viewsets.ModelViewSet):
    lookup_value_regex = ID_PATTERN
    # JSON bodies only, like the connectors API: a form body cannot say null, so "null" would pass for a string.
    parser_classes = [JSONParser]
    serializer_class = IdentificationRuleSerializer
    filterset_class = None
    filter_backends = []

    def get_queryset(self):
        return IdentificationRule.objects.annotate(
            used_by=Count("selections", filter=Q(selections__enabled=True))
        ).order_by("-is_system", "position", "id")

    def _refuse_system(self, rule: IdentificationRule) -> None:
        if rule.is_system:
            raise PermissionDenied(f"{rule.name} is a system rule and is read only.")

    def perform_create(self, serializer):
        data = serializer.validated_data
        rule = inventory.create_identification_rule(
            name=data["name"],
            attributes=data["attributes"],
            description=data.get("description", ""),
            actor=self.request.user,
        )
        serializer.instance = self.get_queryset().get(pk=rule.pk)

    def update(self, request, *args, **kwargs):
        self._refuse_system(self.get_object())
        return super().update(request, *args, **kwargs)

    def perform_update(self, serializer):
        data = serializer.validated_data
        try:
            inventory.update_identification_rule(
                serializer.instance,
                name=data.get("name"),
                attributes=data.get("attributes"),
                description=data.get("description"),
                actor=self.request.user,
            )
        except inventory.ReadOnlyRuleError as error:
            raise PermissionDenied(str(error)) from error
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        self._refuse_system(instance)
        try:
            inventory.delete_identification_rule(instance, actor=self.request.user)
        except inventory.InventoryError as error:
            raise Conflict(str(error)) from error
