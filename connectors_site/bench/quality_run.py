"""Identification quality through the real intake path: the estate of :mod:`.quality` into an empty inventory.

For each rule order: three connectors (CMDB 90, MDM 60, EDR 30) are created with the product's service, their
rule selection set when the order is not the default, and each source's records are POSTed to
``/webhooks/<connector uuid>`` with the connector's bearer token (JSON batches of :data:`BATCH_SIZE`), sources in
the order CMDB, MDM, EDR. Each stored delivery is processed by the worker function, the way ``db_worker`` would.
Then every (connector, source key) is looked up (following ``merged_into`` to the surviving asset) and scored with
:func:`.quality.pairwise_quality`. Between orders the connectors and assets the run made are deleted, so each order
starts from an empty inventory: run it on a throw-away database (the benchmark's, or a test database).
"""

from __future__ import annotations

import json
import time

from django.db import transaction
from django.test import Client

from assets.models import Asset, IdentificationRule, SourceRecord
from assets.rule_selection import update_rule_selection
from connectors.models import Connector, Delivery
from connectors.services import create_connector
from connectors.worker import process_delivery  # moves to connectors.worker

from .quality import TRAPS, Estate, generate_estate, pairwise_quality

BATCH_SIZE = 500
DEFAULT_ORDER = "default"
#: Alternative rule orders shown next to the default selection (rule names as in the default-rules migration).
ALTERNATIVE_ORDERS: dict[str, list[str]] = {
    "strong only": ["Serial number", "Hardware UUID", "Cloud instance ID", "MAC address"],
    "names first": [
        "FQDN",
        "Hostname + IP address",
        "Serial number",
        "Hardware UUID",
        "Cloud instance ID",
        "MAC address",
    ],
}
TARGET_PRECISION = 0.999
TARGET_RECALL = 0.99


def default_orders() -> dict[str, list[str] | None]:
    """The default selection (``None``: what a new connector gets) and :data:`ALTERNATIVE_ORDERS`."""
    return {DEFAULT_ORDER: None, **ALTERNATIVE_ORDERS}


def _apply_order(connector: Connector, names: list[str]) -> None:
    """Enable exactly ``names`` (in that order, after Source native key); every other rule off, after them."""
    rules = dict(IdentificationRule.objects.values_list("name", "id"))
    unknown = [name for name in names if name not in rules]
    if unknown:
        raise ValueError(f"unknown identification rules: {', '.join(unknown)}")
    selected = [rules[name] for name in names]
    current = list(connector.rule_selection.order_by("position").values_list("rule_id", flat=True))
    order = selected + [rule_id for rule_id in current if rule_id not in selected]
    system = set(IdentificationRule.objects.filter(is_system=True).values_list("id", flat=True))
    enabled = {rule_id: rule_id in selected or rule_id in system for rule_id in order}
    with transaction.atomic():
        update_rule_selection(connector, order=order, enabled=enabled)


