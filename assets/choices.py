from django.db import models


class AssetKind(models.TextChoices):
    MANAGED = "managed", "Managed"
    UNMANAGED = "unmanaged", "Unmanaged"


class DecisionOutcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    MERGED = "merged", "Merged"
    UNCHANGED = "unchanged", "Unchanged (older than stored)"
    SKIPPED = "skipped", "Skipped"
    AMBIGUOUS = "ambiguous", "Ambiguous"
    DELETED = "deleted", "Deleted by source"
    ERROR = "error", "Error"


class IdentifierKind(models.TextChoices):
    SERIAL = "serial_number", "Serial number"
    HARDWARE_UUID = "hardware_uuid", "Hardware UUID"
    CLOUD_INSTANCE = "cloud_instance_id", "Cloud instance ID"
    MAC = "mac_address", "MAC address"
    FQDN = "fqdn", "FQDN"
    HOSTNAME = "hostname", "Hostname"
    IP = "ip_address", "IP address"


class AssetAction(models.TextChoices):
    MERGED = "merged", "Merged"
    UNMERGED = "unmerged", "Merge undone"
    SPLIT = "split", "Source split out"
    UNSPLIT = "unsplit", "Split undone"
    RETIRED = "retired", "Retired"
    DISTINCT = "distinct", "Not a duplicate"
    INDISTINCT = "indistinct", "Not a duplicate undone"
