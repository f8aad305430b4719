"""API helpers shared by every app: RFC 9457 problem details for every error DRF raises."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"


def problem(status_code: int, title: str, detail: str = "", **extra) -> Response:
    """A problem+json reply. ``extra`` members (e.g. ``errors``) are added as RFC 9457 extension members."""
    body = {"type": "about:blank", "title": title, "status": status_code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    title = str(getattr(exc, "default_detail", "") or "Error")
    if isinstance(data, dict) and set(data) == {"detail"}:
        body = {"type": "about:blank", "title": title, "status": response.status_code, "detail": data["detail"]}
    else:
        body = {
            "type": "about:blank",
            "title": title,
            "status": response.status_code,
            "detail": "The request has invalid fields; see errors.",
            "errors": data,
        }
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
