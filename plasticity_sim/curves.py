"""Accuracy-vs-P curves for several models, their P* table, and their plot.

The building block of the demonstration and of the sample-complexity experiments: each
(model, P) is one ensemble run over the seeds; the results form one Dataset with dims
(rule, P, seed).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .analysis.alignment import AlignmentMonitor
from .analysis.sample_complexity import sample_complexity, seed_mean, seed_sd
from .backends.torch.train import train
from .model import Model
from .provenance import global_attrs
from .rhm.grammar import Grammar

PER_RUN = {"test_accuracy": "test accuracy", "final_train_accuracy": "training-set accuracy after "
           "training", "epochs_trained": "epochs run", "diverged_at": "presentation at which the "
           "loss diverged (-1: never)"}


def accuracy_curves(models: dict[str, Model], grammar: Grammar, P_grid: Sequence[int],
                    seeds: Sequence[int], *, n_test: int = 20_000, alignment_at: int | None = None,
                    device: str = "cpu", quiet: bool = False) -> xr.Dataset:
    """Train every model at every P (an ensemble over ``seeds``); collect the results.

    With ``alignment_at`` = P, the runs at that P also record the cosine between each
    rule's delta_l and backprop's (late-training mean over the last five checkpoints).
    """
    P_grid, seeds = [int(p) for p in P_grid], [int(s) for s in seeds]
    shape = (len(models), len(P_grid), len(seeds))
    data = {name: np.full(shape, np.nan) for name in PER_RUN}
    layers = next(iter(models.values())).architecture(grammar).depth
    alignment = np.full((len(models), layers), np.nan)
    update_alignment = np.full((len(models), layers + 1), np.nan)
    started = time.time()
    cells = tqdm(total=len(models) * len(P_grid), desc="curves", unit="run", disable=quiet)
    for i, (label, model) in enumerate(models.items()):
        for j, P in enumerate(P_grid):
            monitors = [AlignmentMonitor(every=8)] if P == alignment_at else []
            ds = train(model, grammar, P, seeds, n_test=n_test, quiet=True, device=device,
                       on_divergence="mask", monitors=monitors).to_dataset()
            for name in PER_RUN:
                data[name][i, j] = ds[name].values
            if "signal_alignment" in ds:  # late in training: mean of the last five checkpoints
                alignment[i] = ds.signal_alignment.mean("seed").values[-5:].mean(0)
            if "update_alignment" in ds:
                update_alignment[i] = ds.update_alignment.mean("seed").values[-5:].mean(0)
            cells.set_postfix(rule=label, P=P, acc=f"{seed_mean(data['test_accuracy'][i, j]):.3f}")
            cells.update()
    cells.close()
    result = xr.Dataset(
        {name: (("rule", "P", "seed"), values, {"long_name": PER_RUN[name], "units": "1"})
         for name, values in data.items()},
        coords={"rule": list(models), "seed": ("seed", seeds, {"long_name": "seed", "units": "1"}),
                "P": ("P", P_grid, {"long_name": "training-set size", "units": "1"})})
    if alignment_at is not None:
        result["signal_alignment"] = xr.Variable(
            ("rule", "layer"), alignment,
            {"long_name": f"cosine of delta_l with backprop's late in training at P = {alignment_at}",
             "units": "1"})
        result["update_alignment"] = xr.Variable(
            ("rule", "projection"), update_alignment,
            {"long_name": "cosine of each projection's weight update with backprop's late in "
                          f"training at P = {alignment_at} (last = readout)", "units": "1"})
        result = result.assign_coords(layer=np.arange(1, layers + 1),
                                      projection=np.arange(layers + 1))
    config = {"grammar": grammar.params, "P": P_grid, "seeds": seeds, "n_test": n_test,
              "models": {label: m.to_dict() for label, m in models.items()}}
    result.attrs.update(global_attrs("Accuracy vs training-set size on the RHM", config),
                        sample_complexity_scale=grammar.sample_complexity_scale,
                        wall_time_s=round(time.time() - started, 1))
    return result


def p_star_table(result: xr.Dataset, threshold: float = 0.9) -> str:
    """Markdown: P* per rule, P*/(n_c m^L), accuracy at the largest P, alignment per layer."""
    P = result.P.values
    scale = float(result.attrs.get("sample_complexity_scale", np.nan))
    has_alignment = "signal_alignment" in result
    head = f"| rule | P* ({threshold:.0%}) | P* / (n_c m^L) | accuracy at P = {P[-1]} |"
    head += " delta alignment with bp, layers 1..L | update alignment with bp, layers 1..L |" \
        if has_alignment else ""
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    for rule in result.rule.values:
        acc = result.test_accuracy.sel(rule=rule).transpose("seed", "P").values
        star = sample_complexity(P, acc, threshold)
        ratio = {"=": "", "<=": "<= ", ">": "> "}[star.bound] + f"{star.value / scale:.2g}"
        last = acc[:, -1]
        row = f"| {rule} | {star} | {ratio} | {seed_mean(last):.3f} ± {seed_sd(last):.3f} |"
        if has_alignment:
            for name in ("signal_alignment", "update_alignment"):
                values = result[name].sel(rule=rule).values if name in result else []
                values = values[:len(result.layer)]  # hidden layers only
                row += " " + " / ".join(f"{a:.2f}" for a in values) + " |"
        rows.append(row)
    return "\n".join(rows)


def plot_curves(result: xr.Dataset, path: str | Path, threshold: float = 0.9, title: str = ""):
    """Accuracy vs P per rule (mean, band = sd over seeds), threshold and n_c m^L marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = result.P.values
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for rule in result.rule.values:
        acc = result.test_accuracy.sel(rule=rule).transpose("seed", "P").values
        mean, sd = seed_mean(acc), seed_sd(acc)
        line, = ax.plot(P, mean, marker="o", ms=4, label=rule)
        ax.fill_between(P, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
        star = sample_complexity(P, acc, threshold)
        if star.bound == "=":
            ax.plot([star.value], [threshold], marker="|", ms=14, color=line.get_color())
    ax.axhline(threshold, color="grey", lw=0.8, ls="--")
    scale = result.attrs.get("sample_complexity_scale")
    if scale:
        ax.axvline(float(scale), color="grey", lw=0.8, ls=":", label="n_c m^L")
    ax.set(xscale="log", xlabel="training-set size P", ylabel="test accuracy", ylim=(0, 1.02),
           title=title)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".pdf"):
        fig.savefig(path.with_suffix(suffix), dpi=130)
    plt.close(fig)
    return path.with_suffix(".png")
