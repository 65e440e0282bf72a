"""Training on the torch engine: online or minibatch SGD over an ensemble of seeds.

Member e of an ensemble uses seed e for everything it draws (training set, test set, stream
order, initial weights), so it equals a single run with that seed. The E members run as one
vectorized computation; they may differ in learning rate. A member that stops leaves the
computation (``Trainer.drop``): the others go on without its cost, and its state is kept
for the end. With a monitor that cannot follow members leaving, stopped members stay in
and are frozen (their updates scaled by 0) instead; the results are the same either way.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ...errors import DivergenceError, ParameterError, require_int
from ...model import Model
from ...recording import Recording
from ...rhm import Grammar, Samples, Stream, one_hot
from ...sizing import check_fits, estimate_bytes
from ...stopping import Stopping
from .allocator import keep_freed_memory
from .codegen import CompiledNetwork
from .clocks import EpochProgress, clocks_for, joined
from .data import Batch, TrainingData
from .evaluate import EVALUATORS, evaluate_run, on_pools
from .init import init_synapses
from .snapshot import (Snapshots, check_interval, check_resumable, fingerprint, monitor_state,
                       set_attributes, stopping_state)

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MAX_TEST = 20_000
N_VAL = 2000
DIVERGENCE = ("stop", "mask")


def resolve_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ParameterError("dtype", f"must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return DTYPES[dtype]


def resolve_device(device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ParameterError("device", f"must be 'cpu', 'cuda' or 'cuda:N'; got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device", "CUDA was asked for but torch sees no GPU on this machine")
    return device


class Trainer:
    """One model, compiled, with the synaptic and state variables of an ensemble of E members."""

    def __init__(self, model: Model, grammar: Grammar, seeds: Sequence[int], *, lr=None,
                 dtype="float32", device="cpu"):
        model = model.at(grammar)  # the rule's default learning rate for this depth
        self.model, self.grammar = model, grammar
        self.seeds = [require_int("seeds", s, minimum=0) for s in seeds]
        if not self.seeds:
            raise ParameterError("seeds", "give at least one seed")
        self.dtype, self.device = resolve_dtype(dtype), resolve_device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        arch = model.architecture(grammar)
        context_levels = None
        #: the view level k of every hidden layer's pairs (empty without pairs)
        self.view_levels = ()
        if model.pairing.scheme is not None:
            levels = self.view_levels = model.pairing.levels(grammar, arch)  # k must fit
            if model.pairing.per_layer:
                context_levels = tuple(sorted(set(levels)).index(k) for k in levels)
        self.net = CompiledNetwork(arch, model.rule, model.neuron, model.loss,
                                   model.pairing.context, model.pairing.negative_ratio,
                                   context_levels)
        self.S = init_synapses(self.net, self.seeds, self.dtype, self.device)
        self.ST = {name: torch.full((self.E, 1, *self.net.arch.population_shapes[pop]), value,
                                    dtype=self.dtype, device=self.device)
                   for name, (pop, value) in self.net.states.items()}
        lr = model.training.lr if lr is None else lr
        self.lr = np.broadcast_to(np.asarray(lr, dtype=float), (self.E,)).copy()
        if not (self.lr > 0).all():
            raise ParameterError("lr", f"must be > 0 for every member; got {self.lr.tolist()}")
        self.active = torch.ones(self.E, dtype=self.dtype, device=self.device)
        #: the members still in the computation (indices into ``seeds``): every tensor of
        #: state has one row per live member; the state of those dropped is in ``_dropped``
        self.live = np.arange(self.E)
        self.plastic = self.net.plastic
        self.buffers = [torch.zeros_like(self.S[n]) for n in self.plastic]
        self._set_rates()
        #: this epoch's rate is a * lr + b (Training.lr_at; constant: a = 1, b = 0)
        self.schedule = (1.0, 0.0)
        decay_biases = model.training.decay_biases
        self._decayed = [i for i, n in enumerate(self.plastic)
                         if decay_biases or not n.endswith("_bias")]

    @property
    def E(self) -> int:
        """Number of ensemble members (one per seed)."""
        return len(self.seeds)

    def _set_rates(self):
        """The live members' learning rates, and each plastic variable's factor on them: a
        readout with its own rate keeps it whatever a member's rate (packed members differ)."""
        lr = self.lr[self.live]
        self._lr_t = torch.as_tensor(lr, dtype=self.dtype, device=self.device)
        readout = self.model.training.readout_lr
        readout_names = {f"s{self.net.depth}_w", f"s{self.net.depth}_bias"}
        self._lr_factor = [torch.as_tensor(readout / lr, dtype=self.dtype, device=self.device)
                           if readout is not None and n in readout_names else 1.0
                           for n in self.plastic]

    def full(self, values, fill=np.nan) -> np.ndarray:
        """Per-member values of the live members as an (E, ...) array, ``fill`` for the others."""
        values = np.asarray(values)
        out = np.full((self.E, *values.shape[1:]), fill, dtype=np.result_type(values, type(fill)))
        out[self.live] = values
        return out

    # --- members leaving the computation ------------------------------------------------------
    def _per_member(self) -> list:
        """Every container (dict or list) of per-member tensors, one row per live member."""
        return [self.S, self.ST, self.buffers] + ([self._second] if hasattr(self, "_second") else [])

    def drop(self, members: np.ndarray):
        """Take the chosen members (E,) bool out of the computation; their synaptic and state
        variables are kept as they are now (``restore`` puts them back)."""
        leaving = np.asarray(members, dtype=bool)[self.live]
        if not leaving.any():
            return
        if not hasattr(self, "_dropped"):
            self._dropped = {n: t.clone() for n, t in {**self.S, **self.ST}.items()}
        rows = torch.as_tensor(self.live[leaving], device=self.device)
        for name, t in {**self.S, **self.ST}.items():
            self._dropped[name][rows] = t[torch.as_tensor(leaving, device=self.device)]
        keep = torch.as_tensor(np.flatnonzero(~leaving), device=self.device)
        for store in self._per_member():
            items = store.items() if isinstance(store, dict) else enumerate(store)
            for key, t in list(items):
                store[key] = t.index_select(0, keep)
        self.active = self.active.index_select(0, keep)
        self.live = self.live[~leaving]
        self._set_rates()

    def restore(self):
        """Every member back in, those dropped with the state they had when they left."""
        if len(self.live) == self.E:
            return
        rows = torch.as_tensor(self.live, device=self.device)
        for store in (self.S, self.ST):
            for name, t in store.items():
                whole = self._dropped[name].clone()
                whole[rows] = t
                store[name] = whole
        self.live = np.arange(self.E)
        self.active = torch.zeros(self.E, dtype=self.dtype, device=self.device)
        self._set_rates()

    # --- data ---------------------------------------------------------------------------------
    def encode(self, samples: list[Samples], inputs: list | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs (E,N,positions,v), one-hot targets (E,N,1,n_classes), labels (E,N). The
        inputs are the one-hot code of the samples' tokens, or ``inputs`` (each member's
        (N, positions, v) rates) where given. Members with fewer samples than the longest
        are padded with zeros (inputs, targets and labels 0) that no step or measure reads."""
        g, whiten = self.grammar, self.model.training.whiten
        x = inputs if inputs is not None else \
            [one_hot(s.tokens, g.v, whiten=whiten, dtype=np.float64).transpose(0, 2, 1)
             for s in samples]
        labels = [s.labels.astype(np.int64) for s in samples]
        t = [np.eye(g.n_classes)[y][:, None, :] for y in labels]
        x, t, labels = (_padded(a) for a in (x, t, labels))
        as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        return as_t(x), as_t(t), torch.as_tensor(labels, device=self.device)

    # --- one step -----------------------------------------------------------------------------
    def signals(self, batch: Batch, want_state: bool = False):
        """The rule's updates on a batch, without applying them: (U, logits, state)."""
        return self.net.compute(self.S, batch.x, batch.t, want_state, xc=batch.xc,
                                positive=batch.positive, ST=self.ST, copies=batch.copies)

    def step(self, x: torch.Tensor, t: torch.Tensor, **pairs):
        """Learning signals on a batch, then the update. Returns (loss (E,B), logits)."""
        U, logits, _ = self.signals(Batch(x, t, None, **pairs))
        self.apply(U)
        return self.loss(logits, t), logits

    def apply(self, U: dict):
        """SGD (momentum, weight decay) on the plastic synapses; running statistics, synaptic
        and neuron state variables take their new values (frozen members change nothing)."""
        train = self.model.training
        weights = [self.S[n] for n in self.plastic]
        grads = [U[n] for n in self.plastic]
        if train.weight_decay:
            torch._foreach_add_([grads[i] for i in self._decayed],
                                [weights[i] for i in self._decayed], alpha=-train.weight_decay)
        if train.optimizer == "adam":
            grads = self._adam(grads)
        elif train.momentum:
            torch._foreach_mul_(self.buffers, train.momentum)
            torch._foreach_add_(self.buffers, grads)
            grads = self.buffers
        a, b = self.schedule  # this epoch's rate a * lr + b; a readout's own rate scales a * lr
        base = self._lr_t if a == 1.0 else self._lr_t * a
        scales = [((base * f + b) if b else base * f) * self.active for f in self._lr_factor]
        scales = [r.view(-1, *([1] * (w.dim() - 1))) for w, r in zip(weights, scales)]
        torch._foreach_addcmul_(weights, grads, scales)
        for name in self.net.direct_rate:
            self.S[name].addcmul_(U[name], self.active.view(-1, *([1] * (U[name].dim() - 1))))
        for name in self.net.synapse_states:  # eligibility traces take their new values
            self.S[name] = self._new_values(self.S[name], U[name])
        for name in self.ST:
            self.ST[name] = self._new_values(self.ST[name], U[f"ST:{name}"])

    def _new_values(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """A state's new values for the active members; frozen members keep the old."""
        keep = self.active.view(-1, *([1] * (old.dim() - 1)))
        return keep * new + (1 - keep) * old

    def remember(self, members: np.ndarray):
        """Keep a copy of the synaptic and state variables of the chosen members (E,) bool,
        all of them live."""
        members = np.asarray(members, dtype=bool)
        if not hasattr(self, "_kept"):  # before any member left: every row is a member's
            self._kept = {n: t.clone() for n, t in {**self.S, **self.ST}.items()}
        chosen = members[self.live]
        rows = torch.as_tensor(self.live[chosen], device=self.device)
        pick = torch.as_tensor(chosen, device=self.device)
        for name, t in {**self.S, **self.ST}.items():
            self._kept[name][rows] = t[pick]

    def state(self) -> dict:
        """Every member's variables and the optimizer's state (a run's snapshot)."""
        state = {"S": self.S, "ST": self.ST, "buffers": self.buffers, "live": self.live,
                 "active": self.active, "schedule": self.schedule}
        state.update({k: getattr(self, k) for k in ("_second", "_steps", "_dropped", "_kept")
                      if hasattr(self, k)})
        return state

    def resume(self, state: dict):
        """The members as :meth:`state` left them."""
        for key, value in state.items():
            setattr(self, key, value)
        self._set_rates()  # the live members' rates

    def recall(self, members: np.ndarray):
        """Put back what :meth:`remember` kept for the chosen members (every member live)."""
        self.restore()
        pick = torch.as_tensor(members, device=self.device)
        if not hasattr(self, "_kept") or not bool(pick.any()):
            return
        for store in (self.S, self.ST):
            for name, t in store.items():
                t[pick] = self._kept[name][pick]

    def _adam(self, grads, beta1=0.9, beta2=0.999, eps=1e-8):
        """Adam's direction m_hat / (sqrt(v_hat) + eps) for every plastic variable."""
        if not hasattr(self, "_second"):
            self._second, self._steps = [torch.zeros_like(g) for g in grads], 0
        self._steps += 1
        torch._foreach_mul_(self.buffers, beta1)
        torch._foreach_add_(self.buffers, grads, alpha=1 - beta1)
        torch._foreach_mul_(self._second, beta2)
        torch._foreach_addcmul_(self._second, grads, grads, value=1 - beta2)
        denominator = torch._foreach_sqrt(self._second)
        torch._foreach_div_(denominator, (1 - beta2 ** self._steps) ** 0.5)
        torch._foreach_add_(denominator, eps)
        direction = torch._foreach_div(self.buffers, denominator)
        torch._foreach_div_(direction, 1 - beta1 ** self._steps)
        return direction

    def loss(self, logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The readout's loss per member and presentation, in nats (cross-entropy) or 0.5 x
        squared error."""
        a, t = logits[:, :, 0], t[:, :, 0]  # (E,B,n_classes)
        if self.model.loss == "cross_entropy":
            return torch.logsumexp(a, dim=2) - (a * t).sum(dim=2)
        return 0.5 * ((a - t) ** 2).sum(dim=2)

    def synapses(self, rows=None) -> dict:
        """The synaptic variables of every live member (``rows`` None, a whole slice or every
        index in order), or of the live ``rows`` only (indices into the live members)."""
        if rows is None or isinstance(rows, slice) or np.array_equal(rows, np.arange(len(self.live))):
            return self.S
        pick = torch.as_tensor(rows, device=self.device)
        return {name: w.index_select(0, pick) for name, w in self.S.items()}

    def evaluate(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, chunk: int = 4096,
                 rows=None):
        """Accuracy and mean loss of the network's own readout per member on an encoded set:
        of every live member, or of the live ``rows`` only (:meth:`synapses`; one per row of
        ``x``)."""
        S = self.synapses(rows)
        correct = torch.zeros(x.shape[0], dtype=torch.float64, device=self.device)
        total = torch.zeros_like(correct)
        for start in range(0, x.shape[1], chunk):
            sl = slice(start, start + chunk)
            logits = self.net.predict(S, x[:, sl])
            correct += (logits[:, :, 0].argmax(dim=2) == labels[:, sl]).sum(dim=1)
            total += self.loss(logits, t[:, sl]).sum(dim=1).double()
        n = max(x.shape[1], 1)
        return (correct / n).cpu().numpy(), (total / n).cpu().numpy()


def train(model: Model, grammar: Grammar | Stream, P: int | Sequence[int] | None = None,
          seeds: Sequence[int] | None = None, *, n_test: int = MAX_TEST,
          n_val: int = N_VAL, evaluator: str = "readout", lr=None, dtype="float32", device="cpu",
          monitors: Sequence = (), quiet: bool = False, epochs: int | None = None,
          on_divergence: str = "stop", sensitivity_samples: int = 0, probes: bool = True,
          representation_samples: int = 0, record_weights: bool = False,
          on_epoch=None, snapshot=None, snapshot_every: float = 600.0) -> Recording:
    """Train an ensemble (one member per seed) on P training inputs under the protocol.

    ``grammar`` is the grammar each member draws its own data from (seeded by its seed), or
    a :class:`~plasticity_sim.rhm.Stream` that every member is shown, in its order, for at
    most its epochs (P is then the number of inputs the stream shows; leave P out). With a
    stream the seeds draw the initial weights and each member's validation and test sets,
    which exclude everything the stream shows; its kind must be the model's pairing
    (``epochs`` without pairs or with siblings, ``views`` with one k, ``fixations`` with
    the model's k and T). A stream replays exactly what a Brian2 run or another script was
    shown.

    ``P`` may also be a list with one value per seed: members of different P (a pack of
    cells, :mod:`plasticity_sim.packing`) step together, each through its own epochs
    (:mod:`~plasticity_sim.backends.torch.clocks`), and each equals its run on its own. Their
    epochs must be whole batches, the learning rate constant, and the held-out sets the
    same size at every P; ``P`` in the recording is then the list of what each member used.

    Each member has three disjoint sets: its P training inputs (P counts every input shown:
    with views, P/2 trees and their views; with fixations, P/T trees and their redraws), a
    validation set of ``n_val`` inputs that every choice reads (stopping, the probes'
    penalty) and a test set of ``n_test`` inputs read once, at the end. Every member stops
    by the same rule (:mod:`plasticity_sim.stopping`; ``stopped_by``). ``evaluator`` says
    what ``test_accuracy`` and ``val_accuracy`` measure: ``"readout"`` (the network's own
    readout) or ``"probe"`` (a linear probe of the top hidden layer); both are recorded
    either way (``readout_accuracy``, ``probe_accuracy`` for every layer, unless
    ``probes=False``).

    A member that diverges (NaN, inf, or a loss far above its start) stops the run with a
    DivergenceError carrying the recording so far (``on_divergence="stop"``), or, with
    ``"mask"``, is frozen and reported (``diverged``, ``diverged_at``, its accuracies NaN)
    while the others go on. ``sensitivity_samples`` > 0 records the synonymic sensitivity
    of every hidden layer to every level on that many test inputs;
    ``representation_samples`` > 0 the rank correlation of every layer's dissimilarity
    matrix with every level's latent dissimilarity. ``record_weights`` records the first
    hidden layer's trained weights (``input_weights``: each unit's receptive field over the
    input tokens), the network evaluated.

    ``on_epoch``, if given, is called after every epoch of every group of one P with an
    :class:`~plasticity_sim.backends.torch.clocks.EpochProgress` (a log line, a sweep's
    report of a long pack).

    ``snapshot``, a file path, makes a long run survive being stopped: its state is written
    there after an epoch, at most every ``snapshot_every`` seconds (and when a long run's
    training ends);
    called again with the same arguments, ``train`` goes on from it, with the same result
    bit for bit, and removes it when done (:mod:`~plasticity_sim.backends.torch.snapshot`).
    """
    if on_divergence not in DIVERGENCE:
        raise ParameterError("on_divergence", f"must be one of {', '.join(DIVERGENCE)}; "
                             f"got {on_divergence!r}")
    if evaluator not in EVALUATORS:
        raise ParameterError("evaluator", f"must be one of {', '.join(EVALUATORS)}; got {evaluator!r}")
    if evaluator == "probe" and not probes:
        raise ParameterError("probes", "the probe evaluator needs probes = true")
    for name, n in (("sensitivity_samples", sensitivity_samples),
                    ("representation_samples", representation_samples)):
        require_int(name, n, minimum=0)  # now, not after training
    if seeds is None:
        raise ParameterError("seeds", "give the members' seeds, e.g. seeds=[0, 1, 2]")
    if snapshot is not None:
        check_resumable(monitors)
        check_interval(snapshot_every)
    stream = grammar if isinstance(grammar, Stream) else None
    if stream is not None:
        if P is not None:
            raise ParameterError("P", "a stream sets what is shown: leave P out (it is the "
                                 f"number of inputs the stream shows, {len(stream.pool)})")
        grammar = stream.grammar
    elif not isinstance(grammar, Grammar):
        raise ParameterError("grammar", f"must be a Grammar or a Stream; got {type(grammar).__name__}")
    elif P is None:
        raise ParameterError("P", "give the number of training inputs (or train on a Stream)")
    trainer = Trainer(model, grammar, seeds, lr=lr, dtype=dtype, device=device)
    model = trainer.model
    P = len(stream.pool) if stream is not None else _P_per_member(P, trainer.E)
    n_test = require_int("n_test", n_test, minimum=0)
    n_val = require_int("n_val", n_val, minimum=0)
    for name, n in (("n_test", n_test), ("n_val", n_val)):
        if n > MAX_TEST:
            raise ParameterError(name, f"must be <= {MAX_TEST}; got {n}")
    largest = max(np.atleast_1d(P))  # a pool of several P is padded to the largest
    if largest >= grammar.n_inputs:
        raise ParameterError("P", f"must be < n_inputs = {grammar.n_inputs}; got {largest}")
    settings = model.training
    if epochs is not None:
        settings = dataclasses.replace(settings, epochs=require_int("epochs", epochs, minimum=1))
    check_fits(estimate_bytes(model, grammar, int(largest), trainer.E, n_val=n_val, n_test=n_test,
                              probes=probes, dtype=dtype), trainer.device,
               f"training {trainer.E} members at P = {P}")
    data = TrainingData(trainer, P, n_test, n_val, stream=stream)
    if data.epochs is not None:  # a stream's epochs are all there is
        if epochs is not None and epochs > data.epochs:
            raise ParameterError("epochs", f"the stream has {data.epochs} epochs; got {epochs}")
        settings = dataclasses.replace(settings, epochs=min(settings.epochs, data.epochs))
    snaps = None if snapshot is None else Snapshots(snapshot, snapshot_every, fingerprint(
        model, grammar, P, trainer, n_val, n_test, settings, on_divergence, monitors, stream))
    val = trainer.encode(data.vals) if data.n_val else None

    E, batch_size, cap = trainer.E, settings.batch_size, settings.epochs
    clocks = clocks_for(data)
    curves = {name: np.full((E, cap), np.nan) for name in CURVES}
    initial_loss = on_pools(trainer, data)[1]
    stopping = Stopping(settings, initial_loss)
    diverged_at = np.full(E, -1, dtype=np.int64)
    for monitor in monitors:
        monitor.start(trainer, cap, data.per_epoch)
    rec = _recording(model, grammar, trainer, data, settings, evaluator)
    # what a rerun needs beyond the model and the grammar (``plasticity-sim rerun``)
    requested = {"n_val": n_val, "n_test": n_test}
    requested.update({"stream": {"kind": stream.kind, **stream.params,
                                 "digest": stream.digest()}} if stream is not None
                     else {"P": P})
    rec.config.update(requested=requested,
                      dtype=rec.attrs["dtype"], device=rec.attrs["device"],
                      on_divergence=on_divergence,
                      analysis={"probes": probes, "sensitivity_samples": sensitivity_samples,
                                "representation_samples": representation_samples,
                                "record_weights": bool(record_weights),
                                **{key: value for monitor in monitors
                                   for key, value in getattr(monitor, "settings", {}).items()}},
                      monitors=[type(monitor).__name__ for monitor in monitors])
    rec.add("initial_loss", ("seed",), initial_loss,
            "mean loss of the untrained network's readout on its training inputs, in nats",
            "1")
    # disable=None: no bar when stderr is not a terminal (a log file gets no \r lines)
    progress = tqdm(total=cap, desc=f"{model.name} P={data.P}", unit="epoch",
                    disable=True if quiet else None, leave=False)
    # stopped members leave the computation unless a monitor needs every member in it
    compact = all(getattr(m, "follows_members", False) for m in monitors)
    started, step_index, n_epochs, shown_total = time.perf_counter(), 0, 0, 0

    def begin(clock, epoch):
        trainer.schedule = settings.lr_at(epoch)  # one clock, or a constant rate
        clock.begin(epoch, data, batch_size, trainer.live)

    def end_epoch(clock):
        """The stopping rule's check of the clock's members after their epoch."""
        nonlocal n_epochs
        epoch, live = clock.epoch, trainer.live
        mine = np.zeros(E, dtype=bool)
        mine[clock.chosen] = True
        running = stopping.running & mine
        if not running.any():  # frozen members, in the computation for others' sake
            begin(clock, epoch + 1)
            return
        n_epochs = max(n_epochs, epoch + 1)
        loss_all = clock.epoch_losses(E)
        first_bad = stopping.divergence(loss_all, mine)
        diverged = first_bad >= 0
        if diverged.any() and on_divergence == "stop":
            member = int(np.flatnonzero(diverged)[0])
            curves["train_loss"][running, epoch] = loss_all[running].mean(1)
            _finish(rec, trainer, curves, n_epochs, stopping, diverged_at, monitors)
            if snaps is not None:  # the run has ended: going on would diverge again
                snaps.remove()
            raise DivergenceError(epoch * clock.per_epoch + int(first_bad[member]), member,
                                  trainer.seeds[member], recording=rec,
                                  bound=float(stopping.bound[member]))
        diverged_at[diverged] = epoch * clock.per_epoch + first_bad[diverged]
        with np.errstate(invalid="ignore", over="ignore"):
            curves["train_loss"][running, epoch] = loss_all[running].mean(1)
        curves["train_accuracy"][running, epoch] = clock.epoch_accuracy(E)[running]
        val_acc = np.full(E, np.nan)
        if val is not None:
            val_acc[clock.chosen] = trainer.evaluate(*(v[clock.chosen] for v in val),
                                                     rows=clock.rows(live))[0]
        curves["val_readout_accuracy"][running & ~diverged, epoch] = val_acc[running & ~diverged]
        stop = stopping.after_epoch(epoch, curves["train_loss"][:, epoch], val_acc, diverged, mine)
        trainer.remember((stopping.best_epoch == epoch) & mine)  # the network at its best validation
        if compact:
            trainer.drop(stop)
        else:
            trainer.active[torch.as_tensor(stop[live], device=trainer.device)] = 0
        shown = curves["train_loss"][running & ~diverged, epoch]
        progress.update(min((c.epoch + 1 for c in clocks if c.ticking), default=progress.n)
                        - progress.n)
        seconds = time.perf_counter() - started
        loss = float(shown.mean()) if shown.size else float("nan")
        progress.set_postfix(loss=f"{loss:.3g}" if shown.size else "-",
                             active=int(stopping.running.sum()),
                             pres_per_s=f"{shown_total / seconds:.3g}")
        if on_epoch is not None:
            on_epoch(EpochProgress(tuple((c.P, c.learned) for c in clocks), clock.P, cap,
                                   int(stopping.running.sum()), E, loss, shown_total / seconds,
                                   seconds))
        if (stopping.running & mine).any() or not compact:  # frozen members stay in
            begin(clock, epoch + 1)
        else:
            clock.stop()

    def capture() -> dict:
        """Everything the loop needs to go on (:mod:`.snapshot`)."""
        return {"trainer": trainer.state(), "clocks": [clock.state() for clock in clocks],
                "stopping": stopping_state(stopping), "curves": curves,
                "diverged_at": diverged_at, "monitors": [monitor_state(m) for m in monitors],
                "counters": (step_index, n_epochs, shown_total, time.perf_counter() - started),
                "resumed": resumed}

    saved = snaps.load(trainer.device) if snaps is not None else None
    resumed = []
    if saved is None:
        for clock in clocks:
            begin(clock, 0)
    else:
        trainer.resume(saved["trainer"])
        for clock, state in zip(clocks, saved["clocks"]):
            clock.resume(state, data, batch_size)
        set_attributes(stopping, saved["stopping"])
        for monitor, state in zip(monitors, saved["monitors"]):
            set_attributes(monitor, state)
        curves, diverged_at = saved["curves"], saved["diverged_at"]
        step_index, n_epochs, shown_total, seconds = saved["counters"]
        started -= seconds
        resumed = saved["resumed"] + [f"at training step {step_index}, from a snapshot "
                                      f"written {saved['written']} by {saved['source']}"]
        rec.attrs["resumed"] = "; ".join(resumed)
    while stopping.running.any():
        ticking = [clock for clock in clocks if clock.ticking]
        parts = [next(clock.batches) for clock in ticking]
        batch = joined(parts, [clock.chosen for clock in ticking])
        want = any(m.wants(step_index) for m in monitors)
        U, logits, state = trainer.signals(batch, want)
        if want:  # monitors see the signals before the update, on the same weights
            trainer.batch = batch  # the whole batch (contexts, pair signs) for monitors
            # presentations each member has seen: the same for all (whole batches when
            # the clocks are several)
            seen = ticking[0].epoch * ticking[0].per_epoch + parts[0].first
            for monitor in monitors:
                monitor.observe(trainer, step_index, seen, batch.x, batch.t, U, state)
        trainer.apply(U)
        n = batch.n
        loss = trainer.loss(logits[:, :n], batch.t[:, :n])
        hit = logits[:, :n, 0].argmax(dim=2) == batch.y
        step_index += 1
        shown_total += n * len(trainer.live)
        ended = [clock for clock in ticking if clock.add(loss, hit, trainer.live)]
        for clock in ended:  # counted before any is reported (frozen groups learn nothing)
            clock.learned += bool(stopping.running[clock.chosen].any())
        for clock in ended:
            end_epoch(clock)
        if snaps is not None and ended and snaps.due():
            snaps.write(capture())
    # training done: in a run that trained for long, a stop now loses the evaluation only
    if snaps is not None and snaps.step != step_index and \
            time.perf_counter() - started >= snaps.every_s:
        snaps.write(capture())
    progress.close()
    trainer.restore()
    _finish(rec, trainer, curves, n_epochs, stopping, diverged_at, monitors)
    trainer.recall((stopping.best_epoch >= 0) & (diverged_at < 0))  # early stopping
    evaluate_run(rec, trainer, data, val, diverged_at >= 0, evaluator, probes,
                 sensitivity_samples, representation_samples)
    if record_weights:
        record_input_weights(rec, trainer, diverged_at >= 0)
    rec.state = {name: t.detach().cpu().numpy().copy() for name, t in
                 [*trainer.S.items(), *((f"ST:{n}", t) for n, t in trainer.ST.items())]}
    for values in rec.state.values():  # a diverged member's network is not one: NaN
        if np.issubdtype(values.dtype, np.floating):
            values[diverged_at >= 0] = np.nan
    rec.attrs["wall_time_s"] = round(time.perf_counter() - started, 3)
    if snaps is not None:
        snaps.remove()
    return rec


def _P_per_member(P, E: int):
    """P as given: one int for every member, or a list of one per member (a pack of cells
    of several P), each >= 1; a list whose values are all equal is one int."""
    if np.ndim(P) > 0:
        values = [require_int("P", p, minimum=1) for p in P]
        if len(values) != E:
            raise ParameterError("P", f"give one P for every member ({E} seeds) or one for all; "
                                 f"got {len(values)}")
        return values[0] if len(set(values)) == 1 else values
    return require_int("P", P, minimum=1)


def _padded(arrays: list) -> np.ndarray:
    """The members' arrays stacked, the shorter padded with zeros at the end of axis 0."""
    n = max(len(a) for a in arrays)
    if all(len(a) == n for a in arrays):
        return np.stack(arrays)
    out = np.zeros((len(arrays), n, *arrays[0].shape[1:]), dtype=arrays[0].dtype)
    for e, a in enumerate(arrays):
        out[e, :len(a)] = a
    return out


def record_input_weights(rec, trainer, diverged=None) -> None:
    """``input_weights``: the first hidden layer's weights per unit, input offset (the
    position inside the unit's receptive field) and token; an LCN adds ``field`` (the unit's
    position), since its filters differ there. A diverged member's weights are NaN, like
    its accuracies."""
    w = trainer.S["s0_w"].detach().double().cpu().numpy()
    if diverged is not None:
        w[np.asarray(diverged, dtype=bool)] = np.nan
    v = trainer.grammar.v
    *lead, fan_in = w.shape
    w = w.reshape(*lead, fan_in // v, v)  # inputs are laid out offset-major, token-minor
    dims = ("seed", "field", "unit", "input_offset", "token") if w.ndim == 5 else \
        ("seed", "unit", "input_offset", "token")
    rec.coord("unit", np.arange(w.shape[-3]), "unit (channel) of the first hidden layer")
    rec.coord("input_offset", np.arange(w.shape[-2]),
              "position inside the unit's receptive field, from its left end")
    rec.coord("token", np.arange(v), "input token (one-hot channel)")
    if w.ndim == 5:
        rec.coord("field", np.arange(w.shape[1]), "position of the unit (receptive field) in layer 1")
    rec.add("input_weights", dims, w, "trained weights of the first hidden layer (the network "
            "evaluated: after its best validation epoch)", "1")


#: per-epoch curves (seed, epoch): name -> long name
CURVES = {
    "train_loss": "mean loss of the readout over an epoch's presentations (before each update), "
                  "in nats",
    "train_accuracy": "fraction of an epoch's presentations the readout classified correctly",
    "val_readout_accuracy": "validation accuracy of the network's own readout after the epoch",
}


def _recording(model, grammar, trainer, data, settings, evaluator) -> Recording:
    config = {"model": model.to_dict(), "grammar": grammar.params, "P": data.P,
              "n_val": data.n_val, "n_test": data.n_test, "epochs": settings.epochs,
              "seeds": trainer.seeds, "lr": trainer.lr.tolist(), "evaluator": evaluator}
    rec = Recording(title=f"{model.name} on RHM", config=config)
    rec.attrs.update(backend="torch", device=str(trainer.device), dtype=str(trainer.dtype).split(".")[-1],
                     rule=model.rule.name, arch=model.arch, width=model.width, P=data.P,
                     n_val=data.n_val, n_test=data.n_test, pairs=model.pairing.scheme or "",
                     evaluator=evaluator, seeds=" ".join(map(str, trainer.seeds)),
                     view_levels=" ".join(map(str, trainer.view_levels)),
                     **{k: getattr(grammar, k) for k in ("v", "n_classes", "m", "s", "L")},
                     grammar_seed=grammar.seed, n_inputs=grammar.n_inputs_text,
                     sample_complexity_scale=grammar.sample_complexity_scale,
                     patience=settings.patience, loss_threshold=settings.loss_threshold,
                     divergence_factor=settings.divergence_factor, epoch_cap=settings.epochs)
    rec.coord("seed", trainer.seeds, "seed of data, stream and weights")
    return rec


def _finish(rec, trainer, curves, n_epochs, stopping, diverged_at, monitors):
    rec.coord("epoch", np.arange(n_epochs), "epoch")
    for name, long_name in CURVES.items():  # losses in nats: dimensionless, "1" for CF / UDUNITS
        rec.add(name, ("seed", "epoch"), curves[name][:, :n_epochs], long_name, "1")
    rec.add("epochs_trained", ("seed",), stopping.epochs, "epochs trained until the member stopped")
    rec.add("stopped_by", ("seed",), stopping.stopped_by.astype(str),
            "why the member stopped: converged (training loss below the threshold), plateau "
            "(no better validation accuracy for `patience` epochs), cap (the epoch cap), "
            "diverged; empty while running")
    rec.add("diverged", ("seed",), diverged_at >= 0,
            "the loss became NaN or inf or exceeded divergence_factor times its initial value")
    rec.add("diverged_at", ("seed",), diverged_at, "presentation at which the member diverged "
            "(-1: never)")
    rec.add("best_epoch", ("seed",), stopping.best_epoch, "epoch of the best validation "
            "accuracy: the network evaluated is the one after it (-1: no validation set, the last)")
    rec.add("lr", ("seed",), trainer.lr, "learning rate")
    for monitor in monitors:
        monitor.record(rec)
