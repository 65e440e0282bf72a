"""Training on the torch engine: online or minibatch SGD over an ensemble of seeds.

Member e of an ensemble uses seed e for everything it draws (training set, test set, stream
order, initial weights), so it equals a single run with that seed. The E members run as one
vectorized computation; they may differ in learning rate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ...errors import DivergenceError, ParameterError, require_int
from ...model import Model
from ...analysis.sensitivity import synonymic_sensitivity
from ...recording import Recording
from ...rhm import Grammar, Samples, epoch_stream, one_hot, sample
from .allocator import keep_freed_memory
from .codegen import CompiledNetwork
from .init import init_synapses

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MAX_TEST = 20_000


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
    """One model, compiled, with the synaptic state of an ensemble of E members."""

    def __init__(self, model: Model, grammar: Grammar, seeds: Sequence[int], *, lr=None,
                 dtype="float32", device="cpu"):
        self.model, self.grammar = model, grammar
        self.seeds = [require_int("seeds", s, minimum=0) for s in seeds]
        if not self.seeds:
            raise ParameterError("seeds", "give at least one seed")
        self.dtype, self.device = resolve_dtype(dtype), resolve_device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        self.net = CompiledNetwork(model.architecture(grammar), model.rule, model.neuron, model.loss)
        self.S = init_synapses(self.net, self.seeds, self.dtype, self.device)
        E = len(self.seeds)
        lr = model.training.lr if lr is None else lr
        self.lr = np.broadcast_to(np.asarray(lr, dtype=float), (E,)).copy()
        if not (self.lr > 0).all():
            raise ParameterError("lr", f"must be > 0 for every member; got {self.lr.tolist()}")
        self.active = torch.ones(E, dtype=self.dtype, device=self.device)
        self.plastic = self.net.plastic
        self.buffers = [torch.zeros_like(self.S[n]) for n in self.plastic]
        self._lr_t = torch.as_tensor(self.lr, dtype=self.dtype, device=self.device)

    @property
    def E(self) -> int:
        return len(self.seeds)

    # --- data ---------------------------------------------------------------------------------
    def encode(self, samples: list[Samples]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs (E,N,positions,v), one-hot targets (E,N,1,n_classes), labels (E,N)."""
        g, whiten = self.grammar, self.model.training.whiten
        x = np.stack([one_hot(s.tokens, g.v, whiten=whiten, dtype=np.float64).transpose(0, 2, 1)
                      for s in samples])
        labels = np.stack([s.labels for s in samples]).astype(np.int64)
        t = np.eye(g.n_classes)[labels][:, :, None, :]
        as_t = lambda a: torch.as_tensor(a, dtype=self.dtype, device=self.device)  # noqa: E731
        return as_t(x), as_t(t), torch.as_tensor(labels, device=self.device)

    # --- one step -----------------------------------------------------------------------------
    def step(self, x: torch.Tensor, t: torch.Tensor):
        """Learning signals on a batch, then the SGD update. Returns (loss (E,B), logits)."""
        U, logits, _ = self.net.compute(self.S, x, t)
        self.apply(U)
        return self.loss(logits, t), logits

    def apply(self, U: dict):
        train = self.model.training
        weights = [self.S[n] for n in self.plastic]
        grads = [U[n] for n in self.plastic]
        if train.weight_decay:
            torch._foreach_add_(grads, weights, alpha=-train.weight_decay)
        if train.momentum:
            torch._foreach_mul_(self.buffers, train.momentum)
            torch._foreach_add_(self.buffers, grads)
            grads = self.buffers
        rate = self._lr_t * self.active
        scales = [rate.view(-1, *([1] * (w.dim() - 1))) for w in weights]
        torch._foreach_addcmul_(weights, grads, scales)

    def loss(self, logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, t = logits[:, :, 0], t[:, :, 0]  # (E,B,n_classes)
        if self.model.loss == "cross_entropy":
            return torch.logsumexp(a, dim=2) - (a * t).sum(dim=2)
        return 0.5 * ((a - t) ** 2).sum(dim=2)

    def evaluate(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, chunk: int = 4096):
        """Accuracy and mean loss per member (E,) on an encoded set."""
        correct = torch.zeros(self.E, dtype=torch.float64, device=self.device)
        total = torch.zeros_like(correct)
        for start in range(0, x.shape[1], chunk):
            sl = slice(start, start + chunk)
            logits = self.net.predict(self.S, x[:, sl])
            correct += (logits[:, :, 0].argmax(dim=2) == labels[:, sl]).sum(dim=1)
            total += self.loss(logits, t[:, sl]).sum(dim=1).double()
        n = max(x.shape[1], 1)
        return (correct / n).cpu().numpy(), (total / n).cpu().numpy()


DIVERGENCE = ("stop", "mask")


def train(model: Model, grammar: Grammar, P: int, seeds: Sequence[int], *, n_test: int = MAX_TEST,
          lr=None, dtype="float32", device="cpu", monitors: Sequence = (), quiet: bool = False,
          epochs: int | None = None, on_divergence: str = "stop",
          sensitivity_samples: int = 0) -> Recording:
    """Train an ensemble (one member per seed) on P training examples; test on n_test others.

    A member whose loss becomes NaN or inf stops the run with a DivergenceError carrying
    the recording so far (``on_divergence="stop"``), or, with ``"mask"``, is frozen and
    reported (``diverged_at``, its accuracies NaN) while the others go on: an ensemble
    scanning learning rates should not lose its stable members to an unstable one.
    ``sensitivity_samples`` > 0 records the synonymic sensitivity of every hidden layer to
    every level on that many test inputs (``sensitivity``, seed x layer x level).
    """
    if on_divergence not in DIVERGENCE:
        raise ParameterError("on_divergence", f"must be one of {', '.join(DIVERGENCE)}; "
                             f"got {on_divergence!r}")
    trainer = Trainer(model, grammar, seeds, lr=lr, dtype=dtype, device=device)
    P = require_int("P", P, minimum=1)
    n_test = require_int("n_test", n_test, minimum=0)
    if n_test > MAX_TEST:
        raise ParameterError("n_test", f"must be <= {MAX_TEST}; got {n_test}")
    n_test = min(n_test, grammar.n_inputs - P) if grammar.n_inputs > P else 0
    settings = model.training
    epochs = settings.epochs if epochs is None else require_int("epochs", epochs, minimum=1)
    streams = [epoch_stream(grammar, P, epochs, sample_seed=s, stream_seed=s) for s in trainer.seeds]
    tests = [sample(grammar, n_test, s, exclude=st.pool, purpose="rhm.test")
             for s, st in zip(trainer.seeds, streams)]
    x_train, t_train, y_train = trainer.encode([st.pool for st in streams])
    x_test, t_test, y_test = trainer.encode(tests)
    orders = torch.as_tensor(np.stack([st.order.reshape(epochs, P) for st in streams]),
                             device=trainer.device)

    E, batch = trainer.E, settings.batch_size
    members = torch.arange(E, device=trainer.device)[:, None]
    train_loss = np.full((E, epochs), np.nan)
    train_acc = np.full((E, epochs), np.nan)
    epochs_trained = np.zeros(E, dtype=np.int64)
    diverged_at = np.full(E, -1, dtype=np.int64)
    for monitor in monitors:
        monitor.start(trainer, epochs, P)
    rec = _recording(model, grammar, trainer, P, n_test, epochs)
    progress = tqdm(range(epochs), desc=f"{model.name} P={P}", unit="epoch", disable=quiet,
                    leave=False)
    started, step_index = time.perf_counter(), 0
    for epoch in progress:
        active_before = trainer.active.clone()
        order = orders[:, epoch]
        xe, te, ye = x_train[members, order], t_train[members, order], y_train[members, order]
        losses, hits = [], []
        for start in range(0, P, batch):
            sl = slice(start, min(start + batch, P))
            want = any(m.wants(step_index) for m in monitors)
            U, logits, state = trainer.net.compute(trainer.S, xe[:, sl], te[:, sl], want)
            if want:  # monitors see the signals before the update, on the same weights
                for monitor in monitors:
                    monitor.observe(trainer, step_index, epoch * P + start, xe[:, sl], te[:, sl],
                                    U, state)
            trainer.apply(U)
            losses.append(trainer.loss(logits, te[:, sl]))
            hits.append(logits[:, :, 0].argmax(dim=2) == ye[:, sl])
            step_index += 1
        loss_all = torch.cat(losses, dim=1)  # (E, P): one check per epoch, not per step
        bad = ~torch.isfinite(loss_all) & active_before.bool()[:, None]
        if bool(bad.any()):
            first = torch.where(bad.any(1), bad.float().argmax(1), -1).cpu().numpy()
            if on_divergence == "stop":
                member = int(np.flatnonzero(first >= 0)[0])
                _finish(rec, trainer, train_loss, train_acc, epochs_trained, None, None, monitors)
                raise DivergenceError(epoch * P + int(first[member]), member,
                                      trainer.seeds[member], recording=rec)
            for member in np.flatnonzero(first >= 0):
                diverged_at[member] = epoch * P + first[member]
                trainer.active[member] = 0
            active_before = active_before * trainer.active
        was_active = active_before.bool().cpu().numpy()
        train_loss[was_active, epoch] = loss_all.mean(dim=1).double().cpu().numpy()[was_active]
        train_acc[was_active, epoch] = torch.cat(hits, 1).double().mean(1).cpu().numpy()[was_active]
        epochs_trained[was_active] += 1
        done = torch.as_tensor(train_loss[:, epoch] < settings.loss_threshold, device=trainer.device)
        trainer.active[done] = 0
        rate = step_index * batch * E / (time.perf_counter() - started)
        shown = train_loss[np.isfinite(train_loss[:, epoch]), epoch]
        progress.set_postfix(loss=f"{shown.mean():.3g}" if shown.size else "-",
                             active=int(trainer.active.sum()), pres_per_s=f"{rate:.3g}")
        if not bool(trainer.active.any()):
            break
    test = trainer.evaluate(x_test, t_test, y_test) if n_test else (np.full(E, np.nan),) * 2
    final_train = trainer.evaluate(x_train, t_train, y_train)
    for values in (*test, *final_train):
        values[diverged_at >= 0] = np.nan
    _finish(rec, trainer, train_loss, train_acc, epochs_trained, test, final_train, monitors)
    rec.add("diverged_at", ("seed",), diverged_at,
            "presentation at which the loss became NaN or inf (-1: never)")
    n_sens = min(require_int("sensitivity_samples", sensitivity_samples, minimum=0), n_test)
    if n_sens:
        sens = synonymic_sensitivity(trainer, [t.take(slice(0, n_sens)) for t in tests])
        sens[diverged_at >= 0] = np.nan
        rec.coord("layer", np.arange(1, sens.shape[1] + 1), "hidden layer (1 = next to the input)")
        rec.coord("level", np.arange(sens.shape[2]), "level whose productions and all below are redrawn")
        rec.add("sensitivity", ("seed", "layer", "level"), sens,
                "synonymic sensitivity: mean squared change of the layer's rates when the "
                "productions at and below the level are redrawn, over that of unrelated inputs")
    rec.attrs["wall_time_s"] = round(time.perf_counter() - started, 3)
    return rec


def _recording(model, grammar, trainer, P, n_test, epochs) -> Recording:
    config = {"model": model.to_dict(), "grammar": grammar.params, "P": P, "n_test": n_test,
              "epochs": epochs, "seeds": trainer.seeds, "lr": trainer.lr.tolist()}
    rec = Recording(title=f"{model.name} on RHM", config=config)
    rec.attrs.update(backend="torch", device=str(trainer.device), dtype=str(trainer.dtype).split(".")[-1],
                     rule=model.rule.name, arch=model.arch, width=model.width, P=P, n_test=n_test,
                     seeds=" ".join(map(str, trainer.seeds)), **{k: getattr(grammar, k) for k in
                                                                  ("v", "n_classes", "m", "s", "L")},
                     grammar_seed=grammar.seed, n_inputs=str(grammar.n_inputs),
                     sample_complexity_scale=grammar.sample_complexity_scale)
    rec.coord("seed", trainer.seeds, "seed of data, stream and weights")
    rec.coord("epoch", np.arange(epochs), "epoch")
    return rec


def _finish(rec, trainer, train_loss, train_acc, epochs_trained, test, final_train, monitors):
    rec.add("train_loss", ("seed", "epoch"), train_loss,
            "mean training loss over the presentations of an epoch (before each update)", "nat")
    rec.add("train_accuracy", ("seed", "epoch"), train_acc,
            "fraction of an epoch's presentations classified correctly (before each update)")
    rec.add("epochs_trained", ("seed",), epochs_trained, "epochs until the loss threshold or the end")
    rec.add("lr", ("seed",), trainer.lr, "learning rate")
    if test is not None:
        rec.add("test_accuracy", ("seed",), test[0], "accuracy on the held-out test set")
        rec.add("test_loss", ("seed",), test[1], "mean loss on the held-out test set", "nat")
        rec.add("final_train_accuracy", ("seed",), final_train[0],
                "accuracy on the whole training set after training")
    for monitor in monitors:
        monitor.record(rec)
