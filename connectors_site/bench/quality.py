"""Identification quality against known truth: a seeded multi-source estate with traps, and pairwise metrics.

Pure Python (no Django): :func:`generate_estate` builds the records three sources (CMDB, MDM, EDR) would push for
a synthetic estate of machines, in the native payload format, together with the truth (which machine each record
describes) and the traps each machine takes part in. :func:`pairwise_quality` (from :mod:`.quality_metrics`)
scores an inventory's answer (which asset each record landed in) against that truth.

The estate
----------
Machine ``n`` owns its short host name (``<prefix>-<n>``), FQDN, serial (``<vendor>-<n>``), board UUID (random),
one or two NIC MACs (``0x0e…`` locally administered, derived from ``n``) and a primary IP (``10.x.y.z`` derived
from ``n``), so two machines never share a value by accident; every shared value is a trap below.
Coverage (what each source knows, before traps):

* **CMDB** (trust 90) lists :attr:`Rates.cmdb_coverage` of the machines: hostname (short), FQDN, serial, primary
  IP, manufacturer, model, asset type, OS, cloud instance ID for cloud VMs. No MACs, no board UUID.
* **MDM** (trust 60) manages :attr:`Rates.mdm_coverage` of the machines (laptops and workstations first): hostname,
  serial, board UUID, NIC MACs (and the virtual ones the machine has), OS and version, model.
* **EDR** (trust 30) runs on :attr:`Rates.edr_coverage` of the machines: hostname, every IP (primary, NAT egress),
  every MAC (NIC and virtual), OS and version; the serial only for :attr:`Rates.edr_serial` of its records, the
  board UUID for :attr:`Rates.edr_uuid`, the cloud instance ID for cloud VMs.

Traps (``Estate.traps[machine]`` lists the ones a machine takes part in; rates are in :class:`Rates`):

``hostname_reuse``
    A replacement machine takes a retired machine's hostname and FQDN, and often its IP; both are still
    reported (the retired one by the CMDB and a stale EDR record), each with its own serial. Both are marked.
``cloned_vm``
    A VM cloned from another keeps its SMBIOS UUID; hostname, MACs and IPs differ. Both are marked.
``docker_mac`` / ``virtual_mac``
    The machine reports Docker's bridge MAC ``02:42:ac:11:00:02``, or a hypervisor/VPN adapter MAC that many
    machines share (:data:`VIRTUAL_MACS`), next to its own.
``nat_ip``
    The EDR reports the machine's NAT egress address (one of :data:`NAT_IPS`, shared by many) next to its own.
``placeholder_serial`` / ``placeholder_uuid``
    The firmware reports "To be filled by O.E.M.", "Default string" or "0" as serial, or an all-zero or
    ``03000200-0400-0500-0006-000700080009`` board UUID, to every source.
``mac_spelling``
    A source writes the machine's MACs with dashes, Cisco dots or in upper case.
``short_fqdn``
    Short versus fully qualified names: a source puts the FQDN in ``hostname`` (the others send the short name).
``dhcp_move``
    The machine's IP changed between the CMDB and the EDR, and its old IP now belongs to another machine (whose
    EDR reports it). Both are marked.
``reinstalled_agent``
    The EDR agent was reinstalled: the same machine has a second EDR record under a new source key; the old one,
    older and with an older IP, is still there.
``thin_record``
    The machine's EDR record carries only hostname + IP (and the OS): nothing else to match on.

Everything comes from ``random.Random`` seeded with the seed, so one seed gives the same estate everywhere.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .quality_metrics import pairwise_quality

__all__ = ["TRAPS", "Estate", "Rates", "generate_estate", "pairwise_quality"]

BASE_TIME = datetime(2026, 3, 1, tzinfo=UTC)
DOCKER_MAC = "02:42:ac:11:00:02"
#: Hypervisor and VPN adapters whose MAC is the same on every machine that has them.
VIRTUAL_MACS = (
    "00:50:56:c0:00:01",  # VMware Workstation host-only
    "00:50:56:c0:00:08",  # VMware Workstation NAT
    "0a:00:27:00:00:00",  # VirtualBox host-only
    "00:05:9a:3c:7a:00",  # Cisco AnyConnect
    "02:50:41:00:00:01",  # Palo Alto GlobalProtect
    "00:15:5d:00:04:01",  # Hyper-V default switch vEthernet
)
#: NAT egress addresses (documentation ranges) shared by whole sites.
NAT_IPS = ("203.0.113.10", "203.0.113.11", "198.51.100.7")
PLACEHOLDER_SERIALS = ("To be filled by O.E.M.", "Default string", "0")
PLACEHOLDER_UUIDS = ("00000000-0000-0000-0000-000000000000", "03000200-0400-0500-0006-000700080009")
SOURCES: tuple[tuple[str, int], ...] = (("CMDB", 90), ("MDM", 60), ("EDR", 30))
TRAPS: tuple[str, ...] = (
    "hostname_reuse",
    "cloned_vm",
    "docker_mac",
    "virtual_mac",
    "nat_ip",
    "placeholder_serial",
    "placeholder_uuid",
    "mac_spelling",
    "short_fqdn",
    "dhcp_move",
    "reinstalled_agent",
    "thin_record",
)
KINDS = (
    # prefix, manufacturer, model, asset type, OS, version, share
    ("lap", "Lenovo", "ThinkPad T14 Gen 4", "laptop", "Windows", "11", 0.30),
    ("mac", "Apple Inc.", "MacBookPro18,3", "laptop", "macOS", "15.1", 0.10),
    ("ws", "Dell Inc.", "OptiPlex 7010", "workstation", "Windows", "11", 0.15),
    ("srv", "Dell Inc.", "PowerEdge R650", "server", "RHEL", "9.4", 0.15),
    ("vm", "VMware, Inc.", "VMware7,1", "virtual machine", "Ubuntu", "24.04", 0.20),
    ("ec2", "Amazon EC2", "m7i.large", "virtual machine", "Amazon Linux", "2023", 0.10),
)
DOMAINS = ("corp.example.com", "eu.corp.example.com", "dc1.example.net")


@dataclass(frozen=True)
class Rates:
    """How often each trap and each coverage gap occurs (shares of machines unless said otherwise)."""

    #: Machines the CMDB lists.
    cmdb_coverage: float = 0.85
    #: Laptops/workstations the MDM manages (servers and VMs are never in it).
    mdm_coverage: float = 0.90
    #: Machines the EDR runs on.
    edr_coverage: float = 0.90
    #: EDR records that carry the serial number.
    edr_serial: float = 0.40
    #: EDR records that carry the board UUID.
    edr_uuid: float = 0.30
    #: Replacement machines that took a retired machine's hostname and FQDN (one pair each).
    hostname_reuse: float = 0.015
    #: Of those, the replacement also took the retired machine's IP.
    hostname_reuse_ip: float = 0.7
    #: VMs cloned from another VM, keeping its SMBIOS UUID (one pair each).
    cloned_vm: float = 0.005
    #: Machines reporting Docker's bridge MAC.
    docker_mac: float = 0.08
    #: Machines reporting a shared hypervisor/VPN adapter MAC.
    virtual_mac: float = 0.06
    #: Machines whose EDR record carries a shared NAT egress IP.
    nat_ip: float = 0.05
    #: Machines whose firmware reports a placeholder serial.
    placeholder_serial: float = 0.03
    #: Machines whose firmware reports a placeholder board UUID.
    placeholder_uuid: float = 0.03
    #: Records (with MACs) written with dashes, Cisco dots or upper case.
    mac_spelling: float = 0.30
    #: Records whose ``hostname`` field holds the FQDN.
    short_fqdn: float = 0.15
    #: Machines whose IP moved between the CMDB and the EDR, the old IP now another machine's (one pair each).
    dhcp_move: float = 0.02
    #: Machines with a second EDR record after an agent reinstall.
    reinstalled_agent: float = 0.03
    #: Machines whose EDR record holds only hostname + IP.
    thin_record: float = 0.03


@dataclass
class Source:
    name: str
    trust_rank: int
    records: list[dict] = field(default_factory=list)


@dataclass
class Estate:
    """Per source its native records; the truth; the traps. Record ids are ``(source name, source_key)``."""

    machines: int
    seed: int
    rates: Rates
    sources: list[Source]
    #: (source name, source_key) -> machine id.
    truth: dict[tuple[str, str], int]
    #: machine id -> the traps it takes part in (machines without traps are absent).
    traps: dict[int, set[str]]

    def trap_counts(self) -> Counter:
        """How many machines take part in each trap."""
        return Counter(trap for traps in self.traps.values() for trap in traps)

    def record_count(self) -> int:
        return sum(len(source.records) for source in self.sources)


# --- the machines ---------------------------------------------------------------------------------------------


def _mac(n: int, k: int) -> str:
    value = (0x0E << 40) | (n << 4) | k
    digits = f"{value:012x}"
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _ip(n: int, k: int = 0) -> str:
    """Primary (k=0) and spare (k>0) addresses of machine ``n``: never another machine's by accident."""
    value = (n << 3) | k
    return f"10.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def spell_mac(mac: str, style: int) -> str:
    """``aa:bb:…`` as another tool writes it: 1 dashes upper, 2 Cisco dots, 3 colons upper."""
    digits = mac.replace(":", "")
    if style == 1:
        return "-".join(digits[i : i + 2] for i in range(0, 12, 2)).upper()
    if style == 2:
        return f"{digits[0:4]}.{digits[4:8]}.{digits[8:12]}"
    if style == 3:
        return mac.upper()
    return mac


