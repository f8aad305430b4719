"""Parts 1-4 of the benchmark: identification throughput, the raw-insert baseline, scaling, queries per chunk.

Throughput is that of :func:`assets.services.process_records`, the real service (chunks, engine, bulk writes).
"""

from __future__ import annotations

import functools
import gc
import statistics
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets import services
from assets.services import engine_config, process_records
from connectors.services import create_connector

from .generator import RecordFactory
from .raw_baseline import raw_insert_baseline, recording_inserts
from .report import SCALING_SLACK

Log = Callable[[str], None]
OUTCOME_COUNTERS = ("received", "created", "updated", "merged", "skipped", "errors")


# --- 1-3: throughput, baseline, scaling ---


def measure_throughput(results: dict, factory: RecordFactory, sizes: list[int], chunk_size: int, log: Log) -> dict:
    """Identify a batch of each size into the inventory, then insert the very rows its chunks wrote again with
    raw statements (:mod:`.raw_baseline`), and compare the largest run with the smallest. Fills
    ``results["baseline"]`` and ``results["scaling"]``; returns the throughput section."""
    connector, _ = create_connector(name="Bench source", description="benchmark: the measured batches")
    copies, _ = create_connector(name="Bench raw baseline", description="benchmark: copies of the written rows")
    runs, baseline_runs = [], []
    for number, size in enumerate(sizes):
        name = f"m{number}"
        records = factory.batch(name, size)
        gc.collect()
        with recording_inserts() as chunks:
            runs.append(_identify_batch(connector, records, size, chunk_size, factory.mix[name], log))
        del records
        gc.collect()
        baseline = raw_insert_baseline(chunks, copies.pk)
        del chunks
        gc.collect()
        baseline_runs.append({"records": size, **baseline})
        log(
            f"[2/7] raw insert baseline ({baseline['method']}) of the {baseline['rows']:,} rows M={size:,} wrote: "
            f"{baseline['seconds']:.2f} s ({baseline['rows_per_second']:,.0f} rows/s; "
            f"identify+merge takes {runs[-1]['seconds'] / baseline['seconds']:.1f}x as long)"
        )
    results["baseline"] = {
        "runs": baseline_runs,
        "ratio": {
            str(run["records"]): round(run["seconds"] / base["seconds"], 2)
            for run, base in zip(runs, baseline_runs, strict=True)
        },
    }
    results["scaling"] = _scaling(runs, log)
    return {"inventory_assets": results["setup"]["assets"], "chunk_size": chunk_size, "runs": runs}


def _identify_batch(connector, records, size: int, chunk_size: int, mix, log: Log) -> dict:
    log(f"[1/7] identify+merge M={size:,} into the inventory (chunk {chunk_size}) ...")
    with _chunk_timer() as chunk_seconds:
        started = time.perf_counter()
        outcome = process_records(connector, records, chunk_size=chunk_size)
        seconds = time.perf_counter() - started
    chunks = _chunk_summary(chunk_seconds)
    log(
        f"[1/7] identify+merge M={size:,}: {seconds:.2f} s ({size / seconds:,.0f} records/s; "
        f"chunk median {chunks.get('median_ms', 0):.0f} ms, "
        f"first tenth {chunks.get('first_tenth_mean_ms', 0):.0f} ms, "
        f"last tenth {chunks.get('last_tenth_mean_ms', 0):.0f} ms)"
    )
    return {
        "records": size,
        "seconds": round(seconds, 3),
        "records_per_second": round(size / seconds, 1),
        "outcomes": {counter: getattr(outcome, counter) for counter in OUTCOME_COUNTERS},
        "mix": dict(mix),
        "chunks": chunks,
    }


def _scaling(runs: list[dict], log: Log) -> dict:
    """time(largest) / time(smallest), against the size ratio with some slack."""
    small = min(runs, key=lambda run: run["records"])
    large = max(runs, key=lambda run: run["records"])
    if large["records"] <= small["records"]:
        return {"skipped": True, "reason": "needs two different sizes"}
    size_ratio = large["records"] / small["records"]
    scaling = {
        "small": small["records"],
        "large": large["records"],
        "size_ratio": round(size_ratio, 2),
        "time_ratio": round(large["seconds"] / small["seconds"], 2),
        "target": round(SCALING_SLACK * size_ratio, 2),
    }
    log(f"[3/7] scaling: time ratio {scaling['time_ratio']:.2f} for {size_ratio:.1f}x records")
    return scaling


@contextmanager
def _chunk_timer():
    """Time each ``process_chunk`` call that ``process_records`` makes (a thin wrapper around the module
    attribute, restored afterwards): shows whether a chunk gets slower as the inventory grows."""
    original = getattr(services, "process_chunk", None)
    seconds: list[float] = []
    if original is None:  # the service was reorganized: no per-chunk figures, the run itself is unaffected
        yield seconds
        return

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    services.process_chunk = timed
    try:
        yield seconds
    finally:
        services.process_chunk = original


def _chunk_summary(seconds: list[float]) -> dict:
    """Per-chunk times in ms: median, and the mean of the first and last tenth of the run (drift)."""
    if not seconds:
        return {}
    tenth = max(1, len(seconds) // 10)
    return {
        "count": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 1),
        "first_tenth_mean_ms": round(statistics.mean(seconds[:tenth]) * 1000, 1),
        "last_tenth_mean_ms": round(statistics.mean(seconds[-tenth:]) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


# --- 4: queries per chunk ---


def count_queries_per_chunk(factory: RecordFactory, chunk_sizes: list[int], log: Log) -> dict:
    """The statements one chunk of each size costs, for new source keys and for the same keys re-sent."""
    connector, _ = create_connector(name="Bench queries", description="benchmark: queries per chunk")
    config = engine_config(connector)
    chunks = {}
    for size in chunk_sizes:
        records = factory.batch(f"q{size}", size)
        # The same records again, newer: every source key now exists (the update path).
        resent = [
            replace(record, os_version=f"{record.os_version}-u", updated_at=record.updated_at + timedelta(days=1))
            for record in records
        ]
        entry = {
            label: _captured_chunk(connector, batch, size, config)
            for label, batch in (("new", records), ("resent", resent))
        }
        chunks[str(size)] = {
            "queries": entry["new"]["queries"],
            "resent_queries": entry["resent"]["queries"],
            **entry,
        }
        log(
            f"[4/7] one chunk of {size:,} records: {entry['new']['queries']} queries "
            f"(the same keys re-sent: {entry['resent']['queries']})"
        )
    return {"chunks": chunks}


def _captured_chunk(connector, batch, size: int, config) -> dict:
    with CaptureQueriesContext(connection) as captured:
        process_records(connector, batch, chunk_size=size, config=config)
    statements = [query["sql"] for query in captured.captured_queries]
    return {
        "queries": len(statements),
        "by_statement": dict(Counter(_statement_kind(sql) for sql in statements)),
        "db_ms": round(sum(float(query["time"]) for query in captured.captured_queries) * 1000, 1),
        "statements": [sql[:160] for sql in statements],
    }


def _statement_kind(sql: str) -> str:
    """``INSERT``, ``SELECT``… of a captured query (``executemany`` ones read ``"<n> times: INSERT …"``)."""
    words = sql.split(None, 3)
    if len(words) > 2 and words[0].isdigit() and words[1] == "times:":
        return f"{words[2].upper()} (executemany)"
    return words[0].upper() if words else ""
