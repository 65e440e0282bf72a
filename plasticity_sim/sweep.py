"""Sweeps: every cell of an experiment is one task on dask.distributed.

Each finished cell writes one netCDF file atomically (a temporary name, then a rename), so a
file under its final name is always complete; a rerun skips the cells already on disk. A
worker lost mid-cell is replaced and the cell rescheduled by dask; a cell that runs twice
rewrites the same file with the same content, so nothing is duplicated. A cell file damaged
in place is reported and its cell runs again; the temporary files of cells killed while
writing are removed when the next sweep starts. Two sweeps on one folder share the work:
a cell is claimed before it is computed (:mod:`plasticity_sim.claims`). A pack that
trains for long keeps a snapshot in the cells folder every ``SNAPSHOT_EVERY_S`` seconds: a
sweep stopped on its way goes on from it when run again (the same cells, the same result).
The cells combine into one Dataset over the grid's axes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import xarray as xr
from tqdm.auto import tqdm

from . import __version__
from .claims import Claim, is_stale
from .errors import ParameterError, PlasticitySimError, require_int
from .cost import cost_line, estimate
from .experiment import Cell, Experiment
from .io import write_dataset
from .packing import Pack, pack_cells, split
from .provenance import global_attrs
from .sizing import MAX_MEMBERS, available_bytes, check_members_cap
from .sweep_progress import Reporter, listen, pack_label, topic

SCHEDULER_TIMEOUT_S = 10.0  # a scheduler that does not answer by then is not there
STALE_TMP_S = 600.0  # a temporary cell file untouched this long belongs to a killed cell
CLAIM_WAIT_S = 5.0  # how often a sweep looks again at a cell another sweep computes
SNAPSHOT_EVERY_S = 600.0  # a pack stopped on its way loses at most this much training
AXIS_DOCS = {"rule": ("rule (or model label)", "1"), "P": ("training-set size", "1"),
             "P_scale": ("training-set size / (n_classes m^L)", "1"),
             "width": ("channels per hidden layer", "1"), "lr": ("learning rate", "1"),
             "L": ("levels of the hierarchy", "1"), "m": ("synonyms per symbol", "1"),
             "v": ("vocabulary size", "1"), "n_classes": ("classes", "1")}


def run_cell(cell: Cell, cells_dir: str) -> str:
    """Train one cell (an ensemble over its seeds) and write its file; returns its path.

    The cell is claimed first: if another sweep on the same folder computes it, this one
    waits for its file instead of computing it twice."""
    cells_dir = Path(cells_dir)
    cells_dir.mkdir(parents=True, exist_ok=True)
    claim_path = cells_dir / f".claim-{cell.digest}"
    while True:
        done = finished(cells_dir, cell)
        if done is not None:
            return str(done)
        claim = Claim.take(claim_path)
        if claim is not None:
            break
        if is_stale(claim_path):  # its holder died: take it over
            claim_path.unlink(missing_ok=True)
        else:
            time.sleep(CLAIM_WAIT_S)
    with claim:
        return _compute_cell(cell, cells_dir)


def run_pack(pack: Pack, cells_dir: str, cell_fn=None) -> list[str]:
    """Train the cells of a pack as one ensemble and write each cell's file; returns their
    paths. A pack of one cell is ``cell_fn`` (default :func:`run_cell`). Cells already on
    disk are left out; cells that another sweep on the same folder has claimed are waited
    for after the others are computed."""
    if len(pack.cells) == 1:
        return [(cell_fn or run_cell)(pack.cells[0], cells_dir)]
    cells_dir = Path(cells_dir)
    cells_dir.mkdir(parents=True, exist_ok=True)
    mine, theirs = [], []
    for cell in pack.cells:
        if finished(cells_dir, cell) is not None:
            continue
        claim_path = cells_dir / f".claim-{cell.digest}"
        claim = Claim.take(claim_path)
        if claim is None and is_stale(claim_path):
            claim_path.unlink(missing_ok=True)
            claim = Claim.take(claim_path)
        (theirs if claim is None else mine).append((cell, claim))
    try:
        if mine:
            _compute(Pack(tuple(cell for cell, _ in mine)), cells_dir)
    finally:
        for _, claim in mine:
            claim.release()
    for cell, _ in theirs:  # computed elsewhere: wait for its file (or take it over)
        run_cell(cell, str(cells_dir))
    return [str(finished(cells_dir, cell)) for cell in pack.cells]


def _compute_cell(cell: Cell, cells_dir: Path) -> str:
    return _compute(Pack((cell,)), cells_dir)[0]


def _compute(pack: Pack, cells_dir: Path) -> list[str]:
    """Train the pack's cells as one ensemble (one cell: its seeds) and write one file each."""
    import torch

    from .backends.torch.train import train
    from .runs import make_monitors

    cell = pack.cells[0]  # the cells of a pack differ only in seeds, learning rate and P
    if cell.run["device"] == "cpu":
        torch.set_num_threads(1)  # one process per core: no oversubscription
    run = cell.run
    monitors = make_monitors(alignment_every=run["alignment_every"])
    lr = pack.lr if len(pack.cells) > 1 else None
    snapshot = snapshot_path(cells_dir, pack)
    options = dict(n_test=run["n_test"], n_val=run["n_val"], evaluator=run["evaluator"],
                   dtype=run["dtype"], device=run["device"], quiet=True, on_divergence="mask",
                   sensitivity_samples=run["sensitivity_samples"], probes=run["probes"],
                   representation_samples=run["representation_samples"], lr=lr,
                   on_epoch=Reporter(pack_label(pack), topic(cells_dir)),
                   snapshot=snapshot, snapshot_every=SNAPSHOT_EVERY_S)
    try:
        rec = train(cell.model, cell.grammar, pack.P, pack.seeds, monitors=monitors, **options)
    except ParameterError as err:  # a snapshot cut short, or of other settings: start afresh
        if err.parameter != "snapshot" or not snapshot.exists():
            raise
        warnings.warn(f"{err.args[0].split(';')[0]}; removed, the pack starts afresh",
                      stacklevel=2)
        snapshot.unlink()  # the monitors start afresh with the run (their start)
        rec = train(cell.model, cell.grammar, pack.P, pack.seeds, monitors=monitors, **options)
    ds = rec.to_dataset()
    parts = split(ds, pack) if len(pack.cells) > 1 else [ds]
    return [_write_cell(cell, part, cells_dir) for cell, part in zip(pack.cells, parts)]


