"""Learning-rate searches: which factor of each rule's default learning rate to use where.

Reads a combined sweep with an ``lr_factor`` axis (``experiments/scaling_lr.toml``): per rule
and setting (every other axis of size > 1, e.g. L), the test accuracy at each factor (mean
over seeds and over the training-set sizes searched, ``P`` or ``P_scale``; a run that
diverged counts as accuracy 0) and the chosen factor. The factors within ``tie`` of the best accuracy form a
plateau; the chosen one is its middle (of two middles, the one closer to the default), so
that the rate keeps a margin on both sides when it is used at other training-set sizes,
where a rate at the plateau's edge may be unstable.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import xarray as xr

from .analysis.sample_complexity import seed_mean
from .errors import ParameterError
from .plots import save_figure


def learning_rate_choice(ds: xr.Dataset, tie: float = 0.005) -> list[dict]:
    """One row per rule and setting: {'rule', 'setting', 'accuracy' (per factor), 'best'}."""
    if "lr_factor" not in ds.dims:
        raise ParameterError("result", "has no lr_factor axis: not a learning-rate search")
    acc = ds.test_accuracy
    if "diverged_at" in ds:  # a diverged run is a failure of its rate, not a missing value
        acc = acc.where(~(ds.diverged_at >= 0), 0.0)
    pooled = ("seed", "P", "P_scale")  # the criterion: mean accuracy over seeds and sizes
    settings = [d for d in acc.dims if d not in ("rule", "lr_factor", *pooled) and ds.sizes[d] > 1]
    factors = ds.lr_factor.values.astype(float)
    rows = []
    for values in itertools.product(*(ds[d].values for d in settings)):
        setting = {d: v.item() for d, v in zip(settings, values)}
        for rule in ds.rule.values:
            part = acc.sel(rule=rule, **setting).transpose(..., "lr_factor")
            mean = seed_mean(part.values.reshape(-1, len(factors)))  # seeds x sizes pooled
            if not np.isfinite(mean).any():
                continue
            plateau = np.sort(factors[mean >= np.nanmax(mean) - tie])
            middle = plateau[(len(plateau) - 1) // 2: len(plateau) // 2 + 1]
            best = middle[np.argmin(np.abs(np.log(middle)))]
            rows.append(dict(rule=str(rule), setting=setting,
                             accuracy=dict(zip(factors.tolist(), mean.tolist())), best=float(best)))
    return rows


def learning_rate_table(rows: list[dict]) -> str:
    factors = sorted({f for r in rows for f in r["accuracy"]})
    head = "| rule | setting | " + " | ".join(f"x{f:g}" for f in factors) + " | chosen |"
    out = [head, "|" + "---|" * (len(factors) + 3)]
    for r in rows:
        setting = ", ".join(f"{k} = {v}" for k, v in r["setting"].items()) or "—"
        cells = [f"{r['accuracy'][f]:.3f}" if np.isfinite(r["accuracy"].get(f, np.nan)) else "—"
                 for f in factors]
        out.append(f"| {r['rule']} | {setting} | " + " | ".join(cells) + f" | x{r['best']:g} |")
    return "\n".join(out)


def learning_rate_overrides(rows: list[dict]) -> str:
    """The chosen factors as ``[[override]]`` sections for an experiment file (factor 1, the
    default, needs none)."""
    out = []
    for r in rows:
        if r["best"] == 1:
            continue
        match = ", ".join(f"{k} = {_toml(v)}" for k, v in {"rule": r["rule"], **r["setting"]}.items())
        out += ["[[override]]", f"where = {{ {match} }}", f"lr_factor = {r['best']:g}", ""]
    return "\n".join(out).rstrip()


def _toml(value) -> str:
    return f'"{value}"' if isinstance(value, str) else f"{value:g}"


def plot_learning_rates(rows: list[dict], out_dir) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(tuple(r["setting"].items()) for r in rows))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.4), squeeze=False,
                             sharey=True)
    for ax, setting in zip(axes[0], settings):
        for r in rows:
            if tuple(r["setting"].items()) != setting:
                continue
            f = sorted(r["accuracy"])
            line, = ax.plot(f, [r["accuracy"][k] for k in f], marker="o", label=r["rule"])
            ax.plot([r["best"]], [r["accuracy"][r["best"]]], marker="*", ms=12,
                    color=line.get_color())
        ax.set(xscale="log", xlabel="learning rate / rule's default",
               title=", ".join(f"{k} = {v}" for k, v in setting) or "")
    axes[0][0].set_ylabel("test accuracy (star: chosen)")
    axes[0][-1].legend(fontsize=7)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [save_figure(fig, out_dir / "learning_rates")]
