"""Progress of the packs a sweep is training: one line per pack every few minutes.

A pack can train for an hour before its cells are written. Its worker posts where it
stands (:class:`~plasticity_sim.backends.torch.clocks.EpochProgress`) as a dask event after
its first epoch and then at the first epoch end ``every_s`` seconds or more after its last
report; the sweep's client prints each one (above the progress bar on a terminal, as a
plain line in a log file). Each sweep has its own topic (its cells folder), so sweeps that
share a scheduler print only their own packs' reports.
"""

from __future__ import annotations

import json
import math
import time

#: the dask event topics of the packs' reports begin with this
TOPIC = "plasticity-sim-progress"
#: seconds between two reports of one pack
EVERY_S = 300.0


def pack_label(pack) -> str:
    """The pack's first cell's axes, and how many cells are packed with it."""
    return json.dumps(pack.cells[0].axes) + (
        f" and {len(pack.cells) - 1} more cells packed with it" if len(pack.cells) > 1 else "")


def topic(cells_dir) -> str:
    """The event topic of one sweep's packs (one per cells folder)."""
    return f"{TOPIC}:{cells_dir}"


class Reporter:
    """``train(on_epoch=...)`` for a pack running on a dask worker: posts its first epoch's
    progress, then at most one report every ``every_s`` seconds, under ``topic``. Outside a
    worker (a pack computed in the client's own process) it posts nothing. A report that
    cannot be posted is dropped, with the reports after it: it never fails the pack."""

    def __init__(self, label: str, topic: str = TOPIC, every_s: float = EVERY_S, post=None,
                 clock=time.monotonic):
        self.label, self.every_s, self.clock = label, every_s, clock
        self.post = post if post is not None else _worker_post(topic)
        self.last = None

    def __call__(self, progress) -> None:
        now = self.clock()
        if self.post is None or self.last is not None and now - self.last < self.every_s:
            return
        self.last = now
        msg = {"pack": self.label, "epochs": [[int(P), int(n)] for P, n in progress.epochs],
               "ended": int(progress.ended), "cap": int(progress.cap),
               "running": int(progress.running), "members": int(progress.members),
               "loss": float(progress.loss), "rate": float(progress.presentations_per_s),
               "seconds": float(progress.seconds)}
        try:
            self.post(msg)
        except Exception:  # e.g. a worker shutting down: the training matters, not the line
            self.post = None


def _worker_post(topic: str):
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not on a worker
        return None
    return lambda msg: worker.log_event(topic, msg)


def progress_line(msg: dict) -> str:
    """A report as one line: epochs per P, members still learning, loss (of the P whose
    epoch just ended, when there are several) and speed."""
    epochs = msg["epochs"]
    several = len(epochs) > 1
    done = ", ".join(f"P = {P}: {n}" for P, n in epochs) if several else f"{epochs[0][1]}"
    loss = "-" if math.isnan(msg["loss"]) else f"{msg['loss']:.3g}"
    of = f" (P = {msg['ended']})" if several else ""
    return (f"  running {msg['pack']}: epochs {done} (cap {msg['cap']}), {msg['running']} of "
            f"{msg['members']} members learning, training loss{of} {loss}, "
            f"{msg['rate']:.3g} presentations/s, {msg['seconds'] / 60:.0f} min")


def listen(client, cells_dir, echo) -> None:
    """Print the reports of this sweep's packs (those writing to ``cells_dir``) through
    ``echo`` as they arrive."""
    client.subscribe_topic(topic(cells_dir), lambda event: echo(progress_line(event[1])))