def snapshot_path(cells_dir: Path, pack: Pack) -> Path:
    """Where a pack's training keeps its snapshot: a rerun of the sweep goes on from it."""
    return Path(cells_dir) / f".snapshot-{pack.digest}.pt"


def say_snapshots(cells_dir: Path, packs, echo) -> None:
    """How many ensembles go on from a snapshot, and the snapshots no ensemble will use."""
    mine = {snapshot_path(cells_dir, p) for p in packs}
    going_on = sum(path.exists() for path in mine)
    if going_on:
        echo(f"{going_on} of {len(packs)} ensembles go on from their snapshots")
    others = [p for p in Path(cells_dir).glob(".snapshot-*.pt") if p not in mine]
    if others:
        echo(f"{len(others)} snapshots in {cells_dir} belong to no ensemble of this run (other "
             "cells, or cells packed otherwise): kept, not used")


_CELL_PROVENANCE = (
    ("cell_source", "source", "the package version and commit that ran the cell"),
    ("resumed", "resumed", "where the cell's training went on from a snapshot (empty: never)"),
)


def _write_cell(cell: Cell, ds: xr.Dataset, cells_dir: Path) -> str:
    run = cell.run
    summarize_alignment(ds, keep_checkpoints=run.get("keep_checkpoints", True))
    # the P trained on: with pairs, whole trees only (views: P = 63 trains on 62)
    ds["training_set_size"] = xr.Variable((), int(ds.attrs["P"]),
                                          {"long_name": "training-set size P", "units": "1"})
    ds["sample_complexity_scale"] = xr.Variable(
        (), cell.grammar.sample_complexity_scale, {"long_name": "n_classes * m^L", "units": "1"})
    ds["model_settings"] = xr.Variable((), json.dumps(model_settings(cell.model), sort_keys=True),
                                       {"long_name": "the cell's model settings (JSON)"})
    # the run's own attributes do not survive combining: what a reader needs, as variables
    for name, attr, long_name in _CELL_PROVENANCE:
        ds[name] = xr.Variable((), str(ds.attrs.get(attr, "")), {"long_name": long_name})
    ds.attrs.update(cell_key=cell.key, cell_axes=json.dumps(cell.axes), cell_complete=1)
    path = cells_dir / f"{cell.key}.nc"
    write_dataset(ds, path)
    return str(path)


