"""The cross-check: the same model, initial state and stream on two engines (by default the
torch engine and Brian2), compared after every presentation (float64, online learning: a
batch of one). It lives outside both: an engine is anything with the interface of
:mod:`plasticity_sim.engines`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engines import Brian2Engine, TorchEngine
from .errors import ParameterError, require_int
from .model import Model
from .rhm import Grammar


@dataclass
class Difference:
    name: str
    kind: str            # "rates" or "synapses"
    max_abs: float
    max_rel: float       # max |other - reference| / max |reference|
    worst_presentation: int


@dataclass
class CrossCheck:
    """The largest difference of every rate and synaptic variable between two engines."""

    differences: list
    tolerance: float
    presentations: int
    #: the Brian2 target (the default engines), or None
    target: str | None
    #: Brian2's schedule of a time step, or what the engines said of how they ran
    schedule: str
    #: first presentation with a NaN or inf value, per engine (None: never)
    diverged: dict = field(default_factory=dict)
    #: what was compared, e.g. "Brian2 target numpy"
    engines: str = ""

    @property
    def compared(self) -> int:
        """Presentations compared: all of them, or those before the first divergence."""
        first = [p for p in self.diverged.values() if p is not None]
        return min(first) if first else self.presentations

    @property
    def passed(self) -> bool:
        """Every difference within the tolerance, and no run diverged in one engine only."""
        one_only = sum(p is not None for p in self.diverged.values()) == 1
        return not one_only and all(d.max_rel <= self.tolerance for d in self.differences)

    def table(self) -> str:
        """The differences, one row per variable, and the verdict."""
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
        rows.append(f"{self.presentations} presentations, {self.engines}: engines "
                    f"{verdict} within relative {self.tolerance:g}"
                    + (f" up to presentation {self.compared}" if where else ""))
        return "\n".join(rows)


def crosscheck(model: Model, grammar: Grammar, presentations: int = 200, seed: int = 0,
               target: str = "cython", tolerance: float = 1e-9, chunk: int | None = None,
               echo=None, engines: tuple | None = None) -> CrossCheck:
    """Run a stream of at least ``presentations`` presentations (whole epochs over at most half
    of the grammar's inputs) on two engines, each from network seed ``seed``'s initial
    state, and compare after every presentation. ``engines``: the two to compare (default:
    the torch engine in float64 and Brian2 on ``target``, ``chunk``); ``echo`` (e.g. print)
    is told what runs now."""
    say = echo or (lambda *_: None)
    if presentations < 1:
        raise ParameterError("presentations", f"must be >= 1; got {presentations}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance >= 0:
        raise ParameterError("tolerance", f"must be a number >= 0; got {tolerance!r}")
    if chunk is not None:  # 0 would run the whole stream at once, silently
        require_int("chunk", chunk, minimum=1)
    reference, other = engines or (TorchEngine(), Brian2Engine(target, chunk))
    for engine in (other, reference):  # what either cannot run, before anything runs
        engine.check(model, grammar)
    model = model.replace(batch_size=1, loss_threshold=0.0)
    stream = _stream(model, grammar, presentations, seed)
    runs = []
    for engine in (reference, other):
        compiles = isinstance(engine, Brian2Engine) and engine.target != "numpy"
        say(f"{getattr(engine, 'label', engine.name)}: {len(stream)} presentations"
            + (" (a model's first run compiles its code, a minute or more; later runs use the "
               "cache)" if compiles else "") + " ...")
        runs.append(engine.run(model, grammar, stream, seed))
    ref, got = runs
    pairs = [(f"p{l}.r", "rates", got.rates[l], values) for l, values in ref.rates.items()]
    pairs += [(name, "synapses", got.synapses[name], values) for name, values in ref.synapses.items()
              if name in got.synapses]
    names = [getattr(e, "label", e.name) for e in (reference, other)]
    if names[0] == names[1]:  # two runs of one engine
        names = [f"{names[0]} (reference)", f"{names[1]} (other)"]
    diverged = {names[0]: _first_bad([r for *_, r in pairs]),
                names[1]: _first_bad([g for *_, g, _ in pairs])}
    cut = min([p for p in diverged.values() if p is not None], default=len(stream))
    differences = [_difference(name, kind, g[:cut], r[:cut]) for name, kind, g, r in pairs]
    label = f"Brian2 target {target}" if engines is None else f"{got.engine} against {ref.engine}"
    return CrossCheck(differences, tolerance, len(stream), target if engines is None else None,
                      got.note or ref.note, diverged, label)


def _stream(model: Model, grammar: Grammar, presentations: int, seed: int):
    """Whole epochs of the model's own pairing, of at least ``presentations`` presentations,
    over at most half of the grammar's inputs (small grammars: several epochs; at least one
    tree). P counts every input shown: a view with its tree, each of a fixation's T."""
    per_tree = model.pairing.inputs_per_tree(grammar, model.architecture(grammar))
    shown = 1 if model.pairing.scheme == "fixations" else per_tree  # inputs per presentation
    wanted = -(-presentations * shown // per_tree)  # trees
    n_trees = max(1, min(wanted, grammar.n_inputs // 2 // per_tree))
    per_epoch = model.pairing.presentations_per_epoch(n_trees)
    return model.at(grammar).pairing.stream(grammar, n_trees, seed, -(-presentations // per_epoch))


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
