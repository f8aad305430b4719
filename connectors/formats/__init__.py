"""Payload formats: turn a decoded delivery body into :class:`assets.engine.records.ParsedBatch`.

Callers do ``parse(payload_format, decode_json(body), mapping=..., checks=...)`` and map :class:`PayloadError`
to a ``400`` problem response, while the per-record :class:`~assets.engine.records.RecordError` list is reported
back next to the accepted records, and the value warnings of :mod:`assets.engine.validate` with them. The package
imports no Django and touches no database: everything is stdlib plus the plain records and value checks of
``assets.engine``, safe to call on untrusted input and tested without a database.

* :mod:`.decode`: the body as a whole (UTF-8, JSON, nesting depth, record count) and :class:`PayloadError`;
* :mod:`.values`: cleaning one value of one record, shared by every format (the rules are in its docstring);
* :mod:`.native`, :mod:`.csam`, :mod:`.netbox`, :mod:`.mapped`: one module per format, each with one public
  ``parse_<name>``;
* :mod:`.samples`: the one sample asset the UI and the test delivery show, in each format.

Whole-body vs per-record errors: :class:`PayloadError` means the body cannot be used at all (not UTF-8, not
JSON, nested too deeply, the wrong top-level shape, too many entries). Anything wrong inside one asset becomes
exactly one ``RecordError`` for that record (the first problem found) and the record is left out; the rest of
the batch is still parsed.

Adding a format
---------------
1. Write ``connectors/formats/<name>.py`` with ``parse_<name>(data: object) -> ParsedBatch``: raise
   :class:`PayloadError` for an unusable body, call :func:`~.decode.check_record_count`, clean every value with
   the helpers of :mod:`.values` and turn each :class:`~.values.FieldError` into a ``RecordError``.
2. Add it to :data:`PARSERS` below (the key is the connector's ``payload_format`` value, a choice in
   ``connectors.choices.PayloadFormat``). Every entry takes ``(data, options)``: a format that needs nothing but the
   body is wrapped with :func:`body_only`; one configured per connector (mapped) reads :class:`FormatOptions`.
3. Its tests go next to the others: pure, no database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assets.engine.records import ParsedBatch
from assets.engine.validate import ValueChecks, validate_batch

from .csam import csam_connector_uuid, parse_csam
from .decode import MAX_RECORDS_PER_DELIVERY, PayloadError, decode_json
from .mapped import parse_mapped
from .native import parse_native
from .netbox import parse_netbox

__all__ = [
    "MAX_RECORDS_PER_DELIVERY",
    "PARSERS",
    "FormatOptions",
    "PayloadError",
    "ValueChecks",
    "csam_connector_uuid",
    "decode_json",
    "parse",
    "parse_csam",
    "parse_mapped",
    "parse_native",
    "parse_netbox",
]


@dataclass(frozen=True)
class FormatOptions:
    """What a connector configures about its format: the mapping of the ``mapped`` format (``None`` elsewhere)."""

    mapping: dict | None = None


Parser = Callable[[object, FormatOptions], ParsedBatch]


def body_only(parse_body: Callable[[object], ParsedBatch]) -> Parser:
    """A parser that needs only the body, in the registry's ``(data, options)`` shape."""

    def parser(data: object, options: FormatOptions) -> ParsedBatch:
        return parse_body(data)

    parser.__name__ = parse_body.__name__
    return parser


def _mapped(data: object, options: FormatOptions) -> ParsedBatch:
    return parse_mapped(data, options.mapping)


#: Payload format name (``Connector.payload_format``) → the function that parses a decoded body of that format.
PARSERS: dict[str, Parser] = {
    "native": body_only(parse_native),
    "csam": body_only(parse_csam),
    "mapped": _mapped,
    "netbox": body_only(parse_netbox),
}


def parse(
    payload_format: str, data: object, *, mapping: dict | None = None, checks: ValueChecks | None = None
) -> ParsedBatch:
    """Parse a decoded body in ``payload_format``; ``mapping`` is the one in force for a mapped delivery.

    Every format's records then go through :func:`assets.engine.validate.validate_batch`: values invalid for
    their field are dropped with a warning (``batch.warnings``), judged against ``checks`` (the receipt time and
    how far in the future a timestamp may lie; by default now and a day)."""
    batch = PARSERS[payload_format](data, FormatOptions(mapping=mapping))
    validate_batch(batch, checks)
    return batch
