"""Snapshots of a training run between epochs, so that a long run stopped on its way (a
machine taken back, a killed job) goes on from where it was instead of starting over.

``train(snapshot=path)`` writes the run's whole state to ``path`` at the end of an epoch, at
most every ``snapshot_every`` seconds, and, in a run that has trained longer than that, once
more when training ends (before the evaluation); a new snapshot replaces the old one whole
(written aside and synced to disk, then renamed). Called
again with the same arguments and path, ``train`` goes on from the snapshot, and its result
equals the uninterrupted run's bit for bit on the same device and dtype. The snapshot is
removed when the run returns (or diverges with ``on_divergence="stop"``).

A snapshot holds: the synaptic and state variables of every member (those that stopped
and the copies kept at their best validation epoch included), the optimizer's state, each
epoch clock's place in its epoch, the stopping rule's state, the curves so far and what the
monitors accumulated. The data are not in it: every member's data are drawn again from its
seed, as at the start.
"""

from __future__ import annotations

import datetime as _dt
import json
import numbers
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ...errors import ParameterError
from ...provenance import source

FORMAT = 1


def fingerprint(model, grammar, P, trainer, n_val, n_test, settings, on_divergence,
                monitors, stream) -> str:
    """What decides a run's training, as JSON: a snapshot goes on only the run it was made of."""
    return json.dumps({
        "model": model.to_dict(), "grammar": grammar.params,
        "P": np.asarray(P).tolist(), "seeds": trainer.seeds, "lr": trainer.lr.tolist(),
        "n_val": n_val, "n_test": n_test, "epochs": settings.epochs,
        "dtype": str(trainer.dtype), "device": str(trainer.device),
        "on_divergence": on_divergence,
        "monitors": [[type(m).__name__, _monitor_settings(m)] for m in monitors],
        "stream": stream.digest() if stream is not None else None,
    }, sort_keys=True, default=str)


def _monitor_settings(monitor) -> dict:
    """A monitor's settings, or (one without ``settings``) its public attributes but what it
    accumulates."""
    if hasattr(monitor, "settings"):
        return monitor.settings
    return {k: v for k, v in vars(monitor).items()
            if not k.startswith("_") and k not in monitor.resumable}


def check_resumable(monitors) -> None:
    """Every monitor must say what it accumulates (``resumable``), or nothing can go on."""
    for monitor in monitors:
        if not hasattr(monitor, "resumable"):
            raise ParameterError("snapshot", f"the monitor {type(monitor).__name__} cannot go on "
                                 "from a snapshot: give it a `resumable` tuple naming the "
                                 "attributes it accumulates while training, or train without "
                                 "a snapshot")


def check_interval(every_s) -> float:
    if not isinstance(every_s, numbers.Real) or not np.isfinite(every_s) or every_s < 0:
        raise ParameterError("snapshot_every", f"must be seconds >= 0; got {every_s!r}")
    return float(every_s)


class Snapshots:
    """The snapshot file of one run: when one is due, writing, reading, removing."""

    def __init__(self, path, every_s: float, fingerprint: str):
        self.path = Path(path)
        self.every_s = check_interval(every_s)
        self.fingerprint = fingerprint
        self.last = time.perf_counter()
        self.step = None  # the training step of the last snapshot written

    def due(self) -> bool:
        return time.perf_counter() - self.last >= self.every_s

    def load(self, device) -> dict | None:
        """The snapshot's state, or None when there is none; a snapshot of another run is
        refused."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location=device, weights_only=False)
        except Exception as err:  # a file cut short or not a snapshot: say which and why
            raise ParameterError("snapshot", f"{self.path} is not a readable snapshot ({err}); "
                                 "remove it to start the run afresh") from None
        if state.get("format") != FORMAT or state.get("fingerprint") != self.fingerprint:
            raise ParameterError("snapshot", f"{self.path} was written by a run with other "
                                 f"settings{_differences(state.get('fingerprint'), self.fingerprint)}; "
                                 "give another path, or remove it to start afresh")
        if state["source"] != source():
            warnings.warn(f"going on from a snapshot written by {state['source']}; this is "
                          f"{source()}", stacklevel=3)
        return state

    def write(self, state: dict) -> None:
        state.update(format=FORMAT, fingerprint=self.fingerprint, source=source(),
                     written=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # written aside under a name of its own, on disk before the rename: a run killed (or
        # a machine lost) while writing leaves the last snapshot whole
        handle, aside = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp",
                                         dir=self.path.parent)
        try:
            with os.fdopen(handle, "wb") as file:
                torch.save(state, file)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(aside, 0o644)  # mkstemp's 0600 would keep a shared folder's sweeps out
            os.replace(aside, self.path)
        except BaseException:
            Path(aside).unlink(missing_ok=True)
            raise
        self.last = time.perf_counter()
        self.step = state["counters"][0]

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _differences(old: str | None, new: str) -> str:
    try:
        old, new = json.loads(old), json.loads(new)
    except (TypeError, ValueError):
        return ""
    keys = sorted(k for k in new if old.get(k) != new[k])
    return f" (differs in: {', '.join(keys)})" if keys else ""


# --- what is saved of the parts without a state of their own -------------------------------
def stopping_state(stopping) -> dict:
    return {k: v for k, v in vars(stopping).items() if k != "training"}


def monitor_state(monitor) -> dict:
    return {k: getattr(monitor, k) for k in monitor.resumable if hasattr(monitor, k)}


def set_attributes(obj, state: dict) -> None:
    """Put back a monitor's or the stopping rule's saved attributes."""
    for key, value in state.items():
        setattr(obj, key, value)
