"""Helpers of ``manage.py benchmark``: its own database, a deterministic data generator, an HTTP load client
and a memory probe. Nothing in the product imports this package; the benchmark's gunicorn uses
:mod:`connectors_site.bench.settings` to add one trivial view as the intake latency baseline."""
