"""Rerun a result from its own file: the configuration a train or sweep result records is
enough to compute it again, bit for bit on the same machine and library versions."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import ParameterError
from .io import open_dataset

KNOWN_MONITORS = {"AlignmentMonitor", "PlasticityMonitor", "TermMonitor"}


def result_kind(ds: xr.Dataset) -> str:
    """'sweep' (a combined experiment result), 'train' (one ensemble) or an error."""
    if "experiment" in ds.attrs:
        return "sweep"
    config = json.loads(ds.attrs.get("config", "{}") or "{}")
    if "model" in config and "requested" in config:
        return "train"
    raise ParameterError("result", "holds no configuration to rerun: not a train or sweep "
                         "result, or written by a version that did not record one (a train "
                         "result needs config.requested)")


def rerun_train(ds: xr.Dataset, out, *, quiet: bool = False, device: str | None = None) -> xr.Dataset:
    """Train again what a train result recorded (same model, grammar, seeds, rates, sizes,
    evaluator and analysis) and write it to ``out``."""
    from .model import Model
    from .rhm.grammar import Grammar
    from .runs import make_monitors, run_and_write

    config = json.loads(ds.attrs["config"])
    analysis = dict(config.get("analysis", {}))
    unknown = [name for name in config.get("monitors", []) if name not in KNOWN_MONITORS]
    if unknown:
        warnings.warn(f"monitors {unknown} were attached from Python and are not rerun",
                      stacklevel=2)
    monitors = make_monitors(**{key: analysis.pop(key) for key in
                                ("alignment_every", "plasticity_every", "terms", "terms_every")
                                if key in analysis})
    requested = config["requested"]
    data, P = Grammar(**config["grammar"]), requested.get("P")
    if "stream" in requested:  # a stream is fixed by its kind, parameters and grammar
        from .rhm import make_stream

        spec = dict(requested["stream"])
        recorded = spec.pop("digest", None)
        data = make_stream(spec.pop("kind"), data, **spec)
        if recorded is not None and data.digest() != recorded:
            raise ParameterError("result", "was trained on a stream its recorded parameters do "
                                 "not rebuild (a stream built by hand, sliced, or with views "
                                 "tagged apart): rerun it from a script with that stream")
    return run_and_write(Model.from_dict(config["model"]), data, P, config["seeds"], out,
                         n_val=requested["n_val"],
                         n_test=requested["n_test"], evaluator=config["evaluator"],
                         lr=config["lr"], epochs=config["epochs"], dtype=config["dtype"],
                         device=device or config["device"],
                         on_divergence=config["on_divergence"], monitors=monitors,
                         quiet=quiet, **analysis)


def finished_cells(ds: xr.Dataset, experiment) -> tuple:
    """The cells of ``experiment`` that the combined result ``ds`` holds (``stopped_by`` is
    empty text where a cell was not run)."""
    cells = []
    for cell in experiment.cells:
        where = {axis: value for axis, value in cell.axes.items() if axis not in experiment.linked}
        if (ds["stopped_by"].sel(where) != "").any():
            cells.append(cell)
    return tuple(cells)


def grid_in_order(grid: dict, axes: list) -> dict:
    """The grid's entries in the order of the result's axes (the recorded JSON sorts them;
    the order fixes the cells' numbering and the dimensions'); a group of linked axes
    (``together``) goes where its first axis was."""
    def place(key):
        names = [key] if key in axes else [name for group in grid[key] if isinstance(group, dict)
                                           for name in group] if key == "together" else []
        found = [axes.index(name) for name in names if name in axes]
        return min(found) if found else len(axes)
    return {key: grid[key] for key in sorted(grid, key=place)}


def rerun_sweep(ds: xr.Dataset, out_dir, **sweep_options) -> xr.Dataset:
    """Run again the cells a combined result holds, into ``out_dir`` (a folder; the result is
    named after the experiment file it recorded)."""
    from .experiment import build_experiment
    from .sweep import run_sweep

    spec = json.loads(ds.attrs["experiment"])
    spec["grid"] = grid_in_order(spec["grid"], json.loads(ds.attrs.get("axes", "[]")))
    recorded = ds.attrs.get("experiment_file", "")
    # model files named by the experiment are found relative to it
    experiment = build_experiment(spec, Path(recorded) if recorded else None)
    return run_sweep(experiment, out_dir, cells=finished_cells(ds, experiment), **sweep_options)


def compare(original: xr.Dataset, new: xr.Dataset, name: str = "test_accuracy") -> str:
    """One line: whether ``name`` (else the validation accuracy) is identical in both."""
    if name not in original or not np.isfinite(original[name].values).any():
        name = "val_accuracy"
    same_dims = set(original[name].dims) == set(new[name].dims)
    a = original[name].values
    b = (new[name].transpose(*original[name].dims) if same_dims else new[name]).values
    if a.shape == b.shape and np.array_equal(a, b, equal_nan=True):
        return f"{name}: identical to the original, bit for bit"
    if a.shape != b.shape:
        return f"{name}: shapes differ ({a.shape} vs {b.shape})"
    return f"{name}: differs from the original by up to {np.nanmax(np.abs(a - b)):.3g}"


def rerun(result, out, *, quiet: bool = False, echo=print, device: str | None = None,
          scheduler: str | None = None, n_workers: int | None = None) -> xr.Dataset:
    """Compute a train or sweep result (a path, or the Dataset already opened) again from
    the configuration it records, write it to ``out`` (a file for train, a folder for
    sweep) and say whether it is identical. ``device`` applies to a train result;
    ``scheduler`` and ``n_workers`` to a sweep."""
    original = result if isinstance(result, xr.Dataset) else open_dataset(result)
    if result_kind(original) == "train":
        if scheduler is not None or n_workers is not None:
            raise ParameterError("scheduler", "a train result reruns on this machine; "
                                 "--scheduler and --workers are for sweep results")
        new = rerun_train(original, out, quiet=quiet, device=device)
    else:
        if device is not None:
            raise ParameterError("device", "a sweep result reruns on the device its experiment "
                                 "file names ([run] device); --device is for train results")
        new = rerun_sweep(original, out, quiet=quiet, echo=echo, scheduler=scheduler,
                          n_workers=n_workers)
    echo(compare(original, new))
    return new