def _send(client: Client, connector: Connector, token: str, records: list[dict]) -> list[int]:
    """POST the records in batches; returns the ids of the stored deliveries."""
    ids = []
    for start in range(0, len(records), BATCH_SIZE):
        body = json.dumps({"assets": records[start : start + BATCH_SIZE]}, separators=(",", ":"))
        response = client.post(
            f"/webhooks/{connector.uuid}",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        if response.status_code != 202:
            raise RuntimeError(f"intake answered {response.status_code}: {response.content[:300]!r}")
        ids.append(Delivery.objects.only("pk").get(uuid=response.json()["delivery_id"]).pk)
    return ids


def _landed(connectors: dict[str, Connector]) -> dict[tuple[str, str], int]:
    """(source name, source key) -> surviving asset id."""
    merged_into = dict(Asset.objects.filter(merged_into__isnull=False).values_list("id", "merged_into_id"))

    def survivor(asset_id: int) -> int:
        seen = set()
        while asset_id in merged_into and asset_id not in seen:
            seen.add(asset_id)
            asset_id = merged_into[asset_id]
        return asset_id

    names = {connector.pk: name for name, connector in connectors.items()}
    rows = SourceRecord.objects.filter(connector__in=list(connectors.values()))
    return {
        (names[connector_id], key): survivor(asset_id)
        for connector_id, key, asset_id in rows.values_list("connector_id", "source_key", "asset_id")
    }


def run_order(estate: Estate, label: str, names: list[str] | None) -> dict:
    """One rule order on an empty inventory; the metrics, the intake outcome and the seconds it took."""
    started = time.perf_counter()
    connectors: dict[str, Connector] = {}
    tokens: dict[str, str] = {}
    for source in estate.sources:
        connector, credentials = create_connector(name=f"Quality {source.name} ({label})", trust_rank=source.trust_rank)
        if names is not None:
            _apply_order(connector, names)
        connectors[source.name], tokens[source.name] = connector, credentials.token
    client = Client()
    statuses: dict[str, int] = {}
    for source in estate.sources:
        for delivery_id in _send(client, connectors[source.name], tokens[source.name], source.records):
            status = process_delivery(delivery_id)
            statuses[status] = statuses.get(status, 0) + 1
    landed = _landed(connectors)
    metrics = pairwise_quality(estate.truth, landed, estate.traps)
    metrics.update(
        order=label,
        rules=names,
        deliveries=statuses,
        skipped=len(estate.truth) - len(landed),
        seconds=round(time.perf_counter() - started, 2),
    )
    return metrics


def _clear(connectors: list[Connector]) -> None:
    """Delete what a rule order made: its connectors (with their deliveries and records) and all assets."""
    with transaction.atomic():
        Asset.objects.update(merged_into=None)
        Connector.objects.filter(pk__in=[connector.pk for connector in connectors]).delete()
        Asset.objects.all().delete()


def run_quality(machines: int = 2000, seed: int = 20260301, orders: dict[str, list[str] | None] | None = None) -> dict:
    """Every rule order of ``orders`` (label -> rule names, ``None`` for the default selection) on the same estate.

    Needs an empty inventory (a throw-away database) and the default rules; leaves it empty again.
    """
    if Asset.objects.exists():
        raise RuntimeError("the quality benchmark needs an empty inventory (run it on a throw-away database)")
    orders = default_orders() if orders is None else orders
    started = time.perf_counter()
    estate = generate_estate(machines, seed)
    generate_seconds = time.perf_counter() - started
    results = {}
    for label, names in orders.items():
        before = set(Connector.objects.values_list("pk", flat=True))
        try:
            results[label] = run_order(estate, label, names)
        finally:
            _clear(list(Connector.objects.exclude(pk__in=before)))
    return {
        "machines": machines,
        "seed": seed,
        "records": estate.record_count(),
        "records_per_source": {source.name: len(source.records) for source in estate.sources},
        "trap_machines": dict(sorted(estate.trap_counts().items())),
        "generate_seconds": round(generate_seconds, 2),
        "orders": results,
    }


def format_quality_table(results: dict) -> str:
    """The quality table: one row per rule order with the targets, then the errors each trap caused."""
    orders = results["orders"]
    lines = [
        f"Identification quality: {results['machines']} machines, {results['records']} records "
        f"({', '.join(f'{name} {count}' for name, count in results['records_per_source'].items())}), "
        f"seed {results['seed']}",
        "",
        f"{'rule order':<14}{'precision':>10}{'recall':>9}{'F1':>8}{'false-merge':>13}{'split':>7}{'seconds':>9}"
        "  target",
    ]
    for label, metrics in orders.items():
        if label == DEFAULT_ORDER:
            ok = metrics["precision"] >= TARGET_PRECISION and metrics["recall"] >= TARGET_RECALL
            target = f"precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL}: {'PASS' if ok else 'MISS'}"
        else:
            target = "-"
        lines.append(
            f"{label:<14}{metrics['precision']:>10.4f}{metrics['recall']:>9.4f}{metrics['f1']:>8.4f}"
            f"{metrics['false_merge_assets']:>13}{metrics['split_machines']:>7}{metrics['seconds']:>9.1f}  {target}"
        )
    lines += ["", "Errors (false-merge assets + split machines) each trap took part in:"]
    labels = list(orders)
    lines.append(f"{'trap':<20}{'machines':>9}" + "".join(f"{label:>14}" for label in labels))
    for trap in (*TRAPS, "none"):
        counts = [orders[label]["errors_by_trap"].get(trap, 0) for label in labels]
        lines.append(
            f"{trap:<20}{results['trap_machines'].get(trap, 0):>9}" + "".join(f"{count:>14}" for count in counts)
        )
    return "\n".join(lines)
