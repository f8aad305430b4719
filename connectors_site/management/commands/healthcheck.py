import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from connectors_site.common.health import health_report


class Command(BaseCommand):
    help = "Check the database, the workers' heartbeat and the age of the oldest queued delivery."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the report as JSON.")

    def handle(self, *args, as_json: bool = False, **options):
        report = health_report()
        if as_json:
            self.stdout.write(jsonlib.dumps(report, indent=2))
        else:
            for key, value in report.items():
                self.stdout.write(f"{key:32} {value}")
        if not report.get("ok"):
            raise CommandError("unhealthy", returncode=1)
