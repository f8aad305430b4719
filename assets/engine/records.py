"""Plain asset records: what every payload parser produces and what the identification engine consumes.

Nothing here touches the ORM, so parsers and the engine stay pure and testable without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: Scalar attributes a source may report; the same names are used by the Asset model's columns.
SCALAR_ATTRIBUTES: tuple[str, ...] = (
    "hostname",
    "fqdn",
    "netbios_name",
    "serial_number",
    "hardware_uuid",
    "cloud_provider",
    "cloud_instance_id",
    "os",
    "os_version",
    "manufacturer",
    "model",
    "asset_type",
)
#: List attributes (a record may carry several values; identification matches on any shared value).
LIST_ATTRIBUTES: tuple[str, ...] = ("ip_addresses", "mac_addresses", "tags")
REPORTED_ATTRIBUTES: tuple[str, ...] = SCALAR_ATTRIBUTES + LIST_ATTRIBUTES


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """One asset as a source reported it, before normalization.

    ``updated_at`` is the source's own last-change time (used for out-of-order protection); ``last_seen`` is when
    the source last saw the machine. Both are timezone-aware or ``None``.
    """

    source_key: str
    hostname: str = ""
    fqdn: str = ""
    netbios_name: str = ""
    ip_addresses: tuple[str, ...] = ()
    mac_addresses: tuple[str, ...] = ()
    serial_number: str = ""
    hardware_uuid: str = ""
    cloud_provider: str = ""
    cloud_instance_id: str = ""
    os: str = ""
    os_version: str = ""
    manufacturer: str = ""
    model: str = ""
    asset_type: str = ""
    tags: tuple[str, ...] = ()
    attributes: dict = field(default_factory=dict)
    updated_at: datetime | None = None
    last_seen: datetime | None = None
    #: Values dropped from the record because they are invalid for their field (:mod:`.validate`); the decision
    #: about the record lists them.
    warnings: tuple[ValueWarning, ...] = ()


@dataclass(frozen=True, slots=True)
class ValueWarning:
    """A value dropped from a record because it is invalid for its field (an IP that does not parse...).

    The record itself is still processed. ``index`` is the record's position in the delivery body, ``field``
    the record attribute (``ip_addresses``, ``hostname``, ``updated_at``...), ``value`` the offending value as
    sent, cut to :data:`MAX_WARNING_VALUE` characters.
    """

    index: int
    source_key: str
    field: str
    value: str
    message: str

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "source_key": self.source_key,
            "field": self.field,
            "value": self.value,
            "message": self.message,
        }


#: Longest offending value a warning repeats (the rest is cut and marked with "…").
MAX_WARNING_VALUE = 100


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record of a batch was refused: its index in the batch, the field at fault and the reason."""

    index: int
    field: str
    message: str
    source_key: str = ""


@dataclass(frozen=True, slots=True)
class IgnoredItem:
    """An entry of a batch that is valid but carries nothing for the inventory (a NetBox site event, say): it is
    reported back, never an error."""

    index: int
    what: str
    reason: str


@dataclass(slots=True)
class ParsedBatch:
    """The outcome of parsing one delivery body: valid records, deletions and per-record errors."""

    records: list[AssetRecord] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    #: An idempotency key found inside the body (CSAM ``requestId``), if any.
    request_id: str = ""
    #: Entries accepted but left out on purpose, with why (a delivery holding only these is still accepted).
    ignored: list[IgnoredItem] = field(default_factory=list)
    #: The body index of each record of ``records`` (same order); :meth:`add` keeps it.
    positions: list[int] = field(default_factory=list)
    #: Values dropped from accepted records as invalid for their field (filled by :mod:`.validate`).
    warnings: list[ValueWarning] = field(default_factory=list)

    def add(self, index: int, record: AssetRecord) -> None:
        """Append a record parsed from the body entry at ``index``."""
        self.records.append(record)
        self.positions.append(index)

    def record_index(self, position: int) -> int:
        """The body index of ``records[position]`` (its position when the batch was built by hand)."""
        if len(self.positions) == len(self.records):
            return self.positions[position]
        return position
