from django.db import migrations

# (name, attributes, system, on for new connectors, description)
DEFAULT_RULES = [
    ("Source native key", ["source_native_key"], True, True,
     "The record this connector already sent under the same key. Always first."),
    ("Serial number", ["serial_number"], False, True, "Same hardware serial number."),
    ("Hardware UUID", ["hardware_uuid"], False, True, "Same SMBIOS/hardware UUID."),
    ("Cloud instance ID", ["cloud_instance_id"], False, True, "Same cloud instance identifier."),
    ("MAC address", ["mac_address"], False, True, "Shares a MAC address."),
    ("FQDN", ["fqdn"], False, True, "Same fully qualified domain name."),
    ("Hostname + IP address", ["hostname", "ip_address"], False, True, "Same hostname and a shared IP address."),
    ("Hostname", ["hostname"], False, False, "Same short hostname (off by default: names get reused)."),
    ("IP address", ["ip_address"], False, False, "Shares an IP address (off by default: DHCP reuses them)."),
]


def create_rules(apps, schema_editor):
    Rule = apps.get_model("assets", "IdentificationRule")
    for position, (name, attributes, system, enabled, description) in enumerate(DEFAULT_RULES):
        Rule.objects.update_or_create(
            name=name,
            defaults={
                "attributes": attributes,
                "is_system": system,
                "default_enabled": enabled,
                "position": position * 10,
                "description": description,
            },
        )


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ("Connector admins", "Viewers"):
        Group.objects.get_or_create(name=name)


def remove_rules(apps, schema_editor):
    apps.get_model("assets", "IdentificationRule").objects.filter(
        name__in=[rule[0] for rule in DEFAULT_RULES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("assets", "0002_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunPython(create_rules, remove_rules),
        migrations.RunPython(create_groups, migrations.RunPython.noop),
    ]