@dataclass
class _Machine:
    n: int
    kind: tuple
    host: str
    domain: str
    serial: str
    board_uuid: str
    macs: list[str]
    ip: str
    edr_ip: str  # what the EDR sees (differs after a DHCP move)
    cloud_id: str = ""
    virtual_macs: list[str] = field(default_factory=list)
    nat_ip: str = ""
    retired: bool = False  # the retired half of a hostname reuse pair: still in the CMDB and a stale EDR record

    @property
    def fqdn(self) -> str:
        return f"{self.host}.{self.domain}"


def _pick(rng: random.Random, pool: list[int], count: int) -> list[int]:
    chosen = rng.sample(pool, min(count, len(pool)))
    taken = set(chosen)
    pool[:] = [n for n in pool if n not in taken]
    return chosen


def generate_estate(machines: int = 2000, seed: int = 20260301, rates: Rates | None = None) -> Estate:
    """The records CMDB, MDM and EDR push for ``machines`` machines, with the truth and the traps.

    The steps, in the order they draw from the seeded generator (the order fixes the estate of a seed): build
    the fleet, set the pair traps, set the per-machine traps, then write each source's records.
    """
    build = _Build(random.Random(f"{seed}:quality"), rates or Rates(), machines)
    fleet = _build_fleet(build)
    _set_pair_traps(build, fleet)
    reinstalled, thin = _set_machine_traps(build, fleet)
    sources = _write_records(build, fleet, reinstalled, thin)
    return Estate(
        machines=machines,
        seed=seed,
        rates=build.rates,
        sources=sources,
        truth=build.truth,
        traps={n: set(found) for n, found in build.traps.items()},
    )


