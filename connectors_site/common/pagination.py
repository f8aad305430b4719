"""Pagination that stays fast on a million rows: counting stops at a cap."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework.pagination import LimitOffsetPagination

#: Past this many rows a list says "more than N" instead of counting them all (COUNT(*) reads every match).
COUNT_CAP = 10_000


def capped_count(queryset, limit: int) -> tuple[int, bool]:
    """The number of rows, counting at most ``limit``: ``(count, exact)``. ``SELECT COUNT(*) FROM (… LIMIT n)``
    stops reading at the limit, where a plain COUNT reads every matching row. The ordering is dropped: which rows
    are counted does not matter, and an ORDER BY … LIMIT would make the database walk the sort order."""
    count = queryset.order_by()[: limit + 1].count()
    return (count, True) if count <= limit else (limit, False)


class CappedPaginator(Paginator):
    """A Paginator whose count stops at ``max(COUNT_CAP, the rows up to the requested page)``.

    ``exact`` says whether ``count`` is the true total; when it is not, there is always a next page to go to, so
    a reader can page on past the cap, and templates show "more than N".
    """

    def __init__(self, object_list, per_page, *, page_hint=1, cap: int | None = None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        try:
            page_hint = max(1, int(page_hint))
        except (TypeError, ValueError):
            page_hint = 1
        self.cap = max(cap or COUNT_CAP, page_hint * int(per_page))
        self.exact = True

    @cached_property
    def count(self) -> int:
        count, self.exact = capped_count(self.object_list, self.cap)
        return count if self.exact else count + 1  # one row into the next page: "Next" stays available


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """The API's pagination: ``count`` is exact up to a cap (``count_exact`` says so); ``next`` is always right."""

    def get_count(self, queryset) -> int:
        limit = max(COUNT_CAP, self.get_offset(self.request) + self.get_limit(self.request))
        count, self.count_exact = capped_count(queryset, limit)
        return count if self.count_exact else count + 1

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["count_exact"] = self.count_exact
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count_exact"] = {
            "type": "boolean",
            "description": f"False when there are more than {COUNT_CAP} results: `count` is then a lower bound.",
        }
        return schema
