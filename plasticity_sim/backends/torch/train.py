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

from ...analysis.probes import probe_layers
from ...analysis.representation import representational_similarity
from ...analysis.sensitivity import synonymic_sensitivity
from ...errors import DivergenceError, ParameterError, require_int
from ...model import Model
from ...recording import Recording
from ...rhm import Grammar, Samples, one_hot
from .allocator import keep_freed_memory
from .codegen import CompiledNetwork
from .data import Batch, TrainingData
from .init import init_synapses

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MAX_TEST = 20_000
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
        self.model, self.grammar = model, grammar
        self.seeds = [require_int("seeds", s, minimum=0) for s in seeds]
        if not self.seeds:
            raise ParameterError("seeds", "give at least one seed")
        self.dtype, self.device = resolve_dtype(dtype), resolve_device(device)
        if self.device.type == "cpu":
            keep_freed_memory()
        if model.pairing.scheme is not None:
            model.pairing.level(grammar)  # k must fit the grammar
        self.net = CompiledNetwork(model.architecture(grammar), model.rule, model.neuron,
                                   model.loss, model.pairing.context)
        self.S = init_synapses(self.net, self.seeds, self.dtype, self.device)
        self.ST = {name: torch.full((self.E, 1, *self.net.arch.population_shapes[pop]), value,
                                    dtype=self.dtype, device=self.device)
                   for name, (pop, value) in self.net.states.items()}
        lr = model.training.lr if lr is None else lr
        self.lr = np.broadcast_to(np.asarray(lr, dtype=float), (self.E,)).copy()
        if not (self.lr > 0).all():
            raise ParameterError("lr", f"must be > 0 for every member; got {self.lr.tolist()}")
        self.active = torch.ones(self.E, dtype=self.dtype, device=self.device)
        self.plastic = self.net.plastic
        self.buffers = [torch.zeros_like(self.S[n]) for n in self.plastic]
        self._lr_t = torch.as_tensor(self.lr, dtype=self.dtype, device=self.device)
        readout = model.training.readout_lr
        readout_names = {f"s{self.net.depth}_w", f"s{self.net.depth}_bias"}
        self._lr_factor = [readout / model.training.lr if readout is not None and n in readout_names
                           else 1.0 for n in self.plastic]

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
        """SGD (momentum, weight decay) on the plastic synapses; running statistics and
        state variables take their new values (frozen members change nothing)."""
        train = self.model.training
        weights = [self.S[n] for n in self.plastic]
        grads = [U[n] for n in self.plastic]
        if train.weight_decay:
            torch._foreach_add_(grads, weights, alpha=-train.weight_decay)
        if train.optimizer == "adam":
            grads = self._adam(grads)
        elif train.momentum:
            torch._foreach_mul_(self.buffers, train.momentum)
            torch._foreach_add_(self.buffers, grads)
            grads = self.buffers
        rate = self._lr_t * self.active
        scales = [(rate * f).view(-1, *([1] * (w.dim() - 1))) for w, f in zip(weights, self._lr_factor)]
        torch._foreach_addcmul_(weights, grads, scales)
        for name in self.net.direct_rate:
            self.S[name].addcmul_(U[name], self.active.view(-1, *([1] * (U[name].dim() - 1))))
        for name in self.ST:
            keep = self.active.view(-1, 1, 1, 1)
            self.ST[name] = keep * U[f"ST:{name}"] + (1 - keep) * self.ST[name]

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
        a, t = logits[:, :, 0], t[:, :, 0]  # (E,B,n_classes)
        if self.model.loss == "cross_entropy":
            return torch.logsumexp(a, dim=2) - (a * t).sum(dim=2)
        return 0.5 * ((a - t) ** 2).sum(dim=2)

    def evaluate(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, chunk: int = 4096):
        """Accuracy and mean loss of the network's own readout per member (E,) on an encoded set."""
        correct = torch.zeros(self.E, dtype=torch.float64, device=self.device)
        total = torch.zeros_like(correct)
        for start in range(0, x.shape[1], chunk):
            sl = slice(start, start + chunk)
            logits = self.net.predict(self.S, x[:, sl])
            correct += (logits[:, :, 0].argmax(dim=2) == labels[:, sl]).sum(dim=1)
            total += self.loss(logits, t[:, sl]).sum(dim=1).double()
        n = max(x.shape[1], 1)
        return (correct / n).cpu().numpy(), (total / n).cpu().numpy()