def model_settings(model) -> dict:
    """A model's settings with its rule by name (the rule's equations are in the library or
    in the cell file's config)."""
    spec = model.to_dict()
    spec["rule"] = {"name": model.rule.name, "params": spec["rule"].get("params", {})}
    return spec


def summarize_alignment(ds: xr.Dataset, keep_checkpoints: bool = True) -> None:
    """Add the alignment's mean over training and per epoch; drop the checkpoints if asked.

    Checkpoints are numbered from the start of each run, so cells that train for different
    numbers of steps share no checkpoint axis: a grid's combined file is only compact when
    its cells keep the per-epoch means alone (``keep_checkpoints = false``).
    """
    for name in ("signal_alignment", "update_alignment"):
        if name not in ds:
            continue
        long_name = ds[name].attrs["long_name"]
        # over the whole of training (checkpoints of stopped members are NaN)
        ds[f"{name}_mean"] = ds[name].mean("checkpoint", skipna=True)
        ds[f"{name}_mean"].attrs.update(long_name=long_name + ", mean over training", units="1")
        epoch_of = ds["checkpoint_epoch"].rename("epoch")
        by_epoch = ds[name].groupby(epoch_of).mean(skipna=True).reindex(epoch=ds["epoch"])
        ds[f"{name}_by_epoch"] = by_epoch
        ds[f"{name}_by_epoch"].attrs.update(long_name=long_name + ", mean over each epoch",
                                            units="1")
    if not keep_checkpoints:
        for n in ("signal_alignment", "update_alignment", "checkpoint_presentation",
                  "checkpoint_epoch", "checkpoint"):
            if n in ds.variables:
                del ds[n]


def cell_files(cells_dir: Path) -> dict[str, list[Path]]:
    """The cell files in a folder by their cells' digest, listed once.

    A cell is found by the hash of its configuration, not by its place in the grid, so a
    grid that grows (a new axis value, a new rule) keeps the files of the cells it had.
    """
    files: dict[str, list[Path]] = {}
    for path in sorted(Path(cells_dir).glob("cell-*-*.nc")):
        files.setdefault(path.stem.rsplit("-", 1)[-1], []).append(path)
    return files


def finished(cells_dir: Path, cell: Cell, files: dict[str, list[Path]] | None = None,
             broken: list | None = None) -> Path | None:
    """A file of the cell that opens and says it is complete (its own name first), else None.

    ``broken``: a list to which (path, error) of every file that does not open is appended.
    """
    files = cell_files(cells_dir) if files is None else files
    own = Path(cells_dir) / f"{cell.key}.nc"
    for path in sorted(files.get(cell.digest, []), key=lambda p: p != own):
        try:
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                complete = int(ds.attrs.get("cell_complete", 0)) == 1
                if complete and str(ds.attrs.get("cell_key", "")).endswith(cell.digest):
                    return path
        # a file damaged in place fails in h5py with KeyError or RuntimeError too
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            if broken is not None:
                broken.append((path, err))
            continue
    return None


def remove_stale_temporary_files(cells_dir: Path, age_s: float = STALE_TMP_S) -> list[Path]:
    """Remove the temporary files of cells and snapshots killed while writing (a finished
    one is renamed at once); files written to in the last ``age_s`` seconds may belong to a
    sweep still running on the same folder and are kept."""
    removed = []
    for path in [*Path(cells_dir).glob(".cell-*.tmp.*"), *Path(cells_dir).glob(".snapshot-*.tmp")]:
        try:
            if time.time() - path.stat().st_mtime > age_s:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or not ours to remove: not worth stopping a sweep
            continue
    return removed


def measured_cap(cells, echo=print, local: bool = True):
    """The member cap of each kind of pack, from a throughput curve measured here for the
    first cell of every group that packs (:mod:`plasticity_sim.sizing`), said as it is
    chosen. ``local``: the workers are this machine's processes, one CPU thread each."""
    from .packing import group_cells, pack_key
    from .sizing import members_for, throughput_curve

    caps: dict[str, int] = {}
    for key, group in group_cells(cells).items():
        first = group[0]
        if len(group) == 1:  # nothing to pack with
            caps[key] = len(first.run["seeds"])
            continue
        with one_thread(local and first.run["device"] == "cpu"):  # as a worker runs it
            curve = throughput_curve(first.model.at(first.grammar), first.grammar,
                                     device=first.run["device"], dtype=first.run["dtype"])
        if not curve:
            raise ParameterError("max_members", f"not even one member of {first.model.name} "
                                 "fits this machine's memory")
        caps[key] = max(members_for(curve), len(first.run["seeds"]))
        Ps = sorted({cell.P for cell in group})
        echo(f"{first.model.name} at P = {', '.join(map(str, Ps))}: ensembles of up to "
             f"{caps[key]} members "
             "(measured presentations/s by members: "
             + ", ".join(f"{n}: {rate:.3g}" for n, rate in curve.items()) + ")")
    return lambda cell: caps[pack_key(cell)]


