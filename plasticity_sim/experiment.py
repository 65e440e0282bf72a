"""Experiment files: a grid of cells (rule x P x any other setting), each one ensemble run.

An experiment file (TOML)::

    title = "Sample complexity of the feedback family"
    [grammar]                   # the RHM of every cell (grid axes may override v, m, L, ...)
    v = 4
    n_classes = 4
    m = 4
    s = 2
    L = 3
    [grid]                      # the Cartesian product of these lists is the set of cells
    rule = ["bp", "dfa"]        # library rules, or labels of [models.<label>] below
    P = [256, 1024, 4096]       # or P_scale = [0.25, 1, 4]: P = P_scale * n_classes * m^L
    width = [64, 128]           # any model, neuron or training setting can be an axis
                                # (lr_factor = [0.3, 1, 3]: learning rates relative to each
                                # model's own)
    [run]                       # what every cell does
    seeds = [0, 1, 2]           # one vectorized ensemble per cell
    n_val = 2000                # validation set: every choice (stopping, probes) reads it
    n_test = 20000              # test set: read once, at the end
    evaluator = "readout"       # what test_accuracy measures, the same for every cell:
                                # "readout" (the network's own) or "probe" (top layer)
    epochs = 1000               # optional: the epoch cap of every model (a model that sets
                                # its own cap too is an error)
    alignment_every = 0         # > 0: alignment with backprop every N steps
    keep_checkpoints = true     # false: keep the alignment's means per epoch and over
                                # training only (compact files for large grids)
    sensitivity_samples = 0     # > 0: synonymic sensitivity on that many test inputs
    representation_samples = 0  # > 0: representational comparison on that many test inputs
    skip_infeasible = false     # true: drop the cells whose P exceeds half the grammar's inputs
    probes = true               # linear probes of every layer (default)
    [models.dfa_slow]           # a labelled model: a library rule or a model file, changed
    rule = "dfa"                # or: file = "models/dfa_cnn.toml" (relative to this file)
    lr = 0.001

Axes listed together under ``[[grid.together]]`` change in step (e.g. v, n_classes and m)
instead of forming a product.

``[[override]]`` sections change settings in the cells they name (every key of ``where``
must match the cell's axis value), after the grid's own values::

    [[override]]                # backprop at L = 4 learns at a third of its default rate
    where = { rule = "bp", L = 4 }
    lr_factor = 0.3             # any model, neuron or training setting, or lr_factor

An override that names no cell of the grid is an error (a misspelt value would otherwise
be silently ignored).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .cli_support import parse_seed_list
from . import __version__
from .errors import ParameterError, require_int
from .io import read_toml
from .model import Model
from .rhm.grammar import Grammar

GRAMMAR_KEYS = ("v", "n_classes", "m", "s", "L", "seed")
RUN_DEFAULTS = dict(seeds=[0, 1, 2], n_val=2000, n_test=20_000, evaluator="readout",
                    alignment_every=0, sensitivity_samples=0, representation_samples=0,
                    device="cpu", dtype="float32", epochs=None, probes=True,
                    skip_infeasible=False, keep_checkpoints=True)
EVALUATORS = ("readout", "probe")
SECTIONS = {"title", "description", "grammar", "grid", "run", "models", "override"}


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its axis values and everything needed to run it."""

    index: int
    axes: dict            # axis name -> value, in grid order
    model: Model
    grammar: Grammar
    P: int
    run: dict

    @property
    def digest(self) -> str:
        """A hash of everything the cell computes from, the package's version included (a new
        version recomputes the cells): equal digests, equal results."""
        model = self.model.to_dict()
        # settings added after a version, at the default that reproduces that version's
        # runs, leave the digest as it was: the cells on disk stay valid
        model["training"] = {k: v for k, v in model["training"].items()
                             if not (k in ADDED_TRAINING_DEFAULTS and ADDED_TRAINING_DEFAULTS[k] == v)}
        spec = {"axes": self.axes, "model": model, "grammar": self.grammar.params,
                "P": self.P, "run": self.run, "version": __version__}
        return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]

    @property
    def key(self) -> str:
        """A stable name: the same cell of the same experiment always has the same key."""
        return f"cell-{self.index:05d}-{self.digest}"


