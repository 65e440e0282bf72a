"""Training data of an ensemble: each member's stream, encoded once, cut into batches.

Member e uses seed e for its stream (training trees, views or fixation redraws, order), its
validation set and its test set: three disjoint sets. The validation set is drawn after the
training inputs and excludes every input the member is shown; the test set excludes both.
The stream's order is drawn epoch by epoch (``epoch_rows``), so a high cap on the number of
epochs costs nothing until it is used. With pairs, a batch carries
the context input ``xc`` (views, fixations) and the sign of every pair (``positive``); views
and siblings add negatives by pairing each presentation with the context of another
presentation of the batch (``copies`` blocks: the positives, then one block per negative).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ...errors import ParameterError
from ...rhm import Samples, sample
from ...rhm.streams import Stream, epoch_rows
from .expressions import _blocks


@dataclass
class Batch:
    x: torch.Tensor                 # (E, B*copies, P, v) main inputs
    t: torch.Tensor                 # (E, B*copies, 1, n_classes) one-hot targets
    y: torch.Tensor                 # (E, B) labels of the B distinct presentations
    xc: torch.Tensor | None = None  # context inputs, like x
    positive: torch.Tensor | None = None  # (E, B*copies, 1, 1): 1 positive pair, 0 negative
    copies: int = 1
    first: int = 0                  # index of the batch's first presentation in its epoch

    @property
    def n(self) -> int:
        return self.y.shape[1]


class TrainingData:
    """Streams, encodings, validation and test sets of an ensemble for one model and P, or
    for one given stream that every member is shown (``stream``; P is then the number of
    inputs the stream shows, and the data has the stream's epochs).

    With fewer distinct inputs left than asked for, validation gets at most half of those
    not shown and test the rest (``n_val`` and ``n_test`` say what was drawn; a warning gives
    the numbers). With pairs, P is rounded down to whole trees (``P`` says what was used;
    a warning too)."""

    def __init__(self, trainer, P: int | None, n_test: int, n_val: int = 0,
                 stream: Stream | None = None):
        self.trainer = trainer
        self.pairing = trainer.model.pairing
        #: the one stream every member is shown (``stream=``), or None: each member's own
        self.fixed = stream
        #: epochs the data has (None: as many as asked for)
        self.epochs = None
        if stream is not None:
            self._use_stream(stream)
        else:
            self._draw_streams(P)
        pools = self.pools
        self._held_out(pools, n_test, n_val)
        # a given stream encodes its own pool (its input rates, or the one-hot code)
        shown = None if stream is None else \
            [stream.encoded(np.arange(len(stream.pool)), trainer.model.training.whiten)] * trainer.E
        self.x, self.t, self.y = trainer.encode(pools, shown)
        self.members = torch.arange(trainer.E, device=trainer.device)[:, None]

    def _draw_streams(self, P: int):
        g, arch = self.trainer.grammar, self.trainer.net.arch
        trainer = self.trainer
        per_tree = self.pairing.inputs_per_tree(g, arch)
        self.n_trees = P // per_tree
        if self.n_trees < 1:
            raise ParameterError("P", f"must be >= {per_tree} with pairs = "
                                 f"{self.pairing.scheme!r} (every input counts toward P)")
        #: per-layer views: the distinct levels, and every layer's index among them
        self.view_levels = sorted(set(trainer.view_levels)) \
            if self.pairing.scheme == "views" and self.pairing.per_layer else None
        self.streams = [self.stream(seed) for seed in trainer.seeds]
        self.per_epoch = len(self.streams[0])
        if self.view_levels:  # one stream per level: the same trees, independent views
            self.level_streams = [[self.stream(seed, k=k, tag=f".k{k}") for k in self.view_levels]
                                  for seed in trainer.seeds]
            self.streams = [streams[0] for streams in self.level_streams]
        self.P = len(self.all_inputs(0))  # inputs shown, all of them counted
        if self.P != P:  # whole trees only: the adjustment stays, but is said
            warnings.warn(f"P = {P} is not a multiple of the {per_tree} inputs per tree with "
                          f"pairs = {self.pairing.scheme!r}; training on P = {self.P}",
                          stacklevel=3)

    def _use_stream(self, stream: Stream):
        """Every member is shown ``stream``, epoch by epoch, in its order."""
        self.pairing.check_stream(stream, self.trainer.grammar)
        self.n_trees = int(stream.params["P"])
        self.view_levels = None
        self.streams = [stream] * self.trainer.E
        self.epochs = int(stream.epoch.max()) + 1
        self.per_epoch = int((stream.epoch == 0).sum())
        self.P = len(stream.pool)  # every input the stream shows, views and redraws included

    def _held_out(self, pools: list, n_test: int, n_val: int):
        """Validation and test sets of every member, disjoint from what it is shown."""
        trainer, g = self.trainer, self.trainer.grammar
        left = max(g.n_inputs - self.P, 0)
        if n_test and not left:
            raise ParameterError("n_test", f"no inputs are left for a test set: P = {self.P} "
                                 f"uses all {g.n_inputs} of the grammar; lower P or set n_test = 0")
        self.n_val = min(n_val, left // 2)
        self.n_test = min(n_test, left - self.n_val)
        if self.n_val < n_val:
            warnings.warn(f"n_val = {n_val} asked for, but validation gets at most half of the "
                          f"{left} inputs not used for training (n_inputs = {g.n_inputs}, P = "
                          f"{self.P}): validating on n_val = {self.n_val}", stacklevel=3)
        if self.n_test < n_test:
            warnings.warn(f"n_test = {n_test} asked for, but only {left - self.n_val} inputs are "
                          f"left (n_inputs = {g.n_inputs}, minus P = {self.P} for training and "
                          f"n_val = {self.n_val} for validation): testing on n_test = "
                          f"{self.n_test}", stacklevel=3)
        self.vals = [sample(g, self.n_val, s, exclude=pool, purpose="rhm.val")
                     for s, pool in zip(trainer.seeds, pools)] if self.n_val else []
        self.tests = [sample(g, self.n_test, s, purpose="rhm.test",
                             exclude=Samples.concat([pool, *([v] if self.n_val else [])]))
                      for s, pool, v in zip(trainer.seeds, pools,
                                            self.vals or [None] * trainer.E)] if self.n_test else []

    def stream(self, seed: int, epochs: int = 1, k: int | None = None, tag: str = ""):
        """The member's stream over ``epochs`` epochs (one suffices to train: later epochs'
        rows come from :func:`epoch_rows`)."""
        if k is None and self.view_levels:
            k = self.view_levels[0]
        return self.pairing.stream(self.trainer.grammar, self.n_trees, seed, epochs, k, tag)

    def all_inputs(self, member: int) -> Samples:
        """Every input member ``member`` is shown: its training trees, then the views or
        redraws (with views of several levels, each level's views in turn)."""
        if not self.view_levels:
            return self.streams[member].pool
        pools = [st.pool for st in self.level_streams[member]]
        return Samples.concat([pools[0]] + [pool.take(np.arange(self.n_trees, len(pool)))
                                            for pool in pools[1:]])

    @property
    def pools(self) -> list[Samples]:
        return [self.all_inputs(e) for e in range(len(self.streams))]

    def _rows(self, epoch: int):
        """(order, partner) of an epoch per member; with views of several levels, partner
        is (E, presentations, levels): rows of :meth:`all_inputs`."""
        as_t = lambda a: torch.as_tensor(np.stack(a), device=self.trainer.device)  # noqa: E731
        if self.fixed is not None:
            if epoch >= self.epochs:
                raise ParameterError("epochs", f"the stream has {self.epochs} epochs; asked for "
                                     f"epoch {epoch}")
            shown = self.fixed.epoch == epoch
            order = as_t([self.fixed.order[shown]] * self.trainer.E)
            partner = None if self.fixed.partner is None else \
                as_t([self.fixed.partner[shown]] * self.trainer.E)
            return order, partner
        if self.view_levels:
            rows = [[epoch_rows(st, epoch) for st in streams] for streams in self.level_streams]
            order = as_t([r[0][0] for r in rows])
            partner = as_t([np.stack([r[i][1] + i * self.n_trees for i in range(len(r))], axis=1)
                            for r in rows])
            return order, partner
        rows = [epoch_rows(st, epoch) for st in self.streams]
        order = as_t([r[0] for r in rows])
        partner = as_t([r[1] for r in rows]) if self.pairing.scheme == "views" else None
        return order, partner

    def batches(self, epoch: int, batch_size: int, members: np.ndarray | None = None):
        """The batches of one epoch, in stream order, of the chosen members (indices; default
        all): a member's batches do not depend on which others are chosen."""
        rows, partner = self._rows(epoch)
        chosen = self.members if members is None else \
            torch.as_tensor(np.asarray(members), device=self.trainer.device)[:, None]
        pick = chosen[:, 0]
        rows = rows[pick]
        partner = partner[pick] if partner is not None else None
        if self.pairing.scheme == "fixations":  # the context of a presentation is the previous
            # one in the stream (the last of the epoch before); the very first has none (zeros)
            before = self._rows(epoch - 1)[0][pick, -1:] if epoch else torch.full_like(rows[:, :1], -1)
            ctx_rows = torch.cat([before, rows[:, :-1]], dim=1)
            saccade = torch.as_tensor(np.stack([st.saccade[:self.per_epoch] for st in self.streams]),
                                      device=self.trainer.device)[pick]
            positive = (~saccade).to(self.x.dtype)
        for start in range(0, self.per_epoch, batch_size):
            sl = slice(start, min(start + batch_size, self.per_epoch))
            idx = rows[:, sl]
            x, t, y = self.x[chosen, idx], self.t[chosen, idx], self.y[chosen, idx]
            scheme = self.pairing.scheme
            if scheme is None:
                yield Batch(x, t, y, first=start)
            elif scheme == "fixations":
                ctx = ctx_rows[:, sl]
                xc = self.x[chosen, ctx.clamp_min(0)] * (ctx >= 0)[..., None, None]
                yield Batch(x, t, y, xc, positive[:, sl, None, None], first=start)
            else:
                yield self._with_negatives(x, t, y, start,
                                           None if partner is None else partner[:, sl], chosen)

    def _with_negatives(self, x, t, y, start, partner, chosen) -> Batch:
        copies = 1 + self.pairing.negatives
        B = x.shape[1]
        xc = None
        if self.pairing.scheme == "views":
            if self.view_levels:
                xc = [_blocks(self.x[chosen, partner[..., i]], copies, roll=True)
                      for i in range(len(self.view_levels))]
            else:
                xc = _blocks(self.x[chosen, partner], copies, roll=True)
        sign = torch.zeros(x.shape[0], B * copies, 1, 1, dtype=x.dtype, device=x.device)
        sign[:, :B] = 1
        repeat = lambda a: _blocks(a, copies, roll=False)  # noqa: E731
        return Batch(repeat(x), repeat(t), y, xc, sign, copies, first=start)
