"""This process's id as a worker: what its heartbeat and its claims (deliveries, chunks, impact previews) carry.

Unique per process start (host, pid and a random suffix), so a restarted worker never inherits a dead one's claims.
"""

import os
import socket
import uuid

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