#: Training settings added within a version whose default reproduces the runs made before
#: them (no schedule, weight decay on every variable): left out of a cell's digest at that
#: default. A setting that changes what a cell computes at its default needs a new version
#: instead (docs/developing.md).
ADDED_TRAINING_DEFAULTS = {"lr_schedule": "constant", "warmup_epochs": 10, "start_lr": 0.0,
                           "final_lr": 1e-6, "decay_biases": True}


@dataclass(frozen=True)
class Experiment:
    title: str
    path: Path | None
    spec: dict = field(repr=False)
    axes: dict = field(default_factory=dict)     # axis name -> list of values
    cells: tuple = ()
    linked: dict = field(default_factory=dict)   # axis moving with another -> that axis

    def to_json(self) -> str:
        return json.dumps(self.spec, sort_keys=True, default=str)


def load_experiment(path: str | Path, **run) -> Experiment:
    """An experiment file, built; ``run`` settings (e.g. ``device="cuda"``) replace its
    ``[run]`` ones."""
    path = Path(path)
    spec = read_toml(path, "experiment")
    if run:
        spec["run"] = {**spec.get("run", {}), **run}
    return build_experiment(spec, path)


def build_experiment(spec: dict, path: Path | None = None) -> Experiment:
    """Validate the whole file and build every cell before any work starts."""
    where = str(path) if path else "experiment"
    unknown = set(spec) - SECTIONS
    if unknown:
        raise ParameterError("experiment", f"{where}: unknown sections {sorted(unknown)}; "
                             f"allowed: {sorted(SECTIONS)}")
    for section in ("grammar", "grid"):
        if section not in spec:
            raise ParameterError("experiment", f"{where}: missing section [{section}]")
    run = {**RUN_DEFAULTS, **spec.get("run", {})}
    if set(run) - set(RUN_DEFAULTS):
        raise ParameterError("run", f"{where}: unknown keys {sorted(set(run) - set(RUN_DEFAULTS))}; "
                             f"allowed: {sorted(RUN_DEFAULTS)}")
    run["seeds"] = parse_seed_list(run["seeds"])
    for flag in ("keep_checkpoints", "skip_infeasible", "probes"):
        if not isinstance(run[flag], bool):
            raise ParameterError(flag, f"{where}: must be true or false; got {run[flag]!r}")
    if run["evaluator"] not in EVALUATORS:
        raise ParameterError("evaluator", f"{where}: must be one of {', '.join(EVALUATORS)}; "
                             f"got {run['evaluator']!r}")
    if run["evaluator"] == "probe" and not run["probes"]:
        raise ParameterError("probes", f"{where}: evaluator = 'probe' needs probes = true")
    for key in ("n_val", "n_test", "alignment_every", "sensitivity_samples",
                "representation_samples"):  # checked, not converted: digests stay as they were
        try:
            require_int(key, run[key], minimum=0)
        except ParameterError as err:
            raise ParameterError(key, f"{where}: {str(err).removeprefix(key + ': ')}") from None
    if run["device"] != "cpu":  # a device this machine lacks fails now, not in every cell
        from .backends.torch.train import resolve_device

        try:
            resolve_device(run["device"])
        except ParameterError as err:
            raise ParameterError("device", f"{where}: [run] device = {run['device']!r}: "
                                 f"{str(err).removeprefix('device: ')}") from None
    axes = _axes(spec["grid"], where)
    labelled, own_settings = _labelled_models(spec.get("models", {}), path)
    if run["epochs"] is not None:  # one cap for all: a model's own cap would be overridden
        capped = sorted(label for label, keys in own_settings.items() if "epochs" in keys)
        if capped or "epochs" in axes:
            raise ParameterError("epochs", f"{where}: [run] epochs = {run['epochs']} would "
                                 f"override the epochs set by {capped or ['the grid']}; set it "
                                 "in one place")
    overrides = _overrides(spec.get("override", []), axes, where)
    used = [False] * len(overrides)
    cells = []
    names = list(axes)
    for index, values in enumerate(_points(spec["grid"], axes)):
        point = dict(zip(names, values))
        changes, hits = {}, []
        for k, (match, settings) in enumerate(overrides):
            if all(point[a] == v for a, v in match.items()):
                changes.update(settings)
                hits.append(k)
        cell = _cell(index, point, spec["grammar"], labelled, run, where, changes)
        if cell is not None:  # an override of skipped cells only names no cell
            cells.append(cell)
            for k in hits:
                used[k] = True
    for (match, _), hit in zip(overrides, used):
        if not hit:
            kinds = {a: type(axes[a][0]).__name__ for a in match}
            raise ParameterError("override", f"{where}: where = {match} names no cell of the grid "
                                 f"(axis values are {kinds}; skipped cells do not count)")
    linked = {name: list(group)[0] for group in spec["grid"].get("together", [])
              for name in list(group)[1:]}
    return Experiment(title=spec.get("title", path.stem if path else "experiment"), path=path,
                      spec=spec, axes=axes, cells=tuple(cells), linked=linked)


