"""Tables and figures of sweep results: accuracy vs P, P*, sensitivity, alignment.

Every function takes a combined Dataset (dims rule, P or P_scale, seed, ...). Axes beyond
rule and P become facets: one figure per combination, named with its values.
"""

from __future__ import annotations

import contextlib
import itertools
import textwrap
from pathlib import Path

import numpy as np
import xarray as xr

from .analysis.sample_complexity import (count_runs, sample_complexity, scored_accuracy,
                                         seed_mean, seed_sd)
from .errors import ParameterError

CORE = ("rule", "P", "P_scale", "seed")


def p_axis(ds: xr.Dataset) -> str:
    for name in ("P", "P_scale"):
        if name in ds.test_accuracy.dims:
            return name
    raise ParameterError("result", "has no P or P_scale dimension: not a sweep over P")


def facets(ds: xr.Dataset):
    """(suffix, selection) for every combination of the axes beyond rule and P."""
    extra = [d for d in ds.test_accuracy.dims if d not in CORE]
    for values in itertools.product(*(ds[d].values for d in extra)):
        sel = dict(zip(extra, values))
        named = {k: v for k, v in sel.items() if ds.sizes[k] > 1}  # single values name nothing
        yield "".join(f"_{k}{v}" for k, v in named.items()), ds.sel(sel)


def scored_name(ds: xr.Dataset) -> str:
    """What a table scores: the test accuracy, or, for a result without a test set (a
    search: ``n_test = 0``), the validation accuracy."""
    tested = np.isfinite(ds.test_accuracy.values).any()
    return "test_accuracy" if tested or "val_accuracy" not in ds else "val_accuracy"


def protocol_note(ds: xr.Dataset) -> str:
    """One line that says how a result's numbers were made: the evaluator, how data was
    counted, how diverged runs count."""
    evaluator = ds.test_accuracy.attrs.get("evaluator")
    name = {"readout": "the network's own readout",
            "probe": "a linear probe of the top hidden layer"}.get(evaluator, "test accuracy "
                                                                          "(evaluator not recorded)")
    where = "test set, read once" if scored_name(ds) == "test_accuracy" else \
        "validation set: this result has no test set"
    return (f"Evaluator: {name} ({where}). P counts every input a learner sees "
            "(each view, each fixation). A diverged run scores chance; 'diverged' and 'cap' "
            "count the runs that diverged or reached the epoch cap, over all P.")


def p_star_table(ds: xr.Dataset, threshold: float = 0.9) -> str:
    """Markdown: P* per rule (and facet), first and stable crossing, P*/(n_c m^L), accuracy at
    the largest P, diverged and capped runs, probes and alignment where recorded."""
    axis = p_axis(ds)
    rows = [protocol_note(ds), ""]
    for suffix, part in facets(ds):
        # the grid's largest P that any rule ran (a partial grid leaves the rest NaN)
        ran_at = _ran(part, axis)
        if ran_at.any() and not ran_at.all():
            part = part.sel({axis: part[axis].values[:int(np.flatnonzero(ran_at.values)[-1]) + 1]})
        x = part[axis].values
        largest = f"{axis} = {x[-1]:g}"
        head = (f"| rule{' (' + suffix.strip('_') + ')' if suffix else ''} | P* ({threshold:.0%}) | "
                f"stable P* | P* / (n_c m^L) | accuracy at {largest} | diverged | cap |")
        has_alignment = "signal_alignment_mean" in part
        has_probes = "probe_accuracy" in part
        if has_probes:
            head += f" probe accuracy at {largest}, layers 0..L |"
        if has_alignment:
            head += (" delta alignment with bp over training, layers 1..L |"
                     " update alignment with bp over training, layers 1..L |")
        rows += [head, "|" + "---|" * (head.count("|") - 1)]
        part, missing = _with_runs(part)
        scored = scored_accuracy(part, scored_name(part))
        for rule in part.rule.values:
            acc = scored.sel(rule=rule).transpose("seed", axis).values
            first = sample_complexity(x, acc, threshold)
            stable = sample_complexity(x, acc, threshold, stable=True)
            scale = _scale(part, rule, axis)
            in_p = (lambda v: v * scale) if axis == "P_scale" else (lambda v: v)  # noqa: E731
            ratio = first.value / scale if axis == "P" else first.value
            last = acc[:, -1]
            one = part.sel(rule=rule)
            at_largest = f"{seed_mean(last):.3f} ± {seed_sd(last):.3f}" \
                if np.isfinite(last).any() else "not run"
            row = (f"| {rule} | {_bound(first)}{in_p(first.value):.0f} | "
                   f"{_bound(stable)}{in_p(stable.value):.0f} | {_bound(first)}{ratio:.2g} | "
                   f"{at_largest} | "
                   f"{count_runs(one, 'diverged')} | {count_runs(one, 'stopped_by', 'cap')} |")
            if has_probes:
                probe = part.probe_accuracy.sel(rule=rule).isel({axis: -1}).transpose("seed", ...)
                row += (" " + " / ".join(f"{a:.2f}" for a in seed_mean(probe.values))
                        if np.isfinite(probe.values).any() else " not run") + " |"
            if has_alignment:
                for name in ("signal_alignment_mean", "update_alignment_mean"):
                    row += " " + " / ".join(f"{a:.2f}" for a in _late(part, rule, name, axis)) + " |"
            rows.append(row)
        if missing:
            rows.append(f"\nNot run (no cell of theirs on disk): {', '.join(missing)}.")
        rows.append("")
    return "\n".join(rows).rstrip()


