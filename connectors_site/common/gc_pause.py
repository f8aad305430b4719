"""Cyclic garbage collection paused while a batch of work runs (the identification chunks)."""

from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def collect_between_chunks():
    """No cyclic garbage collection while a chunk is processed; it runs again between chunks.

    A chunk allocates millions of short-lived containers (normalized records, index sets, row tuples) and keeps
    thousands alive until it commits, so the collector's young generations ran thousands of times per chunk and
    scanned the survivors each time: about a tenth of the chunk's time. Reference counting still frees nearly
    everything at once; the few cycles a chunk makes wait for the collection after it (the allocation counts go
    on while it is off, so the first allocation after the chunk starts one)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
