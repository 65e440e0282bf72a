"""Progress of the packs a sweep is training: one line per pack every few minutes.

A pack can train for an hour before its cells are written. Its worker posts where it
stands (:class:`~plasticity_sim.backends.torch.clocks.EpochProgress`) as a dask event after
its first epoch and then at most every ``every_s`` seconds; the sweep's client prints each
one (above the progress bar on a terminal, as a plain line in a log file).
"""

from __future__ import annotations

import json
import math
import time

#: the dask event topic of the packs' reports
TOPIC = "plasticity-sim-progress"
#: seconds between two reports of one pack
EVERY_S = 300.0


def pack_label(pack) -> str:
    """The pack's first cell's axes, and how many cells are packed with it."""
    return json.dumps(pack.cells[0].axes) + (
        f" and {len(pack.cells) - 1} more cells packed with it" if len(pack.cells) > 1 else "")


class Reporter:
    """``train(on_epoch=...)`` for a pack running on a dask worker: posts its first epoch's
    progress, then at most one report every ``every_s`` seconds. Outside a worker (a pack
    computed in the client's own process) it posts nothing."""

    def __init__(self, label: str, every_s: float = EVERY_S, post=None, clock=time.monotonic):
        self.label, self.every_s, self.clock = label, every_s, clock
        self.post = post if post is not None else _worker_post()
        self.last = None

    def __call__(self, progress) -> None:
        now = self.clock()
        if self.post is None or self.last is not None and now - self.last < self.every_s:
            return
        self.last = now
        self.post({"pack": self.label, "epochs": [list(e) for e in progress.epochs],
                   "cap": progress.cap, "running": progress.running,
                   "members": progress.members, "loss": progress.loss,
                   "rate": progress.presentations_per_s, "seconds": progress.seconds})


def _worker_post():
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not on a worker
        return None
    return lambda msg: worker.log_event(TOPIC, msg)


def progress_line(msg: dict) -> str:
    """A report as one line: epochs per P, members still learning, loss and speed."""
    epochs = msg["epochs"]
    done = ", ".join(f"P = {P}: {n}" for P, n in epochs) if len(epochs) > 1 \
        else f"{epochs[0][1]}"
    loss = "-" if msg["loss"] is None or math.isnan(msg["loss"]) else f"{msg['loss']:.3g}"
    return (f"  running {msg['pack']}: epochs {done} (cap {msg['cap']}), {msg['running']} of "
            f"{msg['members']} members learning, training loss {loss}, "
            f"{msg['rate']:.3g} presentations/s, {msg['seconds'] / 60:.0f} min")


def listen(client, echo) -> None:
    """Print every pack's reports through ``echo`` as they arrive."""
    client.subscribe_topic(TOPIC, lambda event: echo(progress_line(event[1])))