@dataclass
class _Build:
    """What the generation steps share: the seeded generator, the rates, the truth and the traps so far."""

    rng: random.Random
    rates: Rates
    machines: int
    truth: dict[tuple[str, str], int] = field(default_factory=dict)
    traps: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))

    def mark(self, n: int, trap: str) -> None:
        self.traps[n].add(trap)

    def count(self, rate: float) -> int:
        return round(rate * self.machines)


def _build_fleet(build: _Build) -> list[_Machine]:
    """Every machine with its own values (no value shared by accident)."""
    rng = build.rng
    kinds = list(KINDS)
    weights = [kind[-1] for kind in KINDS]
    fleet: list[_Machine] = []
    for n in range(build.machines):
        kind = rng.choices(kinds, weights)[0]
        prefix, manufacturer = kind[0], kind[1]
        ip = _ip(n)
        fleet.append(
            _Machine(
                n=n,
                kind=kind,
                host=f"{prefix}-{n:05d}",
                domain=rng.choice(DOMAINS),
                serial=f"{manufacturer[:2].upper()}{rng.getrandbits(40):010X}",
                board_uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
                macs=[_mac(n, k) for k in range(1 if prefix in ("vm", "ec2") else rng.randint(1, 2))],
                ip=ip,
                edr_ip=ip,
                cloud_id=f"i-{rng.getrandbits(68):017x}" if prefix == "ec2" else "",
            )
        )
    return fleet


