"""Payload formats: turn a decoded delivery body into :class:`assets.engine.records.ParsedBatch`.

Callers do ``PARSERS[connector.payload_format](decode_json(body))`` and map :class:`PayloadError` to a ``400``
problem response, while the per-record :class:`~assets.engine.records.RecordError` list is reported back next to the
accepted records. The package imports no Django and touches no database: everything is stdlib plus the plain
records of ``assets.engine.records``, safe to call on untrusted input and tested without a database.

* :mod:`.decode`: the body as a whole (UTF-8, JSON, nesting depth, record count) and :class:`PayloadError`;
* :mod:`.values`: cleaning one value of one record, shared by every format (the rules are in its docstring);
* :mod:`.native`, :mod:`.csam`, :mod:`.netbox`: one module per format, each with one public ``parse_<name>(data)``;
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
   ``connectors.choices.PayloadFormat``).
3. Its tests go next to the others: pure, no database.
"""

from __future__ import annotations

from collections.abc import Callable

from assets.engine.records import ParsedBatch

from .csam import csam_connector_uuid, parse_csam
from .decode import MAX_RECORDS_PER_DELIVERY, PayloadError, decode_json
from .native import parse_native
from .netbox import parse_netbox

__all__ = [
    "MAX_RECORDS_PER_DELIVERY",
    "PARSERS",
    "PayloadError",
    "csam_connector_uuid",
    "decode_json",
    "parse_csam",
    "parse_native",
    "parse_netbox",
]

#: Payload format name (``Connector.payload_format``) → the function that parses a decoded body of that format.
PARSERS: dict[str, Callable[[object], ParsedBatch]] = {
    "native": parse_native,
    "csam": parse_csam,
    "netbox": parse_netbox,
}
