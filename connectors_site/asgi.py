"""The application ``manage.py serve`` runs with gunicorn's asyncio workers: see :mod:`connectors_site.serving`."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connectors_site.settings")

from django.core.wsgi import get_wsgi_application

from connectors_site.serving import BodyDeadline, threaded

application = BodyDeadline(threaded(get_wsgi_application()))
