"""The benchmark behind ``manage.py benchmark`` (:mod:`.runner` runs it): its own database, a deterministic data
generator and loader, one module per measured part, an HTTP load client, a memory probe and the report. Nothing in
the product imports this package; the benchmark's gunicorn uses :mod:`connectors_site.bench.settings` to add one
trivial view as the intake latency baseline."""
