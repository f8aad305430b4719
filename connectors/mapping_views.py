"""A mapped connector's Payload mapping page: its JMESPath expressions, a live preview of what they make of a
pasted sample body, and Save.

As the admin types, the form posts to the preview view (HTMX, after a short pause) which answers the records
table (``connector_mapping.html#preview``) and, out of band, each input's error slot. Without JavaScript the
Preview button posts the same form to the same view and gets the whole page. Save goes through
``services.set_mapping``, which validates and audits; Viewers see the page read-only and may preview.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from assets.engine.records import AssetRecord, RecordError
from connectors_site.common.htmx import HtmxHttpRequest
from connectors_site.common.roles import admin_required, is_connector_admin

from .formats import PayloadError
from .formats.mapped import MappingError, clean_mapping, parse_mapped
from .forms import MAPPING_FIELD_HELP, MappingForm
from .models import Connector
from .services import set_mapping
from .views import connector_or_404

#: Records shown in the preview; the count says how many the sample holds.
PREVIEW_ROWS = 50


@dataclass
class PreviewRow:
    index: int
    source_key: str
    values: list[str] = field(default_factory=list)
    error: RecordError | None = None


@dataclass
class MappingPreview:
    """What a mapping makes of a sample body: a row per record (its values or its error) and the deletions."""

    columns: list[tuple[str, str]] = field(default_factory=list)
    rows: list[PreviewRow] = field(default_factory=list)
    count: int = 0
    deleted: list[str] = field(default_factory=list)
    deletion_errors: list[RecordError] = field(default_factory=list)
    problem: str = ""

    @property
    def errors(self) -> int:
        return sum(1 for row in self.rows if row.error) + len(self.deletion_errors)


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if value else ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return "" if value is None else str(value)


def _usable(mapping: dict) -> tuple[dict, str]:
    """The typed mapping without the expressions that do not compile, so the others still preview; or a reason
    why nothing can be previewed."""
    try:
        return clean_mapping(mapping), ""
    except MappingError as exc:
        if "records" in exc.errors or "fields.source_key" in exc.errors:
            return {}, "Fix the Records and Source key expressions to see the records they select."
        fields = {name: text for name, text in mapping["fields"].items() if f"fields.{name}" not in exc.errors}
        deleted = "" if "deleted" in exc.errors else mapping["deleted"]
        return clean_mapping({"records": mapping["records"], "deleted": deleted, "fields": fields}), ""


def preview_mapping(mapping: dict, sample: object) -> MappingPreview:
    """Parse ``sample`` with ``mapping`` (as typed) for the preview; writes nothing."""
    usable, problem = _usable(mapping)
    if problem:
        return MappingPreview(problem=problem)
    try:
        batch = parse_mapped(sample, usable)
    except PayloadError as exc:
        return MappingPreview(problem=str(exc))
    names = [name for name in usable["fields"] if name != "source_key"]
    preview = MappingPreview(columns=[(name, MAPPING_FIELD_HELP[name][0]) for name in names])
    record_errors = {error.index: error for error in batch.errors if not error.field.startswith("deleted[")}
    preview.deletion_errors = [error for error in batch.errors if error.field.startswith("deleted[")]
    preview.deleted = batch.deleted
    records = iter(batch.records)
    preview.count = len(batch.records) + len(record_errors)
    for index in range(min(preview.count, PREVIEW_ROWS)):
        error = record_errors.get(index)
        if error is not None:
            preview.rows.append(PreviewRow(index, error.source_key, error=error))
            continue
        record: AssetRecord = next(records)
        preview.rows.append(PreviewRow(index, record.source_key, [_shown(getattr(record, name)) for name in names]))
    return preview


def _context(connector: Connector, form: MappingForm, **extra) -> dict:
    return {"connector": connector, "form": form, "preview": None, "preview_rows": PREVIEW_ROWS, **extra}


def _form(request: HtmxHttpRequest, **kwargs) -> MappingForm:
    return MappingForm(read_only=not is_connector_admin(request.user), **kwargs)


@require_http_methods(["GET", "POST"])
def connector_mapping(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """The editor: GET shows the stored mapping; POST (admins) saves it."""
    if request.method == "POST":
        return _save(request, connector_uuid)
    connector = connector_or_404(connector_uuid)
    form = _form(request, initial=MappingForm.initial_from(connector.mapping or {}))
    return render(request, "connectors/connector_mapping.html", _context(connector, form))


@admin_required
def _save(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    connector = connector_or_404(connector_uuid)
    form = _form(request, data=request.POST)
    form.is_valid()  # a bad sample is no reason to refuse a good mapping: the sample is never stored
    if form.mapping is None:
        context = _context(connector, form, saving=True)
        return render(request, "connectors/connector_mapping.html", context, status=400)
    set_mapping(connector, form.mapping, actor=request.user)
    messages.success(request, "Payload mapping saved. Deliveries received from now on are read with it.")
    return redirect("connectors:connector_mapping", connector_uuid=connector.uuid)


@require_POST
@vary_on_headers("HX-Request")
def connector_mapping_preview(request: HtmxHttpRequest, connector_uuid) -> HttpResponse:
    """What the typed mapping makes of the sample body. Writes nothing, so Viewers may use it too."""
    connector = connector_or_404(connector_uuid)
    form = _form(request, data=request.POST)
    form.is_valid()
    sample = form.cleaned_data.get("sample")
    preview = preview_mapping(form.raw_mapping(), sample) if sample is not None else None
    context = _context(connector, form, preview=preview)
    if request.htmx:
        # The records table, and each input's error slot out of band (the inputs keep focus and caret).
        html = render_to_string("connectors/connector_mapping.html#preview", context, request)
        html += render_to_string("connectors/connector_mapping.html#error_slots", context, request)
        return HttpResponse(html)
    return render(request, "connectors/connector_mapping.html", context)