@contextmanager
def one_thread(on: bool = True):
    """torch on one CPU thread inside the block (as a local worker runs), then as before."""
    import torch

    threads = torch.get_num_threads()
    if on:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def finished_sample(files: dict, most: int = 200) -> list:
    """At most ``most`` finished cell files, the newest: enough to say how runs stop,
    without opening thousands of files at every start."""
    paths = [p for group in files.values() for p in group]
    return sorted(paths, key=lambda p: p.stat().st_mtime)[-most:]


def _packs(todo, cap, workers: int, pack: bool = True, local: bool = True):
    """The ensembles the cells run as, and the memory each may take: a worker's share of
    this machine (None for a cluster's workers, which check their own)."""
    memory = available_bytes(todo[0].run["device"]) // workers if local else None
    return (pack_cells(todo, cap, workers, memory) if pack else [Pack((c,)) for c in todo]), memory


def dry_run(experiment: Experiment, out_dir: str | Path, *, cells=None, n_workers=None,
            pack: bool = True, max_members: int | str = MAX_MEMBERS, echo=print) -> dict:
    """What ``run_sweep`` would run, without running it: the cells not on disk, how they
    pack, and their cost in presentations and in hours on this machine (presentations/s of
    each kind of pack measured here, one CPU thread per worker). Returns the figures."""
    from .cost import kind, presentations
    from .packing import pack_key
    from .sizing import throughput_curve

    cells_dir = Path(out_dir) / "cells"
    files = cell_files(cells_dir) if cells_dir.exists() else {}
    chosen = experiment.cells if cells is None else tuple(cells)
    todo = [c for c in chosen if finished(cells_dir, c, files) is None]
    workers = n_workers or os.cpu_count() or 1
    echo(f"{experiment.title}: {len(chosen)} cells; {len(chosen) - len(todo)} on disk; "
         f"{len(todo)} to run (dry run: nothing is computed)")
    if not todo:
        return {"cells": 0}
    cap = MAX_MEMBERS if max_members == "auto" else max_members  # auto: decided when it runs
    packs, _ = _packs(todo, cap, workers, pack)
    sizes = sorted({p.members for p in packs})
    echo(f"{len(packs)} ensembles of {sizes[0]}"
         + (f"-{sizes[-1]}" if len(sizes) > 1 else "") + f" members on {workers} workers")
    cost = estimate(todo, finished_sample(files))
    echo(cost_line(cost))
    # presentations/s of each kind of pack (its model and grammar, any P), measured here
    rates, seconds = {}, [0.0, 0.0]
    with one_thread(todo[0].run["device"] == "cpu"):  # as a local worker runs it
        for p in packs:
            first = p.cells[0]
            key = (pack_key(dataclasses.replace(first, P=0)), p.members)
            if key not in rates:
                curve = throughput_curve(first.model.at(first.grammar), first.grammar,
                                         sizes=(p.members,), device=first.run["device"],
                                         dtype=first.run["dtype"])
                if not curve:
                    raise ParameterError("max_members", f"an ensemble of {p.members} members of "
                                         f"{first.model.name} does not fit this machine's memory")
                rates[key] = curve[p.members]
            cap_epochs = first.model.training.epochs
            for i, n in enumerate((cap_epochs, cost.epochs.get(kind(first), cap_epochs))):
                seconds[i] += sum(presentations(c, n) for c in p.cells) / rates[key]
    at_cap, typical = (s / 3600 / min(workers, len(packs)) for s in seconds)
    echo(f"on this machine: at most {at_cap:.2g} h, about {typical:.2g} h with {workers} "
         "workers (training steps measured here; evaluation and probes not counted)")
    return {"cells": len(todo), "packs": len(packs), "presentations_at_cap": cost.total_at_cap,
            "presentations_typical": cost.total_typical(), "hours_at_cap": at_cap,
            "hours_typical": typical}


