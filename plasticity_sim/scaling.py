"""Sample complexity against depth: P* per rule and hierarchy, and the mechanism.

Reads a combined sweep over rule x L x P_scale (x v) x seed (``experiments/scaling.toml``):
P* in units of n_c m^L (the mean over seeds, with the range of the seeds' own P*), its
ratio to backprop's, and the cosine of each rule's learning signal with backprop's per
hidden layer against the layer's distance from the output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .analysis.sample_complexity import count_runs, sample_complexity, scored_accuracy, seed_mean
from .plots import count_note, protocol_note, save_figure


def scaling_summary(ds: xr.Dataset, threshold: float = 0.9) -> list[dict]:
    """One row per (v, L, rule): P*/(n_c m^L) (mean curve), seed range, ratio to bp."""
    rows = []
    x = ds.P_scale.values
    scored = scored_accuracy(ds)
    for v in np.atleast_1d(ds.v.values) if "v" in ds.dims else [None]:
        for L in ds.L.values:
            part = ds.sel(L=L, v=v) if v is not None else ds.sel(L=L)
            part_acc = scored.sel(L=L, v=v) if v is not None else scored.sel(L=L)
            bp = None
            for rule in part.rule.values:
                acc = part_acc.sel(rule=rule).transpose("seed", "P_scale").values
                keep = np.isfinite(acc).any(0)
                if not keep.any():
                    continue
                star = sample_complexity(x[keep], acc[:, keep], threshold)
                stable = sample_complexity(x[keep], acc[:, keep], threshold, stable=True)
                one = part.sel(rule=rule)
                seeds = [sample_complexity(x[keep], a[keep], threshold) for a in acc
                         if np.isfinite(a[keep]).all()]
                finite = [s.finite for s in seeds]
                row = dict(v=v, L=int(L), rule=str(rule), p_star=star, stable=stable,
                           diverged=count_runs(one, "diverged"),
                           capped=count_runs(one, "stopped_by", "cap"),
                           runs=int(np.isfinite(acc[:, keep]).sum()), largest=float(x[keep][-1]),
                           seed_min=min(finite) if finite else np.nan,
                           seed_max=max(finite) if finite else np.nan,
                           accuracy_at_largest=float(seed_mean(acc[:, keep][:, -1])))
                if rule == "bp":
                    bp = star
                rows.append(row)
            for row in rows:
                if row["v"] == v and row["L"] == L and bp is not None:
                    row["ratio_to_bp"] = row["p_star"].finite / bp.finite
    return rows


def scaling_table(rows: list[dict], ds: xr.Dataset | None = None) -> str:
    head = ("| v | L | rule | P* / (n_c m^L) | stable P* | seeds' P* range | P* / P*(bp) | "
            "accuracy at largest P | diverged / cap / runs |")
    out = ([protocol_note(ds), ""] if ds is not None else []) + [head, "|" + "---|" * 9]
    for r in rows:
        star, stable = r["p_star"], r["stable"]
        prefix = {"=": "", "<=": "<= ", ">": "> "}
        ratio = r.get("ratio_to_bp", np.nan)
        ratio_s = (">" if star.bound == ">" else "") + (f"{ratio:.2g}" if np.isfinite(ratio) else "—")
        out.append(f"| {r['v']} | {r['L']} | {r['rule']} | {prefix[star.bound]}{star.value:.3g} | "
                   f"{prefix[stable.bound]}{stable.value:.3g} | "
                   f"{r['seed_min']:.3g}–{r['seed_max']:.3g} | {ratio_s} | "
                   f"{r['accuracy_at_largest']:.3f} (at {r['largest']:g} n_c m^L) | "
                   f"{r['diverged']} / {r['capped']} / {r['runs']} |")
    return "\n".join(out)


def largest_common_P(ds: xr.Dataset, L: int) -> float:
    """The largest P_scale at which every rule has a result at depth L (the most training
    every rule shares), or the smallest P_scale if there is none."""
    acc = scored_accuracy(ds).sel(L=L)
    ran = np.isfinite(acc).any([d for d in acc.dims if d not in ("rule", "P_scale")])
    common = ran.all("rule").values
    values = ds.P_scale.values
    return float(values[common].max() if common.any() else values.min())


def alignment_by_distance(ds: xr.Dataset, P_scale: float | None = None) -> xr.DataArray:
    """Cosine of each rule's delta with backprop's (mean over training and seeds) per hidden
    layer, against the layer's distance from the output (1 = the top hidden layer), at
    ``P_scale`` or, per depth, at the largest P every rule ran (:func:`largest_common_P`)."""
    cos = ds["signal_alignment_mean"].mean("seed")
    rows = []
    for L in ds.L.values:
        P = P_scale if P_scale is not None else largest_common_P(ds, L)
        part = cos.sel(L=L).sel(P_scale=P, drop=True)
        rows.append(_by_distance(part, L).assign_coords(P_scale=P))
    return xr.concat(rows, dim="L", join="outer", coords="different", compat="equals")


def alignment_over_training(ds: xr.Dataset, L: int, P_scale: float) -> xr.DataArray:
    """Cosine of delta with backprop's per epoch (mean over seeds) at one depth and P, with
    layers renamed by their distance from the output."""
    cos = ds["signal_alignment_by_epoch"].sel(L=L, P_scale=P_scale).mean("seed", skipna=True)
    return _by_distance(cos, L)


def _by_distance(cos: xr.DataArray, L: int) -> xr.DataArray:
    """The hidden layers of a depth-L network, renamed by their distance from the output."""
    layers = [l for l in cos.layer.values if l <= L]
    return cos.sel(layer=layers).assign_coords(layer=[int(L - l + 1) for l in layers]) \
        .rename(layer="distance")


def plot_scaling(ds: xr.Dataset, rows: list[dict], out_dir, P_scale: float | None = None) -> list:
    """scaling_p_star (P*/(n_c m^L) against L), scaling_alignment (cosine against distance
    from the output) and scaling_alignment_training (cosine over training at the deepest L),
    each as PNG and PDF; returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vs = sorted({r["v"] for r in rows}, key=lambda v: (v is None, v))
    paths = [_p_star_against_depth(ds, rows, vs, out_dir / "scaling_p_star")]
    part = ds.sel(v=vs[0]) if "v" in ds.dims else ds
    if "signal_alignment_mean" in ds:
        paths.append(_alignment_against_distance(part, P_scale, out_dir / "scaling_alignment"))
    if "signal_alignment_by_epoch" in ds:
        paths.append(_alignment_training(part, P_scale, out_dir / "scaling_alignment_training"))
    return paths


