"""Every write to a connector goes through one of these functions.

Each owns its transaction and writes the audit row next to the change, so the UI, the API, Django admin and
management commands behave the same and nothing changes without a trace. A connector's rule selection is written
by :mod:`assets.rule_selection`, next to the rules it orders.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assets.models import Asset
from assets.rule_selection import install_default_rules
from assets.services import reconcile_assets
from connectors_site.common.audit import acting_user

from .choices import ConnectorAction, HmacAlgorithm, HmacEncoding, Module, PayloadFormat, SignatureScheme
from .formats.mapped import clean_mapping
from .models import Connector, ConnectorEvent
from .tasks import reconcile_connector_assets_task

TOKEN_PREFIX = "chk_"


@dataclass(frozen=True)
class Credentials:
    """Secrets shown once, right after they are made."""

    token: str | None = None
    signing_secret: str | None = None


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a fast hash is enough: nobody can brute-force the preimage.
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(connector: Connector, token: str) -> bool:
    return hmac.compare_digest(hash_token(token), connector.token_hash)


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@transaction.atomic
def create_connector(
    *,
    name: str,
    actor=None,
    description: str = "",
    modules: list[str] | tuple[str, ...] = (Module.CSAM,),
    payload_format: str = PayloadFormat.NATIVE,
    trust_rank: int = 50,
    require_signature: bool = False,
    create_unmanaged: bool = True,
    apply_default_rule: bool = True,
    signature_scheme: str = SignatureScheme.STANDARD_WEBHOOKS,
    hmac_header: str = "",
    hmac_algorithm: str = HmacAlgorithm.SHA256,
    hmac_encoding: str = HmacEncoding.HEX,
    hmac_prefix: str = "",
    stale_after_days: int = 30,
    purge_after_days: int = 0,
    sync_delete_limit: int = 30,
) -> tuple[Connector, Credentials]:
    token, secret = _new_token(), _new_signing_secret()
    connector = Connector.objects.create(
        name=name.strip(),
        description=description.strip(),
        modules=",".join(modules),
        payload_format=payload_format,
        trust_rank=trust_rank,
        require_signature=require_signature,
        create_unmanaged=create_unmanaged,
        apply_default_rule=apply_default_rule,
        signature_scheme=signature_scheme,
        hmac_header=hmac_header.strip(),
        hmac_algorithm=hmac_algorithm,
        hmac_encoding=hmac_encoding,
        hmac_prefix=hmac_prefix,
        stale_after_days=stale_after_days,
        purge_after_days=purge_after_days,
        sync_delete_limit=sync_delete_limit,
        token_hash=hash_token(token),
        token_hint=token[: len(TOKEN_PREFIX) + 4],
        signing_secret=secret,
        created_by=acting_user(actor),
    )
    install_default_rules(connector)
    ConnectorEvent.record(connector, ConnectorAction.CREATED, actor, modules=connector.module_list)
    return connector, Credentials(token=token, signing_secret=secret)


EDITABLE_FIELDS = (
    "name",
    "description",
    "modules",
    "payload_format",
    "trust_rank",
    "require_signature",
    "create_unmanaged",
    "apply_default_rule",
    "stale_after_days",
    "purge_after_days",
    "signature_scheme",
    "hmac_header",
    "hmac_algorithm",
    "hmac_encoding",
    "hmac_prefix",
    "sync_delete_limit",
)


@transaction.atomic
def update_connector(connector: Connector, *, actor=None, **changes) -> Connector:
    """Change editable fields; the audit row lists each changed field with its old and new value."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {', '.join(sorted(unknown))}")
    if isinstance(changes.get("modules"), list | tuple):
        changes["modules"] = ",".join(changes["modules"])
    for key in ("name", "description", "hmac_header"):
        if key in changes:
            changes[key] = changes[key].strip()
    diff = {}
    for key, value in changes.items():
        old = getattr(connector, key)
        if old != value:
            diff[key] = [old, value]
            setattr(connector, key, value)
    if diff:
        connector.save(update_fields=[*diff, "updated_at"])
        ConnectorEvent.record(connector, ConnectorAction.EDITED, actor, changes=diff)
    if "trust_rank" in diff:
        # Which source's values an asset shows depends on the ranks: re-derive this connector's assets, in the
        # background (a large connector has many).
        connector_id = connector.pk
        transaction.on_commit(lambda: reconcile_connector_assets_task.enqueue(connector_id))
    return connector