def _ran(part: xr.Dataset, along: str) -> xr.DataArray:
    """Along one axis (rule, P), whether any run there has a score."""
    scored = scored_accuracy(part, scored_name(part))
    return np.isfinite(scored).any([d for d in scored.dims if d != along])


def _with_runs(part: xr.Dataset) -> tuple[xr.Dataset, list[str]]:
    """The rules with at least one run (a grid run in part leaves the others all NaN), and
    the names of the others."""
    ran = _ran(part, "rule")
    missing = [str(r) for r in part.rule.values[~ran.values]]
    return (part.sel(rule=part.rule.values[ran.values]) if missing else part), missing


def run_counts(part) -> str:
    """' (2 diverged, 1 at cap)' for a legend; empty when every run stopped on its own."""
    return count_note(count_runs(part, "diverged"), count_runs(part, "stopped_by", "cap"))


def count_note(diverged: int, capped: int) -> str:
    """' (2 diverged, 1 at cap)' from the counts; empty when both are 0."""
    counts = [f"{n} {what}" for n, what in ((diverged, "diverged"), (capped, "at cap")) if n]
    return f" ({', '.join(counts)})" if counts else ""


def _bound(star) -> str:
    return {"=": "", "<=": "<= ", ">": "> "}[star.bound]


def _late(part, rule, name, axis) -> np.ndarray:
    """Alignment per layer over training, mean over seeds, at the largest P that has it
    (hidden layers only for update alignment)."""
    values = part[name].sel(rule=rule)
    other = [d for d in values.dims if d not in (axis, "seed")]
    has = np.isfinite(values).any(["seed", *other]).values
    if not has.any():
        return np.full(len(part.layer) if "layer" in part.dims else 0, np.nan)
    chosen = values.isel({axis: np.flatnonzero(has)[-1]})
    mean = seed_mean(chosen.transpose("seed", ...).values)
    return mean[:len(part.layer)] if name.startswith("update") else mean


def _scale(part, rule, axis) -> float:
    scale = part["sample_complexity_scale"].sel(rule=rule)
    return float(np.nanmax(scale.values))


def plot_result(ds: xr.Dataset, out_dir: str | Path, threshold: float = 0.9) -> list[Path]:
    """Every figure the result supports, as PNG and PDF; returns the PNG paths. Each figure
    of one facet (one value of every extra axis) is also a function returning a matplotlib
    Figure: :func:`accuracy_figure`, :func:`p_star_figure`, :func:`sensitivity_figure`,
    :func:`alignment_figure`."""
    import matplotlib

    matplotlib.use("Agg")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, part in facets(ds):
        part, _ = _with_runs(part)
        if not part.sizes["rule"]:
            continue
        paths.append(save_figure(accuracy_figure(part, threshold), out_dir / f"accuracy{suffix}"))
        paths.append(save_figure(p_star_figure(part, threshold), out_dir / f"p_star{suffix}"))
        if "sensitivity" in part:
            paths.append(save_figure(sensitivity_figure(part), out_dir / f"sensitivity{suffix}"))
        if "update_alignment" in part and np.isfinite(part.update_alignment.values).any():
            paths.append(save_figure(alignment_figure(part), out_dir / f"alignment{suffix}"))
    return paths


