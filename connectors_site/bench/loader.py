"""Loading the benchmark's starting state fast: bulk rows written directly, never through the service.

The inventory is consistent with what :func:`assets.services.process_records` would have written (normalized
attributes, one source record per asset, identifiers from :func:`assets.engine.normalize_record`), but costs a
few bulk statements instead of a full identification pass. The list-page assets are generated inside the
database (one ``INSERT … SELECT`` per 100,000 rows), since only the asset table matters for that page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from assets.engine import normalize_record
from assets.models import Asset, Identifier, SourceRecord
from assets.records import LIST_ATTRIBUTES, REPORTED_ATTRIBUTES

from .database import Prep, analyze, insert_rows, reset_sequences
from .generator import Inventory

ASSET_COLUMNS = (
    "id",
    "uuid",
    "kind",
    *REPORTED_ATTRIBUTES,
    "provenance",
    "first_seen",
    "last_seen",
    "retired",
    "possible_duplicate",
    "created_at",
    "updated_at",
)
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
    """Database columns for ``given`` field names plus every other concrete field (its default), so a field
    added to the model later does not break the raw inserts. Returns the columns and the extra constants."""
    prep = Prep()
    columns = [model._meta.get_field(name).column for name in given]
    extra_values = []
    for model_field in model._meta.concrete_fields:
        if model_field.attname in given or model_field.column in columns or model_field.primary_key:
            continue
        value = model_field.get_default()
        if model_field.get_internal_type() == "JSONField":
            value = prep.json(value)
        elif model_field.get_internal_type() in ("DateTimeField",):
            value = prep.dt(value)
        columns.append(model_field.column)
        extra_values.append(value)
    return columns, tuple(extra_values)


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def load_inventory(inventory: Inventory, connector, *, batch: int = 20_000, progress: Callable | None = None) -> dict:
    """Write one asset, one source record (of ``connector``) and its identifiers per inventory machine."""
    prep = Prep()
    now = timezone.now()
    stamp = prep.dt(now)
    asset_base = Asset.objects.aggregate(top=Max("id"))["top"] or 0
    source_base = SourceRecord.objects.aggregate(top=Max("id"))["top"] or 0
    asset_columns, asset_extra = _with_defaults(Asset, ASSET_COLUMNS)
    source_columns, source_extra = _with_defaults(SourceRecord, SOURCE_COLUMNS)
    identifier_columns, identifier_extra = _with_defaults(Identifier, IDENTIFIER_COLUMNS)
    counts = {"assets": 0, "source_records": 0, "identifiers": 0}
    total = len(inventory.records)
    for start in range(0, total, batch):
        assets, sources, identifiers = [], [], []
        for i in range(start, min(total, start + batch)):
            record = inventory.records[i]
            normalized = normalize_record(record)
            shown = normalized.attributes
            asset_id, source_id = asset_base + i + 1, source_base + i + 1
            seen = prep.dt(record.last_seen)
            values = []
            for name in REPORTED_ATTRIBUTES:
                value = shown[name]
                values.append(prep.json(_jsonable(value) or []) if name in LIST_ATTRIBUTES else value or "")
            provenance = {name: source_id for name in REPORTED_ATTRIBUTES if shown[name]}
            assets.append(
                (
                    asset_id,
                    prep.uuid(inventory.uuids[i]),
                    "managed" if i % 5 == 0 else "unmanaged",
                    *values,
                    prep.json(provenance),
                    seen,
                    seen,
                    False,
                    False,
                    stamp,
                    stamp,
                    *asset_extra,
                )
            )
            sources.append(
                (
                    source_id,
                    connector.pk,
                    record.source_key,
                    asset_id,
                    prep.json({name: _jsonable(shown[name]) for name in REPORTED_ATTRIBUTES}),
                    prep.json(shown.get("attributes") or {}),
                    prep.dt(record.updated_at),
                    seen,
                    seen,
                    False,
                    *source_extra,
                )
            )
            for kind, kind_values in normalized.identifiers.items():
                for value in kind_values:
                    identifiers.append((kind, value, asset_id, source_id, *identifier_extra))
        with transaction.atomic():
            insert_rows(Asset._meta.db_table, asset_columns, assets)
            insert_rows(SourceRecord._meta.db_table, source_columns, sources)
            insert_rows(Identifier._meta.db_table, identifier_columns, identifiers)
        counts["assets"] += len(assets)
        counts["source_records"] += len(sources)
        counts["identifiers"] += len(identifiers)
        if progress:
            progress(counts)
    reset_sequences(Asset, SourceRecord, Identifier)
    analyze(Asset._meta.db_table, SourceRecord._meta.db_table, Identifier._meta.db_table)
    return counts


# --- the list page's million assets ---------------------------------------------------------------------------

_PREFIX = (
    "CASE x %% 10 WHEN 0 THEN 'web' WHEN 1 THEN 'db' WHEN 2 THEN 'app' WHEN 3 THEN 'k8s-node' WHEN 4 THEN 'ws' "
    "WHEN 5 THEN 'lap' WHEN 6 THEN 'srv' WHEN 7 THEN 'vm' WHEN 8 THEN 'fw' ELSE 'esx' END"
)


def _list_expressions(postgres: bool) -> dict[str, str]:
    """SQL for each asset column of generated row number ``x`` (same data on both databases)."""
    if postgres:
        now = "%(now)s::timestamptz"

        def hex2(expression: str) -> str:
            return f"lpad(to_hex({expression}), 2, '0')"

        def as_json(expression: str) -> str:
            return f"({expression})::jsonb"

        uuid = "('b1' || lpad(to_hex(x), 30, '0'))::uuid"
        last_seen = f"{now} - (x %% 120) * interval '1 day'"
    else:
        now = "%(now)s"

        def hex2(expression: str) -> str:
            return f"printf('%%02x', {expression})"

        def as_json(expression: str) -> str:
            return expression

        uuid = "printf('b1%%030x', x)"
        last_seen = "datetime(%(now_text)s, '-' || (x %% 120) || ' days')"
    hostname = f"({_PREFIX}) || '-' || CAST(x AS TEXT)"
    octet = "CAST({} AS TEXT)"
    ip = (
        "'[\"10.' || "
        + " || '.' || ".join(octet.format(part) for part in ("(x / 65536) %% 256", "(x / 256) %% 256", "x %% 256"))
        + " || '\"]'"
    )
    mac_parts = ("(x / 16777216) %% 256", "(x / 65536) %% 256", "(x / 256) %% 256", "x %% 256")
    mac = "'[\"02:1b:' || " + " || ':' || ".join(hex2(part) for part in mac_parts) + " || '\"]'"
    return {
        "uuid": uuid,
        "kind": "CASE WHEN x %% 5 = 0 THEN 'managed' ELSE 'unmanaged' END",
        "hostname": hostname,
        "fqdn": f"CASE WHEN x %% 5 < 3 THEN {hostname} || '.corp.example.com' ELSE '' END",
        "ip_addresses": as_json(ip),
        "mac_addresses": as_json(mac),
        "serial_number": "CASE WHEN x %% 20 = 0 THEN '' ELSE 'LS' || CAST(x AS TEXT) END",
        "cloud_provider": "CASE WHEN x %% 10 = 7 THEN 'aws' ELSE '' END",
        "os": (
            "CASE x %% 6 WHEN 0 THEN 'Ubuntu' WHEN 1 THEN 'RHEL' WHEN 2 THEN 'Windows Server' WHEN 3 THEN 'Windows' "
            "WHEN 4 THEN 'macOS' ELSE 'Debian' END"
        ),
        "os_version": "CASE x %% 3 WHEN 0 THEN '24.04' WHEN 1 THEN '9.4' ELSE '2022' END",
        "tags": as_json("'[]'"),
        "provenance": as_json("'{}'"),
        "first_seen": now,
        "last_seen": last_seen,
        "retired": "(x %% 50 = 0)",
        "retired_at": f"CASE WHEN x %% 50 = 0 THEN {now} ELSE NULL END",
        "possible_duplicate": "(x %% 97 = 0)",
        "created_at": now,
        "updated_at": now,
    }


def insert_list_assets(total: int, *, batch: int = 100_000, progress: Callable | None = None) -> int:
    """Top the asset table up to ``total`` rows (generated in SQL; no sources, no identifiers). Returns how many
    rows were added. Rows are numbered from 1; their uuids (version nibble 0) never collide with uuid4 ones."""
    postgres = connection.vendor == "postgresql"
    missing = total - Asset.objects.count()
    if missing <= 0:
        return 0
    prep = Prep()
    now = timezone.now()
    expressions = _list_expressions(postgres)
    columns, params = [], {"now": prep.dt(now), "now_text": prep.dt(now)}
    for model_field in Asset._meta.concrete_fields:
        if model_field.primary_key:
            continue
        columns.append(connection.ops.quote_name(model_field.column))
        if model_field.name in expressions:
            expressions_sql = expressions[model_field.name]
        else:  # a column the generator has no opinion on: its model default, as a parameter
            value = model_field.get_default()
            if model_field.get_internal_type() == "JSONField":
                value = prep.json(value)
            params[f"d_{model_field.column}"] = value
            expressions_sql = f"%(d_{model_field.column})s"
            if postgres and model_field.get_internal_type() == "JSONField":
                expressions_sql += "::jsonb"
        expressions[model_field.name] = expressions_sql
    select = ", ".join(expressions[field.name] for field in Asset._meta.concrete_fields if not field.primary_key)
    table = connection.ops.quote_name(Asset._meta.db_table)
    if postgres:
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {select} FROM generate_series(%(start)s::bigint, %(stop)s::bigint) AS seq(x)"
        )
    else:
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            "WITH RECURSIVE seq(x) AS (SELECT %(start)s UNION ALL SELECT x + 1 FROM seq WHERE x < %(stop)s) "
            f"SELECT {select} FROM seq"
        )
    added = 0
    with connection.cursor() as cursor:
        for start in range(1, missing + 1, batch):
            stop = min(missing, start + batch - 1)
            with transaction.atomic():
                cursor.execute(sql, {**params, "start": start, "stop": stop})
            added += stop - start + 1
            if progress:
                progress(added, missing)
    analyze(Asset._meta.db_table, vacuum=True)
    return added
