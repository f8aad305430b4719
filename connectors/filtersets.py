"""Filters for connectors and deliveries, each shared by its UI page and the REST API (no UI concerns here)."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django_filters.fields import IsoDateTimeField

from .choices import DeliveryStatus, Module, PayloadFormat
from .models import Connector, Delivery


def with_module(code: str) -> Q:
    """Connectors whose comma-separated ``modules`` column lists ``code`` (exactly, not as a substring)."""
    return (
        Q(modules=code)
        | Q(modules__startswith=f"{code},")
        | Q(modules__endswith=f",{code}")
        | Q(modules__contains=f",{code},")
    )


class ConnectorFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    enabled = django_filters.BooleanFilter(label="Enabled")
    payload_format = django_filters.ChoiceFilter(choices=PayloadFormat.choices, label="Payload format")
    module = django_filters.ChoiceFilter(choices=Module.choices, method="filter_module", label="Module")

    class Meta:
        model = Connector
        fields = ["q", "enabled", "payload_format", "module"]

    def search(self, queryset: QuerySet[Connector], name: str, value: str) -> QuerySet[Connector]:
        """Case-insensitive match on name or description; every word must appear in one of them."""
        for word in value.split():
            queryset = queryset.filter(Q(name__icontains=word) | Q(description__icontains=word))
        return queryset

    def filter_module(self, queryset: QuerySet[Connector], name: str, value: str) -> QuerySet[Connector]:
        return queryset.filter(with_module(value)) if value else queryset


class BoundedIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time that is a valid instant: ``9999-12-31T23:59:59-14:00`` parses, yet lies past the last
    instant a datetime holds in UTC; it is refused like any malformed date rather than overflowing later. The
    value is given to the database in UTC."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            # In UTC: PostgreSQL refuses offsets past ±15:59 (ISO 8601 allows up to ±23:59).
            return parsed.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Enter a date-time between the years 1 and 9999.", code="invalid") from None


class BoundedIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = BoundedIsoDateTimeField


class DeliveryFilterSet(django_filters.FilterSet):
    """Filters shared by the delivery log page and ``/api/v1/deliveries/``."""

    connector = django_filters.UUIDFilter(field_name="connector__uuid", label="Connector (uuid)")
    status = django_filters.MultipleChoiceFilter(choices=DeliveryStatus.choices)
    received_after = BoundedIsoDateTimeFilter(field_name="received_at", lookup_expr="gte")
    received_before = BoundedIsoDateTimeFilter(field_name="received_at", lookup_expr="lt")
    idempotency_key = django_filters.CharFilter()
    sync = django_filters.UUIDFilter(field_name="sync__uuid", label="Full sync (sync_uuid): its parts")

    class Meta:
        model = Delivery
        fields = ["connector", "status", "idempotency_key"]
