"""The mapped payload format: any JSON body, read through the connector's mapping of JMESPath expressions.

A mapping is a plain dict, stored on the connector and copied onto each delivery it receives::

    {"records": "result.hosts[]",
     "deleted": "result.removed[].id",
     "fields": {"source_key": "id", "hostname": "name", "ip_addresses": "net.ips", "serial_number": "hw.serial"}}

* ``records`` selects the asset records in the body: an array (each item is one record), one object (one record)
  or null (none). ``@`` is the body itself, for a top-level array.
* ``deleted`` (optional) selects the source keys the sender says are gone: an array of keys, or one key.
* ``fields`` holds one expression per native field (:data:`MAPPED_FIELDS`), evaluated against each record;
  ``source_key`` is required, the others optional. A field whose expression gives null is absent.

The values the expressions give are cleaned exactly as native values are (:func:`.native.read_asset`): a list
field takes an array or one string, ``attributes`` an object (a multiselect hash such as
``{owner: owner, site: location.name}``), timestamps RFC 3339. Errors are native's too: one ``RecordError`` per
record, its ``index`` the position in the selected record array and its ``field`` the native field name. A field
expression that fails on one record (a JMESPath function given the wrong type) is that record's error on that field.

A mapping that does not validate (:func:`clean_mapping`) is never stored; :func:`parse_mapped` refuses one with a
:class:`PayloadError` anyway, so no delivery can turn a bad mapping into a server error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jmespath
from jmespath.exceptions import IncompleteExpressionError, JMESPathError, LexerError, ParseError
from jmespath.functions import Functions
from jmespath.parser import ParsedResult

from assets.engine.records import LIST_ATTRIBUTES, SCALAR_ATTRIBUTES, ParsedBatch, RecordError

from .decode import PayloadError, check_record_count
from .native import read_asset, read_deletions
from .values import kind

__all__ = [
    "MAPPED_FIELDS",
    "MappingError",
    "clean_mapping",
    "compile_mapping",
    "example_body",
    "expression_error",
    "parse_mapped",
]

#: The native fields a mapping may fill, in the order the editor shows them.
MAPPED_FIELDS: tuple[str, ...] = (
    "source_key",
    *SCALAR_ATTRIBUTES,
    *LIST_ATTRIBUTES,
    "attributes",
    "updated_at",
    "last_seen",
)
#: Longest expression accepted (a mapping is configuration, not a program).
MAX_EXPRESSION_LENGTH = 1000
_FUNCTIONS = frozenset(Functions.FUNCTION_TABLE)
NO_MAPPING = "This connector has no payload mapping yet: a Connector admin sets one up on its Payload mapping page."


class MappingError(ValueError):
    """A mapping that cannot be used; ``errors`` maps ``records``, ``deleted``, ``fields`` or ``fields.<name>``
    to one message each."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


def expression_error(exc: JMESPathError) -> str:
    """A JMESPath error in one line (the library's own text spans several, with a caret under the position)."""
    if isinstance(exc, IncompleteExpressionError):
        message = "the expression is incomplete"
    elif isinstance(exc, LexerError):
        message = exc.message
    elif isinstance(exc, ParseError):
        message = exc.msg
    else:
        message = str(exc).splitlines()[0]
    position = getattr(exc, "lex_position", None)
    if isinstance(position, int) and not isinstance(exc, IncompleteExpressionError):
        return f"{message} (at character {position + 1})"
    return message


def _unknown_functions(node: dict) -> list[str]:
    """Function names the expression calls that JMESPath does not have (it would only notice while searching)."""
    found = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.get("type") == "function_expression" and current.get("value") not in _FUNCTIONS:
            found.append(str(current.get("value")))
        stack.extend(child for child in current.get("children", []) if isinstance(child, dict))
    return found