def _axes(grid: dict, where: str) -> dict:
    axes = {}
    for name, values in grid.items():
        if name == "together":
            for group in values:
                lengths = {len(v) for v in group.values()}
                if len(lengths) != 1:
                    raise ParameterError("grid", f"{where}: axes in a [[grid.together]] group need "
                                         f"lists of one length; got {group}")
                axes.update(group)
            continue
        if not isinstance(values, list) or not values:
            raise ParameterError("grid", f"{where}: axis {name!r} needs a non-empty list; got {values!r}")
        axes[name] = values
    if "rule" not in axes:
        raise ParameterError("grid", f"{where}: the grid needs a `rule` axis")
    if ("P" in axes) == ("P_scale" in axes):
        raise ParameterError("grid", f"{where}: the grid needs exactly one of `P` and `P_scale`")
    return axes


def _points(grid: dict, axes: dict):
    """Products over the independent axes; each [[grid.together]] group moves as one axis."""
    groups = [[name] for name in grid if name != "together"]
    groups += [list(group) for group in grid.get("together", [])]
    per_group = [list(zip(*(axes[n] for n in names))) for names in groups]
    order = [n for names in groups for n in names]
    for combo in itertools.product(*per_group):
        flat = dict(zip(order, (v for values in combo for v in values)))
        yield [flat[name] for name in axes]


def _overrides(sections, axes: dict, where: str) -> list[tuple[dict, dict]]:
    """[[override]] sections as (axis values to match, settings to change)."""
    if not isinstance(sections, list):
        raise ParameterError("override", f"{where}: write [[override]] (a list of sections)")
    out = []
    for section in sections:
        section = dict(section)
        match = section.pop("where", None)
        if not isinstance(match, dict) or not match:
            raise ParameterError("override", f"{where}: every [[override]] needs "
                                 f"`where = {{AXIS = VALUE, ...}}`; got {match!r}")
        unknown = set(match) - set(axes)
        if unknown:
            raise ParameterError("override", f"{where}: where names {sorted(unknown)}, not axes of "
                                 f"the grid ({', '.join(axes)})")
        if not section:
            raise ParameterError("override", f"{where}: the [[override]] for {match} changes nothing")
        blocked = set(section) & {"rule", "P", "P_scale", *GRAMMAR_KEYS}
        if blocked:
            raise ParameterError("override", f"{where}: {sorted(blocked)} define the cell itself; "
                                 "make them grid axes instead")
        if "lr" in section and ("lr_factor" in section or "lr_factor" in axes):
            raise ParameterError("override", f"{where}: the [[override]] for {match} sets `lr` "
                                 "where `lr_factor` also sets it; use one of them")
        out.append((match, section))
    return out


