"""Sending deliveries the way a real source does: JSON bodies signed by the reference Standard Webhooks library."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from standardwebhooks.webhooks import Webhook


def signed_headers(secret: str, body: bytes, *, msg_id: str | None = None, at: datetime | None = None) -> dict:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(at.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": signature,
    }


def post_signed(client, connector, payload, *, secret=None, msg_id=None, at=None, path=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = signed_headers(secret or connector.credentials.signing_secret, body, msg_id=msg_id, at=at)
    return client.post(path or f"/webhooks/{connector.uuid}", body, content_type="application/json", **headers)


def post_bearer(client, connector, payload, *, token=None, path=None, content_type="application/json", **extra):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        path or f"/webhooks/{connector.uuid}",
        body,
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {token or connector.credentials.token}",
        **extra,
    )


def asset(i: int, **extra) -> dict:
    return {
        "source_key": f"src-{i}",
        "hostname": f"web-{i:05d}",
        "serial_number": f"SER-{i:06d}",
        "mac_addresses": [f"00:50:56:{i // 65536 % 256:02x}:{i // 256 % 256:02x}:{i % 256:02x}"],
        "ip_addresses": [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"],
        "os": "Linux",
        **extra,
    }


TOO_OLD = timedelta(minutes=6)