def _set_pair_traps(build: _Build, fleet: list[_Machine]) -> None:
    """Hostname reuse, cloned VMs and DHCP moves, each on machines no other pair trap uses (so attribution stays
    readable)."""
    rng, rates, mark = build.rng, build.rates, build.mark
    free = list(range(build.machines))
    for _ in range(build.count(rates.hostname_reuse)):
        pair = _pick(rng, free, 2)
        if len(pair) < 2:
            break
        old, new = fleet[pair[0]], fleet[pair[1]]
        old.retired = True
        new.host, new.domain = old.host, old.domain
        if rng.random() < rates.hostname_reuse_ip:
            new.ip = new.edr_ip = old.ip
        mark(old.n, "hostname_reuse")
        mark(new.n, "hostname_reuse")
    vms = [n for n in free if fleet[n].kind[0] == "vm"]
    for _ in range(build.count(rates.cloned_vm)):
        pair = _pick(rng, vms, 2)
        if len(pair) < 2:
            break
        fleet[pair[1]].board_uuid = fleet[pair[0]].board_uuid
        for n in pair:
            free.remove(n)
            mark(n, "cloned_vm")
    for _ in range(build.count(rates.dhcp_move)):
        pair = _pick(rng, free, 2)
        if len(pair) < 2:
            break
        moved, taker = fleet[pair[0]], fleet[pair[1]]
        moved.edr_ip = _ip(moved.n, 1)  # the EDR sees the new lease ...
        taker.edr_ip = moved.ip  # ... and the old one now belongs to the taker
        mark(moved.n, "dhcp_move")
        mark(taker.n, "dhcp_move")


def _set_machine_traps(build: _Build, fleet: list[_Machine]) -> tuple[set[int], set[int]]:
    """Shared virtual MACs, NAT addresses, placeholder serials and UUIDs; returns the machines whose EDR agent
    was reinstalled and those whose EDR record is thin (marked when their records are written)."""
    rng, rates, mark, count = build.rng, build.rates, build.mark, build.count
    everyone = list(range(build.machines))
    for n in rng.sample(everyone, count(rates.docker_mac)):
        fleet[n].virtual_macs.append(DOCKER_MAC)
        mark(n, "docker_mac")
    for n in rng.sample(everyone, count(rates.virtual_mac)):
        fleet[n].virtual_macs.append(rng.choice(VIRTUAL_MACS))
        mark(n, "virtual_mac")
    for n in rng.sample(everyone, count(rates.nat_ip)):
        fleet[n].nat_ip = rng.choice(NAT_IPS)
        mark(n, "nat_ip")
    for n in rng.sample(everyone, count(rates.placeholder_serial)):
        fleet[n].serial = rng.choice(PLACEHOLDER_SERIALS)
        mark(n, "placeholder_serial")
    for n in rng.sample(everyone, count(rates.placeholder_uuid)):
        if "cloned_vm" not in build.traps.get(n, ()):
            fleet[n].board_uuid = rng.choice(PLACEHOLDER_UUIDS)
            mark(n, "placeholder_uuid")
    reinstalled = set(rng.sample(everyone, count(rates.reinstalled_agent)))
    thin = set(rng.sample(everyone, count(rates.thin_record)))
    return reinstalled, thin