def _labelled_models(models: dict, path: Path | None) -> tuple[dict, dict]:
    """{label: Model} and {label: the settings the experiment or model file sets itself}."""
    out, own = {}, {}
    for label, settings in models.items():
        settings = dict(settings)
        if "file" in settings:
            given = settings.pop("file")
            file = Path(given)
            if path is not None and not file.is_absolute():
                file = path.parent / file
            if not file.exists():  # say where it was looked for: relative to the experiment file
                raise ParameterError("models", f"[models.{label}] file = {given!r}: no such model "
                                     f"file; looked for {file.resolve()}"
                                     + (f" (relative to {path})" if path is not None else ""))
            base = Model.from_toml(file)
            own[label] = set(read_toml(file, "model").get("training", {}))
        elif "rule" in settings:
            base = Model.for_rule(settings.pop("rule"))
            own[label] = set()
        else:
            raise ParameterError("models", f"[models.{label}] needs `rule` or `file`")
        own[label] |= set(settings)
        out[label] = base.replace(name=label, **settings)
    return out, own


def _cell(index, point, grammar_spec, labelled, run, where, changes=None) -> Cell | None:
    grammar_args = {k: point.get(k, grammar_spec.get(k)) for k in GRAMMAR_KEYS if
                    k in point or k in grammar_spec}
    missing = [k for k in GRAMMAR_KEYS[:5] if k not in grammar_args]
    if missing:
        raise ParameterError("grammar", f"{where}: [grammar] lacks {missing}")
    grammar = Grammar(**grammar_args)
    rule = point["rule"]
    model = labelled[rule] if rule in labelled else Model.for_rule(rule)
    chosen = {**point, **(changes or {})}
    settings = {k: v for k, v in chosen.items()
                if k not in ("rule", "P", "P_scale", "lr_factor", *GRAMMAR_KEYS)}
    if run.get("epochs") is not None:
        if "epochs" in (changes or {}):
            raise ParameterError("epochs", f"{where}: an [[override]] sets epochs where [run] "
                                 "epochs sets every cell's; set it in one place")
        settings["epochs"] = run["epochs"]
    try:
        model = model.replace(**settings).at(grammar)  # lr: the rule's default at this depth
        if "lr_factor" in chosen:  # a learning rate relative to the model's own
            factor = chosen["lr_factor"]
            if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
                raise ParameterError("lr_factor", f"must be a number > 0; got {factor!r}")
            model = model.replace(lr=model.training.lr * float(factor))
    except ParameterError as err:  # say which cell, once
        detail = str(err).removeprefix(f"{err.parameter}: ")
        raise ParameterError(err.parameter, f"{where}: cell {point}: {detail}") from None
    model.architecture(grammar)  # shape errors now, not in a worker
    if "P" in point:
        P = require_int("P", point["P"], minimum=1)
    else:
        P = max(1, round(float(point["P_scale"]) * grammar.sample_complexity_scale))
    if run.get("skip_infeasible") and P > grammar.n_inputs // 2:
        return None  # more than half of the grammar: no honest test set
    if P >= grammar.n_inputs:
        raise ParameterError("P", f"{where}: P = {P} leaves no test inputs (n_inputs = "
                             f"{grammar.n_inputs}) in cell {point}; or set skip_infeasible")
    cell_run = {k: v for k, v in run.items() if k not in ("epochs", "skip_infeasible")}
    return Cell(index=index, axes=point, model=model, grammar=grammar, P=P, run=cell_run)


def select_cells(experiment: Experiment, max_P: int | None = None, where=()) -> tuple[Cell, ...]:
    """The cells with P <= max_P and the given AXIS=VALUE settings (values given for one
    axis are alternatives, different axes must all hold)."""
    allowed: dict[str, set[str]] = {}
    for item in where:
        axis, sep, value = item.partition("=")
        if not sep or axis not in experiment.axes:
            raise ParameterError("where", f"must be AXIS=VALUE with an axis of the grid "
                                 f"({', '.join(experiment.axes)}); got {item!r}")
        allowed.setdefault(axis, set()).add(value)
    cells = [c for c in experiment.cells if (max_P is None or c.P <= max_P)
             and all(str(c.axes[a]) in values for a, values in allowed.items())]
    if not cells:
        raise ParameterError("where", "no cell of the grid satisfies --max-P / --where")
    return tuple(cells)
