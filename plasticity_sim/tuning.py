"""Searches: which value of one setting (a learning-rate factor, a learning rate, the view
level k) to use per rule and setting, read from validation accuracy only.

A search is a sweep whose grid has one search axis (``lr_factor``, ``lr`` or ``k``).
Per rule and setting (every other axis of size > 1, e.g. L), the criterion is the
evaluator's validation accuracy (``val_accuracy``) averaged over seeds and over the
training-set sizes searched (``P`` or ``P_scale``); a run that diverged scores chance.
The values within ``tie`` of the best form a plateau; the chosen one is its middle (of two
middles, the one closer to 1 on a log scale, i.e. to the default factor), so that it keeps
a margin on both sides at other training-set sizes.

When the chosen learning rate, or one within the tie of the best, is at the edge of the
values tried, a better one may lie beyond (and a search in which every run diverged must
move to lower rates): the search extends past that edge (the next value of the 1-3-10
series) and runs again, up to ``max_extensions`` times; a choice still on an edge after
that is reported as such.
The test set is never read here, and searches should use seeds that no reported result
uses.
"""

from __future__ import annotations

import copy
import itertools
import math
from pathlib import Path

import numpy as np
import xarray as xr

from .analysis.sample_complexity import count_runs, scored_accuracy, seed_mean
from .errors import ParameterError
from .plots import save_figure

SEARCH_AXES = ("lr_factor", "lr", "k")
EXTENDABLE = ("lr_factor", "lr")  # continuous: an edge can be moved; k has natural bounds
POOLED = ("seed", "P", "P_scale")


def search_axis(ds_or_axes) -> str | None:
    """The search axis of a result or of an experiment's axes, or None."""
    names = ds_or_axes.dims if isinstance(ds_or_axes, xr.Dataset) else ds_or_axes
    found = [a for a in SEARCH_AXES if a in names]
    if len(found) > 1:
        raise ParameterError("grid", f"a search varies one setting; this one varies {found}")
    return found[0] if found else None


