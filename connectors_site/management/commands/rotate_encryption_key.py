from django.core.management.base import BaseCommand
from django.db import transaction

from connectors.models import Connector
from connectors_site.common.encryption import generate_key


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored signing secret with the newest key of FIELD_ENCRYPTION_KEYS; "
        "afterwards older keys may be removed. --generate prints a new key to put first in the list."
    )

    def add_arguments(self, parser):
        parser.add_argument("--generate", action="store_true", help="Only print a new key.")

    def handle(self, *args, generate: bool = False, **options):
        if generate:
            self.stdout.write(generate_key())
            return
        count = 0
        with transaction.atomic():
            # Loading decrypts with whichever key opens the value; saving encrypts with the newest.
            for connector in Connector.objects.select_for_update().only(
                "pk", "signing_secret", "previous_signing_secret"
            ):
                connector.save(update_fields=["signing_secret", "previous_signing_secret"])
                count += 1
        self.stdout.write(f"Re-encrypted the signing secrets of {count} connector(s) with the newest key.")
