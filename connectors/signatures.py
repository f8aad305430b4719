"""Signature schemes a connector can verify deliveries with, besides its bearer token.

- **Standard Webhooks** (the default): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, or the same
  scheme under Svix's names (``svix-id``, ``svix-timestamp``, ``svix-signature``), checked by the reference
  library with the connector's ``whsec_…`` secret (±5 minutes).
- **HMAC header**: one header holding an HMAC of the raw body, with a chosen algorithm, encoding and optional
  prefix. GitHub-style senders send ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256>``; NetBox sends
  ``X-Hook-Signature: <hex HMAC-SHA512>``. Both key the HMAC with the secret *string* the admin pasted, as
  UTF-8 bytes, so here the key is the connector's whole ``whsec_…`` secret as the hub shows it.

Every comparison is constant-time; during a secret rotation the previous secret verifies too. Nothing here
touches the database: :func:`verify` gets the secrets to try.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from standardwebhooks.webhooks import Webhook

from .choices import HmacAlgorithm, HmacEncoding, SignatureScheme

STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
SVIX_HEADERS = ("svix-id", "svix-timestamp", "svix-signature")


@dataclass(frozen=True)
class HmacHeader:
    """Where and how an HMAC-header sender puts its signature."""

    header: str
    algorithm: str = HmacAlgorithm.SHA256
    encoding: str = HmacEncoding.HEX
    prefix: str = ""

    def describe(self) -> str:
        prefix = f", prefix {self.prefix}" if self.prefix else ""
        return f"{self.header}: HMAC-{HmacAlgorithm(self.algorithm).label}{prefix}, {self.encoding} of the raw body"

    def sign(self, secret: str, body: bytes) -> str:
        digest = hmac.new(secret.encode("utf-8"), body, getattr(hashlib, self.algorithm)).digest()
        encoded = digest.hex() if self.encoding == HmacEncoding.HEX else base64.b64encode(digest).decode()
        return self.prefix + encoded


PRESETS: dict[str, HmacHeader] = {
    SignatureScheme.GITHUB: HmacHeader("X-Hub-Signature-256", HmacAlgorithm.SHA256, HmacEncoding.HEX, "sha256="),
    SignatureScheme.NETBOX: HmacHeader("X-Hook-Signature", HmacAlgorithm.SHA512, HmacEncoding.HEX, ""),
}


class SignatureRejected(Exception):
    """The delivery carries this scheme's headers but they do not prove it; the message says why."""


class BodyNotText(ValueError):
    """A Standard Webhooks signature covers the body as text; this body is not UTF-8 (a 400, not a 401)."""


def hmac_header_for(connector) -> HmacHeader | None:
    """The HMAC header a connector verifies, or None for Standard Webhooks."""
    if connector.signature_scheme in PRESETS:
        return PRESETS[connector.signature_scheme]
    if connector.signature_scheme == SignatureScheme.HMAC and connector.hmac_header:
        return HmacHeader(
            connector.hmac_header, connector.hmac_algorithm, connector.hmac_encoding, connector.hmac_prefix
        )
    return None


def describe_scheme(connector) -> str:
    """One line for the connector page: which signature is in force."""
    found = hmac_header_for(connector)
    if found is None:
        return (
            "Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature "
            "(or svix-id, svix-timestamp, svix-signature)"
        )
    return f"HMAC header {found.describe()}"


def expected_headers(connector) -> str:
    found = hmac_header_for(connector)
    if found is None:
        return "Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature, or svix-*)"
    return f"a {found.header} signature header"


def is_signed(connector, headers: dict[str, str]) -> bool:
    """Whether the delivery carries any header of the connector's scheme (``headers`` keys are lower-case)."""
    found = hmac_header_for(connector)
    if found is None:
        return any(name in headers for name in (*STANDARD_HEADERS, *SVIX_HEADERS))
    return found.header.lower() in headers


