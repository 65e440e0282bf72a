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


def held_out_sizes(n_inputs: int, P: int, n_val: int, n_test: int) -> tuple[int, int]:
    """(n_val, n_test) drawn for P training inputs: validation gets at most half of the
    inputs not shown, test at most the rest."""
    left = max(n_inputs - P, 0)
    val = min(n_val, left // 2)
    return val, min(n_test, left - val)


@dataclass
class Batch:
    x: torch.Tensor                 # (E, B*copies, P, v) main inputs
    t: torch.Tensor                 # (E, B*copies, 1, n_classes) one-hot targets
    y: torch.Tensor                 # (E, B) labels of the B distinct presentations
    xc: torch.Tensor | None = None  # context inputs, like x
    positive: torch.Tensor | None = None  # (E, B*copies, 1, 1): 1 positive pair, 0 negative
    copies: int = 1
    first: int = 0                  # index of the batch's first presentation in its epoch
                                    # (members of several P: in the first one's epoch)

    @property
    def n(self) -> int:
        return self.y.shape[1]


class TrainingData:
    """Streams, encodings, validation and test sets of an ensemble for one model and P (one
    for every member, or one per member: a pack of cells of several P), or for one given
    stream that every member is shown (``stream``; P is then the number of inputs the stream
    shows, and the data has the stream's epochs).

    Members of different P have pools of different lengths: the encoded pool is padded to the
    longest (``sizes`` says how many rows are each member's), and a member's epoch has its
    own number of presentations (``per_epochs``). Their held-out sets must not depend on P
    (the grammar leaves room for the requested ``n_val`` and ``n_test`` at every P).

    With fewer distinct inputs left than asked for, validation gets at most half of those
    not shown and test the rest (``n_val`` and ``n_test`` say what was drawn; a warning gives
    the numbers). With pairs, P is rounded down to whole trees (``P`` says what was used;
    a warning too)."""

    def __init__(self, trainer, P, n_test: int, n_val: int = 0,
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
            self._check_joinable(trainer.model.training)
        pools = self.pools
        self._held_out(pools, n_test, n_val)
        # a given stream encodes its own pool (its input rates, or the one-hot code)
        shown = None if stream is None else \
            [stream.encoded(np.arange(len(stream.pool)), trainer.model.training.whiten)] * trainer.E
        self.x, self.t, self.y = trainer.encode(pools, shown)

    def _draw_streams(self, P):
        g, arch = self.trainer.grammar, self.trainer.net.arch
        trainer = self.trainer
        per_tree = self.pairing.inputs_per_tree(g, arch)
        asked = np.broadcast_to(np.asarray(P, dtype=np.int64), (trainer.E,))
        #: training trees of every member (E,)
        self.trees = asked // per_tree
        if self.trees.min() < 1:
            raise ParameterError("P", f"must be >= {per_tree} with pairs = "
                                 f"{self.pairing.scheme!r} (every input counts toward P)")
        #: per-layer views: the distinct levels, and every layer's index among them
        self.view_levels = sorted(set(trainer.view_levels)) \
            if self.pairing.scheme == "views" and self.pairing.per_layer else None
        self.streams = [self.stream(seed, n) for seed, n in zip(trainer.seeds, self.trees)]
        if self.view_levels:  # one stream per level: the same trees, independent views
            self.level_streams = [[self.stream(seed, n, k=k, tag=f".k{k}") for k in self.view_levels]
                                  for seed, n in zip(trainer.seeds, self.trees)]
            self.streams = [streams[0] for streams in self.level_streams]
        self.per_epochs = np.array([len(st) for st in self.streams], dtype=np.int64)
        self.sizes = np.array([len(self.all_inputs(e)) for e in range(trainer.E)], dtype=np.int64)
        for wanted in np.unique(asked[self.sizes != asked]):  # whole trees only: said
            used = int(self.sizes[asked == wanted][0])
            warnings.warn(f"P = {wanted} is not a multiple of the {per_tree} inputs per tree with "
                          f"pairs = {self.pairing.scheme!r}; training on P = {used}",
                          stacklevel=3)

    def _check_joinable(self, settings):
        """Refuse, before anything is encoded, members of several epoch lengths that cannot
        step together: they need whole batches and a constant learning rate (a schedule
        counts epochs, which they do not share)."""
        lengths = np.unique(self.per_epochs)
        if len(lengths) == 1:
            return
        ragged = [int(n) for n in lengths if n % settings.batch_size]
        if ragged:
            P = [int(self.sizes[self.per_epochs == n][0]) for n in ragged]
            raise ParameterError("P", "members of different P step together on whole batches: "
                                 f"the epochs of P = {P} ({ragged} presentations) are not "
                                 f"multiples of batch_size = {settings.batch_size}; train those "
                                 "P on their own")
        if settings.lr_schedule != "constant":
            raise ParameterError("lr_schedule", "members of different P count different "
                                 f"epochs: they need a constant learning rate, not "
                                 f"{settings.lr_schedule!r}; train each P on its own")

    def _use_stream(self, stream: Stream):
        """Every member is shown ``stream``, epoch by epoch, in its order."""
        self.pairing.check_stream(stream, self.trainer.grammar)
        E = self.trainer.E
        self.trees = np.full(E, int(stream.params["P"]), dtype=np.int64)
        self.view_levels = None
        self.streams = [stream] * E
        self.epochs = int(stream.epoch.max()) + 1
        self.per_epochs = np.full(E, int((stream.epoch == 0).sum()), dtype=np.int64)
        # every input the stream shows, views and redraws included
        self.sizes = np.full(E, len(stream.pool), dtype=np.int64)

    @property
    def uniform(self) -> bool:
        """Whether every member has the same P (and so the same epochs)."""
        return bool((self.sizes == self.sizes[0]).all())

    @property
    def P(self):
        """Inputs shown to each member: one int, or a list of one per member when they differ."""
        return int(self.sizes[0]) if self.uniform else self.sizes.tolist()

    @property
    def per_epoch(self):
        """Presentations per epoch: one int, or an array (E,) when the members' P differ."""
        return int(self.per_epochs[0]) if self.uniform else self.per_epochs.copy()

    @property
    def n_trees(self):
        """Training trees per member: one int, or an array (E,) when the members' P differ."""
        return int(self.trees[0]) if self.uniform else self.trees.copy()

    def groups(self) -> list[np.ndarray]:
        """The members (indices) that share an epoch length, in order of their first member:
        one group when every member has the same P."""
        lengths, first = np.unique(self.per_epochs, return_index=True)
        return [np.flatnonzero(self.per_epochs == n) for n in lengths[np.argsort(first)]]

    def _held_out(self, pools: list, n_test: int, n_val: int):
        """Validation and test sets of every member, disjoint from what it is shown."""
        trainer, g = self.trainer, self.trainer.grammar
        sizes = {held_out_sizes(g.n_inputs, int(P), n_val, n_test) for P in np.unique(self.sizes)}
        if len(sizes) > 1:
            raise ParameterError("P", f"members of different P (largest {self.sizes.max()}) need "
                                 f"held-out sets of the same size, but n_inputs = {g.n_inputs} "
                                 f"leaves room for {sorted(sizes)} (n_val, n_test): lower "
                                 "n_val or n_test, or train each P on its own")
        self.n_val, self.n_test = sizes.pop()
        P = int(self.sizes.max())
        left = max(g.n_inputs - P, 0)
        if n_test and not left:
            raise ParameterError("n_test", f"no inputs are left for a test set: P = {P} "
                                 f"uses all {g.n_inputs} of the grammar; lower P or set n_test = 0")
        if self.n_val < n_val:
            warnings.warn(f"n_val = {n_val} asked for, but validation gets at most half of the "
                          f"{left} inputs not used for training (n_inputs = {g.n_inputs}, P = "
                          f"{P}): validating on n_val = {self.n_val}", stacklevel=3)
        if self.n_test < n_test:
            warnings.warn(f"n_test = {n_test} asked for, but only {left - self.n_val} inputs are "
                          f"left (n_inputs = {g.n_inputs}, minus P = {P} for training and "
                          f"n_val = {self.n_val} for validation): testing on n_test = "
                          f"{self.n_test}", stacklevel=3)
        self.vals = [sample(g, self.n_val, s, exclude=pool, purpose="rhm.val")
                     for s, pool in zip(trainer.seeds, pools)] if self.n_val else []
        self.tests = [sample(g, self.n_test, s, purpose="rhm.test",
                             exclude=Samples.concat([pool, *([v] if self.n_val else [])]))
                      for s, pool, v in zip(trainer.seeds, pools,
                                            self.vals or [None] * trainer.E)] if self.n_test else []

    def stream(self, seed: int, n_trees: int, epochs: int = 1, k: int | None = None,
               tag: str = ""):
        """The member's stream of ``n_trees`` trees over ``epochs`` epochs (one suffices to
        train: later epochs' rows come from :func:`epoch_rows`)."""
        if k is None and self.view_levels:
            k = self.view_levels[0]
        return self.pairing.stream(self.trainer.grammar, int(n_trees), seed, epochs, k, tag)

    def all_inputs(self, member: int) -> Samples:
        """Every input member ``member`` is shown: its training trees, then the views or
        redraws (with views of several levels, each level's views in turn)."""
        if not self.view_levels:
            return self.streams[member].pool
        pools = [st.pool for st in self.level_streams[member]]
        trees = int(self.trees[member])
        return Samples.concat([pools[0]] + [pool.take(np.arange(trees, len(pool)))
                                            for pool in pools[1:]])

    @property
    def pools(self) -> list[Samples]:
        return [self.all_inputs(e) for e in range(len(self.streams))]

    def _rows(self, epoch: int, members: np.ndarray):
        """(order, partner) of an epoch of the chosen members (indices, of one epoch length);
        with views of several levels, partner is (members, presentations, levels): rows of
        :meth:`all_inputs`."""
        as_t = lambda a: torch.as_tensor(np.stack(a), device=self.trainer.device)  # noqa: E731
        if self.fixed is not None:
            if epoch >= self.epochs:
                raise ParameterError("epochs", f"the stream has {self.epochs} epochs; asked for "
                                     f"epoch {epoch}")
            shown = self.fixed.epoch == epoch
            order = as_t([self.fixed.order[shown]] * len(members))
            partner = None if self.fixed.partner is None else \
                as_t([self.fixed.partner[shown]] * len(members))
            return order, partner
        if self.view_levels:
            rows = [([epoch_rows(st, epoch) for st in self.level_streams[e]], self.trees[e])
                    for e in members]
            order = as_t([r[0][0] for r, _ in rows])
            partner = as_t([np.stack([r[i][1] + i * trees for i in range(len(r))], axis=1)
                            for r, trees in rows])
            return order, partner
        rows = [epoch_rows(self.streams[e], epoch) for e in members]
        order = as_t([r[0] for r in rows])
        partner = as_t([r[1] for r in rows]) if self.pairing.scheme == "views" else None
        return order, partner

    def batches(self, epoch: int, batch_size: int, members: np.ndarray | None = None,
                skip: int = 0):
        """The batches of one epoch, in stream order, of the chosen members (indices of one
        epoch length; default all), from its batch ``skip`` on (a run going on from a
        snapshot): a member's batches do not depend on which others are chosen."""
        members = np.arange(self.trainer.E) if members is None else np.asarray(members)
        per_epoch = np.unique(self.per_epochs[members])
        if len(per_epoch) != 1:
            raise ParameterError("members", "batches of one epoch need members of one epoch "
                                 f"length; these have {per_epoch.tolist()} presentations")
        per_epoch = int(per_epoch[0])
        rows, partner = self._rows(epoch, members)
        chosen = torch.as_tensor(members, device=self.trainer.device)[:, None]
        if self.pairing.scheme == "fixations":  # the context of a presentation is the previous
            # one in the stream (the last of the epoch before); the very first has none (zeros)
            before = self._rows(epoch - 1, members)[0][:, -1:] if epoch else \
                torch.full_like(rows[:, :1], -1)
            ctx_rows = torch.cat([before, rows[:, :-1]], dim=1)
            saccade = torch.as_tensor(np.stack([self.streams[e].saccade[:per_epoch] for e in members]),
                                      device=self.trainer.device)
            positive = (~saccade).to(self.x.dtype)
        for start in range(skip * batch_size, per_epoch, batch_size):
            sl = slice(start, min(start + batch_size, per_epoch))
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
