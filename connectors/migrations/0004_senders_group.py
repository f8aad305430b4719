from django.db import migrations

SENDERS = "Senders"


def create_senders_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=SENDERS)


def remove_senders_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=SENDERS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0003_signature_schemes_senders_shared_rate_limit"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_senders_group, remove_senders_group)]