def _p_star_against_depth(ds, rows, vs, path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(vs), figsize=(5.0 * len(vs), 3.8), squeeze=False)
    for ax, v in zip(axes[0], vs):
        rules = list(dict.fromkeys(r["rule"] for r in rows))
        for index, rule in enumerate(rules):
            sel = [r for r in rows if r["rule"] == rule and r["v"] == v]
            L = [r["L"] for r in sel]
            y = [r["p_star"].value for r in sel]
            lo = [r["seed_min"] for r in sel]
            hi = [min(r["seed_max"], r["largest"]) for r in sel]
            note = count_note(sum(r["diverged"] for r in sel), sum(r["capped"] for r in sel))
            beyond = [r["p_star"].bound == ">" for r in sel]
            # a lower bound is not a measurement: no solid line through it (it would read as
            # a rule getting better where it only ran out of grid)
            measured = [np.nan if b else yi for yi, b in zip(y, beyond)]
            line, = ax.plot(L, measured, marker="o", label=rule + note)
            color = line.get_color()
            ax.fill_between(L, lo, hi, color=color, alpha=0.12)
            # rules bounded at the same P would hide each other: spread them along L a little
            shift = 0.05 * (index - (len(rules) - 1) / 2)
            bounds = [(Li + shift, yi) for Li, yi, b in zip(L, y, beyond) if b]
            if bounds:
                ax.plot(*zip(*bounds), marker="^", mfc="none", color=color, ms=9, ls="none")
        ax.set(yscale="log", xlabel="depth L", ylabel="P* / (n_c m^L)", xticks=sorted(ds.L.values),
               xlim=(min(ds.L.values) - 0.3, max(ds.L.values) + 0.3), title=f"v = n_c = m = {v}")
        ax.legend(fontsize=7)
    fig.suptitle("open triangle: not reached at the largest P run (P* lies above)", fontsize=11)
    return save_figure(fig, path)


def _alignment_against_distance(part, P_scale, path):
    import matplotlib.pyplot as plt

    cos = alignment_by_distance(part, P_scale)
    fig, axes = plt.subplots(1, cos.sizes["L"], figsize=(3.6 * cos.sizes["L"], 3.4),
                             squeeze=False, sharey=True)
    for ax, L in zip(axes[0], cos.L.values):
        for rule in cos.rule.values:
            c = cos.sel(L=L, rule=rule)
            ax.plot(c.distance.values, c.values, marker="o", label=rule)
        ax.set(title=f"L = {L}, P = {float(cos.sel(L=L).P_scale):g} n_c m^L",
               xlabel="distance from the output (layers)", ylim=(-0.2, 1.05),
               xticks=list(range(1, int(L) + 1)))
    axes[0][0].set_ylabel("cosine of delta with backprop's")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("learning signal vs backprop's, mean over training and seeds, at the largest P "
                 "every rule ran", fontsize=11)
    return save_figure(fig, path)


def _alignment_training(part, P_scale, path):
    import matplotlib.pyplot as plt

    L = int(part.L.values.max())
    P_scale = largest_common_P(part, L) if P_scale is None else P_scale
    cos = alignment_over_training(part, L, P_scale)
    fig, axes = plt.subplots(1, cos.sizes["distance"], figsize=(3.2 * cos.sizes["distance"], 3.2),
                             squeeze=False, sharey=True)
    for ax, d in zip(axes[0], sorted(cos.distance.values)):
        for rule in cos.rule.values:
            c = cos.sel(rule=rule, distance=d)
            keep = np.isfinite(c.values)
            ax.plot(c.epoch.values[keep] + 1, c.values[keep], label=rule)
        ax.set(title=f"{d} layer{'s' if d > 1 else ''} below the output", xlabel="epoch",
               xscale="log", ylim=(-0.2, 1.05))
    axes[0][0].set_ylabel("cosine of delta with backprop's")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"over training, L = {L}, P = {P_scale:g} n_c m^L (mean over seeds)", fontsize=11)
    return save_figure(fig, path)
