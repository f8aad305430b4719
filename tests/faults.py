"""Fault injection hooks for the resilience tests (see settings.DELIVERY_FAULT_HOOK). Never used outside tests."""

import os

from django.db import OperationalError


def fail_first_attempts(delivery) -> None:
    """Fail with a transient database error until attempt FAULT_FAILURES + 1."""
    if delivery.attempts <= int(os.environ.get("FAULT_FAILURES", "2")):
        raise OperationalError(f"injected transient failure on attempt {delivery.attempts}")


def always_fail(delivery) -> None:
    if os.environ.get("FAULT_BROKEN", "1") == "1":
        raise RuntimeError("injected permanent failure")


def slow_first_attempt(delivery) -> None:
    """A long step with no lease renewal (a slow chunk): sleep FAULT_SLEEP seconds on the first attempt."""
    import time

    if delivery.attempts == 1:
        time.sleep(float(os.environ.get("FAULT_SLEEP", "5")))


_started_together = False


def start_together(delivery) -> None:
    """Hold this worker's first attempt until FAULT_BARRIER_PARTIES workers have reached it (a barrier across
    processes: one file per worker in FAULT_BARRIER_DIR), so their first chunks run at the same moment."""
    global _started_together
    if _started_together:
        return
    _started_together = True
    import time
    from pathlib import Path

    folder = Path(os.environ["FAULT_BARRIER_DIR"])
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 30
    while len(list(folder.iterdir())) < int(os.environ.get("FAULT_BARRIER_PARTIES", "2")):
        if time.monotonic() > deadline:
            raise RuntimeError("the other workers never reached the barrier")
        time.sleep(0.001)


def crash_once(delivery) -> None:
    """Die as under ``kill -9`` (no cleanup, no bookkeeping) on the first attempt at delivery FAULT_CRASH_DELIVERY."""
    if str(delivery.pk) == os.environ.get("FAULT_CRASH_DELIVERY") and delivery.attempts == 1:
        os._exit(137)


def stall_in_chunk(target) -> None:
    """In a chunk's transaction, after its writes and before its commit: say so (touch FAULT_STALL_FILE) and
    hang, for the test to ``kill -9`` the worker there. Deliveries (not chunks) pass."""
    import time
    from pathlib import Path

    if not hasattr(target, "total") or target.attempts != 1:
        return
    Path(os.environ["FAULT_STALL_FILE"]).touch()
    time.sleep(600)
