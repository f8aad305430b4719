"""Reconciliation: which source's value each asset attribute shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from .identifiers import (
    as_values,
    normalize_cloud_instance_id,
    normalize_hostname,
    normalize_ip,
    normalize_mac,
    normalize_serial,
    normalize_uuid,
)
from .junk import cloud_instance_junk, host_junk, ip_junk, mac_junk, serial_junk, uuid_junk
from .recency import time_key
from .records import REPORTED_ATTRIBUTES


@dataclass(frozen=True, slots=True)
class SourceValues:
    """One live source record of an asset, as reconciliation needs it."""

    source_id: int
    trust_rank: int
    updated_at: datetime | None
    attributes: dict[str, object]


def _is_empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (tuple, list, set, frozenset, dict)):
        return not value
    return False


#: Per attribute: the normalizer and junk test of one value (one item of a list attribute).
_JUNK_TESTS: dict[str, tuple[Callable[[object], str], Callable[[str], str | None]]] = {
    "serial_number": (normalize_serial, serial_junk),
    "hardware_uuid": (normalize_uuid, uuid_junk),
    "cloud_instance_id": (normalize_cloud_instance_id, cloud_instance_junk),
    "hostname": (normalize_hostname, host_junk),
    "fqdn": (normalize_hostname, host_junk),
    "ip_addresses": (normalize_ip, ip_junk),
    "mac_addresses": (normalize_mac, mac_junk),
}
_LIST_JUNK = ("ip_addresses", "mac_addresses")


def value_junk(attribute: str, value: object) -> str | None:
    """Why one stored value of ``attribute`` (one item of a list attribute) is junk, or ``None``: what the asset
    page notes next to a de-emphasised value ("placeholder value", "loopback address"...)."""
    tests = _JUNK_TESTS.get(attribute)
    if tests is None or _is_empty(value):
        return None
    normalizer, junk_test = tests
    return junk_test(normalizer(value))


def _is_placeholder(attribute: str, value: object) -> bool:
    """Whether a stored value is one the engine would not match on (placeholder serial, localhost,
    127.0.0.1...); a list is when every item is."""
    if attribute in _LIST_JUNK:
        return all(value_junk(attribute, item) for item in as_values(value))
    return value_junk(attribute, value) is not None


def _real_items(attribute: str, value: object) -> object:
    """A list attribute without its junk items when it has real ones (a loopback address is never shown as the
    asset's address next to a real one; it stays on the source record); other values as they are."""
    if attribute not in _LIST_JUNK:
        return value
    items = as_values(value)
    if len(items) < 2:  # one item is shown as it is, junk or not: no need to test it
        return value
    real = [item for item in items if value_junk(attribute, item) is None]
    if not real or len(real) == len(items):
        return value
    return real if isinstance(value, list) else tuple(real)


def reconcile(sources: Sequence[SourceValues]) -> dict[str, tuple[object, int]]:
    """The value each asset attribute shows, with its provenance: ``attribute -> (value, source_id)``.

    The most trusted source that reported a non-empty value wins; ties go to the most recent ``updated_at``
    (``None`` oldest), then to the highest source id so the result is deterministic. A placeholder value (junk
    by the engine's rules, e.g. serial "To be filled by O.E.M.") only wins when no source reported a real one:
    otherwise a trusted source's placeholder would hide another source's real serial. A list (IPs, MACs) loses
    its junk items when it has real ones. Attributes nobody reported are absent.
    """
    if len(sources) == 1:  # most assets: nothing to choose between
        only = sources[0]
        return {
            attribute: (_real_items(attribute, value), only.source_id)
            for attribute in REPORTED_ATTRIBUTES
            if not _is_empty(value := only.attributes.get(attribute))
        }
    # Most trusted, then most recent, then highest id first: the order every attribute is decided in.
    ordered = sorted(
        sources, key=lambda source: (source.trust_rank, time_key(source.updated_at), source.source_id), reverse=True
    )
    shown: dict[str, tuple[object, int]] = {}
    for attribute in REPORTED_ATTRIBUTES:
        reported = [(source, value) for source in ordered if not _is_empty(value := source.attributes.get(attribute))]
        if not reported:
            continue
        winner = reported[0]
        # Only sources that disagree need the (costly) placeholder test, and only when the first one is junk.
        if (
            len(reported) > 1
            and any(value != winner[1] for _, value in reported)
            and _is_placeholder(attribute, winner[1])
        ):
            winner = next((item for item in reported[1:] if not _is_placeholder(attribute, item[1])), winner)
        source, value = winner
        shown[attribute] = (_real_items(attribute, value), source.source_id)
    return shown


#: Attributes that name one machine: two real values of one of them on one asset mean two machines.
STRONG_ATTRIBUTES: tuple[tuple[str, Callable[[object], str], Callable[[str], str | None]], ...] = (
    ("serial_number", normalize_serial, serial_junk),
    ("hardware_uuid", normalize_uuid, uuid_junk),
    ("cloud_instance_id", normalize_cloud_instance_id, cloud_instance_junk),
)


def strong_conflicts(sources: Sequence[SourceValues]) -> dict[str, list[tuple[str, int]]]:
    """The strong identifiers on which an asset's live sources disagree: ``kind -> [(value, source_id), ...]``.

    A possible false merge: a weaker rule (FQDN, hostname + IP, a shared MAC) put the records of two machines on
    one asset. Values are compared normalized (``sn-1`` and ``SN-1`` agree) and placeholders never count (a
    "To be filled by O.E.M." next to a real serial is no disagreement). Each listed pair is one source's real
    value, sorted by value then source id; a kind is listed only when at least two different values remain.
    """
    if len(sources) < 2:
        return {}
    found: dict[str, list[tuple[str, int]]] = {}
    for attribute, normalizer, junk_test in STRONG_ATTRIBUTES:
        if len({source.attributes.get(attribute) for source in sources} - {None, ""}) < 2:
            continue  # one value at most, however spelled: nothing to disagree on (and nothing to normalize)
        reported = []
        for source in sources:
            value = normalizer(source.attributes.get(attribute))
            if value and junk_test(value) is None:
                reported.append((value, source.source_id))
        if len({value for value, _ in reported}) > 1:
            found[attribute] = sorted(reported)
    return found
