"""The cross-check: the same model, initial weights and stream on both engines, compared
after every presentation (float64, online learning: a batch of one)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import ParameterError, require_int
from ...model import Model
from ...rhm import Grammar
from .network import check_brian2_pairing
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
    #: first presentation with a NaN or inf value, per engine (None: never)
    diverged: dict = field(default_factory=dict)

    @property
    def compared(self) -> int:
        """Presentations compared: all of them, or those before the first divergence."""
        first = [p for p in self.diverged.values() if p is not None]
        return min(first) if first else self.presentations

    @property
    def passed(self) -> bool:
        one_only = sum(p is not None for p in self.diverged.values()) == 1
        return not one_only and all(d.max_rel <= self.tolerance for d in self.differences)

    def table(self) -> str:
        rows = [f"{'variable':<16} {'kind':<9} {'max abs diff':>13} {'max rel diff':>13} "
                f"{'at presentation':>16}"]
        for d in self.differences:
            flag = "" if d.max_rel <= self.tolerance else "  <- above tolerance"
            rows.append(f"{d.name:<16} {d.kind:<9} {d.max_abs:13.3e} {d.max_rel:13.3e} "
                        f"{d.worst_presentation:16d}{flag}")
        verdict = "agree" if self.passed else "DISAGREE"
        where = {engine: p for engine, p in self.diverged.items() if p is not None}
        if where:  # near a blow-up last-bit differences explode: compare what came before
            rows.append("diverged (NaN or inf) in " + " and ".join(
                f"{engine} at presentation {p}" for engine, p in where.items())
                + ("" if len(where) == 2 else "; not in the other engine")
                + f": compared the {self.compared} presentations before")
        rows.append(f"{self.presentations} presentations, Brian2 target {self.target}: engines "
                    f"{verdict} within relative {self.tolerance:g}"
                    + (f" up to presentation {self.compared}" if where else ""))
        return "\n".join(rows)


def torch_trajectory(model: Model, grammar: Grammar, P: int, seed: int, epochs: int = 1):
    """Train online in float64 and record rates and synaptic variables after every presentation."""
    from ..torch.data import TrainingData
    from ..torch.train import Trainer

    trainer = Trainer(model, grammar, [seed], dtype="float64")
    data = TrainingData(trainer, P, n_test=0)
    rates = {l: [] for l in range(1, trainer.net.out + 1)}
    synapses = {name: [] for name in trainer.S}
    for batch in (b for epoch in range(epochs) for b in data.batches(epoch, 1)):
        U, _, state = trainer.signals(batch, want_state=True)
        for l in rates:
            rates[l].append(state[f"p{l}_r"][0, 0].flatten().numpy().copy())
        trainer.apply(U)
        for name in synapses:
            synapses[name].append(trainer.S[name][0].numpy().copy())
    stream = data.stream(seed, epochs)  # the same presentations, every epoch built
    return stream, {l: np.array(v) for l, v in rates.items()}, \
        {n: np.array(v) for n, v in synapses.items()}


def crosscheck(model: Model, grammar: Grammar, presentations: int = 200, seed: int = 0,
               target: str = "cython", tolerance: float = 1e-9, chunk: int | None = None,
               echo=None) -> CrossCheck:
    """Run a stream of at least ``presentations`` presentations (whole epochs over at most half
    of the grammar's inputs) on both engines and compare; ``echo`` (e.g. print) is told
    what runs now."""
    say = echo or (lambda *_: None)
    if presentations < 1:
        raise ParameterError("presentations", f"must be >= 1; got {presentations}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ParameterError("tolerance", f"must be a number >= 0; got {tolerance!r}")
    if chunk is not None:  # 0 would run the whole stream at once, silently
        require_int("chunk", chunk, minimum=1)
    check_brian2_pairing(model.pairing)  # before torch, which would fail differently
    model = model.replace(batch_size=1, loss_threshold=0.0)
    # P counts every input shown; a view is shown with its tree, in the same presentation
    views = 2 if model.pairing.scheme == "views" else 1
    P = min(presentations * views, max(grammar.n_inputs // 2, views))  # small grammars: epochs
    P -= P % views
    epochs = -(-presentations // (P // views))
    say(f"torch (float64, online): {epochs * P} presentations ...")
    stream, t_rates, t_syn = torch_trajectory(model, grammar, P, seed, epochs)
    say(f"Brian2 ({target}): building the network and running {len(stream)} presentations "
        + ("..." if target == "numpy" else "(a model's first run compiles its code, a minute or "
           "more; later runs use the cache) ..."))
    # Brian2 draws its own initial state from the seed: the plan's, as torch's was
    run = run_brian2(model, grammar, stream, target=target, chunk=chunk, seed=seed)
    pairs = [(f"p{l}.r", "rates", run.rates[l], ref) for l, ref in t_rates.items()]
    pairs += [(name, "synapses", run.synapses[name], ref) for name, ref in t_syn.items()
              if name in run.synapses]
    diverged = {"torch": _first_bad([ref for *_, ref in pairs]),
                "Brian2": _first_bad([got for *_, got, _ in pairs])}
    cut = min([p for p in diverged.values() if p is not None], default=len(stream))
    differences = [_difference(name, kind, got[:cut], ref[:cut]) for name, kind, got, ref in pairs]
    return CrossCheck(differences, tolerance, len(stream), target, run.schedule, diverged)


def _first_bad(trajectories) -> int | None:
    """The first presentation at which any trajectory holds a NaN or inf, or None."""
    firsts = [int(np.argmax(bad)) for bad in
              (~np.isfinite(t.reshape(len(t), -1)).all(axis=1) for t in trajectories) if bad.any()]
    return min(firsts) if firsts else None


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