def _check_expression(value: object, key: str, errors: dict[str, str], *, required: bool) -> str:
    """The trimmed expression, or "" with a message in ``errors``."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[key] = f"must be a JMESPath expression as a string (got {kind(value)})"
        return ""
    text = value.strip()
    if not text:
        if required:
            errors[key] = "is required"
        return ""
    if len(text) > MAX_EXPRESSION_LENGTH:
        errors[key] = f"must be at most {MAX_EXPRESSION_LENGTH} characters"
        return ""
    try:
        compiled = jmespath.compile(text)
    except JMESPathError as exc:
        errors[key] = f"is not a valid JMESPath expression: {expression_error(exc)}"
        return ""
    unknown = _unknown_functions(compiled.parsed)
    if unknown:
        errors[key] = f"calls a function JMESPath does not have: {', '.join(f'{name}()' for name in unknown)}"
        return ""
    return text


def clean_mapping(mapping: object) -> dict:
    """The mapping with its expressions trimmed and empty ones left out, or :class:`MappingError`.

    ``{}`` (or ``None``) is "no mapping" and stays ``{}``. Otherwise ``records`` and ``fields.source_key`` are
    required, every expression must compile, and ``fields`` may name only :data:`MAPPED_FIELDS`.
    """
    if mapping is None or mapping == {}:
        return {}
    if not isinstance(mapping, dict):
        raise MappingError({"mapping": f"must be an object (got {kind(mapping)})"})
    errors: dict[str, str] = {}
    unknown = sorted(str(key) for key in mapping if key not in ("records", "deleted", "fields"))
    if unknown:
        errors["mapping"] = f"unknown keys: {', '.join(unknown)} (use records, deleted and fields)"
    records = _check_expression(mapping.get("records"), "records", errors, required=True)
    deleted = _check_expression(mapping.get("deleted"), "deleted", errors, required=False)
    fields = mapping.get("fields") or {}
    clean_fields: dict[str, str] = {}
    if not isinstance(fields, dict):
        errors["fields"] = f"must be an object of native field name → expression (got {kind(fields)})"
    else:
        bad_names = sorted(str(name) for name in fields if name not in MAPPED_FIELDS)
        if bad_names:
            errors["fields"] = f"not native fields: {', '.join(bad_names)} (use {', '.join(MAPPED_FIELDS)})"
        for name in MAPPED_FIELDS:
            text = _check_expression(fields.get(name), f"fields.{name}", errors, required=name == "source_key")
            if text:
                clean_fields[name] = text
    if errors:
        raise MappingError(errors)
    clean: dict = {"records": records, "deleted": deleted, "fields": clean_fields}
    return clean


@dataclass(frozen=True)
class CompiledMapping:
    """A mapping's expressions compiled once, for a whole parse."""

    records: ParsedResult
    deleted: ParsedResult | None
    fields: tuple[tuple[str, ParsedResult], ...]
    source: dict


def compile_mapping(mapping: object) -> CompiledMapping:
    """Validate and compile a mapping; :class:`MappingError` when it cannot be used (``{}`` included)."""
    clean = clean_mapping(mapping)
    if not clean:
        raise MappingError({"records": NO_MAPPING})
    return CompiledMapping(
        records=jmespath.compile(clean["records"]),
        deleted=jmespath.compile(clean["deleted"]) if clean["deleted"] else None,
        fields=tuple((name, jmespath.compile(text)) for name, text in clean["fields"].items()),
        source=clean,
    )


def _select(expression: ParsedResult, data: object, what: str) -> object:
    try:
        return expression.search(data)
    except JMESPathError as exc:
        raise PayloadError(
            f'The {what} expression "{expression.expression}" fails on this body: {expression_error(exc)}.'
        ) from None


def _records(compiled: CompiledMapping, data: object) -> list | None:
    selected = _select(compiled.records, data, "records")
    if selected is None or isinstance(selected, list):
        return selected
    if isinstance(selected, dict):
        return [selected]
    raise PayloadError(
        f'The records expression "{compiled.records.expression}" selects {kind(selected)}: it must select an '
        "array of records or one object."
    )


def _deletions(compiled: CompiledMapping, data: object) -> list | None:
    if compiled.deleted is None:
        return None
    selected = _select(compiled.deleted, data, "deleted")
    if selected is None or isinstance(selected, list):
        return selected
    if isinstance(selected, str | int) and not isinstance(selected, bool):
        return [selected]
    raise PayloadError(
        f'The deleted expression "{compiled.deleted.expression}" selects {kind(selected)}: it must select an '
        "array of source keys or one key."
    )


