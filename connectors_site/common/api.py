"""API helpers shared by every app: RFC 9457 problem details for every error, in replies and in the schema.

Every error the API gives is ``application/problem+json`` whose ``title`` is the status's reason phrase (in
sentence case: "Method not allowed") and whose ``detail`` says what went wrong with this request. That holds for
DRF's errors (:func:`exception_handler`), for paths no route matches under ``/api/`` and ``/webhooks/``
(:func:`not_found`) and for the schema: :class:`ProblemAutoSchema` documents the errors each operation can give.
"""

from __future__ import annotations

from http import HTTPStatus

import django_filters
from django.http import HttpRequest, JsonResponse
from django.views import defaults
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"

#: Paths whose unmatched URLs (a malformed id, say) and server errors answer problem+json, not the HTML pages.
PROBLEM_PATH_PREFIXES = ("/api/", "/webhooks/")


def status_title(status_code: int) -> str:
    """The status's reason phrase in sentence case ("Method not allowed"): RFC 9457's title is the same for every
    occurrence of a problem, so it is never a message template (DRF's ``default_detail`` is one) or a detail."""
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"
    return phrase[:1] + phrase[1:].lower()


def problem_body(status_code: int, detail: str = "", **extra) -> dict:
    body = {"type": "about:blank", "title": status_title(status_code), "status": status_code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return body


def problem(status_code: int, title: str = "", detail: str = "", **extra) -> Response:
    """A problem+json reply. ``extra`` members (e.g. ``errors``) are added as RFC 9457 extension members.
    ``title`` defaults to the status's reason phrase."""
    body = problem_body(status_code, detail, **extra)
    if title:
        body["title"] = title
    return Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and set(data) == {"detail"}:
        body = problem_body(response.status_code, str(data["detail"]))
    elif response.status_code == status.HTTP_409_CONFLICT:
        body = problem_body(409, "The request conflicts with what exists; see errors.", errors=data)
    else:
        body = problem_body(response.status_code, "The request has invalid fields; see errors.", errors=data)
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


class Conflict(APIException):
    """409: a valid request that clashes with what exists (a name or a definition already taken)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The change conflicts with the current state."
    default_code = "conflict"


def not_found(request: HttpRequest, exception=None):
    """``handler404``: problem+json under the API and intake paths, the usual page elsewhere."""
    if request.path.startswith(PROBLEM_PATH_PREFIXES):
        return JsonResponse(
            problem_body(404, "No resource at this URL (an id may be malformed)."),
            status=404,
            content_type=PROBLEM_CONTENT_TYPE,
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest):
    """``handler500``: a bug still answers problem+json (and no detail) under the API and intake paths."""
    if request.path.startswith(PROBLEM_PATH_PREFIXES):
        return JsonResponse(problem_body(500), status=500, content_type=PROBLEM_CONTENT_TYPE)
    return defaults.server_error(request)


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details, the body of every error reply."""

    type = serializers.CharField(help_text="Always `about:blank`: the status code says it all.")
    title = serializers.CharField(help_text="The status's reason phrase, e.g. `Not found`.")
    status = serializers.IntegerField(help_text="The HTTP status code.")
    detail = serializers.CharField(required=False, help_text="What went wrong with this request.")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="Validation errors: field or parameter name → list of messages (`non_field_errors` for the "
        "whole body).",
    )


ERROR_DESCRIPTIONS = {
    400: "Invalid body or query parameters (a malformed or out-of-range number, an unknown choice): `errors` "
    "maps each field or parameter to its messages.",
    401: "No valid credentials.",
    403: "Authenticated, but not allowed to do this.",
    404: "Nothing with this id (or nothing this caller may see).",
    409: "A valid request that conflicts with what exists (e.g. a name already taken): `errors` says which.",
    415: "The body is not in a supported media type.",
    429: "Too many requests; retry later.",
}


