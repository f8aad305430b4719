"""One chunk of a big delivery: a slice of its records that any worker on any host can process (connectors.chunks).

Defined apart from connectors.models (and imported there) so the delivery models stay readable; the foreign key
names the delivery by its label, so this module imports nothing from them.
"""

from __future__ import annotations

from django.db import models


class ChunkStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSING = "processing", "Processing"
    DONE = "done", "Done"
    #: Gave up after DELIVERY_MAX_ATTEMPTS: its records count as errors and the delivery still finishes.
    FAILED = "failed", "Failed"

    @classmethod
    def finished(cls) -> tuple[str, str]:
        return (cls.DONE, cls.FAILED)


class DeliveryChunk(models.Model):
    """Chunk ``index`` of ``total``: the records of its delivery grouped into it (connectors.chunks.assign_chunks),
    so every report of one source key is in one chunk, in the delivery's order; they travel in ``payload``.

    Claimed with a lease like a delivery; processed in one transaction together with marking it done and adding
    its counters to the delivery's, so a worker killed mid-chunk leaves nothing half-written and the chunk is redone
    whole. The counters are the chunk's own outcomes; the delivery's final ones are their sums.
    """

    delivery = models.ForeignKey("connectors.Delivery", on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    total = models.PositiveIntegerField()
    #: The chunk size the delivery was split with (every worker groups the records with it, whatever its own
    #: setting), and how many records this chunk holds (checked when it is processed).
    chunk_size = models.PositiveIntegerField()
    records = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=ChunkStatus.choices, default=ChunkStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_received = models.PositiveIntegerField(default=0)
    records_created = models.PositiveIntegerField(default=0)
    records_updated = models.PositiveIntegerField(default=0)
    records_merged = models.PositiveIntegerField(default=0)
    records_skipped = models.PositiveIntegerField(default=0)
    records_errors = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)
    #: The chunk's records, parsed and packed by the worker that split the delivery (connectors.chunk_payload);
    #: emptied once the chunk is finished.
    payload = models.BinaryField(default=b"", editable=False)
    #: Chunk 0 only: what finalizing the delivery needs from its parse (errors, deleted keys, warnings, a sync's keys).
    rest = models.BinaryField(default=b"", editable=False)

    class Meta:
        ordering = ["delivery", "index"]
        constraints = [models.UniqueConstraint(fields=["delivery", "index"], name="unique_chunk_per_delivery")]
        indexes = [models.Index(fields=["status", "lease_expires_at"], name="chunk_claim_idx")]

    def __str__(self) -> str:
        return f"chunk {self.index + 1}/{self.total} of delivery {self.delivery_id}"
