"""The cross-check: the same model, initial weights and stream on both engines, compared
after every presentation (float64, online learning: a batch of one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ParameterError, require_int
from ...model import Model
from ...rhm import Grammar
from .runner import run_brian2


@dataclass
class Difference:
    name: str
    kind: str            # "rates" or "synapses"
    max_abs: float
    max_rel: float       # max |brian2 - torch| / max |torch|
    worst_presentation: int


@dataclass
class CrossCheck:
    differences: list
    tolerance: float
    presentations: int
    target: str
    schedule: str

    @property
    def passed(self) -> bool:
        return all(d.max_rel <= self.tolerance for d in self.differences)

    def table(self) -> str:
        rows = [f"{'variable':<16} {'kind':<9} {'max abs diff':>13} {'max rel diff':>13} "
                f"{'at presentation':>16}"]
        for d in self.differences:
            flag = "" if d.max_rel <= self.tolerance else "  <- above tolerance"
            rows.append(f"{d.name:<16} {d.kind:<9} {d.max_abs:13.3e} {d.max_rel:13.3e} "
                        f"{d.worst_presentation:16d}{flag}")
        verdict = "agree" if self.passed else "DISAGREE"
        rows.append(f"{self.presentations} presentations, Brian2 target {self.target}: engines "
                    f"{verdict} within relative {self.tolerance:g}")
        return "\n".join(rows)


def torch_trajectory(model: Model, grammar: Grammar, P: int, seed: int, epochs: int = 1):
    """Train online in float64 and record rates and synaptic variables after every presentation."""
    from ..torch.data import TrainingData
    from ..torch.train import Trainer

    trainer = Trainer(model, grammar, [seed], dtype="float64")
    data = TrainingData(trainer, P, n_test=0)
    init = {name: t[0].numpy().copy() for name, t in trainer.S.items()}
    states = {name: t[0].numpy().copy() for name, t in trainer.ST.items()}
    rates = {l: [] for l in range(1, trainer.net.out + 1)}
    synapses = {name: [] for name in init}
    for batch in (b for epoch in range(epochs) for b in data.batches(epoch, 1)):
        U, _, state = trainer.signals(batch, want_state=True)
        for l in rates:
            rates[l].append(state[f"p{l}_r"][0, 0].flatten().numpy().copy())
        trainer.apply(U)
        for name in synapses:
            synapses[name].append(trainer.S[name][0].numpy().copy())
    stream = data.stream(seed, epochs)  # the same presentations, every epoch built
    return stream, init, states, {l: np.array(v) for l, v in rates.items()}, \
        {n: np.array(v) for n, v in synapses.items()}


def crosscheck(model: Model, grammar: Grammar, presentations: int = 200, seed: int = 0,
               target: str = "cython", tolerance: float = 1e-9, chunk: int | None = None) -> CrossCheck:
    """Run a stream of at least ``presentations`` presentations (whole epochs over at most half
    of the grammar's inputs) on both engines and compare."""
    if presentations < 1:
        raise ParameterError("presentations", f"must be >= 1; got {presentations}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ParameterError("tolerance", f"must be a number >= 0; got {tolerance!r}")
    if chunk is not None:  # 0 would run the whole stream at once, silently
        require_int("chunk", chunk, minimum=1)
    model = model.replace(batch_size=1, loss_threshold=0.0)
    P = min(presentations, max(grammar.n_inputs // 2, 1))  # small grammars: several epochs
    epochs = -(-presentations // P)
    stream, init, states, t_rates, t_syn = torch_trajectory(model, grammar, P, seed, epochs)
    run = run_brian2(model, grammar, stream, init, states, target=target, chunk=chunk)
    differences = []
    for l, ref in t_rates.items():
        differences.append(_difference(f"p{l}.r", "rates", run.rates[l], ref))
    for name, ref in t_syn.items():
        if name in run.synapses:
            differences.append(_difference(name, "synapses", run.synapses[name], ref))
    return CrossCheck(differences, tolerance, len(stream), target, run.schedule)


def _difference(name, kind, got: np.ndarray, ref: np.ndarray) -> Difference:
    """Largest differences; a value that is NaN or inf in both engines (a run that diverged
    in both) is not a disagreement, one that is so in one engine only is an infinite one."""
    if got.shape != ref.shape:
        raise AssertionError(f"{name}: Brian2 gave shape {got.shape}, torch {ref.shape}")
    both_bad = ~np.isfinite(got) & ~np.isfinite(ref)
    one_bad = np.isfinite(got) != np.isfinite(ref)
    diff = np.where(both_bad, 0.0, np.abs(got - ref))
    diff = np.where(one_bad, np.inf, diff).reshape(len(ref), -1)
    finite = ref[np.isfinite(ref)]
    scale = max(float(np.abs(finite).max()) if finite.size else 0.0, 1e-300)
    worst = int(np.argmax(diff.max(axis=1))) if diff.size else 0
    return Difference(name, kind, float(diff.max()) if diff.size else 0.0,
                      float(diff.max()) / scale if diff.size else 0.0, worst)