def apply_mapping(compiled: CompiledMapping, data: object) -> ParsedBatch:
    """Parse a decoded body with an already compiled mapping (see the module docstring)."""
    items = _records(compiled, data)
    deleted = _deletions(compiled, data)
    if items is None and not deleted and not (isinstance(data, dict) and "sync" in data):  # a sync part may be empty
        raise PayloadError(
            f'The records expression "{compiled.records.expression}" selects nothing in this body'
            + (f' and the deleted expression "{compiled.deleted.expression}" neither.' if compiled.deleted else ".")
        )
    items = items or []
    check_record_count(len(items) + len(deleted or ()))
    batch = ParsedBatch()
    for index, item in enumerate(items):
        values: dict[str, object] = {}
        for name, expression in compiled.fields:
            try:
                value = expression.search(item)
            except JMESPathError as exc:
                batch.errors.append(
                    RecordError(index, name, f"the expression failed: {expression_error(exc)}", _key(values))
                )
                break
            if value is not None:
                values[name] = value
        else:
            read_asset(index, values, batch)
    if deleted:
        read_deletions(deleted, batch)
    return batch


def _key(values: dict) -> str:
    key = values.get("source_key")
    return key.strip()[:255] if isinstance(key, str) else str(key)[:255] if isinstance(key, int) else ""


def parse_mapped(data: object, mapping: object) -> ParsedBatch:
    """Parse a decoded body with ``mapping`` (a stored mapping dict); the expressions are compiled once."""
    try:
        compiled = compile_mapping(mapping)
    except MappingError as exc:
        if "records" in exc.errors and exc.errors["records"] == NO_MAPPING:
            raise PayloadError(NO_MAPPING) from None
        raise PayloadError(f"This connector's payload mapping cannot be used: {exc}.") from None
    return apply_mapping(compiled, data)


# --- a body that fits a mapping, for the curl example and the test delivery -----------------------------------

_CANNOT = object()


def _place(node: dict, value: object) -> object:
    """A JSON value on which the expression ``node`` (a JMESPath AST) gives ``value``; _CANNOT when the expression
    is more than paths, indexes and projections."""
    kind_, children = node["type"], node.get("children", [])
    if kind_ in ("current", "identity"):
        return value
    if kind_ == "field":
        return {node["value"]: value}
    if kind_ == "subexpression":
        inner = _place(children[1], value)
        return _CANNOT if inner is _CANNOT else _place(children[0], inner)
    if kind_ == "index_expression" and children[1]["type"] == "index" and children[1]["value"] in (0, -1):
        return _place(children[0], [value])
    if kind_ == "flatten":
        return _place(children[0], value) if isinstance(value, list) else _CANNOT
    if kind_ == "projection" and isinstance(value, list):
        items = [_place(children[1], item) for item in value]
        return _CANNOT if _CANNOT in items else _place(children[0], items)
    return _CANNOT


def _merge(into: dict, value: dict) -> bool:
    """Deep-merge ``value`` into ``into``; False (and ``into`` unchanged at the clash) when both hold a leaf."""
    for key, item in value.items():
        if key not in into:
            into[key] = item
        elif isinstance(into[key], dict) and isinstance(item, dict):
            if not _merge(into[key], item):
                return False
        else:
            return False
    return True


def example_body(mapping: object, sample: dict[str, object]) -> object | None:
    """A body in which ``mapping`` finds one record with ``sample``'s values (native field names → values), or
    ``None`` when the mapping's expressions are more than plain paths. Checked by parsing it back."""
    try:
        compiled = compile_mapping(mapping)
    except MappingError:
        return None
    record: dict = {}
    for name, expression in compiled.fields:
        if name not in sample:
            continue
        placed = _place(expression.parsed, json.loads(json.dumps(sample[name])))
        if isinstance(placed, dict):
            candidate = json.loads(json.dumps(record))
            if _merge(candidate, placed):
                record = candidate
    body = _place(compiled.records.parsed, [record])
    if body is _CANNOT:
        body = _place(compiled.records.parsed, record)
    if body is _CANNOT:
        return None
    try:
        batch = apply_mapping(compiled, body)
    except PayloadError:
        return None
    if batch.errors or len(batch.records) != 1 or batch.records[0].source_key != sample.get("source_key"):
        return None
    return body
