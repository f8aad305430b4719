"""The application ``manage.py serve`` runs with gunicorn's asyncio workers: see :mod:`connectors_site.serving`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectors_site.settings")

from django.core.wsgi import get_wsgi_application

django_application = get_wsgi_application()

from connectors.refused import record_before_django  # noqa: E402  (needs the apps loaded)
from connectors_site.serving import BodyDeadline, threaded  # noqa: E402

application = BodyDeadline(threaded(django_application), on_refused=record_before_django)
