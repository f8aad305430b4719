"""Bulk SQL helpers for the identification hot path, where Django's model-instance machinery costs more than the
database work itself (building a model instance and preparing each value through its field takes several times
longer than inserting the row). The values these helpers take are plain Python values; each column's adapter
turns them into what the database driver expects, the same representation Django itself stores.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring_ascii
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router
from django.db.models import signals

#: SQLite's default limit on bound parameters per statement is 32,766; stay clear of it.
MAX_PARAMETERS = 30_000


def _json_encoder() -> Callable[[object], str]:
    """``DjangoJSONEncoder(separators=(",", ":")).encode``, without its per-call cost.

    ``JSONEncoder.encode`` builds a new C encoder on every call, which costs several times more than encoding a
    row's small lists and dicts (the identification path encodes about ten values per record). The C encoder is
    built once here with the same settings (ASCII output, Django's ``default`` for datetimes, UUIDs, decimals);
    without a circular-reference check, which plain rows never need.
    """
    django = DjangoJSONEncoder(separators=(",", ":"))
    if c_make_encoder is None:  # a Python without the C accelerator
        return django.encode
    make = c_make_encoder(None, django.default, encode_basestring_ascii, None, ":", ",", False, False, django.allow_nan)

    def encode(value) -> str:
        return "".join(make(value, 0))

    return encode


#: One encoder for every row: ``json.dumps(cls=…)`` would build a new one per value.
_encode_json = _json_encoder()


def _json(value) -> str | None:
    return None if value is None else _encode_json(value)


def _sqlite_datetime(value: datetime | None) -> str | None:
    # Django stores aware datetimes in SQLite as naive UTC text.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def _sqlite_uuid(value: UUID | str | None) -> str | None:
    return None if value is None else (value.hex if isinstance(value, UUID) else UUID(value).hex)


def _adapters(model, fields: Sequence, vendor: str) -> list[Callable | None]:
    adapters: list[Callable | None] = []
    for field in fields:
        kind = field.get_internal_type()
        if kind == "JSONField":
            adapters.append(_json)
        elif vendor == "sqlite" and kind == "DateTimeField":
            adapters.append(_sqlite_datetime)
        elif vendor == "sqlite" and kind == "UUIDField":
            adapters.append(_sqlite_uuid)
        else:
            adapters.append(None)
    return adapters


def _prepared(rows: Iterable[Sequence], adapters: list[Callable | None]) -> list[tuple]:
    if not any(adapters):
        return [tuple(row) for row in rows]
    # A list comprehension per row, not a generator: it is inlined (no frame per row), three times faster here.
    return [
        tuple([value if adapt is None else adapt(value) for value, adapt in zip(row, adapters, strict=True)])
        for row in rows
    ]


def allocate_ids(model, count: int) -> list[int]:
    """Reserve ``count`` primary keys, so rows that reference each other can be built before any is inserted.

    Foreign keys made by Django are deferred to commit, so the rows may then be inserted in any order within the
    transaction. PostgreSQL draws from the table's sequence (safe with concurrent writers); SQLite continues
    after the highest id ever used, which is safe because the transaction holds the database's only write lock.
    """
    if count <= 0:
        return []
    connection = connections[router.db_for_write(model)]
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, model._meta.pk.column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        quoted = connection.ops.quote_name(table)
        cursor.execute(
            f"SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
            f"COALESCE((SELECT max({connection.ops.quote_name(model._meta.pk.column)}) FROM {quoted}), 0))",
            [table],
        )
        start = cursor.fetchone()[0] + 1
    return list(range(start, start + count))


def insert_rows(model, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """INSERT plain value tuples (in ``columns`` order; names are model field names or attnames).

    SQLite: ``executemany`` of one short statement. PostgreSQL: ``COPY … FROM STDIN``, more than twice as fast as
    ``INSERT … SELECT FROM unnest(arrays)`` for a chunk's rows (foreign keys are still checked at commit).
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    fields = [model._meta.get_field(name) for name in columns]
    quote = connection.ops.quote_name
    names = ", ".join(quote(field.column) for field in fields)
    params = _prepared(rows, _adapters(model, fields, connection.vendor))
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = f"COPY {table} ({names}) FROM STDIN"
            started = time.monotonic()
            with cursor.cursor.copy(sql) as copy:
                for row in params:
                    copy.write_row(row)
            if connection.queries_logged:  # COPY bypasses Django's cursor wrapper; count it like any statement
                connection.queries_log.append(
                    {"sql": f"{sql} -- {len(params)} rows", "time": f"{time.monotonic() - started:.3f}"}
                )
        else:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})", params)


def _iso_datetime(value: datetime | None) -> str | None:
    # In full: DjangoJSONEncoder would cut the microseconds.
    return None if value is None else value.isoformat()