def train(model: Model, grammar: Grammar, P: int, seeds: Sequence[int], *, n_test: int = MAX_TEST,
          lr=None, dtype="float32", device="cpu", monitors: Sequence = (), quiet: bool = False,
          epochs: int | None = None, on_divergence: str = "stop",
          sensitivity_samples: int = 0, probes: bool | None = None,
          representation_samples: int = 0) -> Recording:
    """Train an ensemble (one member per seed) on P training inputs; test on n_test others.

    P counts every input shown: with views, P/2 trees and their views; with fixations, P/T
    trees and their redraws. A member whose loss becomes NaN or inf stops the run with a
    DivergenceError carrying the recording so far (``on_divergence="stop"``), or, with
    ``"mask"``, is frozen and reported (``diverged_at``, its accuracies NaN) while the others
    go on. ``sensitivity_samples`` > 0 records the synonymic sensitivity of every hidden layer
    to every level on that many test inputs. ``probes`` (default: for rules not trained by the
    output error) fits a linear probe on every layer; ``test_accuracy`` is then the top
    layer's probe and ``readout_accuracy`` the network's own (delta-rule) readout.
    ``representation_samples`` > 0 records the rank correlation of every layer's
    dissimilarity matrix with every level's latent dissimilarity on that many test inputs.
    """
    if on_divergence not in DIVERGENCE:
        raise ParameterError("on_divergence", f"must be one of {', '.join(DIVERGENCE)}; "
                             f"got {on_divergence!r}")
    trainer = Trainer(model, grammar, seeds, lr=lr, dtype=dtype, device=device)
    P = require_int("P", P, minimum=1)
    n_test = require_int("n_test", n_test, minimum=0)
    if n_test > MAX_TEST:
        raise ParameterError("n_test", f"must be <= {MAX_TEST}; got {n_test}")
    if P >= grammar.n_inputs:
        raise ParameterError("P", f"must be < n_inputs = {grammar.n_inputs}; got {P}")
    settings = model.training
    epochs = settings.epochs if epochs is None else require_int("epochs", epochs, minimum=1)
    probes = model.rule.family != "feedback" if probes is None else probes
    data = TrainingData(trainer, P, epochs, n_test)
    x_test, t_test, y_test = trainer.encode(data.tests) if data.n_test else (None,) * 3

    E, batch_size = trainer.E, settings.batch_size
    train_loss = np.full((E, epochs), np.nan)
    train_acc = np.full((E, epochs), np.nan)
    epochs_trained = np.zeros(E, dtype=np.int64)
    diverged_at = np.full(E, -1, dtype=np.int64)
    for monitor in monitors:
        monitor.start(trainer, epochs, data.per_epoch)
    rec = _recording(model, grammar, trainer, data, epochs)
    progress = tqdm(range(epochs), desc=f"{model.name} P={data.P}", unit="epoch", disable=quiet,
                    leave=False)
    started, step_index = time.perf_counter(), 0
    for epoch in progress:
        active_before = trainer.active.clone()
        losses, hits = [], []
        for batch in data.batches(epoch, batch_size):
            want = any(m.wants(step_index) for m in monitors)
            U, logits, state = trainer.signals(batch, want)
            if want:  # monitors see the signals before the update, on the same weights
                for monitor in monitors:
                    monitor.observe(trainer, step_index, epoch * data.per_epoch + batch.first,
                                    batch.x, batch.t, U, state)
            trainer.apply(U)
            n = batch.n
            losses.append(trainer.loss(logits[:, :n], batch.t[:, :n]))
            hits.append(logits[:, :n, 0].argmax(dim=2) == batch.y)
            step_index += 1
        loss_all = torch.cat(losses, dim=1)  # one check per epoch, not per step
        bad = ~torch.isfinite(loss_all) & active_before.bool()[:, None]
        if bool(bad.any()):
            first = torch.where(bad.any(1), bad.float().argmax(1), -1).cpu().numpy()
            if on_divergence == "stop":
                member = int(np.flatnonzero(first >= 0)[0])
                _finish(rec, trainer, train_loss, train_acc, epochs_trained, monitors)
                raise DivergenceError(epoch * data.per_epoch + int(first[member]), member,
                                      trainer.seeds[member], recording=rec)
            for member in np.flatnonzero(first >= 0):
                diverged_at[member] = epoch * data.per_epoch + first[member]
                trainer.active[member] = 0
            active_before = active_before * trainer.active
        was_active = active_before.bool().cpu().numpy()
        train_loss[was_active, epoch] = loss_all.mean(dim=1).double().cpu().numpy()[was_active]
        train_acc[was_active, epoch] = torch.cat(hits, 1).double().mean(1).cpu().numpy()[was_active]
        epochs_trained[was_active] += 1
        if model.rule.family == "feedback":  # the loss threshold is the readout's: feedback only
            done = torch.as_tensor(train_loss[:, epoch] < settings.loss_threshold, device=trainer.device)
            trainer.active[done] = 0
        shown = train_loss[np.isfinite(train_loss[:, epoch]), epoch]
        rate = step_index * batch_size * E / (time.perf_counter() - started)
        progress.set_postfix(loss=f"{shown.mean():.3g}" if shown.size else "-",
                             active=int(trainer.active.sum()), pres_per_s=f"{rate:.3g}")
        if not bool(trainer.active.any()):
            break
    _finish(rec, trainer, train_loss, train_acc, epochs_trained, monitors)
    _evaluate(rec, trainer, data, (x_test, t_test, y_test), diverged_at, probes,
              sensitivity_samples, representation_samples)
    rec.attrs["wall_time_s"] = round(time.perf_counter() - started, 3)
    return rec