DPI = 300  # print resolution
FORMATS = ("png", "pdf", "svg")
# TrueType (42) instead of Type 3 fonts: journals' PDF checks reject Type 3
FONTS = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}
_output = {"formats": ("png", "pdf"), "dpi": DPI}


@contextlib.contextmanager
def figure_output(formats=("png", "pdf"), dpi: int = DPI):
    """Within this block, :func:`save_figure` writes these formats at this resolution."""
    formats = tuple(formats)
    if not formats or set(formats) - set(FORMATS):
        raise ParameterError("format", f"must be some of {', '.join(FORMATS)}; got {formats}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 10 <= dpi <= 2400:
        raise ParameterError("dpi", f"must be an integer in [10, 2400]; got {dpi!r}")
    before = dict(_output)
    _output.update(formats=formats, dpi=dpi)
    try:
        yield
    finally:
        _output.update(before)


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` in each format of :func:`figure_output` (PNG at 300 dpi and PDF with
    TrueType fonts unless told otherwise) beside each other; returns the first file's path."""
    import matplotlib
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)  # appended, not with_suffix: a facet named "lr_factor0.3" has a dot
    with matplotlib.rc_context(FONTS):
        for ext in _output["formats"]:
            fig.savefig(path.with_name(f"{path.name}.{ext}"), dpi=_output["dpi"])
    plt.close(fig)
    return path.with_name(f"{path.name}.{_output['formats'][0]}")


def projection_name(k: int, n_projections: int) -> str:
    """Projection k (0 = input -> layer 1) as the populations it joins."""
    pre = "input" if k == 0 else f"layer {k}"
    post = "readout" if k == n_projections - 1 else f"layer {k + 1}"
    return f"{pre} -> {post}"


def accuracy_figure(part: xr.Dataset, threshold: float = 0.9):
    """Test accuracy against P per rule: mean over seeds (diverged runs at chance), a band
    of one standard deviation, P* marked, the threshold, chance and n_c m^L drawn."""
    import matplotlib.pyplot as plt

    axis = p_axis(part)
    x = part[axis].values
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    scored = scored_accuracy(part)
    for rule in part.rule.values:
        acc = scored.sel(rule=rule).transpose("seed", axis).values
        mean, sd = seed_mean(acc), seed_sd(acc)
        line, = ax.plot(x, mean, marker="o", ms=4, label=rule + run_counts(part.sel(rule=rule)))
        ax.fill_between(x, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
        star = sample_complexity(x, acc, threshold)
        if star.bound == "=":
            ax.plot([star.value], [threshold], marker="|", ms=14, color=line.get_color())
    ax.axhline(threshold, color="grey", lw=0.8, ls="--")
    if "chance_accuracy" in part:
        ax.axhline(float(np.nanmax(part["chance_accuracy"].values)), color="k", lw=0.8,
                   ls="-.", label="chance")
    scale = 1.0 if axis == "P_scale" else float(np.nanmax(part["sample_complexity_scale"].values))
    ax.axvline(scale, color="grey", lw=0.8, ls=":", label="n_c m^L")
    ax.set(xscale="log", ylim=(0, 1.02),
           ylabel=f"test accuracy ({part.test_accuracy.attrs.get('evaluator', '?')})",
           xlabel="P / (n_c m^L)" if axis == "P_scale" else "training-set size P",
           )
    ax.set_title(textwrap.fill(part.attrs.get("title", ""), 80), fontsize=10)  # fits the axes
    ax.legend(fontsize=8, ncol=2)
    return fig


def p_star_figure(part: xr.Dataset, threshold: float = 0.9):
    """P* per rule as bars, next to n_c m^L."""
    import matplotlib.pyplot as plt

    axis = p_axis(part)
    x = part[axis].values
    rules = list(part.rule.values)
    values, hatches = [], []
    scored = scored_accuracy(part)
    for rule in rules:
        star = sample_complexity(x, scored.sel(rule=rule).transpose("seed", axis).values, threshold)
        scale = _scale(part, rule, axis) if axis == "P_scale" else 1.0
        values.append(star.value * scale)
        hatches.append("//" if star.bound == ">" else "")
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    bars = ax.bar(rules, values, color="tab:blue", alpha=0.8)
    for bar, hatch in zip(bars, hatches):
        bar.set_hatch(hatch)
    ax.axhline(float(np.nanmax(part["sample_complexity_scale"].values)), color="k", ls=":",
               label="n_c m^L")
    ax.set(yscale="log", ylabel=f"P* ({threshold:.0%} test accuracy)",
           title="P* per rule (hatched: beyond the grid)")
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=30)
    return fig


def sensitivity_figure(part: xr.Dataset):
    """Synonymic sensitivity per hidden layer and level, at the largest P."""
    import matplotlib.pyplot as plt

    axis = p_axis(part)
    last = part.sel({axis: part[axis].values[-1]})
    levels = last.level.values
    fig, axes = plt.subplots(1, len(levels), figsize=(3.2 * len(levels), 3.4), sharey=True,
                             squeeze=False)
    for ax, level in zip(axes[0], levels):
        for rule in last.rule.values:
            s = last.sensitivity.sel(rule=rule, level=level).transpose("seed", "layer").values
            ax.plot(last.layer.values, seed_mean(s), marker="o", label=rule)
        ax.set(title=f"productions below level {level} redrawn", xlabel="hidden layer",
               xticks=last.layer.values)
    axes[0][0].set_ylabel("synonymic sensitivity")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"after training at {axis} = {last[axis].values:g}", fontsize=11)
    return fig


def alignment_figure(part: xr.Dataset, window: int = 25):
    """Cosine with backprop's update over training, per projection; a running mean over
    ``window`` checkpoints, mean over seeds, against epochs (presentations / P)."""
    import matplotlib.pyplot as plt

    axis = p_axis(part)
    has = np.isfinite(part.update_alignment).any(["rule", "seed", "checkpoint", "projection"])
    chosen = part.sel({axis: part[axis].values[has.values][-1]})
    projections = chosen.projection.values
    fig, axes = plt.subplots(1, len(projections), figsize=(3.0 * len(projections), 3.2),
                             sharey=True, squeeze=False)
    # rules whose curves coincide (bp and bp_nomask) stay visible: dashes, drawn last first
    styles = itertools.cycle(["-", "--", ":", "-."])
    style = {rule: next(styles) for rule in chosen.rule.values}
    for ax, k in zip(axes[0], projections):
        for z, rule in enumerate(chosen.rule.values[::-1]):
            a = chosen.update_alignment.sel(rule=rule, projection=k).transpose("seed", "checkpoint")
            mean = seed_mean(a.values)
            keep = np.isfinite(mean)
            if not keep.any():
                continue
            smooth = np.convolve(mean[keep], np.ones(window) / window, mode="valid") \
                if keep.sum() > window else mean[keep]
            size = chosen["training_set_size"].sel(rule=rule) if "training_set_size" in chosen \
                else chosen["P"]
            when = (chosen.checkpoint_presentation.sel(rule=rule).values + 1) / float(size)
            when = when[keep][len(mean[keep]) - len(smooth):]
            ax.plot(when, smooth, label=rule, ls=style[rule], zorder=2 + z)
        ax.set(title=projection_name(int(k), len(projections)), xlabel="epoch",
               ylim=(-0.2, 1.05), xscale="log")
    axes[0][0].set_ylabel("cosine with backprop's update")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    axes[0][-1].legend(handles[::-1], labels[::-1], fontsize=7)
    fig.suptitle(f"alignment over training at {axis} = {chosen[axis].values:g} (running mean over "
                 f"{window} checkpoints)", fontsize=11)
    return fig