#: Patterns of the text DRF's CharField takes: no NUL character; not blank once trimmed.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, documenting the problem+json errors each operation can give: 401 and 403
    where credentials are needed, 404 where the path has an id, 400 where there is a body or query parameters,
    415 where there is a body, 429 where requests are throttled. Errors an operation declares itself keep their
    description; their media type is always problem+json, the type they are served with."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and type(field) is serializers.CharField and schema.get("type") == "string":
            # What DRF refuses, the schema says: NUL characters never, blank (after trimming) unless allowed.
            blank_ok = field.allow_blank or not field.trim_whitespace
            schema.setdefault("pattern", NO_NUL if blank_ok else NOT_BLANK)
        return schema

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        filters = getattr(getattr(self.view, "filterset_class", None), "base_filters", {})
        for parameter in parameters:
            schema = parameter.get("schema", {})
            text = schema.get("type") == "string" and not {"enum", "format"} & set(schema)
            if parameter["in"] == "query" and parameter["name"] in filters and text:
                schema.setdefault("pattern", NO_NUL)  # a text filter refuses NUL characters, as every form field does
        codes = set()
        if any(scheme for scheme in operation.get("security", [])):
            codes |= {401, 403}
        if any(parameter["in"] == "path" for parameter in parameters):
            codes.add(404)
        has_body = "requestBody" in operation
        if has_body or any(parameter["in"] == "query" for parameter in parameters):
            codes.add(400)
        if has_body:
            codes.add(415)
        if self.view.get_throttles():
            codes.add(429)
        responses = operation.setdefault("responses", {})
        content = {PROBLEM_CONTENT_TYPE: {"schema": self.resolve_serializer(ProblemSerializer, "response").ref}}
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400 and "content" in response:
                response["content"] = {
                    media: schema for media, schema in response["content"].items() if media != "application/json"
                } or dict(content)
                response["content"].setdefault(PROBLEM_CONTENT_TYPE, content[PROBLEM_CONTENT_TYPE])
        for code in sorted(codes):
            responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS[code], "content": dict(content)})
        return operation


def _json_types(field: serializers.Field) -> tuple[type, ...] | None:
    """The JSON types a writable field takes, as the schema documents it (None: no check here)."""
    if isinstance(field, serializers.BooleanField):
        return (bool,)
    if isinstance(field, serializers.IntegerField):
        return (int,)
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return (int, float)
    if isinstance(field, serializers.CharField | serializers.ChoiceField | serializers.UUIDField):
        return (str,)
    if isinstance(field, serializers.DateTimeField | serializers.DateField):
        return (str,)
    if isinstance(field, serializers.ListField | serializers.ListSerializer | serializers.MultipleChoiceField):
        return (list,)
    if isinstance(field, serializers.Serializer | serializers.DictField):
        return (dict,)
    return None


class StrictJSONTypes:
    """A serializer mixin that takes each member in the JSON type its schema gives: DRF alone would take ``1`` for
    a string, ``"yes"`` for a boolean and ``"7"`` for an integer, values the schema says are invalid."""

    def to_internal_value(self, data):
        if type(data) is dict:  # a JSON body; form bodies (QueryDict) hold strings by nature
            errors = {}
            for name, field in self.fields.items():
                if field.read_only or name not in data or data[name] is None:
                    continue
                types = _json_types(field)
                value = data[name]
                if types and (not isinstance(value, types) or (bool not in types and isinstance(value, bool))):
                    errors[name] = [f"Expected a {_TYPE_NAMES[types[0]]}, got {type(value).__name__}."]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


_TYPE_NAMES = {bool: "boolean", int: "number", str: "string", list: "list", dict: "JSON object"}


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend, reading query parameters as strictly as the schema documents them: a boolean is
    ``true`` or ``false`` and a typed filter (a number, a date, a uuid, a choice) is never empty. django-filter
    alone ignores ``?enabled=null`` and ``?received_before=``, which suits HTML forms, not an API."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            errors = {}
            for name, value in request.query_params.lists():
                filter_ = filterset.filters.get(name)
                if filter_ is None or isinstance(
                    filter_,
                    django_filters.CharFilter | django_filters.MultipleChoiceFilter | django_filters.BaseCSVFilter,
                ):
                    continue  # text, and lists (empty is an empty list)
                if isinstance(filter_, django_filters.BooleanFilter):
                    if any(item not in ("true", "false") for item in value):
                        errors[name] = ["Must be true or false."]
                elif any(item == "" for item in value):
                    errors[name] = ["Must not be empty."]
            if errors:
                raise ValidationError(errors)
        return filterset


class JsonReplies(BaseContentNegotiation):
    """Content negotiation for endpoints that answer only JSON (the intake: problem+json for errors) whatever
    ``Accept`` a client sends: no 406, no HTML page, and no Accept header parsed on every request."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
