"""Decisions as people read them (the delivery page and the asset page).

The engine's trace is one line per step, with identifier kinds as stored (``serial_number``) and the candidates as
uuids. :func:`present` sets on each decision:

- ``steps``: the trace grouped. The rules that could not apply (the record lacks their attributes) and those
  that found nothing become one line each; the other steps follow in order, the last one (what was decided)
  marked ``final``; the closing "rules applied: …; not applicable: …" summary is dropped (the grouped lines say
  it). Field names read as labels ("Serial number", "MAC address").
- ``compared_display``: per rule, the (label, value) pairs it compared.
- ``candidate_assets``: (uuid, name, short id) per candidate; the short id tells apart assets with one name.

One query for the candidates' names, whatever the number of decisions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .choices import IdentifierKind
from .models import Asset, Decision

FIELD_LABELS = {kind.value: kind.label for kind in IdentifierKind} | {
    "mac_addresses": "MAC address",
    "ip_addresses": "IP address",
    "source_native_key": "Source native key",
    "source_key": "source key",
    "netbios_name": "NetBIOS name",
    "updated_at": "updated at",
    "cloud_provider": "cloud provider",
}
# A field name standing alone: not part of a host name or address (``hostname-01``, ``fqdn.example``).
_FIELD = re.compile(
    r"(?<![\w.:-])(" + "|".join(sorted(map(re.escape, FIELD_LABELS), key=len, reverse=True)) + r")(?![\w.:-])"
)
_NOT_APPLICABLE = re.compile(r"^rule '(?P<rule>.+)' not applicable: the record has no usable (?P<what>.+)$")
_NO_MATCH = re.compile(r"^rule '(?P<rule>.+)' found no matching asset$")
_SUMMARY = re.compile(r"^rules applied: .*; not applicable: .*$")


def humanize(text: str) -> str:
    """``text`` with stored field names replaced by their labels."""
    return _FIELD.sub(lambda match: FIELD_LABELS[match.group(1)], text)


@dataclass(frozen=True)
class Step:
    text: str
    final: bool = False
    muted: bool = False


def steps(reasons: list[str]) -> list[Step]:
    """The grouped, relabelled trace (see the module docstring)."""
    not_applicable: list[str] = []
    no_match: list[str] = []
    rest: list[str] = []
    for reason in reasons:
        if found := _NOT_APPLICABLE.match(reason):
            not_applicable.append(found["rule"])
        elif found := _NO_MATCH.match(reason):
            no_match.append(found["rule"])
        elif not _SUMMARY.match(reason):
            rest.append(humanize(reason))
    grouped = []
    if not_applicable:
        grouped.append(
            Step(f"Not applicable (the record lacks what they compare): {', '.join(not_applicable)}", muted=True)
        )
    if no_match:
        grouped.append(Step(f"No matching asset: {', '.join(no_match)}", muted=True))
    grouped += [Step(text) for text in rest]
    if rest:
        grouped[-1] = Step(grouped[-1].text, final=True)
    return grouped


def _compared(compared: dict) -> list[tuple[str, list[tuple[str, str]]]]:
    result = []
    for rule, keys in (compared or {}).items():
        pairs = []
        for key in keys or ():
            field, sep, value = str(key).partition("=")
            pairs.append((FIELD_LABELS.get(field, field), value) if sep else ("", humanize(str(key))))
        if pairs and all(label in (rule, "") for label, _ in pairs):
            pairs = [("", value) for _, value in pairs]  # "Serial number: SN-1", not "Serial number: Serial number …"
        if pairs:
            result.append((rule, pairs))
    return result


def present(decisions: list[Decision]) -> list[Decision]:
    """Set ``steps``, ``compared_display`` and ``candidate_assets`` on each decision; returns them."""
    wanted = {str(candidate) for decision in decisions for candidate in decision.candidates or ()}
    names = {}
    if wanted:
        for asset in Asset.objects.filter(uuid__in=wanted).only(
            "uuid", "hostname", "fqdn", "netbios_name", "serial_number"
        ):
            names[str(asset.uuid)] = asset.display_name
    for decision in decisions:
        decision.steps = steps(decision.reasons or [])
        decision.compared_display = _compared(decision.compared)
        decision.candidate_assets = [
            (str(candidate), names.get(str(candidate), "an asset since deleted"), str(candidate)[:8])
            for candidate in decision.candidates or ()
        ]
    return decisions
