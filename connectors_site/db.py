"""Database helpers Django does not offer in a fast enough form."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, router

#: SQLite's default limit on bound parameters per statement is 32,766; stay clear of it.
MAX_PARAMETERS = 30_000


def bulk_update_rows(model, objs: Sequence, fields: Sequence[str]) -> int:
    """Write ``fields`` of ``objs`` with one ``UPDATE … FROM (VALUES …)`` statement per batch.

    Django's ``bulk_update`` builds a ``CASE WHEN pk=… THEN …`` expression per field and row, which costs
    quadratic time in the batch size to build and to execute; this joins a VALUES list instead (PostgreSQL, and
    SQLite ≥ 3.33), which is linear. Values go through each field's ``get_db_prep_save``, like ``save()``.
    """
    if not objs:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    if connection.vendor == "postgresql":
        placeholder = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in columns) + ")"
    else:
        placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    names = ", ".join(quote(field.column) for field in columns)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    batch = max(1, MAX_PARAMETERS // len(columns))
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            rows = objs[start : start + batch]
            params = [
                field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in rows for field in columns
            ]
            cursor.execute(
                f"WITH v ({names}) AS (VALUES {', '.join([placeholder] * len(rows))}) "
                f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{pk} = v.{pk}",
                params,
            )
            updated += cursor.rowcount
    return updated
