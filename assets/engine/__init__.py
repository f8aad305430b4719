"""The identification engine: pure functions that decide what each incoming asset record becomes.

Why pure: identification is the one piece of the product whose mistakes are silent and expensive (two machines
merged into one, or one machine split in two), so it must be testable exhaustively without a database, and it
must give the same answer whatever the chunk size or the worker that runs it. The service layer loads an
:class:`IdentityIndex` in bulk for a chunk (:func:`index_keys` says what to load), calls
:func:`identify_records`, and writes the returned :class:`Decision` objects in one transaction. Nothing in this
package imports Django or another part of the project (``tests/assets/test_engine_purity.py`` holds it to that).

Identity space used by the engine: existing assets are positive ids (database primary keys); assets that do
not exist yet are *provisional keys*, negative ints ``-1, -2, ...`` allocated in the order the chunk creates
them. A decision aimed at an existing asset has ``asset_id`` set and ``new_asset_key`` ``None``; a decision
aimed at a new asset (``CREATED``, ``AMBIGUOUS`` with creation, or a later ``MERGED``/``UPDATED`` record of
the same chunk that joined that new asset) has ``asset_id`` ``None`` and ``new_asset_key`` set.
``Decision.candidates`` may contain provisional keys for the same reason.

The modules, in the order a record meets them: :mod:`.records` (plain records, as parsers produce them),
:mod:`.identifiers` (identifier kinds and value normalizers), :mod:`.validate` (values invalid for their field,
dropped with a warning before anything else sees them), :mod:`.junk` (values that identify nothing),
:mod:`.normalize` (a record becomes attributes to store and identifiers to match), :mod:`.inputs` (rules,
connector settings and the index), :mod:`.identify` (the rules applied to a chunk), :mod:`.decisions` (what
each record became), :mod:`.reconcile` (which source's value an asset shows) and :mod:`.recency` (how source
times compare). This module is the package's public surface.

The product rules implemented here are summarized in the README ("How identification works").
"""

from .decisions import Decision, Outcome
from .identifiers import (
    CLOUD_INSTANCE,
    FQDN,
    HARDWARE_UUID,
    HOSTNAME,
    IDENTIFIER_KINDS,
    IP,
    MAC,
    SERIAL,
    SOURCE_NATIVE_KEY,
    normalize_cloud_instance_id,
    normalize_fqdn,
    normalize_hostname,
    normalize_ip,
    normalize_mac,
    normalize_serial,
    normalize_uuid,
)
from .identify import MAX_COMPARED_KEYS, identify_records
from .inputs import NATIVE_KEY_RULE, AssetRank, EngineConfig, ExistingSource, IdentityIndex, RuleSpec, index_keys
from .normalize import NormalizedRecord, normalize_record
from .reconcile import SourceValues, reconcile

__all__ = [
    "CLOUD_INSTANCE",
    "FQDN",
    "HARDWARE_UUID",
    "HOSTNAME",
    "IDENTIFIER_KINDS",
    "IP",
    "MAC",
    "MAX_COMPARED_KEYS",
    "NATIVE_KEY_RULE",
    "SERIAL",
    "SOURCE_NATIVE_KEY",
    "AssetRank",
    "Decision",
    "EngineConfig",
    "ExistingSource",
    "IdentityIndex",
    "NormalizedRecord",
    "Outcome",
    "RuleSpec",
    "SourceValues",
    "identify_records",
    "index_keys",
    "normalize_cloud_instance_id",
    "normalize_fqdn",
    "normalize_hostname",
    "normalize_ip",
    "normalize_mac",
    "normalize_record",
    "normalize_serial",
    "normalize_uuid",
    "reconcile",
]
