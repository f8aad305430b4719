"""Pairwise identification quality: an inventory's answer (record -> asset) scored against the truth (record ->
machine), with each error attributed to the traps its machines take part in. Pure Python."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def pairwise_quality(
    truth: Mapping[Hashable, Hashable],
    predicted: Mapping[Hashable, Hashable | None],
    traps: Mapping[Hashable, set[str]] | None = None,
) -> dict:
    """Pairwise precision/recall/F1 of ``predicted`` (record -> asset) against ``truth`` (record -> machine).

    Counted in O(records) from cluster sizes: the pairs the inventory put together are ``Σ C(size, 2)`` over
    assets, the true pairs the same over machines, the right ones the same over (asset, machine) cells. A record
    of ``truth`` missing from ``predicted`` or mapped to ``None`` (skipped, not written) is an asset of its own.
    Precision (recall) is 1.0 when there are no predicted (true) pairs.

    A *false-merge asset* holds records of two or more machines; a *split machine* has records in two or more
    assets. Each error is attributed to the traps its machines take part in (``traps``: machine -> trap names):
    for a false merge the trap(s) held by the most of the merged machines (all of their traps when no trap is
    held by two of them); for a split the machine's traps; ``"none"`` when there is none. ``errors_by_trap``
    counts the errors each trap took part in.
    """
    traps = traps or {}
    assets: dict[Hashable, Counter] = defaultdict(Counter)  # asset -> machine -> records
    machine_assets: dict[Hashable, set] = defaultdict(set)
    machine_sizes: Counter = Counter()
    for record, machine in truth.items():
        asset = predicted.get(record)
        asset = ("singleton", record) if asset is None else ("asset", asset)
        assets[asset][machine] += 1
        machine_assets[machine].add(asset)
        machine_sizes[machine] += 1
    predicted_pairs = sum(_pairs(sum(cells.values())) for cells in assets.values())
    true_pairs = sum(_pairs(size) for size in machine_sizes.values())
    right_pairs = sum(_pairs(size) for cells in assets.values() for size in cells.values())
    precision = right_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = right_pairs / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    false_merges, splits, errors_by_trap = _attribute_errors(assets, machine_assets, traps)
    return {
        "records": len(truth),
        "machines": len(machine_sizes),
        "assets": len(assets),
        "true_pairs": true_pairs,
        "predicted_pairs": predicted_pairs,
        "right_pairs": right_pairs,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_merge_assets": len(false_merges),
        "split_machines": len(splits),
        "false_merges": false_merges,
        "splits": splits,
        "errors_by_trap": dict(sorted(errors_by_trap.items())),
    }


def _attribute_errors(assets: dict, machine_assets: dict, traps: Mapping[Hashable, set[str]]) -> tuple:
    """False-merge assets and split machines, each with the traps it is attributed to (see
    :func:`pairwise_quality`), and how many errors each trap took part in."""
    errors_by_trap: Counter = Counter()
    false_merges = []
    for asset, cells in assets.items():
        if len(cells) < 2:
            continue
        involved = sorted(cells, key=str)
        held = Counter(trap for machine in involved for trap in traps.get(machine, ()))
        most = max(held.values(), default=0)
        causes = sorted(trap for trap, count in held.items() if count == most or most < 2) or ["none"]
        errors_by_trap.update(causes)
        false_merges.append({"asset": asset[1], "machines": involved, "traps": causes})
    splits = []
    for machine, landed in machine_assets.items():
        if len(landed) < 2:
            continue
        causes = sorted(traps.get(machine, ())) or ["none"]
        errors_by_trap.update(causes)
        splits.append({"machine": machine, "assets": len(landed), "traps": causes})
    return false_merges, splits, errors_by_trap
