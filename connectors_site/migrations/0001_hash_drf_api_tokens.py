"""API tokens made before tokens were hashed keep working: each plain DRF token becomes a django-rest-knox token.

django-rest-knox stores a SHA-512 digest of the token and its first 15 characters (the lookup key), so the same
``Authorization: Token <key>`` header authenticates as before. The plain keys are then deleted from DRF's
``authtoken_token`` table (left empty: the app is no longer installed). There is no way back to plain keys: the
reverse leaves the converted tokens in place.
"""

from datetime import UTC

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.db import migrations
from knox.crypto import hash_token
from knox.settings import CONSTANTS

DRF_TABLE = "authtoken_token"


def _aware(value):
    """SQLite hands raw datetimes back as naive text; Django stores them in UTC."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def convert(apps, schema_editor):
    connection = schema_editor.connection
    if DRF_TABLE not in connection.introspection.table_names():
        return
    table = connection.ops.quote_name(DRF_TABLE)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {table}")
        rows = cursor.fetchall()
    AuthToken = apps.get_model("knox", "AuthToken")
    for key, user_id, created in rows:
        token, made = AuthToken.objects.get_or_create(
            digest=hash_token(key), defaults={"token_key": key[: CONSTANTS.TOKEN_KEY_LENGTH], "user_id": user_id}
        )
        if made:  # keep when it was made (auto_now_add filled in now)
            AuthToken.objects.filter(pk=token.pk).update(created=_aware(created))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [migrations.RunPython(convert, migrations.RunPython.noop)]