@transaction.atomic
def set_enabled(connector: Connector, enabled: bool, *, actor=None) -> Connector:
    if connector.enabled != enabled:
        connector.enabled = enabled
        connector.save(update_fields=["enabled", "updated_at"])
        ConnectorEvent.record(connector, ConnectorAction.ENABLED if enabled else ConnectorAction.DISABLED, actor)
    return connector


@transaction.atomic
def set_mapping(connector: Connector, mapping: object, *, actor=None) -> Connector:
    """Store the connector's payload mapping (the ``mapped`` format's JMESPath expressions).

    Raises :class:`~connectors.formats.mapped.MappingError` (messages by ``records``, ``deleted``, ``fields`` or
    ``fields.<name>``) when an expression does not compile, ``source_key`` is missing or a field is not a native
    one. The audit row holds each changed expression and the whole old and new mapping. Deliveries already
    received keep the mapping they came with.
    """
    clean = clean_mapping(mapping)
    old = connector.mapping or {}
    if clean == old:
        return connector
    connector.mapping = clean
    connector.save(update_fields=["mapping", "updated_at"])
    ConnectorEvent.record(
        connector,
        ConnectorAction.MAPPING_CHANGED,
        actor,
        changes=mapping_diff(old, clean),
        mapping={"old": old, "new": clean},
    )
    return connector


def mapping_diff(old: dict, new: dict) -> dict[str, list[str]]:
    """Each expression that changed, as ``[old, new]`` ("" for none), keyed ``records``, ``deleted`` or the field."""

    def flat(mapping: dict) -> dict[str, str]:
        return {
            "records": mapping.get("records", ""),
            "deleted": mapping.get("deleted", ""),
            **mapping.get("fields", {}),
        }

    before, after = flat(old or {}), flat(new or {})
    return {
        key: [before.get(key, ""), after.get(key, "")]
        for key in dict.fromkeys([*before, *after])
        if before.get(key, "") != after.get(key, "")
    }


@transaction.atomic
def delete_connector(connector: Connector, *, actor=None) -> int:
    """Delete a connector and its source records; assets no other source reports are retired, not erased.

    Returns how many assets were retired.
    """
    asset_ids = set(connector.source_records.values_list("asset_id", flat=True))
    ConnectorEvent.record(connector, ConnectorAction.DELETED, actor, uuid=str(connector.uuid))
    connector.delete()
    before = set(Asset.objects.filter(pk__in=asset_ids, retired=True).values_list("pk", flat=True))
    # What the others still report is shown again; assets nobody reports any more are retired.
    reconcile_assets(asset_ids)
    return Asset.objects.filter(pk__in=asset_ids, retired=True).exclude(pk__in=before).count()


@transaction.atomic
def rotate_token(connector: Connector, *, actor=None) -> Credentials:
    """A new bearer token; the old one stops working at once (tokens have no overlap: nothing signs with them)."""
    token = _new_token()
    connector.token_hash = hash_token(token)
    connector.token_hint = token[: len(TOKEN_PREFIX) + 4]
    connector.save(update_fields=["token_hash", "token_hint", "updated_at"])
    ConnectorEvent.record(connector, ConnectorAction.TOKEN_ROTATED, actor)
    return Credentials(token=token)


@transaction.atomic
def rotate_secret(connector: Connector, *, actor=None) -> Credentials:
    """A new signing secret; the previous one keeps verifying for the configured overlap so senders can switch."""
    secret = _new_signing_secret()
    overlap = timedelta(hours=settings.SECRET_ROTATION_OVERLAP_HOURS)
    connector.previous_signing_secret = connector.signing_secret
    connector.previous_secret_expires_at = timezone.now() + overlap
    connector.signing_secret = secret
    connector.save(
        update_fields=["signing_secret", "previous_signing_secret", "previous_secret_expires_at", "updated_at"]
    )
    ConnectorEvent.record(
        connector,
        ConnectorAction.SECRET_ROTATED,
        actor,
        previous_valid_until=connector.previous_secret_expires_at.isoformat(),
    )
    return Credentials(signing_secret=secret)


def verification_secrets(connector: Connector) -> list[str]:
    """The secrets a signature may be made with right now: the current one, and the previous during its overlap."""
    found = [connector.signing_secret]
    if (
        connector.previous_signing_secret
        and connector.previous_secret_expires_at
        and connector.previous_secret_expires_at > timezone.now()
    ):
        found.append(connector.previous_signing_secret)
    return found
