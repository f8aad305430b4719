from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import get_token_model


class Command(BaseCommand):
    help = (
        "Make an API token for a user and print it once (only its SHA-512 digest is stored). "
        "Use it as `Authorization: Token <token>`."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--days", type=float, default=None, help="Expire the token after this many days.")
        parser.add_argument(
            "--revoke-all", action="store_true", help="Delete the user's other API tokens first (a lost token)."
        )

    def handle(self, *args, username: str, days: float | None = None, revoke_all: bool = False, **options):
        try:
            user = get_user_model().objects.get_by_natural_key(username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}") from None
        model = get_token_model()
        if revoke_all:
            deleted, _ = model.objects.filter(user=user).delete()
            self.stderr.write(f"Deleted {deleted} earlier token(s) of {username}.")
        expiry = timedelta(days=days) if days else None
        _, token = model.objects.create(user=user, expiry=expiry)
        self.stdout.write(token)
