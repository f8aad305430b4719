"""Deterministic benchmark data: an inventory of existing machines and batches of incoming asset records.

Every value comes from ``random.Random`` instances seeded with the run's seed and a name, so the same seed gives
the same data in every run and on every database.

Identity space: machine number ``i`` owns its host name (``<prefix>-<i>``), its serial (``SN<i>``), its MACs
(``02:…`` locally administered, derived from ``i``) and its IPs (``10.x.y.z`` derived from ``i``), so two
machines never share a value by accident. Inventory machines are ``0 … N-1``; machines the batches introduce
("new" records) are numbered from :data:`NEW_IDENTITY_BASE`. The only shared values are deliberate: every 50th
inventory machine shares its serial or its first MAC with the one before it (cloned VMs, a re-used NIC), so
records carrying that value see two candidates.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from assets.engine.records import LIST_ATTRIBUTES, SCALAR_ATTRIBUTES, AssetRecord

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
#: First machine number of the identities batches create; the inventory may hold at most this many assets.
NEW_IDENTITY_BASE = 2_000_000
MAX_INVENTORY = NEW_IDENTITY_BASE

PREFIXES = ("web", "db", "app", "k8s-node", "ws", "lap", "srv", "vm", "fw", "esx")
DOMAINS = ("corp.example.com", "dmz.example.com", "lab.example.net", "prod.example.org")
OSES = (
    ("Ubuntu", "24.04"),
    ("Ubuntu", "22.04"),
    ("RHEL", "9.4"),
    ("Debian", "12"),
    ("Windows Server", "2022"),
    ("Windows", "11"),
    ("macOS", "15.1"),
    ("VMware ESXi", "8.0"),
)
HARDWARE = (
    ("Dell Inc.", "PowerEdge R650", "server"),
    ("HPE", "ProLiant DL380 Gen11", "server"),
    ("Lenovo", "ThinkPad T14 Gen 4", "laptop"),
    ("VMware, Inc.", "VMware7,1", "virtual machine"),
    ("Apple Inc.", "MacBookPro18,3", "laptop"),
    ("Cisco", "UCSC-C220-M6S", "server"),
)
TEAMS = ("platform", "data", "web", "it-ops", "security", "finance", "research")
SITES = ("par-1", "fra-2", "nyc-1", "sgp-1", "aws-eu-west-1")
TAGS = ("prod", "staging", "pci", "internet-facing", "backup", "legacy", "crown-jewel")
PLACEHOLDER_SERIALS = (
    "To be filled by O.E.M.",
    "Default string",
    "System Serial Number",
    "0",
    "N/A",
    "123456789",
    "None",
)

#: What a measured batch is made of: the rule each record should be decided by, and its share.
MIX: tuple[tuple[str, float], ...] = (
    ("serial", 0.30),
    ("hardware_uuid", 0.10),
    ("mac", 0.10),
    ("fqdn", 0.05),
    ("hostname_ip", 0.05),
    ("ambiguous", 0.05),
    ("new", 0.35),
)
#: Records of the categories without a real serial that report a placeholder serial instead (~5% overall,
#: with the placeholders "new" machines already carry).
PLACEHOLDER_SHARE = 0.10
#: Records that repeat the source key of a recent record (same chunk or an earlier one) with newer data.
REPEAT_SHARE = 0.02
REPEAT_WINDOW = 400
#: Every PAIR_EVERY-th inventory machine shares a key with the one before it.
PAIR_EVERY = 50


def serial_for(i: int) -> str:
    return f"SN{i:09d}"


def _mac_digits(i: int, k: int) -> str:
    return f"{(0x02 << 40) | (i << 2) | k:012x}"


def format_mac(digits: str, style: int) -> str:
    """The same MAC the way different sources write it (the engine normalizes them to one form)."""
    pairs = [digits[n : n + 2] for n in range(0, 12, 2)]
    if style == 0:
        return ":".join(pairs)
    if style == 1:
        return "-".join(pairs).upper()
    return f"{digits[0:4]}.{digits[4:8]}.{digits[8:12]}"


def ip_for(i: int, k: int) -> str:
    n = (i << 2) | k
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def _identity(i: int, rng: random.Random, *, real_serial: bool = False) -> dict:
    """Everything one source knows about machine ``i``, as AssetRecord fields."""
    prefix = PREFIXES[i % len(PREFIXES)]
    host = f"{prefix}-{i}"
    fqdn = f"{host}.{rng.choice(DOMAINS)}" if rng.random() < 0.6 else ""
    hostname = fqdn if fqdn and rng.random() < 0.1 else host  # some sources put the FQDN in the hostname
    roll = rng.random()
    if real_serial or roll < 0.85:
        serial = serial_for(i)
    elif roll < 0.90:
        serial = rng.choice(PLACEHOLDER_SERIALS)
    else:
        serial = ""
    cloud = prefix == "vm" and rng.random() < 0.5
    os_name, os_version = rng.choice(OSES)
    manufacturer, model, asset_type = rng.choice(HARDWARE)
    return {
        "hostname": hostname,
        "fqdn": fqdn,
        "ip_addresses": tuple(ip_for(i, k) for k in range(rng.randint(1, 3))),
        "mac_addresses": tuple(format_mac(_mac_digits(i, k), rng.randrange(3)) for k in range(rng.randint(1, 2))),
        "serial_number": serial,
        "hardware_uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng.random() < 0.6 else "",
        "cloud_provider": "aws" if cloud else "",
        "cloud_instance_id": f"i-{i:017x}" if cloud else "",
        "os": os_name,
        "os_version": os_version,
        "manufacturer": manufacturer,
        "model": model,
        "asset_type": asset_type,
        "tags": tuple(rng.sample(TAGS, rng.randint(0, 2))),
        "attributes": {
            "owner": rng.choice(TEAMS),
            "site": rng.choice(SITES),
            "cost_center": f"CC-{rng.randint(100, 999)}",
        },
    }


@dataclass
class Inventory:
    """The existing machines, as the records their first source reported (one source record per asset)."""

    records: list[AssetRecord]
    #: category -> inventory machines a record of that category can match alone (pair members excluded).
    pools: dict[str, list[int]]
    #: (first, second, kind): machines sharing a ``serial`` or a ``mac``.
    pairs: list[tuple[int, int, str]]
    #: asset uuids, in machine order.
    uuids: list[uuid.UUID] = field(default_factory=list)


def build_inventory(size: int, seed: int) -> Inventory:
    if size > MAX_INVENTORY:
        raise ValueError(f"the generator supports at most {MAX_INVENTORY} inventory assets")
    rng = random.Random(f"{seed}:inventory")
    records: list[AssetRecord] = []
    pairs: list[tuple[int, int, str]] = []
    for i in range(size):
        fields = _identity(i, rng, real_serial=i % PAIR_EVERY == PAIR_EVERY - 2)
        if i % PAIR_EVERY == PAIR_EVERY - 1:
            previous = records[i - 1]
            if (i // PAIR_EVERY) % 2 == 0:
                fields["serial_number"] = previous.serial_number
                pairs.append((i - 1, i, "serial"))
            else:
                fields["mac_addresses"] = (previous.mac_addresses[0], *fields["mac_addresses"][1:])
                pairs.append((i - 1, i, "mac"))
        seen = BASE_TIME - timedelta(days=30) + timedelta(seconds=i)
        records.append(AssetRecord(source_key=f"inv-{i}", updated_at=seen, last_seen=seen, **fields))
    paired = {i for first, second, _ in pairs for i in (first, second)}
    single = [i for i in range(size) if i not in paired]
    pools = {
        "serial": [i for i in single if records[i].serial_number.startswith("SN")],
        "hardware_uuid": [i for i in single if records[i].hardware_uuid],
        "mac": single,
        "fqdn": [i for i in single if records[i].fqdn],
        "hostname_ip": single,
    }
    uuids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(size)]
    return Inventory(records=records, pools=pools, pairs=pairs, uuids=uuids)


class RecordFactory:
    """Batches of incoming records for one benchmark connector, drawn from :data:`MIX` against an inventory.

    Each named stream is deterministic; fresh machine numbers are shared by all streams of one factory, so two
    batches never introduce the same new machine.
    """

    def __init__(self, inventory: Inventory, seed: int):
        self.inventory = inventory
        self.seed = seed
        self._fresh = itertools.count(NEW_IDENTITY_BASE)
        self.mix: dict[str, Counter] = {}

    def batch(self, name: str, size: int) -> list[AssetRecord]:
        return list(itertools.islice(self.stream(name), size))

    def stream(self, name: str) -> Iterator[AssetRecord]:
        """Endless records named ``<name>-<n>``; the category counts go to ``self.mix[name]``."""
        rng = random.Random(f"{self.seed}:{name}")
        counts = self.mix.setdefault(name, Counter())
        categories = [category for category, _ in MIX]
        weights = [share for _, share in MIX]
        recent: deque[AssetRecord] = deque(maxlen=REPEAT_WINDOW)
        for n in itertools.count():
            moment = BASE_TIME + timedelta(seconds=n)
            if recent and rng.random() < REPEAT_SHARE:
                previous = rng.choice(recent)
                record = replace(previous, os_version=f"{previous.os_version}.{n % 7}", updated_at=moment)
                counts["repeated_key"] += 1
            else:
                category = rng.choices(categories, weights)[0]
                if not self.inventory.records and category != "new":
                    category = "new"
                counts[category] += 1
                fields = self._fields(category, rng)
                if not fields.get("serial_number") and rng.random() < PLACEHOLDER_SHARE:
                    fields["serial_number"] = rng.choice(PLACEHOLDER_SERIALS)
                if fields.get("serial_number") in PLACEHOLDER_SERIALS:
                    counts["placeholder_serial"] += 1
                record = AssetRecord(source_key=f"{name}-{n}", updated_at=moment, last_seen=moment, **fields)
            recent.append(record)
            yield record

    def _pick(self, category: str, rng: random.Random) -> AssetRecord:
        pool = self.inventory.pools[category] or range(len(self.inventory.records))
        return self.inventory.records[rng.choice(pool)]

    def _fields(self, category: str, rng: random.Random) -> dict:
        if category == "new" or (category == "ambiguous" and not self.inventory.pairs):
            return _identity(next(self._fresh), rng)
        common = {"os": "", "attributes": {"owner": rng.choice(TEAMS), "seen_by": "benchmark"}}
        if category == "ambiguous":
            _, second, kind = rng.choice(self.inventory.pairs)
            shared = self.inventory.records[second]
            fields = {"hostname": f"clone-{next(self._fresh)}", **common}
            if kind == "serial":
                fields["serial_number"] = shared.serial_number
            else:
                fields["mac_addresses"] = (shared.mac_addresses[0],)
            return fields
        known = self._pick(category, rng)
        short = known.hostname.partition(".")[0]
        common["os"], common["os_version"] = known.os, known.os_version
        if category == "serial":
            serial = known.serial_number.lower() if rng.random() < 0.2 else known.serial_number
            return {
                "hostname": short,
                "fqdn": known.fqdn,
                "ip_addresses": known.ip_addresses[:1],
                "serial_number": serial,
                "manufacturer": known.manufacturer,
                "model": known.model,
                **common,
            }
        if category == "hardware_uuid":
            return {
                "hostname": short,
                "hardware_uuid": known.hardware_uuid.upper(),
                "ip_addresses": known.ip_addresses,
                **common,
            }
        if category == "mac":
            digits = "".join(ch for ch in known.mac_addresses[0].lower() if ch in "0123456789abcdef")
            return {
                "hostname": short,
                "mac_addresses": (format_mac(digits, rng.randrange(3)),),
                "ip_addresses": known.ip_addresses[:1],
                **common,
            }
        if category == "fqdn":
            return {"fqdn": known.fqdn.upper(), "ip_addresses": (ip_for(next(self._fresh), 0),), **common}
        if category == "hostname_ip":
            return {"hostname": short, "ip_addresses": (known.ip_addresses[0],), **common}
        raise ValueError(f"unknown category {category!r}")


# --- native payloads ------------------------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def to_native(record: AssetRecord) -> dict:
    """One record as a sender writes it in the native format (empty fields left out)."""
    data: dict = {"source_key": record.source_key}
    for name in SCALAR_ATTRIBUTES:
        if value := getattr(record, name):
            data[name] = value
    for name in LIST_ATTRIBUTES:
        if value := getattr(record, name):
            data[name] = list(value)
    if record.attributes:
        data["attributes"] = record.attributes
    if record.updated_at:
        data["updated_at"] = _rfc3339(record.updated_at)
    if record.last_seen:
        data["last_seen"] = _rfc3339(record.last_seen)
    return data


def native_body(records: Iterator[AssetRecord], max_bytes: int) -> tuple[bytes, int]:
    """A ``{"assets": [...]}`` body of as many records as fit in ``max_bytes``; returns it and the count."""
    head, tail = b'{"assets":[', b"]}"
    parts: list[bytes] = []
    size = len(head) + len(tail)
    for record in records:
        part = json.dumps(to_native(record), separators=(",", ":")).encode()
        if size + len(part) + 1 > max_bytes:
            break
        parts.append(part)
        size += len(part) + 1
    return head + b",".join(parts) + tail, len(parts)
