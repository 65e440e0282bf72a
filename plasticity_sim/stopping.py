"""The stopping rule every run follows, whatever its learning rule (docs/training.md, "The protocol").

After every epoch each member still training is checked, in this order:

- ``diverged``: its loss is NaN or inf, or its epoch's mean training loss exceeds
  ``divergence_factor`` times the loss of the untrained network on its training inputs;
- ``converged``: its epoch's mean training loss is below ``loss_threshold``;
- ``plateau``: its validation accuracy has not beaten its best so far by more than
  ``min_delta`` for ``patience`` epochs;
- ``cap``: it has trained ``epochs`` epochs.

The readout's loss and validation accuracy are what every rule is checked on: every network
has a readout trained on the output error, whether or not its hidden layers learn from it.
The network then evaluated is the one after its best validation epoch (``best_epoch``;
early stopping), unless it diverged.
Engine-neutral: numpy arrays of one value per member.
"""

from __future__ import annotations

import numpy as np

REASONS = ("converged", "plateau", "cap", "diverged")
RUNNING = ""


class Stopping:
    def __init__(self, training, initial_loss: np.ndarray):
        self.training = training
        E = len(initial_loss)
        self.initial_loss = np.asarray(initial_loss, dtype=float)
        self.bound = training.divergence_factor * self.initial_loss
        self.best = np.full(E, -np.inf)
        self.best_epoch = np.full(E, -1, dtype=np.int64)
        self.stopped_by = np.full(E, RUNNING, dtype=object)
        self.epochs = np.zeros(E, dtype=np.int64)

    @property
    def running(self) -> np.ndarray:
        return self.stopped_by == RUNNING

    def divergence(self, losses: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        """The first presentation (E,) of an epoch at which a running member's loss is NaN or
        inf, or, when the epoch's mean exceeds the bound, the first above the bound; -1
        where the member did not diverge. ``losses`` is (E, presentations); ``members``
        (E,) bool the members whose epoch this is (default all)."""
        finite = np.isfinite(losses)
        with np.errstate(invalid="ignore", over="ignore"):
            too_high = np.where(finite, losses, 0).mean(1) > self.bound
            above = losses > self.bound[:, None]
        bad = ~finite | (too_high[:, None] & above)
        first = np.where(bad.any(1), bad.argmax(1), -1)
        return np.where(self._checked(members), first, -1)

    def _checked(self, members) -> np.ndarray:
        return self.running if members is None else self.running & np.asarray(members, dtype=bool)

    def after_epoch(self, epoch: int, train_loss: np.ndarray, val_accuracy: np.ndarray,
                    diverged: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        """Record epoch ``epoch`` of the running members (of ``members``, (E,) bool, when
        members of different P count their own epochs); returns the members (bool, E) that
        stop now. ``train_loss`` and ``val_accuracy`` are the epoch's mean training loss and
        the validation accuracy after it (NaN without a validation set: no plateau then)."""
        t = self.training
        running = self._checked(members)
        self.epochs[running] += 1
        stop = np.zeros_like(running)
        for reason, hit in (
                ("diverged", diverged),
                ("converged", train_loss < t.loss_threshold),
                ("plateau", self._plateau(epoch, val_accuracy, running)),
                ("cap", np.full(len(running), epoch + 1 >= t.epochs))):
            new = running & hit & ~stop
            self.stopped_by[new] = reason
            stop |= new
        return stop

    def _plateau(self, epoch, val_accuracy, running) -> np.ndarray:
        improved = running & (val_accuracy > self.best + self.training.min_delta)
        self.best[improved] = val_accuracy[improved]
        self.best_epoch[improved] = epoch
        waited = epoch - np.where(self.best_epoch >= 0, self.best_epoch, -1)
        return np.isfinite(val_accuracy) & (waited >= self.training.patience)