def verify(connector, headers: dict[str, str], body: bytes, secrets: list[str]) -> None:
    """Return if one of ``secrets`` signed ``body`` under the connector's scheme; else raise SignatureRejected."""
    found = hmac_header_for(connector)
    if found is None:
        _verify_standard(headers, body, secrets)
    else:
        _verify_hmac_header(found, headers.get(found.header.lower(), ""), body, secrets)


def _verify_hmac_header(scheme: HmacHeader, value: str, body: bytes, secrets: list[str]) -> None:
    value = value.strip()
    if scheme.prefix and not value.lower().startswith(scheme.prefix.lower()):
        raise SignatureRejected(f"{scheme.header} must start with {scheme.prefix!r}")
    sent = value[len(scheme.prefix) :]
    try:
        if scheme.encoding == HmacEncoding.HEX:
            sent_bytes = bytes.fromhex(sent)
        else:
            sent_bytes = base64.b64decode(sent, validate=True)
    except (ValueError, binascii.Error):
        raise SignatureRejected(f"{scheme.header} is not {scheme.encoding}-encoded") from None
    algorithm = getattr(hashlib, scheme.algorithm)
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode("utf-8"), body, algorithm).digest()
        matched |= hmac.compare_digest(expected, sent_bytes)  # try every secret: the time says nothing
    if not matched:
        raise SignatureRejected(
            f"{scheme.header} does not match the body with this connector's signing secret "
            f"(HMAC-{HmacAlgorithm(scheme.algorithm).label} of the raw body, keyed with the whole whsec_… string)"
        )


def _verify_standard(headers: dict[str, str], body: bytes, secrets: list[str]) -> None:
    names = STANDARD_HEADERS if any(name in headers for name in STANDARD_HEADERS) else SVIX_HEADERS
    missing = [name for name in names if not headers.get(name)]
    if missing:
        raise SignatureRejected(f"Standard Webhooks headers incomplete: missing {', '.join(missing)}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyNotText("The body is not valid UTF-8, so its signature cannot be checked.") from None
    # The reference library reads the webhook-* names; Svix sends the same values under svix-*.
    standard = dict(zip(STANDARD_HEADERS, (headers[name] for name in names), strict=True))
    problem_seen = "the signature does not match the body with this connector's signing secret"
    for secret in secrets:
        try:
            Webhook(secret).verify(text, standard, json_parse=False)
            return
        except Exception as exc:  # the library raises assorted errors on malformed headers
            message = str(exc)
            if "too old" in message or "too new" in message:
                problem_seen = f"{names[1]} is outside the accepted ±5 minutes ({message.lower()})"
            elif message == "Invalid Signature Headers":
                problem_seen = f"{names[1]} is not a Unix timestamp"
            elif message != "No matching signature found":
                problem_seen = f"{names[2]} is malformed (expected space-separated 'v1,<base64>' values)"
    raise SignatureRejected(problem_seen)


_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_RESERVED_HEADERS = {"authorization", "content-type", "content-length", "host", "idempotency-key"}


def scheme_errors(scheme: str, header: str, algorithm: str, encoding: str, prefix: str) -> dict[str, str]:
    """Field name → message for a signature setting that cannot work; empty when it can."""
    if scheme != SignatureScheme.HMAC:
        return {}
    errors = {}
    header = header.strip()
    if not header:
        errors["hmac_header"] = "Enter the header the sender puts its signature in, e.g. X-Signature."
    elif not _HEADER_NAME.match(header):
        errors["hmac_header"] = "A header name has letters, digits and - only (no spaces or colon)."
    elif header.lower() in _RESERVED_HEADERS or header.lower() in (*STANDARD_HEADERS, *SVIX_HEADERS):
        errors["hmac_header"] = f"{header} has another meaning here; choose the header your sender signs in."
    if algorithm not in HmacAlgorithm.values:
        errors["hmac_algorithm"] = "Choose SHA-1, SHA-256 or SHA-512."
    if encoding not in HmacEncoding.values:
        errors["hmac_encoding"] = "Choose hex or base64."
    if prefix != prefix.strip() or any(not (32 < ord(char) < 127) for char in prefix):
        errors["hmac_prefix"] = "A prefix is printable ASCII without spaces, e.g. sha256=."
    return errors
