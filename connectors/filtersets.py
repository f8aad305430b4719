"""Filters for connectors, shared by the Manage Connectors page and the REST API (no UI concerns here)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from .choices import Module, PayloadFormat
from .models import Connector


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
