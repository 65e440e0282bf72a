"""Figures of one train result (dims seed, epoch, ...): each function returns a matplotlib
Figure, :func:`plot_run` writes every one the result supports.

Learning curves, probe accuracy per layer, synonymic sensitivity per layer, alignment with
backprop per projection over training, the representational comparison of each layer with
each level of the tree, the first layer's receptive fields (``record_weights``) and the
weight and weight-change distributions over training (plasticity statistics).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from .analysis.sample_complexity import seed_mean
from .errors import ParameterError
from .plots import projection_name, save_figure


def is_run(ds: xr.Dataset) -> bool:
    """A train result (one ensemble), not a sweep's combined result."""
    return "seed" in ds.dims and "rule" not in ds.dims and "train_loss" in ds


def _title(ds) -> str:
    return (f"{ds.attrs.get('rule', '?')}, P = {ds.attrs.get('P', '?')}, L = "
            f"{ds.attrs.get('L', '?')}, seeds {ds.attrs.get('seeds', '?')}")


def _each_seed(ax, ds, values, x, label_every=True):
    """One line per seed; ``x`` is shared, or one row per seed."""
    for i, seed in enumerate(ds.seed.values):
        ax.plot(x[i] if np.ndim(x) == 2 else x, values[i], lw=1, alpha=0.8,
                label=f"seed {seed}" if label_every else None)


def _in_epochs(ds, presentations: np.ndarray) -> np.ndarray:
    """Presentations in epochs of P: one row per seed when the seeds' P differ (a packed run)."""
    P = np.maximum(np.atleast_1d(ds.attrs.get("P", 1)).astype(float), 1.0)
    return presentations / P[0] if P.size == 1 else presentations[None, :] / P[:, None]


def learning_curves(ds: xr.Dataset):
    """Training loss and validation accuracy of the readout per epoch, one line per seed;
    the epoch each seed kept (early stopping) marked."""
    import matplotlib.pyplot as plt

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(9, 3.6))
    epochs = ds.epoch.values
    _each_seed(loss_ax, ds, ds.train_loss.values, epochs)
    loss = ds.train_loss.values[np.isfinite(ds.train_loss.values)]
    spans = loss.size and loss.min() > 0 and loss.max() / loss.min() > 20  # log only if it helps
    loss_ax.set(xlabel="epoch", ylabel="training loss (nats)",
                yscale="log" if spans else "linear", title="training loss")
    _each_seed(acc_ax, ds, ds.val_readout_accuracy.values, epochs, label_every=False)
    for i, best in enumerate(ds.best_epoch.values):
        if best >= 0:
            acc_ax.plot([best], [ds.val_readout_accuracy.values[i, int(best)]], "k|", ms=12)
    if "chance_accuracy" in ds:
        acc_ax.axhline(float(ds.chance_accuracy), color="k", lw=0.8, ls="-.", label="chance")
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy (readout)", ylim=(0, 1.02),
               title="validation accuracy (|: epoch kept)")
    loss_ax.legend(fontsize=7)
    acc_ax.legend(fontsize=7)
    fig.suptitle(_title(ds), fontsize=11)
    return fig


def probe_profile(ds: xr.Dataset):
    """Test accuracy of a linear probe of every layer (0 = the input), mean and seeds."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    layers = ds.probe_layer.values
    acc = ds.probe_accuracy.transpose("seed", "probe_layer").values
    if not np.isfinite(acc).any():  # no test set: the validation probes
        acc = ds.probe_val_accuracy.transpose("seed", "probe_layer").values
    for row in acc:
        ax.plot(layers, row, color="grey", lw=0.8, alpha=0.6)
    ax.plot(layers, seed_mean(acc), "o-", color="tab:blue", label="mean over seeds")
    if "chance_accuracy" in ds:
        ax.axhline(float(ds.chance_accuracy), color="k", lw=0.8, ls="-.", label="chance")
    ax.set(xlabel="layer (0 = the input)", ylabel="linear probe accuracy", xticks=layers,
           ylim=(0, 1.02), title="what each layer makes linearly readable")
    ax.legend(fontsize=7)
    fig.suptitle(_title(ds), fontsize=11)
    return fig


def sensitivity_profile(ds: xr.Dataset):
    """Synonymic sensitivity of every hidden layer, one line per level redrawn."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for level in ds.level.values:
        s = ds.sensitivity.sel(level=level).transpose("seed", "layer").values
        ax.plot(ds.layer.values, seed_mean(s), "o-", label=f"redrawn below level {level}")
    ax.axhline(1, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="hidden layer", ylabel="synonymic sensitivity (1 = unrelated inputs)",
           xticks=ds.layer.values, title="invariance to synonyms")
    ax.legend(fontsize=7)
    fig.suptitle(_title(ds), fontsize=11)
    return fig


def alignment_profile(ds: xr.Dataset):
    """Cosine of the rule's update with backprop's gradient over training, per projection."""
    import matplotlib.pyplot as plt

    projections = ds.projection.values
    fig, axes = plt.subplots(1, len(projections), figsize=(3.0 * len(projections), 3.2),
                             sharey=True, squeeze=False)
    when = _in_epochs(ds, ds.checkpoint_presentation.values)
    for ax, k in zip(axes[0], projections):
        values = ds.update_alignment.sel(projection=k).transpose("seed", "checkpoint").values
        _each_seed(ax, ds, values, when, label_every=k == projections[0])
        ax.set(title=projection_name(int(k), len(projections)), xlabel="epoch",
               ylim=(-1.05, 1.05))
        ax.axhline(0, color="grey", lw=0.6)
    axes[0][0].set_ylabel("cosine with backprop's update")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(_title(ds), fontsize=11)
    return fig


