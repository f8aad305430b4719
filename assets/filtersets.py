"""The one asset FilterSet, shared by the CSAM list page, its CSV export and the REST API.

Defaults: merged assets are never listed (their URLs redirect to the survivor), retired assets only with
``include_retired``. The text search is a prefix search through the Identifier table (normalized values,
indexed) rather than a substring scan of the assets: it stays fast over a million assets.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from connectors.models import Connector

from .choices import AssetKind
from .engine import normalize_ip
from .models import Asset, Identifier, SourceRecord

#: Up to this many matches, the search and connector filters select assets by a list of ids (``_few_ids``).
FILTER_ID_LIST_LIMIT = 5_000

#: The largest ``not_seen_for`` (days) taken: a century; more would overflow the date arithmetic.
MAX_STALE_DAYS = 36_500

#: Public ordering name -> model field. ``created`` is the inventory's own creation time.
ORDERING_FIELDS: dict[str, str] = {
    "hostname": "hostname",
    "os": "os",
    "kind": "kind",
    "last_seen": "last_seen",
    "first_seen": "first_seen",
    "created": "created_at",
}

_MAC_GROUPS = re.compile(r"[0-9a-f]{1,2}(?:[:-][0-9a-f]{1,2})*[:-]?")
_MAC_CISCO = re.compile(r"[0-9a-f]{4}(?:\.[0-9a-f]{0,4}){1,2}")
_MAC_BARE = re.compile(r"[0-9a-f]{12}")
_IPV4_PREFIX = re.compile(r"\d{1,3}(?:\.\d{0,3}){1,3}")
_IPV6_PREFIX = re.compile(r"[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}")


def mac_prefix(text: str) -> str:
    """A typed MAC address or the start of one in the stored form (``aa:bb:cc``), or ``""`` if it is not one.

    ``00-1A-2B`` and ``00:1a:2b`` give ``00:1a:2b``; ``001a.2b3c`` (Cisco) gives ``00:1a:2b:3c``; twelve bare hex
    digits are a whole MAC. A single group (``00``) is too vague to be read as a MAC.
    """
    text = text.strip().lower()
    if _MAC_BARE.fullmatch(text) or _MAC_CISCO.fullmatch(text):
        digits = text.replace(".", "")
        return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
    if not _MAC_GROUPS.fullmatch(text) or not re.search(r"[:-]", text):
        return ""
    trailing = text[-1] in ":-"
    groups = re.split(r"[:-]", text.rstrip(":-"))
    if len(groups) > 6:
        return ""
    # Every group but a last one still being typed is complete: "0:1a" is "00:1a".
    padded = [group.zfill(2) for group in groups[:-1]] + [groups[-1].zfill(2) if trailing else groups[-1]]
    return ":".join(padded) + (":" if trailing and len(groups) < 6 else "")


def ip_prefix(text: str) -> str:
    """A typed IP address (canonical form) or the start of one (``10.0.``), or ``""`` if it is not one."""
    text = text.strip().lower()
    if full := normalize_ip(text):
        return full
    if _IPV4_PREFIX.fullmatch(text) or _IPV6_PREFIX.fullmatch(text):
        return text
    return ""


def search_prefixes(text: str) -> set[str]:
    """What a search for ``text`` looks for at the start of identifier values (stored normalized: host names
    lower-case, serials and UUIDs upper-case, MACs and IPs in canonical form)."""
    text = text.strip()
    return {text.lower(), text.upper(), mac_prefix(text), ip_prefix(text)} - {""}


@extend_schema_field(OpenApiTypes.UUID)
class ConnectorFilter(filters.ModelChoiceFilter):
    """A connector given by its public uuid."""


@extend_schema_field({"type": "number", "minimum": 1, "maximum": MAX_STALE_DAYS})
class DaysFilter(filters.NumberFilter):
    """A number of days, bounded (the schema says so)."""


class AssetOrderingFilter(filters.OrderingFilter):
    """Sorts with empty dates last in both directions and the newest asset first among equals, so that pages
    are stable (no asset on two pages) whatever the column."""

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if not value:
            return qs
        ordering = []
        for param in value:
            if not param:
                continue
            descending = param.startswith("-")
            field = F(self.param_map.get(param.lstrip("-"), param.lstrip("-")))
            ordering.append(field.desc(nulls_last=True) if descending else field.asc(nulls_last=True))
        return qs.order_by(*ordering, "-pk")


def _any_prefix(field: str, prefixes: set[str]) -> Q:
    """Values starting with any of ``prefixes``, written so that an ordinary index serves it.

    PostgreSQL: ``LIKE 'p%'`` (served by ``varchar_pattern_ops`` indexes). SQLite: a range, because its LIKE
    ignores indexes unless the column is declared NOCASE, while strings compare byte-wise in a range.
    """
    condition = Q()
    for prefix in prefixes:
        if connection.vendor == "postgresql":
            condition |= Q(**{f"{field}__startswith": prefix})
        else:
            condition |= Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "\U0010ffff"})
    return condition


def _few_ids(asset_ids: QuerySet) -> set[int] | None:
    """The ids ``asset_ids`` selects when they are few (else None), for filtering the assets by a list.

    Given ``id IN (subquery) ORDER BY id DESC LIMIT 50``, the databases walk the primary key backwards testing
    each asset, expecting to meet the matches early; when the matches are a few old assets under a million newer
    ones, that walk reads the whole table. A list of ids is looked up directly. Many matches keep the subquery:
    one more query reading them all would cost more than it saves.
    """
    found = list(asset_ids[: FILTER_ID_LIST_LIMIT + 1])
    return set(found) if len(found) <= FILTER_ID_LIST_LIMIT else None


class AssetFilterSet(filters.FilterSet):
    q = filters.CharFilter(
        method="search",
        label="Search",
        help_text="The start of a hostname, FQDN, serial number, hardware UUID, cloud instance ID, IP or MAC address "
        "(case does not matter).",
    )
    connector = ConnectorFilter(
        queryset=Connector.objects.all(),
        to_field_name="uuid",
        method="from_connector",
        label="Connector",
        help_text="Connector UUID: assets it reports (with include_retired, also records it has deleted).",
    )
    kind = filters.ChoiceFilter(choices=AssetKind.choices, help_text="managed or unmanaged.")
    os = filters.CharFilter(lookup_expr="icontains", label="OS", help_text="Operating system (contains).")
    include_retired = filters.BooleanFilter(
        method="retired_too",
        label="Include retired",
        help_text="Also list retired assets (no live source). Merged assets are never listed.",
    )
    retired = filters.BooleanFilter(
        label="Retired",
        help_text="Only retired assets (true; implies include_retired) or only live ones (false).",
    )
    not_seen_for = DaysFilter(
        method="not_seen_for_days",
        label="Not seen for (days)",
        min_value=1,
        max_value=MAX_STALE_DAYS,
        help_text=f"Only assets not seen for at least this many days (or never): 1 to {MAX_STALE_DAYS}. Judged "
        "on the sources' own last-seen times; `stale` applies the connectors' stale rules instead.",
    )
    stale = filters.BooleanFilter(
        help_text="Only assets every live source of which is stale (not reported within its connector's "
        "`stale_after_days`), or with false only those some source still reports.",
    )
    possible_duplicate = filters.BooleanFilter(
        help_text="Only assets flagged (or not) as a possible duplicate by an ambiguous identification."
    )
    conflict = filters.BooleanFilter(
        field_name="identifier_conflict",
        label="Identifier conflict",
        help_text="Only assets whose live sources report different serial numbers, hardware UUIDs or cloud instance "
        "IDs (possible false merges: see `identifier_conflicts`), or with false only those whose sources agree.",
    )
    ordering = AssetOrderingFilter(
        fields=tuple((field, name) for name, field in ORDERING_FIELDS.items()),
        help_text="Sort by a field; prefix with '-' for descending.",
    )

    class Meta:
        model = Asset
        fields = (
            "q",
            "connector",
            "kind",
            "os",
            "include_retired",
            "not_seen_for",
            "retired",
            "stale",
            "possible_duplicate",
            "conflict",
        )

    def _retired_shown(self) -> bool:
        """Whether retired assets may be listed: asked for, or asked for alone (``retired=true``)."""
        return bool(self.form.cleaned_data.get("include_retired") or self.form.cleaned_data.get("retired"))

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = queryset.filter(merged_into__isnull=True)
        if not self._retired_shown():
            queryset = queryset.filter(retired=False)
        return super().filter_queryset(queryset)

    def retired_too(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset  # applied in filter_queryset, because "hidden" is the default when the filter is absent

    def from_connector(self, queryset: QuerySet, name: str, value: Connector) -> QuerySet:
        sources = SourceRecord.objects.filter(connector=value)
        if not self._retired_shown():
            sources = sources.filter(deleted=False)
        found = _few_ids(sources.values_list("asset_id", flat=True))
        if found is not None:
            return queryset.filter(pk__in=found)
        # Many assets: bound the scan to the range of their ids too, so a walk in id order starts at the first
        # match rather than under every newer asset of other connectors. The bounds are read first (one index
        # lookup each) so that the planner sees them as values and estimates the range.
        ids = sources.values_list("asset_id", flat=True)
        low, high = ids.order_by("asset_id").first(), ids.order_by("-asset_id").first()
        if low is None or high is None:  # its sources went in the meantime
            return queryset.none()
        return queryset.filter(Exists(sources.filter(asset=OuterRef("pk"))), pk__gte=low, pk__lte=high)

    def not_seen_for_days(self, queryset: QuerySet, name: str, value) -> QuerySet:
        cutoff = timezone.now() - timedelta(days=float(value))
        return queryset.filter(Q(last_seen__lt=cutoff) | Q(last_seen__isnull=True))

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        text = value.strip()
        if not text:
            return queryset
        # Identifier values are normalized (host names lower-case, serials and UUIDs upper-case, MACs and IPs in
        # canonical form), so a prefix search there is one index range scan, whatever the inventory's size.
        prefixes = search_prefixes(text)
        identifiers = Identifier.objects.filter(_any_prefix("value", prefixes)).values_list("asset_id", flat=True)
        found = _few_ids(identifiers)
        condition = Q(pk__in=identifiers if found is None else found)
        if self._retired_shown():
            # Retired assets have no live source, hence no identifiers: their last known names are on the asset.
            condition |= _any_prefix("hostname", prefixes) | _any_prefix("serial_number", prefixes)
        return queryset.filter(condition)


class AssetAPIFilterSet(AssetFilterSet):
    """The API's asset filters: a well-formed connector uuid that names no connector lists nothing (a filter that
    matches no asset), where the page says "no such connector"."""

    connector = filters.UUIDFilter(
        method="from_connector_uuid",
        label="Connector",
        help_text="Connector UUID: assets it reports (with include_retired, also records it has deleted).",
    )

    def from_connector_uuid(self, queryset: QuerySet, name: str, value) -> QuerySet:
        connector = Connector.objects.filter(uuid=value).first()
        return queryset.none() if connector is None else self.from_connector(queryset, name, connector)