def _evaluate(rec, trainer, data, test, diverged_at, probes, sensitivity_samples,
              representation_samples=0):
    E = trainer.E
    x_test, t_test, y_test = test
    readout = trainer.evaluate(x_test, t_test, y_test) if data.n_test else (np.full(E, np.nan),) * 2
    final_train = trainer.evaluate(data.x, data.t, data.y)
    bad = diverged_at >= 0
    for values in (*readout, *final_train):
        values[bad] = np.nan
    rec.add("diverged_at", ("seed",), diverged_at,
            "presentation at which the loss became NaN or inf (-1: never)")
    rec.add("final_train_accuracy", ("seed",), final_train[0],
            "accuracy of the network's readout on every training input after training")
    rec.add("test_loss", ("seed",), readout[1], "mean loss of the network's readout on the test set",
            "nat")
    rec.add("readout_accuracy", ("seed",), readout[0],
            "test accuracy of the network's own readout")
    accuracy, source = readout[0], "the network's own readout"
    if probes and data.n_test:
        probe = probe_layers(trainer, data.x, data.y, x_test, y_test)
        probe[bad] = np.nan
        rec.coord("probe_layer", np.arange(probe.shape[1]), "layer probed (0 = the input itself)")
        rec.add("probe_accuracy", ("seed", "probe_layer"), probe,
                "test accuracy of a linear probe (logistic regression) on the layer's rates, "
                "fitted on the training inputs")
        accuracy, source = probe[:, -1], "a linear probe of the top hidden layer"
    rec.add("test_accuracy", ("seed",), accuracy, f"test accuracy of {source}")
    n_sens = min(require_int("sensitivity_samples", sensitivity_samples, minimum=0), data.n_test)
    if n_sens:
        sens = synonymic_sensitivity(trainer, [t.take(slice(0, n_sens)) for t in data.tests])
        sens[bad] = np.nan
        rec.coord("layer", np.arange(1, sens.shape[1] + 1), "hidden layer (1 = next to the input)")
        rec.coord("level", np.arange(sens.shape[2]), "level whose productions and all below are redrawn")
        rec.add("sensitivity", ("seed", "layer", "level"), sens,
                "synonymic sensitivity: mean squared change of the layer's rates when the "
                "productions at and below the level are redrawn, over that of unrelated inputs")
    n_rsa = min(require_int("representation_samples", representation_samples, minimum=0), data.n_test)
    if n_rsa:
        rsa = representational_similarity(trainer, [t.take(slice(0, n_rsa)) for t in data.tests])
        rsa[bad] = np.nan
        rec.coord("layer", np.arange(1, rsa.shape[1] + 1), "hidden layer (1 = next to the input)")
        rec.coord("tree_level", np.arange(rsa.shape[2]), "level of the hidden tree (L = the input)")
        rec.add("representational_similarity", ("seed", "layer", "tree_level"), rsa,
                "Spearman correlation of the layer's dissimilarity matrix with the latent "
                "dissimilarity of the level")


def _recording(model, grammar, trainer, data, epochs) -> Recording:
    config = {"model": model.to_dict(), "grammar": grammar.params, "P": data.P,
              "n_test": data.n_test, "epochs": epochs, "seeds": trainer.seeds,
              "lr": trainer.lr.tolist()}
    rec = Recording(title=f"{model.name} on RHM", config=config)
    rec.attrs.update(backend="torch", device=str(trainer.device), dtype=str(trainer.dtype).split(".")[-1],
                     rule=model.rule.name, arch=model.arch, width=model.width, P=data.P,
                     n_test=data.n_test, pairs=str(model.pairing.scheme),
                     seeds=" ".join(map(str, trainer.seeds)),
                     **{k: getattr(grammar, k) for k in ("v", "n_classes", "m", "s", "L")},
                     grammar_seed=grammar.seed, n_inputs=str(grammar.n_inputs),
                     sample_complexity_scale=grammar.sample_complexity_scale)
    rec.coord("seed", trainer.seeds, "seed of data, stream and weights")
    rec.coord("epoch", np.arange(epochs), "epoch")
    return rec


def _finish(rec, trainer, train_loss, train_acc, epochs_trained, monitors):
    rec.add("train_loss", ("seed", "epoch"), train_loss,
            "mean loss of the readout over an epoch's presentations (before each update)", "nat")
    rec.add("train_accuracy", ("seed", "epoch"), train_acc,
            "fraction of an epoch's presentations the readout classified correctly")
    rec.add("epochs_trained", ("seed",), epochs_trained, "epochs until the loss threshold or the end")
    rec.add("lr", ("seed",), trainer.lr, "learning rate")
    for monitor in monitors:
        monitor.record(rec)