def representation_profile(ds: xr.Dataset):
    """Rank correlation of each layer's dissimilarity matrix with each tree level's."""
    import matplotlib.pyplot as plt

    rs = ds.representational_similarity.mean("seed").transpose("layer", "tree_level")
    fig, ax = plt.subplots(figsize=(5, 3.6))
    image = ax.imshow(rs.values, cmap="viridis", vmin=-1, vmax=1, aspect="auto")
    ax.set(xticks=range(rs.sizes["tree_level"]), xticklabels=rs.tree_level.values,
           yticks=range(rs.sizes["layer"]), yticklabels=rs.layer.values,
           xlabel="tree level", ylabel="layer", title="which layer encodes which level")
    for (i, j), value in np.ndenumerate(rs.values):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w")
    fig.colorbar(image, ax=ax, label="Spearman correlation")
    fig.suptitle(_title(ds), fontsize=11)
    return fig


def receptive_fields(ds: xr.Dataset, seed_index: int = 0, n_units: int = 16):
    """The first hidden layer's trained weights, one panel per unit (the ``n_units`` with the
    largest weight norm, of one seed): rows the input tokens, columns the positions inside
    the unit's receptive field. An LCN shows its leftmost field."""
    import matplotlib.pyplot as plt

    w = ds.input_weights.isel(seed=seed_index)
    if "field" in w.dims:
        w = w.isel(field=0)
    w = w.transpose("unit", "token", "input_offset")
    norms = np.sqrt((w ** 2).sum(("token", "input_offset"))).values
    units = np.argsort(-np.nan_to_num(norms))[:n_units]
    cols = min(8, len(units))
    rows = int(np.ceil(len(units) / cols))
    # a narrow last column holds the colour bar, so that tight_layout places it too
    fig, grid = plt.subplots(rows, cols + 1, figsize=(1.2 * cols + 1.2, 1.5 * rows + 0.8),
                             squeeze=False, gridspec_kw={"width_ratios": [1] * cols + [0.12]})
    axes, bar_axes = grid[:, :cols], grid[:, cols]
    scale = float(np.nanmax(np.abs(w.values))) or 1.0
    for ax in grid.flat:
        ax.axis("off")
    for ax, unit in zip(axes.flat, units):
        image = ax.imshow(w.sel(unit=w.unit.values[unit]).values, cmap="RdBu_r", vmin=-scale,
                          vmax=scale, aspect="auto")
        ax.set_title(f"unit {int(w.unit.values[unit])}", fontsize=7)
        ax.axis("on")
        ax.set(xticks=[], yticks=[])
    axes[0][0].set(ylabel="token", xlabel="position")
    bar_axes[0].axis("on")
    fig.colorbar(image, cax=bar_axes[0], label="weight")
    fig.suptitle(f"{_title(ds)}: layer-1 receptive fields, seed {int(ds.seed.values[seed_index])}",
                 fontsize=10)
    return fig


def weight_distributions(ds: xr.Dataset, seed_index: int = 0):
    """Per projection, the weights' and the weight changes' quantiles over training (one
    seed): the median as a line, 25-75% and 5-95% as bands."""
    import matplotlib.pyplot as plt

    projections = ds.projection.values
    fig, axes = plt.subplots(2, len(projections), figsize=(3.0 * len(projections), 5.6),
                             sharex=True, squeeze=False)
    when = _in_epochs(ds, ds.stats_presentation.values)
    when = when[seed_index] if when.ndim == 2 else when
    for col, k in enumerate(projections):
        for row, (name, label) in enumerate((("w_quantiles", "weight"),
                                             ("dw_quantiles", "weight change per step"))):
            q = ds[name].isel(seed=seed_index).sel(projection=k).transpose(
                "stats_checkpoint", "quantile").values
            ax = axes[row][col]
            ax.fill_between(when, q[:, 0], q[:, 4], alpha=0.2, color="tab:blue", label="5-95%")
            ax.fill_between(when, q[:, 1], q[:, 3], alpha=0.4, color="tab:blue", label="25-75%")
            ax.plot(when, q[:, 2], color="tab:blue", lw=1, label="median")
            ax.axhline(0, color="grey", lw=0.6)
            if col == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(projection_name(int(k), len(projections)), fontsize=9)
            else:
                ax.set_xlabel("epoch")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{_title(ds)}: distributions over training, seed "
                 f"{int(ds.seed.values[seed_index])}", fontsize=10)
    return fig


FIGURES = {"learning_curves": (learning_curves, "train_loss"),
           "probes": (probe_profile, "probe_accuracy"),
           "sensitivity": (sensitivity_profile, "sensitivity"),
           "alignment": (alignment_profile, "update_alignment"),
           "representation": (representation_profile, "representational_similarity"),
           "receptive_fields": (receptive_fields, "input_weights"),
           "weights": (weight_distributions, "w_quantiles")}


def plot_run(ds: xr.Dataset, out_dir: str | Path) -> list[Path]:
    """Every figure a train result supports, written to ``out_dir``; returns the paths."""
    import matplotlib

    matplotlib.use("Agg")
    if not is_run(ds):
        raise ParameterError("result", "is not a train result (one ensemble over seeds)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [save_figure(draw(ds), out_dir / name) for name, (draw, needs) in FIGURES.items()
            if needs in ds and np.isfinite(ds[needs].values).any()]
