"""Request bodies at intake: the size limit, chunked bodies, gzip. Every refusal is an :class:`IntakeRejected`."""

from __future__ import annotations

import zlib

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from connectors_site.common.api import problem


class IntakeRejected(Exception):
    """Ends intake with a problem response."""

    def __init__(self, status_code: int, title: str, detail: str, **extra):
        super().__init__(detail)
        self.response = problem(status_code, title, detail, **extra)


def too_large(detail: str = "") -> IntakeRejected:
    return IntakeRejected(
        413,
        "Payload too large",
        (detail or "The body is over the limit")
        + f"; this endpoint accepts at most {settings.WEBHOOK_MAX_BODY_BYTES} bytes. "
        "Split the batch into several deliveries.",
    )


def read_body(request) -> bytes:
    """The body as sent, at most WEBHOOK_MAX_BODY_BYTES (413 above), also when it comes chunked.

    Checked before the connector is looked up, so the answer is the same for every connector, known or not.
    """
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    meta = request.META
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise too_large(f"The body is {length} bytes")
    if not meta.get("CONTENT_LENGTH") and "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        # A WSGI server that de-chunks marks its input terminated (read to the end); without that the length of
        # the body is unknowable. `serve` never gets here: it hands Django complete bodies with their length.
        if not meta.get("wsgi.input_terminated"):
            raise IntakeRejected(411, "Length required", "Send the body with a Content-Length header.")
        body = meta["wsgi.input"].read(limit + 1)
    else:
        try:
            body = request._request.body
        except RequestDataTooBig:
            raise too_large() from None
    if len(body) > limit:
        raise too_large()
    return body


def decoded(headers: dict[str, str], body: bytes) -> bytes:
    """The body without its Content-Encoding (gzip), never more than the size limit once decompressed.

    Decompression stops at the limit, so a small "zip bomb" costs no more than a body of the largest size.
    Signatures are verified before, over the bytes as sent.
    """
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise IntakeRejected(
            415, "Unsupported media type", f"Content-Encoding {encoding!r} is not supported; send gzip or none."
        )
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)  # never more than one byte past the limit
        if len(data) <= limit and not decompressor.unconsumed_tail:
            data += decompressor.flush()
    except zlib.error:
        raise IntakeRejected(400, "Bad request", "The body is not valid gzip (Content-Encoding: gzip).") from None
    if len(data) > limit or decompressor.unconsumed_tail:
        raise too_large("The body is over the limit once decompressed")
    if not decompressor.eof or decompressor.unused_data:
        raise IntakeRejected(400, "Bad request", "The body is not one complete gzip stream.")
    return data
