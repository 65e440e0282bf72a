"""Claims on cells, so that two sweeps on one folder never compute the same cell twice.

A cell's claim is a file made with O_EXCL (atomic, also on shared file systems that honour
it) naming its holder's host and process; the holder touches it every HEARTBEAT_S seconds
while it computes. A claim is stale, and may be taken over, when its holder's process is
gone (same host) or it has not been touched for STALE_S seconds (any host).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

HEARTBEAT_S = 30.0
STALE_S = 300.0


class Claim:
    """A claim held by this process; ``release`` removes it."""

    def __init__(self, path: Path):
        self.path = path
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)
        self._beat.start()

    @classmethod
    def take(cls, path: str | os.PathLike) -> "Claim | None":
        """The claim at ``path`` if nobody holds it, else None."""
        path = Path(path)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return None
        with os.fdopen(fd, "w") as file:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()},
                      file)
        return cls(path)

    def _heartbeat(self):
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:  # removed by someone who thought it stale: nothing to keep alive
                return

    def release(self) -> None:
        self._stop.set()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def is_stale(path: str | os.PathLike, stale_s: float = STALE_S) -> bool:
    """Whether the claim at ``path`` belongs to nobody any more (or is already gone)."""
    path = Path(path)
    try:
        age = time.time() - path.stat().st_mtime
        holder = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return True
    except (OSError, ValueError):  # being written this instant, or garbled: judge by age
        holder = {}
    if age > stale_s:
        return True
    if holder.get("host") == socket.gethostname() and "pid" in holder:
        return not _alive(int(holder["pid"]))
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        return True
    return True
