"""API helpers shared by every app: RFC 9457 problem details for every error DRF raises."""

from __future__ import annotations

from http import HTTPStatus

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


def status_title(status_code: int) -> str:
    """A short human phrase for a status ("Method not allowed"): RFC 9457's title is the same for every
    occurrence of a problem, so it is never a message template (DRF's ``default_detail`` is one) or a detail."""
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"
    return phrase[:1] + phrase[1:].lower()


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    title = status_title(response.status_code)
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