def search_choice(ds: xr.Dataset, tie: float = 0.005) -> list[dict]:
    """One row per rule and setting: {'rule', 'setting', 'axis', 'accuracy' (validation,
    per value), 'best', 'edge' ('low', 'high' or None), 'lr' (the chosen learning rate)}."""
    axis = search_axis(ds)
    if axis is None:
        raise ParameterError("result", f"has none of the search axes {', '.join(SEARCH_AXES)}: "
                             "not a search")
    if "val_accuracy" not in ds:
        raise ParameterError("result", "has no val_accuracy: a search reads validation accuracy, "
                             "which results made before the protocol lack")
    acc = scored_accuracy(ds, "val_accuracy")
    settings = [d for d in acc.dims if d not in ("rule", axis, *POOLED) and ds.sizes[d] > 1]
    values = ds[axis].values.astype(float)
    rows = []
    for combo in itertools.product(*(ds[d].values for d in settings)):
        setting = {d: v.item() for d, v in zip(settings, combo)}
        for rule in ds.rule.values:
            part = acc.sel(rule=rule, **setting).transpose(..., axis)
            mean = seed_mean(part.values.reshape(-1, len(values)))  # seeds x sizes pooled
            tried = np.isfinite(mean)
            if not tried.any():
                continue
            plateau = np.sort(values[mean >= np.nanmax(mean) - tie])
            middle = plateau[(len(plateau) - 1) // 2: len(plateau) // 2 + 1]
            best = float(middle[np.argmin(np.abs(np.log(np.abs(middle) + 1e-300)))]) \
                if axis != "k" else float(middle[0])
            edge = None
            if axis in EXTENDABLE and tried.sum() > 1:
                # an edge value within the tie of the best: what lies beyond may be better
                edge = "low" if plateau[0] == values[tried].min() else \
                    "high" if plateau[-1] == values[tried].max() else None
                if _all_diverged(ds, rule, setting, axis, values[tried]):
                    best, edge = float(values[tried].min()), "low"  # too fast everywhere
            rows.append(dict(rule=str(rule), setting=setting, axis=axis, best=best, edge=edge,
                             accuracy={v: m for v, m in zip(values.tolist(), mean.tolist())
                                       if np.isfinite(m)},
                             lr=_chosen_lr(ds, axis, rule, setting, best),
                             diverged=count_runs(ds.sel(rule=rule, **setting), "diverged")))
    return rows


def _all_diverged(ds, rule, setting, axis, tried) -> bool:
    """Every run of every learning rate tried diverged: the search must go lower."""
    if "diverged" not in ds:
        return False
    part = ds["diverged"].sel(rule=rule, **setting).sel({axis: tried})
    return bool(part.fillna(0).astype(bool).all())


def _chosen_lr(ds, axis, rule, setting, best) -> float:
    """The learning rate the chosen value stands for (read from the runs themselves)."""
    if "lr" not in ds.data_vars:
        return float("nan")
    lr = ds["lr"].sel(rule=rule, **setting).sel({axis: best})
    values = lr.values[np.isfinite(lr.values)]
    return float(values[0]) if values.size else float("nan")


def search_table(rows: list[dict]) -> str:
    """Markdown: validation accuracy per value, the choice, and any edge."""
    if not rows:
        return "(no finished cell)"
    axis = rows[0]["axis"]
    values = sorted({v for r in rows for v in r["accuracy"]})
    label = (lambda v: f"x{v:g}") if axis == "lr_factor" else (lambda v: f"{axis} = {v:g}")  # noqa: E731
    head = ("| rule | setting | " + " | ".join(label(v) for v in values) +
            " | chosen | lr | diverged |")
    out = ["Criterion: validation accuracy of the runs' evaluator, mean over seeds and sizes "
           "(a diverged run scores chance; 'diverged' counts those runs, over every value and "
           "size).", "", head, "|" + "---|" * (len(values) + 5)]
    for r in rows:
        setting = ", ".join(f"{k} = {v}" for k, v in r["setting"].items()) or "—"
        cells = [f"{r['accuracy'][v]:.3f}" if v in r["accuracy"] else "—" for v in values]
        chosen = label(r["best"]) + (f" **at the {r['edge']} edge**" if r["edge"] else "")
        out.append(f"| {r['rule']} | {setting} | " + " | ".join(cells) +
                   f" | {chosen} | {r['lr']:.3g} | {r.get('diverged', 0)} |")
    return "\n".join(out)


def edge_warnings(rows: list[dict]) -> list[str]:
    return [f"EDGE: {r['rule']}{' ' + str(r['setting']) if r['setting'] else ''} chose "
            f"{r['axis']} = {r['best']:g}, the "
            f"{r['edge']} edge of the values tried; the best may lie beyond"
            for r in rows if r["edge"]]


def learning_rate_overrides(rows: list[dict]) -> str:
    """Chosen factors as ``[[override]]`` sections of an experiment file (factor 1 needs
    none), or, for an ``lr`` axis, the chosen rates per rule and setting."""
    out = []
    for r in rows:
        if r["axis"] == "lr_factor" and r["best"] == 1:
            continue
        match = ", ".join(f"{k} = {_toml(v)}" for k, v in {"rule": r["rule"], **r["setting"]}.items())
        out += ["[[override]]", f"where = {{ {match} }}", f"{r['axis']} = {r['best']:g}", ""]
    return "\n".join(out).rstrip()


def _toml(value) -> str:
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"


def beyond(value: float, side: str, values) -> float:
    """The next value past an edge: the 1-3-10 series when the edge is on it, otherwise the
    ratio of the two values nearest the edge."""
    mantissa = value / 10 ** math.floor(math.log10(value))
    up = side == "high"
    if math.isclose(mantissa, 1, rel_tol=1e-6):
        new = value * (3 if up else 0.3)
    elif math.isclose(mantissa, 3, rel_tol=1e-6):
        new = value * (10 / 3 if up else 1 / 3)
    else:
        ordered = sorted(values)
        pair = ordered[-2:] if up else ordered[:2]
        ratio = pair[1] / pair[0] if len(pair) == 2 and pair[0] > 0 else 3.0
        new = value * ratio if up else value / ratio
    return float(f"{new:.3g}")


def extend(experiment, rows: list[dict]):
    """The experiment with the search axis extended past every edge, and the new
    cells to run (the edge rule and setting at the new value, at every P)."""
    from .experiment import build_experiment

    axis = rows[0]["axis"]
    if axis not in experiment.spec["grid"]:
        raise ParameterError("grid", f"the search axis {axis!r} must be a plain grid axis")
    spec = copy.deepcopy(experiment.spec)
    values = list(spec["grid"][axis])
    wanted = []
    for r in rows:
        if r["edge"]:
            tried = list(r["accuracy"])
            new = beyond(min(tried) if r["edge"] == "low" else max(tried), r["edge"], tried)
            if new not in values:
                values.append(new)
            wanted.append((r["rule"], r["setting"], new))
    spec["grid"][axis] = sorted(values)
    grown = build_experiment(spec, experiment.path)
    cells = [c for c in grown.cells if any(
        c.axes["rule"] == rule and c.axes[axis] == new and
        all(c.axes.get(k) == v for k, v in setting.items()) for rule, setting, new in wanted)]
    return grown, cells


def run_search(experiment, out_dir, *, max_extensions: int = 3, run_sweep=None, echo=print,
               **sweep_args) -> tuple:
    """Run a search, extending it past every edge choice up to ``max_extensions`` times.
    Returns (combined result, rows)."""
    if run_sweep is None:
        from .sweep import run_sweep
    result = run_sweep(experiment, out_dir, echo=echo, **sweep_args)
    rows = search_choice(result)
    for round_ in range(max_extensions):
        if not any(r["edge"] for r in rows) or search_axis(result) not in EXTENDABLE:
            break
        experiment, cells = extend(experiment, rows)
        echo(f"extending the search past {sum(bool(r['edge']) for r in rows)} edge choice(s) "
             f"(round {round_ + 1} of at most {max_extensions})")
        result = run_sweep(experiment, out_dir, echo=echo, **{**sweep_args, "cells": cells})
        rows = search_choice(result)
    return result, rows


def plot_search(rows: list[dict], out_dir) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(tuple(r["setting"].items()) for r in rows))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.4), squeeze=False,
                             sharey=True)
    axis = rows[0]["axis"] if rows else "lr_factor"
    for ax, setting in zip(axes[0], settings):
        for r in rows:
            if tuple(r["setting"].items()) != setting:
                continue
            v = sorted(r["accuracy"])
            line, = ax.plot(v, [r["accuracy"][k] for k in v], marker="o", label=r["rule"])
            ax.plot([r["best"]], [r["accuracy"][r["best"]]], marker="*", ms=12,
                    color=line.get_color())
        xlabel = {"lr_factor": "learning rate / rule's base", "lr": "learning rate",
                  "k": "view level k"}[axis]
        ax.set(xscale="linear" if axis == "k" else "log", xlabel=xlabel,
               title=", ".join(f"{k} = {v}" for k, v in setting) or "")
    axes[0][0].set_ylabel("validation accuracy (star: chosen)")
    axes[0][-1].legend(fontsize=7)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = "learning_rates" if axis in EXTENDABLE else f"search_{axis}"
    return [save_figure(fig, out_dir / name)]