def _recordset(fields: Sequence, rows: Sequence[Sequence], connection) -> tuple[str, str]:
    """PostgreSQL: the rows as one JSON array of objects, and ``json_to_recordset`` reading them back as typed
    columns (named as the table's).

    One JSON text, encoded in C, instead of one array parameter per column: psycopg adapts a list element by
    element in Python (about 5 µs a value), which cost more than the UPDATE itself (7,000 rows of 6 columns:
    210 ms of client CPU and 320 ms in all with arrays, 55 ms and 190 ms this way).
    """
    names = [field.column for field in fields]
    adapters = [_iso_datetime if field.get_internal_type() == "DateTimeField" else None for field in fields]
    text = _encode_json([dict(zip(names, row, strict=True)) for row in _prepared(rows, adapters)])
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(field.column)} {field.db_type(connection)}" for field in fields)
    return text, f"json_to_recordset(%s::json) AS v ({columns})"


def _unnest(connection, fields: Sequence) -> str:
    return "unnest(" + ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields) + ")"


def _columns(params: list[tuple]) -> list[list]:
    return [list(column) for column in zip(*params, strict=True)]


def update_rows(model, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """UPDATE rows by primary key: each row is ``(pk, *values in columns order)``.

    One statement joining the new values (PostgreSQL: one JSON array of rows, see :func:`_recordset`; SQLite
    ≥ 3.33: a VALUES list per batch): linear in the number of rows, where Django's ``bulk_update`` builds a
    ``CASE WHEN pk=…`` per field and row and grows quadratically.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    fields = [meta.pk, *(meta.get_field(name) for name in columns)]
    names = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields[1:])
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            text, values = _recordset(fields, rows, connection)
            cursor.execute(f"UPDATE {table} SET {assignments} FROM {values} WHERE {table}.{pk} = v.{pk}", [text])
            return
        params = _prepared(rows, _adapters(model, fields, connection.vendor))
        for values, flat in _values_lists(params, len(fields)):
            cursor.execute(
                f"WITH v ({names}) AS ({values}) UPDATE {table} SET {assignments} FROM v WHERE {table}.{pk} = v.{pk}",
                flat,
            )


def indexed_fields(model) -> frozenset[str]:
    """Names of the model's fields that an index of its table covers (the primary key, ``db_index``, ``unique``,
    ``Meta.indexes`` and unique constraints)."""
    meta = model._meta
    names = {field.name for field in meta.concrete_fields if field.db_index or field.unique}
    for index in meta.indexes:
        names.update(name.lstrip("-") for name in index.fields)
    for constraint in meta.constraints:
        names.update(getattr(constraint, "fields", ()))
    return frozenset(names)


def update_rows_sparing_indexes(model, columns: Sequence[str], rows: Sequence[Sequence], stored: dict) -> None:
    """``update_rows``, leaving out the indexed columns for the rows that do not change them.

    ``stored`` maps each row's primary key to its stored values of the indexed ones among ``columns`` (in
    ``columns`` order). SQLite rewrites a row's entry in every index whose column the SET list names, even to the
    same value (ten times the cost of the row update itself); PostgreSQL compares values (a HOT update), so
    there the split only makes the statements smaller. At most two statements.
    """
    indexed = indexed_fields(model)
    kept = [i for i, name in enumerate(columns, 1) if name not in indexed]
    moved = [i for i, name in enumerate(columns, 1) if name in indexed]
    changing, unchanged = [], []
    for row in rows:
        if tuple([row[i] for i in moved]) == stored[row[0]]:
            unchanged.append((row[0], *[row[i] for i in kept]))
        else:
            changing.append(row)
    update_rows(model, columns, changing)
    update_rows(model, [columns[i - 1] for i in kept], unchanged)


def _values_lists(rows: Sequence[Sequence], width: int):
    """SQLite: ``(VALUES (%s, …), …, flat parameters)`` for the rows, in batches under the parameter limit."""
    placeholder = "(" + ", ".join(["%s"] * width) + ")"
    batch = max(1, MAX_PARAMETERS // width)
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        yield "VALUES " + ", ".join([placeholder] * len(chunk)), [value for row in chunk for value in row]


def delete_rows(model, pks: Sequence[int]) -> None:
    """DELETE by primary key, in batches, without loading instances or running cascades in Python."""
    if not pks:
        return
    connection = connections[router.db_for_write(model)]
    table, pk = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        for start in range(0, len(pks), MAX_PARAMETERS):
            chunk = pks[start : start + MAX_PARAMETERS]
            cursor.execute(f"DELETE FROM {table} WHERE {pk} IN ({', '.join(['%s'] * len(chunk))})", chunk)


def select_by_keys(model, key_columns: Sequence[str], keys: Iterable[Sequence], columns: Sequence[str]) -> list[tuple]:
    """``columns`` of the rows whose ``key_columns`` equal one of ``keys`` (tuples), as raw tuples.

    PostgreSQL: one index probe per key, a LATERAL subquery per element of ``unnest`` arrays, kept from being
    flattened into a join by ``OFFSET 0`` (as a join, or as ``(a = … AND b IN (…)) OR …``, the planner hashes the
    whole table: six times slower for a chunk's few thousand keys). SQLite: one probe per distinct value of the
    first key column (``IN (…)``; an index must lead with that column), the other columns compared here: a
    fifth to a third faster than joining a VALUES list of the keys. Only for columns whose database values need no
    conversion (text, integers).
    """
    keys = list(dict.fromkeys(tuple(key) for key in keys))
    if not keys:
        return []
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    key_fields = [meta.get_field(name) for name in key_columns]
    selected = ", ".join(f"t.{quote(meta.get_field(name).column)}" for name in columns)
    table = quote(meta.db_table)
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = ", ".join(f"k{i}" for i in range(len(key_fields)))
            on = " AND ".join(f"t.{quote(field.column)} = k.k{i}" for i, field in enumerate(key_fields))
            cursor.execute(
                f"SELECT {selected} FROM {_unnest(connection, key_fields)} AS k ({names}) "
                f"CROSS JOIN LATERAL (SELECT * FROM {table} t WHERE {on} OFFSET 0) AS t",
                _columns(keys),
            )
            return cursor.fetchall()
        wanted, width = set(keys), len(key_fields)
        firsts = list(dict.fromkeys(key[0] for key in keys))
        with_keys = ", ".join(f"t.{quote(field.column)}" for field in key_fields) + ", " + selected
        for start in range(0, len(firsts), MAX_PARAMETERS):
            part = firsts[start : start + MAX_PARAMETERS]
            cursor.execute(
                f"SELECT {with_keys} FROM {table} t WHERE t.{quote(key_fields[0].column)} IN "
                f"({', '.join(['%s'] * len(part))})",
                part,
            )
            rows.extend(row[width:] for row in cursor.fetchall() if row[:width] in wanted)
    return rows


#: The INSERT statement and its fields, by (model, database vendor): see :func:`insert_instance`.
_INSERTS: dict[tuple, tuple[str, tuple]] = {}


def _insert_statement(model, connection) -> tuple[str, tuple]:
    key = (model, connection.vendor)
    if (found := _INSERTS.get(key)) is None:
        quote = connection.ops.quote_name
        fields = tuple(field for field in model._meta.concrete_fields if not field.primary_key)
        names = ", ".join(quote(field.column) for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({placeholders})"
        if connection.vendor != "sqlite":
            sql += f" RETURNING {quote(model._meta.pk.column)}"
        found = _INSERTS[key] = (sql, fields)
    return found


def insert_instance(instance) -> None:
    """INSERT one new model instance (with an auto primary key) and set its primary key, like ``save()`` of a new
    instance, with a statement built once per model and database vendor.

    For one hot row, the intake's delivery: ``save()`` rebuilds the INSERT statement of every column on every
    call, which costs more than the database work. Each value is prepared as ``save()`` prepares it (the field's
    ``pre_save`` and ``get_db_prep_save``). A model with ``pre_save`` or ``post_save`` receivers is saved with
    ``save()`` instead, so a receiver added later is never skipped.

    On SQLite the new id is the cursor's ``lastrowid``, not a ``RETURNING`` row: in autocommit a statement with
    ``RETURNING`` commits only when its row has been fetched, so the database's write lock would be held while the
    thread waits for the GIL to fetch it; a plain INSERT runs and commits within one call that releases the GIL.
    """
    model = type(instance)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        instance.save(force_insert=True)
        return
    using = router.db_for_write(model, instance=instance)
    connection = connections[using]
    sql, fields = _insert_statement(model, connection)
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.lastrowid if connection.vendor == "sqlite" else cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = using


#: By database connection (each thread has its own): what :func:`get_unique` prepared for a (model, field).
_UNIQUE_READS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unique_read(connection, model, field_name: str) -> tuple[str, list[str], list[tuple]]:
    """The SELECT of every column by one unique field, the columns' attnames, and (position, converters,
    column) for each column whose database value Django converts, as its compiler would."""
    prepared = _UNIQUE_READS.setdefault(connection, {})
    if (found := prepared.get((model, field_name))) is None:
        quote, meta = connection.ops.quote_name, model._meta
        fields = meta.concrete_fields
        columns = [field.get_col(meta.db_table) for field in fields]
        converters = []
        for position, column in enumerate(columns):
            if found_converters := connection.ops.get_db_converters(column) + column.get_db_converters(connection):
                converters.append((position, found_converters, column))
        sql = (
            f"SELECT {', '.join(quote(field.column) for field in fields)} FROM {quote(meta.db_table)} "
            f"WHERE {quote(meta.get_field(field_name).column)} = %s"
        )
        found = prepared[(model, field_name)] = (sql, [field.attname for field in fields], converters)
    return found


def get_unique(model, field_name: str, value):
    """The instance whose unique field ``field_name`` is ``value``, or None: ``filter(…).first()`` for one row
    read on every request (the intake's connector), with its statement and converters prepared once per
    connection. Building the ORM query of a model's every column costs more than the database work."""
    using = router.db_for_read(model)
    connection = connections[using]
    sql, attnames, converters = _unique_read(connection, model, field_name)
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.get_field(field_name).get_db_prep_value(value, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for position, found_converters, column in converters:
        for convert in found_converters:
            values[position] = convert(values[position], column, connection)
    return model.from_db(using, attnames, values)
