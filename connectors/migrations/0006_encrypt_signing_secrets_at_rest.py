"""Signing secrets encrypted at rest: wider columns, then every existing row encrypted (reverse: decrypted).

The rows are read and written with plain SQL: through the model field they would already be taken for
ciphertext. A value that is already a Fernet token is left alone, so a rerun does no harm.
"""

import connectors_site.common.encryption
from django.db import migrations

from connectors_site.common.encryption import FERNET_PREFIX, decrypt, encrypt

COLUMNS = ("signing_secret", "previous_signing_secret")


def _rewrite(apps, schema_editor, change):
    connection = schema_editor.connection
    table = connection.ops.quote_name(apps.get_model("connectors", "Connector")._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {', '.join(COLUMNS)} FROM {table}")
        rows = cursor.fetchall()
        for pk, *values in rows:
            new = [change(value) if value else value for value in values]
            if new != values:
                assignments = ", ".join(f"{column} = %s" for column in COLUMNS)
                cursor.execute(f"UPDATE {table} SET {assignments} WHERE id = %s", [*new, pk])


def encrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, lambda value: value if value.startswith(FERNET_PREFIX) else encrypt(value))


def decrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, lambda value: decrypt(value) if value.startswith(FERNET_PREFIX) else value)


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0005_mapped_payload_format"),
    ]

    operations = [
        migrations.AlterField(
            model_name="connector",
            name="previous_signing_secret",
            field=connectors_site.common.encryption.EncryptedCharField(blank=True, editable=False, max_length=255),
        ),
        migrations.AlterField(
            model_name="connector",
            name="signing_secret",
            field=connectors_site.common.encryption.EncryptedCharField(editable=False, max_length=255),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows),
    ]
