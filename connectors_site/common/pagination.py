"""Pagination that stays fast on a million rows: counting stops at a cap."""

from __future__ import annotations

import re

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

#: Past this many rows a list says "more than N" instead of counting them all (COUNT(*) reads every match).
COUNT_CAP = 10_000
#: The API's largest page (``limit``); a larger one is refused with 400.
MAX_PAGE_SIZE = 500
#: The API's largest ``offset``: far past any inventory, far below the databases' 64-bit integers.
MAX_OFFSET = 1_000_000_000
#: The UI's largest page number taken as a counting hint; larger ones show the last page counted.
MAX_PAGE_HINT = 1_000_000

_DIGITS = re.compile(r"[0-9]{1,19}")


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
            page_hint = min(MAX_PAGE_HINT, max(1, int(page_hint)))
        except (TypeError, ValueError, OverflowError):
            page_hint = 1
        self.cap = max(cap or COUNT_CAP, page_hint * int(per_page))
        self.exact = True

    @cached_property
    def count(self) -> int:
        count, self.exact = capped_count(self.object_list, self.cap)
        return count if self.exact else count + 1  # one row into the next page: "Next" stays available


def bounded_int(params, name: str, *, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as an integer in ``[low, high]`` (``default`` when absent); anything else (not
    a plain decimal number, or out of range) is a 400 naming the parameter and the range."""
    raw = params.get(name)
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise ValidationError({name: [f"Must be a whole number from {low} to {high}."]})
    return int(raw)


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """The API's pagination: ``count`` is exact up to a cap (``count_exact`` says so); ``next`` is always right.

    ``limit`` is 1 to :data:`MAX_PAGE_SIZE`, ``offset`` 0 to :data:`MAX_OFFSET`; other values are refused with 400
    (never clamped silently, never passed on to the database to overflow).
    """

    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request) -> int:
        return bounded_int(
            request.query_params, self.limit_query_param, default=self.default_limit, low=1, high=self.max_limit
        )

    def get_offset(self, request) -> int:
        return bounded_int(request.query_params, self.offset_query_param, default=0, low=0, high=MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_limit, default=self.default_limit)
                parameter["description"] = (
                    f"Number of results per page: 1 to {self.max_limit} (default {self.default_limit})."
                )
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"].update(minimum=0, maximum=MAX_OFFSET, default=0)
                parameter["description"] = f"Index of the first result: 0 to {MAX_OFFSET} (default 0)."
        return parameters

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