def run_sweep(experiment: Experiment, out_dir: str | Path, *, scheduler: str | None = None,
              n_workers: int | None = None, quiet: bool = False, cell_fn=run_cell,
              result_name: str | None = None, echo=print, cells=None, pack: bool = True,
              max_members: int | str = MAX_MEMBERS) -> xr.Dataset:
    """Run the cells not yet on disk, then combine every cell of the grid found on disk.

    ``cells``: run only these cells of the experiment (default: all); the combined result
    still holds every cell of the grid that is on disk, from this run or an earlier one.
    ``pack``: cells that differ only in seeds, learning rate and P run as one ensemble of at
    most ``max_members`` members (:mod:`plasticity_sim.packing`); ``"auto"``: as many as
    this machine's measured throughput curve says are worth it, per kind of pack
    (:func:`plasticity_sim.sizing.throughput_curve`). The cell files are the same either
    way. A pack of one cell runs through ``cell_fn``.
    """
    check_members_cap(max_members, scheduler)
    from dask.distributed import Client, LocalCluster, as_completed

    if n_workers is not None:
        require_int("workers", n_workers, minimum=1)
    out_dir = Path(out_dir)
    cells_dir = out_dir / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    stale = remove_stale_temporary_files(cells_dir)
    chosen = experiment.cells if cells is None else tuple(cells)
    files = cell_files(cells_dir)
    todo, unreadable = [], []
    for cell in chosen:
        broken: list = []
        done = finished(cells_dir, cell, files, broken)
        if done is None:
            todo.append(cell)
        unreadable += [f"unreadable cell file {path} ({type(err).__name__}: "
                       f"{' '.join(str(err).split())}); "
                       + (f"using {done.name}" if done else "its cell runs again")
                       for path, err in broken]
    skipped = len(chosen) - len(todo)
    of_grid = "" if len(chosen) == len(experiment.cells) else f" (of {len(experiment.cells)} in the grid)"
    echo(f"{experiment.title}: {len(chosen)} cells{of_grid}; skipping {skipped} already on disk; "
         f"running {len(todo)}")
    if stale:
        echo(f"removed {len(stale)} temporary files of cells killed while writing")
    foreign = set(files) - {cell.digest for cell in experiment.cells}
    if foreign:
        echo(f"{len(foreign)} cell files on disk belong to no cell of this grid (other settings, "
             f"or another version of plasticity_sim than {__version__}): kept, not used")
    for line in unreadable:  # damaged in place: a rerun must not stop at it
        echo(line)
    if todo:
        echo(cost_line(estimate(todo, finished_sample(files))))
    failures = []
    if todo:
        started = time.time()
        if scheduler:
            client = connect(scheduler)
        else:
            workers = n_workers or os.cpu_count() or 1
            client = Client(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=":0"))  # any free port
        try:
            workers = len(client.nthreads()) or 1
            cap = measured_cap(todo, echo, local=not scheduler) \
                if pack and max_members == "auto" else max_members
            packs, memory = _packs(todo, cap, workers, pack, local=not scheduler)
            if len(packs) < len(todo):
                largest = max(p.members for p in packs)
                most = "as measured" if callable(cap) else f"at most {cap}"
                echo(f"packed {len(todo)} cells into {len(packs)} "
                     f"ensemble{'s' if len(packs) > 1 else ''} (cells that differ "
                     f"only in seeds, learning rate and P; {most} members each"
                     + (f" and {memory / 2**30:.1f} GiB per worker" if memory else "")
                     + f"; the largest has {largest})")
            say_snapshots(cells_dir, packs, echo)
            # a bar on a terminal; in a log file, one plain line per task instead of \r lines
            on_terminal = sys.stderr.isatty()
            if not quiet:  # the packs' reports while they train, above the bar
                listen(client, cells_dir, tqdm.write if on_terminal else echo)
            futures = {client.submit(run_pack, p, str(cells_dir), cell_fn, key=p.key, retries=2,
                                     pure=False): p for p in packs}
            progress = tqdm(total=len(todo), desc="cells", unit="cell",
                            disable=quiet or not on_terminal)
            done = 0
            for future in as_completed(futures):
                packed = futures[future]
                try:
                    future.result()
                    state = "done"
                except Exception as err:  # one failed cell must not lose the others
                    failures += [(cell, err) for cell in packed.cells]
                    state = "failed"
                done += len(packed.cells)
                progress.update(len(packed.cells))
                if not quiet and not on_terminal:
                    echo(f"[{done}/{len(todo)}] {state}: {pack_label(packed)} after "
                         f"{time.time() - started:.0f} s")
            progress.close()
        finally:
            cluster = getattr(client, "cluster", None)
            client.close()
            if cluster is not None:
                cluster.close()
        echo(f"ran {len(todo) - len(failures)} cells in {time.time() - started:.0f} s")
    for cell, err in failures:
        echo(f"cell {cell.key} {cell.axes} failed: {type(err).__name__}: {err}")
    result = combine(experiment, cells_dir)
    name = result_name or (experiment.path.stem if experiment.path else _slug(experiment.title))
    write_dataset(result, out_dir / (name if name.endswith((".nc", ".zarr")) else f"{name}.nc"))
    if failures:
        raise PlasticitySimError(f"{len(failures)} of {len(chosen)} cells failed (see "
                                 "above); the others are on disk and a rerun retries only these")
    return result


