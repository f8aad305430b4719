"""Settings of the benchmark's own gunicorn only: the product's settings plus the trivial baseline view.

Selected with ``DJANGO_SETTINGS_MODULE=connectors_site.bench.settings`` in that subprocess; the product never
loads it.
"""

from connectors_site.settings import *  # noqa: F403

ROOT_URLCONF = "connectors_site.bench.urls"