class _Writer:
    """Writes one machine's records into the three sources, recording the truth and the spelling traps."""

    def __init__(self, build: _Build, sources: list[Source]) -> None:
        self.build = build
        self.rng = build.rng
        self.cmdb, self.mdm, self.edr = sources

    def emit(self, source: Source, machine: _Machine, record: dict, minutes: int) -> None:
        record["updated_at"] = _rfc3339(BASE_TIME - timedelta(minutes=minutes))
        self.build.truth[(source.name, record["source_key"])] = machine.n
        source.records.append({key: value for key, value in record.items() if value not in ("", [], None)})

    def hostname(self, machine: _Machine) -> str:
        if self.rng.random() < self.build.rates.short_fqdn:
            self.build.mark(machine.n, "short_fqdn")
            return machine.fqdn
        return machine.host

    def macs(self, machine: _Machine, values: list[str]) -> list[str]:
        if values and self.rng.random() < self.build.rates.mac_spelling:
            self.build.mark(machine.n, "mac_spelling")
            style = self.rng.randint(1, 3)
            return [spell_mac(mac, style) for mac in values]
        return list(values)

    def cmdb_record(self, machine: _Machine, age: int) -> None:
        _, manufacturer, model, asset_type, os_name, _, _ = machine.kind
        record = {
            "source_key": f"CI{machine.n:07d}",
            "hostname": machine.host,
            "fqdn": machine.fqdn,
            "serial_number": machine.serial,
            "ip_addresses": [machine.ip],
            "manufacturer": manufacturer,
            "model": model,
            "asset_type": asset_type,
            "os": os_name,
            "cloud_provider": "aws" if machine.cloud_id else "",
            "cloud_instance_id": machine.cloud_id,
        }
        self.emit(self.cmdb, machine, record, age + self.rng.randint(0, 600))

    def mdm_record(self, machine: _Machine, age: int) -> None:
        _, manufacturer, model, _, os_name, os_version, _ = machine.kind
        record = {
            "source_key": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "hostname": self.hostname(machine),
            "serial_number": machine.serial,
            "hardware_uuid": machine.board_uuid,
            "mac_addresses": self.macs(machine, machine.macs + machine.virtual_macs),
            "os": os_name,
            "os_version": os_version,
            "manufacturer": manufacturer,
            "model": model,
        }
        self.emit(self.mdm, machine, record, age + self.rng.randint(0, 300))

    def edr_records(self, machine: _Machine, age: int, reinstalled: bool, thin: bool) -> None:
        rng, rates = self.rng, self.build.rates
        _, _, _, _, os_name, os_version, _ = machine.kind
        ips = [machine.edr_ip] + ([machine.nat_ip] if machine.nat_ip else [])
        record = {"source_key": f"agent-{rng.getrandbits(64):016x}", "hostname": self.hostname(machine)}
        if thin:
            self.build.mark(machine.n, "thin_record")
            record.update(ip_addresses=[machine.edr_ip], os=os_name)
        else:
            record.update(
                ip_addresses=ips,
                mac_addresses=self.macs(machine, machine.macs + machine.virtual_macs),
                serial_number=machine.serial if rng.random() < rates.edr_serial else "",
                hardware_uuid=machine.board_uuid.lower() if rng.random() < rates.edr_uuid else "",
                cloud_provider="aws" if machine.cloud_id else "",
                cloud_instance_id=machine.cloud_id,
                os=os_name,
                os_version=os_version,
            )
        if reinstalled:
            self.build.mark(machine.n, "reinstalled_agent")
            stale = {
                **record,
                "source_key": f"agent-{rng.getrandbits(64):016x}",
                "ip_addresses": [_ip(machine.n, 2)],
                "os_version": f"{os_version} (previous agent)" if "os_version" in record else "",
            }
            self.emit(self.edr, machine, stale, age + 60 * 24 * 30)
        self.emit(self.edr, machine, record, age)


def _write_records(build: _Build, fleet: list[_Machine], reinstalled: set[int], thin: set[int]) -> list[Source]:
    """Each source's records for the machines it covers, in the order its sender would push them."""
    rng, rates = build.rng, build.rates
    sources = [Source(name, rank) for name, rank in SOURCES]
    writer = _Writer(build, sources)
    for machine in fleet:
        prefix = machine.kind[0]
        age = 60 * 24 * 400 if machine.retired else rng.randint(0, 60 * 24 * 7)
        if machine.retired or rng.random() < rates.cmdb_coverage:
            writer.cmdb_record(machine, age)
        if not machine.retired and prefix in ("lap", "mac", "ws") and rng.random() < rates.mdm_coverage:
            writer.mdm_record(machine, age)
        if machine.retired or rng.random() < rates.edr_coverage:
            live = not machine.retired
            writer.edr_records(machine, age, live and machine.n in reinstalled, live and machine.n in thin)
    for source in sources:  # senders push in their own order, not machine order
        rng.shuffle(source.records)
    return sources


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