def connect(scheduler: str, timeout: float = SCHEDULER_TIMEOUT_S):
    """A client of the dask scheduler at ``scheduler``; one error naming it if none answers."""
    from dask.distributed import Client

    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise ParameterError("scheduler", f"no dask scheduler answers at {scheduler!r} within "
                             f"{timeout:g} s ({type(err).__name__}); start one (`dask scheduler`) "
                             "or leave out --scheduler for a cluster on this machine") from None


def combine(experiment: Experiment, cells_dir: Path) -> xr.Dataset:
    """One Dataset over the grid's axes (missing cells are NaN, so that integer and boolean
    variables are float where some cell is missing, and keep their type otherwise)."""
    parts = []
    files = cell_files(cells_dir)
    descriptions: dict[str, dict] = {}  # variable -> {long_name: first cell that says it}
    for cell in experiment.cells:
        path = finished(cells_dir, cell, files)
        if path is None:
            continue
        ds = xr.load_dataset(path, engine="h5netcdf")
        ds.attrs = {}
        for name, var in ds.data_vars.items():
            descriptions.setdefault(name, {}).setdefault(var.attrs.get("long_name", ""), cell.axes)
        ds = ds.expand_dims({axis: [value] for axis, value in cell.axes.items()
                             if axis not in experiment.linked})
        for axis, leader in experiment.linked.items():  # a coordinate along its leader
            ds = ds.assign_coords({axis: (leader, [cell.axes[axis]])})
        parts.append(ds)
    if not parts:
        raise ParameterError("experiment", "no cell finished; nothing to combine")
    merged = xr.merge(parts, join="outer", compat="no_conflicts", combine_attrs="override")
    merged = merged.reindex({axis: list(dict.fromkeys(values)) for axis, values in
                             experiment.axes.items() if axis not in experiment.linked})
    # integers and booleans went through float (NaN marks a cell not run): back where none is
    exact = {name: var.dtype for part in parts for name, var in part.data_vars.items()
             if var.dtype.kind in "iub"}
    for name, var in merged.data_vars.items():
        if var.dtype.kind in "OU":  # text of cells not run: empty, not NaN
            merged[name] = var.fillna("").astype(str)
            merged[name].attrs = var.attrs
        elif name in exact and var.dtype != exact[name] and not var.isnull().any():
            merged[name] = var.astype(exact[name])
            merged[name].attrs = var.attrs
        said = descriptions.get(name, {})
        if len(said) > 1:  # cells describe it differently: keep every description
            merged[name].attrs["long_name"] = "; ".join(
                f"{text} (e.g. {json.dumps(axes)})" for text, axes in said.items())
    for axis in experiment.axes:
        long_name, units = AXIS_DOCS.get(axis, (axis, "1"))
        merged[axis].attrs.update(long_name=long_name, units=units)
    merged.attrs.update(global_attrs(experiment.title, experiment.spec),
                        experiment=experiment.to_json(), axes=json.dumps(list(experiment.axes)),
                        experiment_file=str(experiment.path.resolve()) if experiment.path else "",
                        cells=len(experiment.cells), cells_finished=len(parts))
    return merged


def _slug(title: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in title.lower()).strip("_")[:60] or "sweep"

