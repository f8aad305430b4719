"""Loading the benchmark's starting state fast: bulk rows written directly, never through the service.

The inventory is consistent with what :func:`assets.services.process_records` would have written (normalized
attributes, one source record per asset, identifiers from :func:`assets.engine.normalize_record`), but costs a
few bulk statements instead of a full identification pass. The list-page assets are generated inside the
database (one ``INSERT … SELECT`` per 100,000 rows), since only the asset table matters for that page.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from assets.engine import normalize_record
from assets.engine.records import LIST_ATTRIBUTES, REPORTED_ATTRIBUTES
from assets.models import Asset, Identifier, SourceRecord
from assets.writes import ASSET_INSERT_COLUMNS, jsonable
from connectors_site.common.db import insert_rows

from .database import analyze, reset_sequences
from .generator import Inventory

SOURCE_COLUMNS = (
    "id",
    "connector_id",
    "source_key",
    "asset_id",
    "attributes",
    "extra",
    "source_updated_at",
    "first_seen",
    "last_seen",
    "deleted",
)
IDENTIFIER_COLUMNS = ("kind", "value", "asset_id", "source_record_id")


def _with_defaults(model, given: tuple[str, ...]) -> tuple[list[str], tuple]:
    """``given`` field names plus every other concrete field (with its default), so a field added to the model
    later does not break the raw inserts. Returns the field names and the extra values."""
    names, extra_values = list(given), []
    for model_field in model._meta.concrete_fields:
        if model_field.name in given or model_field.attname in given or model_field.primary_key:
            continue
        names.append(model_field.attname)
        extra_values.append(model_field.get_default())
    return names, tuple(extra_values)


def load_inventory(inventory: Inventory, connector, *, batch: int = 20_000, progress: Callable | None = None) -> dict:
    """Write one asset, one source record (of ``connector``) and its identifiers per inventory machine."""
    now = timezone.now()
    asset_base = Asset.objects.aggregate(top=Max("id"))["top"] or 0
    source_base = SourceRecord.objects.aggregate(top=Max("id"))["top"] or 0
    asset_columns, asset_extra = _with_defaults(Asset, ASSET_INSERT_COLUMNS)
    source_columns, source_extra = _with_defaults(SourceRecord, SOURCE_COLUMNS)
    identifier_columns, identifier_extra = _with_defaults(Identifier, IDENTIFIER_COLUMNS)
    counts = {"assets": 0, "source_records": 0, "identifiers": 0}
    total = len(inventory.records)
    for start in range(0, total, batch):
        assets, sources, identifiers = [], [], []
        for i in range(start, min(total, start + batch)):
            asset_id, source_id = asset_base + i + 1, source_base + i + 1
            normalized = normalize_record(inventory.records[i])
            assets.append(
                _asset_row(inventory, i, normalized.attributes, asset_id, source_id, now) + tuple(asset_extra)
            )
            sources.append(
                _source_row(inventory.records[i], normalized.attributes, connector, asset_id, source_id)
                + tuple(source_extra)
            )
            for kind, kind_values in normalized.identifiers.items():
                for value in kind_values:
                    identifiers.append((kind, value, asset_id, source_id, *identifier_extra))
        with transaction.atomic():
            insert_rows(Asset, asset_columns, assets)
            insert_rows(SourceRecord, source_columns, sources)
            insert_rows(Identifier, identifier_columns, identifiers)
        counts["assets"] += len(assets)
        counts["source_records"] += len(sources)
        counts["identifiers"] += len(identifiers)
        if progress:
            progress(counts)
    reset_sequences(Asset, SourceRecord, Identifier)
    analyze(Asset._meta.db_table, SourceRecord._meta.db_table, Identifier._meta.db_table)
    return counts


def _asset_row(inventory: Inventory, i: int, shown: dict, asset_id: int, source_id: int, now) -> tuple:
    """The asset of inventory machine ``i``, already reconciled from its one source (``ASSET_INSERT_COLUMNS`` order)."""
    seen = inventory.records[i].last_seen
    values = []
    for name in REPORTED_ATTRIBUTES:
        value = shown[name]
        values.append(jsonable(value) or [] if name in LIST_ATTRIBUTES else value or "")
    provenance = {name: source_id for name in REPORTED_ATTRIBUTES if shown[name]}
    kind = "managed" if i % 7 == 0 else "unmanaged"
    return (asset_id, inventory.uuids[i], kind, *values, provenance, seen, seen, False, False, now, now)


def _source_row(record, shown: dict, connector, asset_id: int, source_id: int) -> tuple:
    """The source record of one machine (``SOURCE_COLUMNS`` order)."""
    seen = record.last_seen
    return (
        source_id,
        connector.pk,
        record.source_key,
        asset_id,
        {name: jsonable(shown[name]) for name in REPORTED_ATTRIBUTES},
        shown.get("attributes") or {},
        record.updated_at,
        seen,
        seen,
        False,
    )


# --- the list page's million assets ---------------------------------------------------------------------------

_PREFIX = (
    "CASE x %% 10 WHEN 0 THEN 'web' WHEN 1 THEN 'db' WHEN 2 THEN 'app' WHEN 3 THEN 'k8s-node' WHEN 4 THEN 'ws' "
    "WHEN 5 THEN 'lap' WHEN 6 THEN 'srv' WHEN 7 THEN 'vm' WHEN 8 THEN 'fw' ELSE 'esx' END"
)
#: One generated asset in RETIRED_EVERY is retired: its only source deleted it, so it has no identifiers.
#: (Moduli are coprime with the 10 host-name prefixes, so that no filter correlates with a prefix.)
RETIRED_EVERY = 49


class _Dialect:
    """The few SQL spellings that differ between SQLite and PostgreSQL in the generated rows."""

    def __init__(self, postgres: bool):
        self.postgres = postgres
        self.now = "%(now)s::timestamptz" if postgres else "%(now)s"

    def hex2(self, expression: str) -> str:
        if self.postgres:
            return f"lpad(to_hex({expression}), 2, '0')"
        return f"printf('%%02x', {expression})"

    def json(self, expression: str) -> str:
        return f"({expression})::jsonb" if self.postgres else expression

    def uuid(self) -> str:
        return "('b1' || lpad(to_hex(x), 30, '0'))::uuid" if self.postgres else "printf('b1%%030x', x)"

    def days_ago(self, days: str) -> str:
        if self.postgres:
            return f"{self.now} - ({days}) * interval '1 day'"
        return f"datetime(%(now)s, '-' || ({days}) || ' days')"

    def insert_select(self, table: str, columns: list[str], select: str, where: str = "") -> str:
        where = f" WHERE {where}" if where else ""
        if self.postgres:
            return (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"SELECT {select} FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS seq(x){where}"
            )
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            "WITH RECURSIVE seq(x) AS (SELECT %(start)s UNION ALL SELECT x + 1 FROM seq WHERE x < %(stop)s) "
            f"SELECT {select} FROM seq{where}"
        )


def _values(sql: _Dialect) -> dict[str, str]:
    """SQL for the attributes of generated machine number ``x`` (the same data on both databases)."""
    hostname = f"({_PREFIX}) || '-' || CAST(x AS TEXT)"
    octets = ("(x / 65536) %% 256", "(x / 256) %% 256", "x %% 256")
    mac_parts = ("(x / 16777216) %% 256", "(x / 65536) %% 256", "(x / 256) %% 256", "x %% 256")
    return {
        "hostname": hostname,
        "has_fqdn": "(x / 10) %% 5 < 3",
        "fqdn": f"{hostname} || '.corp.example.com'",
        "ip": "'10.' || " + " || '.' || ".join(f"CAST({part} AS TEXT)" for part in octets),
        "mac": "'02:1b:' || " + " || ':' || ".join(sql.hex2(part) for part in mac_parts),
        "has_serial": "x %% 19 <> 0",
        "serial": "'LS' || CAST(x AS TEXT)",
        "os": (
            "CASE (x / 10) %% 6 WHEN 0 THEN 'Ubuntu' WHEN 1 THEN 'RHEL' WHEN 2 THEN 'Windows Server' "
            "WHEN 3 THEN 'Windows' WHEN 4 THEN 'macOS' ELSE 'Debian' END"
        ),
        "os_version": "CASE x %% 3 WHEN 0 THEN '24.04' WHEN 1 THEN '9.4' ELSE '2022' END",
        "retired": f"x %% {RETIRED_EVERY} = 3",
        "last_seen": sql.days_ago("x %% 113"),
    }


def _asset_expressions(sql: _Dialect, v: dict[str, str]) -> dict[str, str]:
    return {
        "id": "%(asset_base)s + x",
        "uuid": sql.uuid(),
        "kind": "CASE WHEN x %% 7 = 0 THEN 'managed' ELSE 'unmanaged' END",
        "hostname": v["hostname"],
        "fqdn": f"CASE WHEN {v['has_fqdn']} THEN {v['fqdn']} ELSE '' END",
        "ip_addresses": sql.json(f"'[\"' || {v['ip']} || '\"]'"),
        "mac_addresses": sql.json(f"'[\"' || {v['mac']} || '\"]'"),
        "serial_number": f"CASE WHEN {v['has_serial']} THEN {v['serial']} ELSE '' END",
        "cloud_provider": "CASE WHEN x %% 10 = 7 THEN 'aws' ELSE '' END",
        "os": v["os"],
        "os_version": v["os_version"],
        "tags": sql.json("'[]'"),
        "provenance": sql.json("'{\"hostname\": ' || CAST(%(source_base)s + x AS TEXT) || '}'"),
        "first_seen": sql.days_ago("120"),
        "last_seen": v["last_seen"],
        "retired": f"({v['retired']})",
        "retired_at": f"CASE WHEN {v['retired']} THEN {sql.now} ELSE NULL END",
        "possible_duplicate": "(x %% 97 = 0)",
        "created_at": sql.now,
        "updated_at": sql.now,
    }


def _source_expressions(sql: _Dialect, v: dict[str, str]) -> dict[str, str]:
    attributes = (
        '\'{"hostname": "\' || '
        + v["hostname"]
        + ' || \'", "os": "\' || '
        + v["os"]
        + ' || \'", "ip_addresses": ["\' || '
        + v["ip"]
        + " || '\"]}'"
    )
    return {
        "id": "%(source_base)s + x",
        "connector_id": "%(connector)s",
        "source_key": "'list-' || CAST(x AS TEXT)",
        "asset_id": "%(asset_base)s + x",
        "attributes": sql.json(attributes),
        "extra": sql.json("'{}'"),
        "source_updated_at": v["last_seen"],
        "first_seen": sql.days_ago("120"),
        "last_seen": v["last_seen"],
        "deleted": f"({v['retired']})",
        "deleted_at": f"CASE WHEN {v['retired']} THEN {sql.now} ELSE NULL END",
    }


def _insert_statement(sql: _Dialect, model, expressions: dict[str, str], params: dict, where: str = "") -> str:
    """``INSERT … SELECT`` over the generated numbers; a column without an expression gets its model default."""
    columns, select = [], []
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key and model_field.name not in expressions:
            continue
        columns.append(connection.ops.quote_name(model_field.column))
        expression = expressions.get(model_field.name) or expressions.get(model_field.attname)
        if expression is None:
            value = model_field.get_default()
            json_field = model_field.get_internal_type() == "JSONField"
            params[f"d_{model_field.column}"] = json.dumps(value) if json_field else value
            expression = sql.json(f"%(d_{model_field.column})s") if json_field else f"%(d_{model_field.column})s"
        select.append(expression)
    return sql.insert_select(connection.ops.quote_name(model._meta.db_table), columns, ", ".join(select), where)


def insert_list_assets(
    total: int, connector, *, batch: int = 100_000, progress: Callable | None = None
) -> dict[str, int]:
    """Top the inventory up to ``total`` assets, generated inside the database: per asset one source record of
    ``connector`` and its identifiers (host name, FQDN, serial, IP, MAC), as identification would have written
    them, so the list page's filters and search see every asset. One in RETIRED_EVERY is retired (its source
    deleted it: no identifiers). Uuids have version nibble 0, so they never collide with uuid4 ones."""
    sql = _Dialect(connection.vendor == "postgresql")
    missing = total - Asset.objects.count()
    counts = {"assets": 0, "source_records": 0, "identifiers": 0}
    if missing <= 0:
        return counts
    params = {
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "asset_base": Asset.objects.aggregate(top=Max("id"))["top"] or 0,
        "source_base": SourceRecord.objects.aggregate(top=Max("id"))["top"] or 0,
        "connector": connector.pk,
    }
    v = _values(sql)
    statements = [
        (Asset, _insert_statement(sql, Asset, _asset_expressions(sql, v), params)),
        (SourceRecord, _insert_statement(sql, SourceRecord, _source_expressions(sql, v), params)),
    ]
    live = f"NOT ({v['retired']})"
    for kind, value, condition in (
        ("hostname", v["hostname"], live),
        ("fqdn", v["fqdn"], f"{live} AND {v['has_fqdn']}"),
        ("serial_number", v["serial"], f"{live} AND {v['has_serial']}"),
        ("ip_address", v["ip"], live),
        ("mac_address", v["mac"], live),
    ):
        expressions = {
            "kind": f"'{kind}'",
            "value": value,
            "asset_id": "%(asset_base)s + x",
            "source_record_id": "%(source_base)s + x",
        }
        statements.append((Identifier, _insert_statement(sql, Identifier, expressions, params, condition)))
    names = {Asset: "assets", SourceRecord: "source_records", Identifier: "identifiers"}
    with connection.cursor() as cursor:
        for start in range(1, missing + 1, batch):
            stop = min(missing, start + batch - 1)
            with transaction.atomic():
                for model, statement in statements:
                    cursor.execute(statement, {**params, "start": start, "stop": stop})
                    counts[names[model]] += cursor.rowcount
            if progress:
                progress(stop, missing)
    reset_sequences(Asset, SourceRecord, Identifier)
    analyze(Asset._meta.db_table, SourceRecord._meta.db_table, Identifier._meta.db_table, vacuum=True)
    return counts
