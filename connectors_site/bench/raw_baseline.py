"""Part 2 of the benchmark: the raw-insert baseline, the floor identify + merge is compared against.

While the identification run writes, every row its chunks insert (new assets, source records, identifiers and
decisions: the ``insert_rows`` calls of :mod:`assets.writes`) is recorded per chunk. Afterwards the same rows are
inserted again, chunk by chunk, one transaction per chunk, with the plainest statement the database has: one
``executemany`` of a single-row INSERT on SQLite, ``COPY … FROM STDIN`` on PostgreSQL. The values are converted
to what the driver takes before the clock starts, and the copies get fresh primary keys (and asset uuids) and a
connector of their own so they can coexist with the originals; they are deleted afterwards.

So the ratio identify + merge / baseline is the price of everything but the row writes themselves: reading the
inventory, the engine, updates of existing rows, reconciliation, locks. Updates the run makes (re-sent or
merged source records, re-derived assets) have no counterpart in the baseline, which makes it a strict floor.
"""

from __future__ import annotations

import functools
import time
import uuid
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import Q

from assets import writes
from assets.models import Asset, Decision, Identifier, SourceRecord
from connectors_site.common import db

#: Copies get negative ids (id - ID_OFFSET): apart from every real row, and invisible to the id sequences (SQLite's
#: next id is the highest ever used, which a copy above the real ids would move).
ID_OFFSET = 1_000_000_000_000
#: Insert order inside a chunk's transaction (foreign keys are checked at commit anyway).
TABLES = (Asset, SourceRecord, Identifier, Decision)
#: Appended to the value of a copied identifier that belongs to an existing source record.
MARK = "\x1f"


@contextmanager
def recording_inserts():
    """Record each ``insert_rows`` call of :mod:`assets.writes` as (model, columns, rows), grouped per chunk
    (a new group starts with every chunk's first asset or source record insert after a decision insert)."""
    chunks: list[list[tuple]] = [[]]
    original = writes.insert_rows

    @functools.wraps(original)
    def recording(model, columns, rows):
        if model is not Decision and chunks[-1] and chunks[-1][-1][0] is Decision:
            chunks.append([])
        if rows:
            chunks[-1].append((model, tuple(columns), list(rows)))
        return original(model, columns, rows)

    writes.insert_rows = recording
    try:
        yield chunks
    finally:
        writes.insert_rows = original


def raw_insert_baseline(chunks: list[list[tuple]], connector_id: int) -> dict:
    """Insert copies of the recorded rows, one transaction per chunk, timed; delete them; return the figures."""
    prepared = _prepare(chunks, connector_id)
    rows = sum(len(params) for chunk in prepared for _, _, params in chunk)
    by_table = {}
    for chunk in prepared:
        for table, _, params in chunk:
            by_table[table] = by_table.get(table, 0) + len(params)
    started = time.perf_counter()
    for chunk in prepared:
        with transaction.atomic(), connection.cursor() as cursor:
            for table, names, params in chunk:
                _raw_insert(cursor, table, names, params)
    seconds = time.perf_counter() - started
    _delete_copies(connector_id)
    return {
        "method": "COPY" if connection.vendor == "postgresql" else "executemany",
        "chunks": len(prepared),
        "rows": rows,
        "rows_by_table": by_table,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds, 1) if seconds else 0.0,
    }


def _prepare(chunks: list[list[tuple]], connector_id: int) -> list[list[tuple]]:
    """Driver-ready parameters for each recorded insert, with the copies' own keys."""
    new_assets = {row[0] for chunk in chunks for model, _, rows in chunk if model is Asset for row in rows}
    new_sources = {row[0] for chunk in chunks for model, _, rows in chunk if model is SourceRecord for row in rows}
    shift = {
        "id": lambda value: value - ID_OFFSET,
        "asset_id": lambda value: value - ID_OFFSET if value in new_assets else value,
        "source_record_id": lambda value: value - ID_OFFSET if value in new_sources else value,
        "connector_id": lambda value: connector_id,
        "uuid": lambda value: uuid.uuid4(),
    }
    quote = connection.ops.quote_name
    prepared = []
    for chunk in chunks:
        statements = []
        for model in TABLES:
            for recorded, columns, rows in chunk:
                if recorded is not model:
                    continue
                fields = [model._meta.get_field(name) for name in columns]
                changes = [(i, shift[field.attname]) for i, field in enumerate(fields) if field.attname in shift]
                copies = []
                for row in rows:
                    row = list(row)
                    for i, change in changes:
                        row[i] = change(row[i])
                    copies.append(row)
                if model is Identifier:
                    _mark_kept_sources(copies, columns)
                params = db._prepared(copies, db._adapters(model, fields, connection.vendor))
                names = ", ".join(quote(field.column) for field in fields)
                statements.append((model._meta.db_table, names, params))
        prepared.append(statements)
    return prepared


def _mark_kept_sources(rows: list[list], columns: tuple) -> None:
    """An identifier added to an updated (not new) source record keeps its real source (the foreign key must
    hold); its copy's value is marked so it does not collide with the original in the unique index."""
    source, value = columns.index("source_record_id"), columns.index("value")
    for row in rows:
        if row[source] > 0:
            row[value] = row[value] + MARK


def _raw_insert(cursor, table: str, names: str, params: list[tuple]) -> None:
    quoted = connection.ops.quote_name(table)
    if connection.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY {quoted} ({names}) FROM STDIN") as copy:
            for row in params:
                copy.write_row(row)
    else:
        placeholders = ", ".join(["%s"] * len(params[0]))
        cursor.executemany(f"INSERT INTO {quoted} ({names}) VALUES ({placeholders})", params)


def _delete_copies(connector_id: int) -> None:
    with transaction.atomic():
        Identifier.objects.filter(Q(source_record_id__lt=0) | Q(value__endswith=MARK))._raw_delete(connection.alias)
        Decision.objects.filter(connector_id=connector_id)._raw_delete(connection.alias)
        SourceRecord.objects.filter(pk__lt=0)._raw_delete(connection.alias)
        Asset.objects.filter(pk__lt=0)._raw_delete(connection.alias)
