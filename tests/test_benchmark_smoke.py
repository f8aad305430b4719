"""`manage.py benchmark` keeps working: every part runs at tiny sizes and reports positive figures.

No timing is asserted (the numbers mean nothing at these sizes). The benchmark makes its own database (a temporary
SQLite file, or a ``bench_…`` PostgreSQL database) and must give the test database back untouched.
"""

import json

import pytest
from django.core.management import call_command
from django.db import connection

from assets.models import Asset
from connectors.models import Connector

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _positive(section: dict, *keys: str) -> None:
    for key in keys:
        assert section[key] > 0, (key, section)


def test_benchmark_runs_every_part_at_tiny_sizes(tmp_path):
    test_database = connection.settings_dict["NAME"]
    path = tmp_path / "b.json"

    call_command(
        "benchmark",
        assets=200,
        sizes="100,300",
        chunk_sizes="50,100",
        senders="1,2",
        requests=20,
        delivery_mib=0.1,
        list_assets=2000,
        overview_deliveries=240,
        quality_machines=60,
        scaling_records=300,
        scaling_repeats=1,
        json=str(path),
        stdout=(tmp_path / "out.txt").open("w"),
    )

    results = json.loads(path.read_text())
    assert results["environment"]["database"]["vendor"] == connection.vendor
    quality = results["quality"]
    assert quality["machines"] == 60 and set(quality["orders"]) == {"default", "strong only", "names first"}
    for metrics in quality["orders"].values():
        assert 0 < metrics["precision"] <= 1 and 0 < metrics["recall"] <= 1
    assert results["environment"]["database"]["name"] != test_database
    _positive(results["setup"], "assets", "source_records", "identifiers")
    runs = results["throughput"]["runs"]
    assert [run["records"] for run in runs] == [100, 300]
    for run in runs:
        _positive(run, "seconds", "records_per_second")
        assert run["outcomes"]["errors"] == 0
        assert run["outcomes"]["merged"] > 0 and run["outcomes"]["created"] > 0
    for run, identified in zip(results["baseline"]["runs"], runs, strict=True):
        _positive(run, "seconds", "rows_per_second")
        # The raw insert copies what the run wrote: a decision per record, an asset per created one.
        tables = run["rows_by_table"]
        assert tables["assets_decision"] == identified["records"]
        assert tables["assets_asset"] == identified["outcomes"]["created"]
        assert tables["assets_sourcerecord"] > 0 and tables["assets_identifier"] > 0
    assert set(results["baseline"]["ratio"]) == {"100", "300"}
    _positive(results["scaling"], "time_ratio", "target")
    chunks = results["queries_per_chunk"]["chunks"]
    assert set(chunks) == {"50", "100"} and all(chunk["queries"] > 0 for chunk in chunks.values())
    for endpoint in ("intake", "trivial"):
        assert set(results["intake"][endpoint]) == {"1", "2"}
        for run in results["intake"][endpoint].values():
            _positive(run, "p50_ms", "p99_ms", "requests_per_second")
            assert run["requests"] == 20 and run["unexpected"] == 0, run
    assert results["intake"]["deliveries_stored"] >= 40
    _positive(results["intake"]["p50_ratio"], "1", "2")
    memory = results["memory"]
    _positive(memory, "delivery_bytes", "records", "idle_mib", "peak_mib")
    assert memory["status"] == "processed" and memory["records_received"] == memory["records"]
    listing = results["list_page"]
    assert listing["assets"] >= 2000
    for page in ("first_page", "filtered_page", "connector_page"):
        _positive(listing[page], "median_ms", "queries", "table_rows")  # the search finds generated assets too
    overview = results["overview"]
    assert overview["assets"] >= 2000 and overview["deliveries"] >= 240 and overview["recount_ms"] > 0
    assert overview["counts"]["live"] > 0 and overview["page"]["queries"] > 0
    _positive(overview["page"], "median_ms", "bytes")
    workers = results["workers"]
    if connection.vendor == "postgresql":
        assert workers["records"] == 300 and set(workers["runs"]) == {"1", "2"} and workers["speedup"] > 0
        for run in workers["runs"].values():
            _positive(run, "seconds", "records_per_second", "chunks")
            assert run["status"] in ("processed", "partial")
    else:
        assert workers == {"skipped_on": "sqlite"}
    assert results["targets"] and all(target["pass"] is not None for target in results["targets"])
    output = (tmp_path / "out.txt").read_text()
    assert "Measure" in output and "[7] list page" in output and "[8] overview over" in output
    assert "[9] worker scaling" in output or "[9] speed-up, 2 workers vs 1" in output
    assert "[0] identification quality, default rules" in output and "Errors (false-merge assets" in output

    # The test database is the default connection again, and the benchmark wrote nothing into it.
    assert connection.settings_dict["NAME"] == test_database
    assert not Connector.objects.filter(name__startswith="Bench").exists()
    assert not Asset.objects.exists()
