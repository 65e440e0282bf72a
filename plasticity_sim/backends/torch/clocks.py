"""Epoch clocks: members of one ensemble whose epochs have different lengths.

The members of a pack of cells of several P step together, one minibatch each per step, but
each group of members with the same P counts its own epochs: its epoch ends after its own
number of steps, and only then are its members checked by the stopping rule, evaluated on
validation and, if they stop, taken out. Every member thus sees the batches, and is checked
after the epochs, of its run on its own. With one P there is one clock, and a step's batch is
the clock's. Members of different P step together only on whole batches (each epoch a
multiple of the batch size), so that every step's batch has one size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import Batch


@dataclass(frozen=True)
class EpochProgress:
    """Where a training run stands after one of its epochs (``train(on_epoch=...)``)."""

    #: (P, epochs its members have learned) for every group of one P, in member order
    epochs: tuple
    #: the P whose epoch just ended (``loss`` is its members')
    ended: int
    #: the epoch cap
    cap: int
    #: members still learning, and all members
    running: int
    members: int
    #: mean training loss of that epoch's running members (NaN when none)
    loss: float
    #: presentations trained per second so far, over all members
    presentations_per_s: float
    seconds: float


class EpochClock:
    """The epochs of one group of members (indices into the ensemble) of one epoch length."""

    def __init__(self, members: np.ndarray, per_epoch: int, P: int):
        self.members = np.asarray(members)
        self.per_epoch = int(per_epoch)
        self.P = int(P)          # the inputs its members are shown
        self.epoch = -1          # the epoch running now (-1: none yet)
        self.learned = 0         # epochs in which some member was still learning
        self.batches = None      # this epoch's batches, or None once every member stopped
        self.chosen = self.members[:0]

    def begin(self, epoch: int, data, batch_size: int, live: np.ndarray):
        """Start ``epoch`` for the clock's members still in the computation (those stopped
        but frozen in it included: they take their batches, and nothing of them changes)."""
        self.epoch = epoch
        self.chosen = self.members[np.isin(self.members, live)]
        self.steps_left = self._steps(batch_size)
        self.batches = data.batches(epoch, batch_size, self.chosen)
        self.losses, self.hits = [], []

    def _steps(self, batch_size: int) -> int:
        return -(-self.per_epoch // batch_size)

    def state(self) -> dict:
        """Where the clock stands (a run's snapshot): its epoch and, in it, what it took."""
        state = {"epoch": self.epoch, "learned": self.learned, "chosen": self.chosen}
        if self.ticking:
            state.update(steps_left=self.steps_left, losses=self.losses, hits=self.hits)
        return state

    def resume(self, state: dict, data, batch_size: int):
        """The clock where :meth:`state` left it: in its epoch, the batches taken skipped."""
        self.epoch, self.learned, self.chosen = state["epoch"], state["learned"], state["chosen"]
        if "steps_left" not in state:
            self.stop()
            return
        self.steps_left, self.losses, self.hits = state["steps_left"], state["losses"], state["hits"]
        self.batches = data.batches(self.epoch, batch_size, self.chosen,
                                    skip=self._steps(batch_size) - self.steps_left)

    def stop(self):
        self.batches = None

    @property
    def ticking(self) -> bool:
        return self.batches is not None

    def rows(self, live: np.ndarray) -> slice | np.ndarray:
        """The rows of this clock's members among the live ones."""
        if len(self.chosen) == len(live):
            return slice(None)
        return np.searchsorted(live, self.chosen)

    def add(self, loss: torch.Tensor, hit: torch.Tensor, live: np.ndarray) -> bool:
        """Keep a step's losses and hits of the clock's members; whether its epoch ended."""
        rows = self.rows(live)
        self.losses.append(loss[rows])
        self.hits.append(hit[rows])
        self.steps_left -= 1
        return self.steps_left == 0

    def epoch_losses(self, E: int) -> np.ndarray:
        """The epoch's losses of the clock's members as an (E, per_epoch) array, NaN for
        every other member."""
        out = np.full((E, self.per_epoch), np.nan)
        out[self.chosen] = torch.cat(self.losses, dim=1).double().cpu().numpy()
        return out

    def epoch_accuracy(self, E: int) -> np.ndarray:
        """The fraction of the epoch's presentations each member classified correctly (E,),
        NaN for the members of other clocks."""
        out = np.full(E, np.nan)
        out[self.chosen] = torch.cat(self.hits, 1).double().mean(1).cpu().numpy()
        return out


def clocks_for(data) -> list[EpochClock]:
    """One clock per group of members of one epoch length (``TrainingData`` has checked
    that several groups can step together)."""
    return [EpochClock(g, data.per_epochs[g[0]], data.sizes[g[0]]) for g in data.groups()]


def joined(parts: list[Batch], members: list[np.ndarray]) -> Batch:
    """One step's batch of several clocks, its members in ensemble order (the live order)."""
    if len(parts) == 1:
        return parts[0]
    order = np.concatenate(members)
    perm = None if (np.diff(order) > 0).all() else \
        torch.as_tensor(np.argsort(order), device=parts[0].x.device)

    def cat(tensors):
        if tensors[0] is None:
            return None
        if isinstance(tensors[0], list):  # contexts of views at several levels
            return [cat([t[i] for t in tensors]) for i in range(len(tensors[0]))]
        out = torch.cat(tensors, dim=0)
        return out if perm is None else out.index_select(0, perm)

    first = parts[0]
    return Batch(cat([p.x for p in parts]), cat([p.t for p in parts]), cat([p.y for p in parts]),
                 cat([p.xc for p in parts]), cat([p.positive for p in parts]), first.copies,
                 first.first)
