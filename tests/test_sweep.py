"""The sweep runner on a real dask LocalCluster of two worker processes."""

import json
import os
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from plasticity_sim import ParameterError
from plasticity_sim.cli import main
from plasticity_sim.experiment import Experiment, build_experiment, load_experiment
from plasticity_sim.model import DEFAULT_LR
from plasticity_sim.sweep import finished, run_cell, run_sweep

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/

SPEC = {
    "title": "tiny sweep",
    "grammar": {"v": 4, "n_classes": 4, "m": 4, "s": 2, "L": 3},
    "grid": {"rule": ["bp", "dfa"], "P": [32, 64], "width": [8]},
    "run": {"seeds": [0, 1], "n_test": 50, "epochs": 2, "sensitivity_samples": 20},
}


def logged_cell(cell, cells_dir):
    """run_cell, leaving one line per finished call in calls.log."""
    path = run_cell(cell, cells_dir)
    with open(Path(cells_dir).parent / "calls.log", "a") as log:
        log.write(cell.key + "\n")
    return path


def killing_cell(cell, cells_dir):
    """Kills its worker process the first time it meets cell 1 (fault injection)."""
    marker = Path(cells_dir).parent / "killed-once"
    if cell.index == 1 and not marker.exists():
        marker.write_text("x")
        os._exit(1)
    return logged_cell(cell, cells_dir)


def calls(out: Path) -> list[str]:
    log = out / "calls.log"
    return log.read_text().split() if log.exists() else []


@pytest.fixture(scope="module")
def experiment():
    return build_experiment(SPEC)


def sweep(experiment, out, **kw):
    # cell by cell: these tests count the calls of a per-cell function (packed sweeps, whose
    # packs of several cells do not call it, are tested in test_packing.py)
    kw.setdefault("pack", False)
    return run_sweep(experiment, out, n_workers=2, quiet=True, echo=lambda *_: None, **kw)


def test_a_sweep_completes_and_combines(experiment, tmp_path):
    result = sweep(experiment, tmp_path, cell_fn=logged_cell)
    assert sorted(calls(tmp_path)) == sorted(c.key for c in experiment.cells)
    assert result.test_accuracy.dims == ("rule", "P", "width", "seed")
    assert result.sizes == {**result.sizes, "rule": 2, "P": 2, "seed": 2, "width": 1}
    assert np.isfinite(result.test_accuracy.values).all()
    assert result.sensitivity.dims == ("rule", "P", "width", "seed", "layer", "level")
    on_disk = xr.load_dataset(tmp_path / "tiny_sweep.nc")
    assert on_disk.P.attrs == {"long_name": "training-set size", "units": "1"}
    assert on_disk.test_accuracy.attrs["long_name"]
    for attr in ("title", "source", "history", "Conventions", "experiment"):
        assert attr in on_disk.attrs
    assert '"rule": ["bp", "dfa"]' in on_disk.attrs["experiment"]
    assert on_disk.attrs["cells_finished"] == 4
    assert list(on_disk.rule.values) == ["bp", "dfa"]
    # every cell there: integers and booleans keep their type
    assert on_disk.epochs_trained.dtype.kind == "i" and on_disk.diverged.dtype == bool


def test_an_interrupted_sweep_reruns_only_the_missing_cells(experiment, tmp_path):
    first_two = Experiment(experiment.title, None, experiment.spec, experiment.axes,
                           experiment.cells[:2])
    sweep(first_two, tmp_path, cell_fn=logged_cell)       # "interrupted" after two cells
    messages = []
    run_sweep(experiment, tmp_path, n_workers=2, quiet=True, echo=messages.append,
              cell_fn=logged_cell, pack=False)
    assert "skipping 2 already on disk; running 2" in messages[0]
    keys = calls(tmp_path)
    assert sorted(keys) == sorted(c.key for c in experiment.cells)   # each exactly once
    assert len(list((tmp_path / "cells").glob("cell-*.nc"))) == 4


def test_a_worker_killed_during_a_cell_does_not_lose_it(experiment, tmp_path):
    result = sweep(experiment, tmp_path, cell_fn=killing_cell)
    assert (tmp_path / "killed-once").exists()
    assert sorted(calls(tmp_path)) == sorted(c.key for c in experiment.cells)
    assert np.isfinite(result.test_accuracy.values).all()


def test_half_written_files_are_never_taken_for_finished_cells(experiment, tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    cell = experiment.cells[0]
    (cells / f".{cell.key}.nc.0123.tmp.nc").write_bytes(b"\x89HDF\r\n partial")
    (cells / f"{cell.key}.nc").write_bytes(b"\x89HDF\r\n partial")  # a non-atomic writer's corpse
    assert not finished(cells, cell)
    messages = []
    run_sweep(experiment, tmp_path, n_workers=2, quiet=True, echo=messages.append,
              cell_fn=logged_cell, pack=False)
    assert "skipping 0 already on disk; running 4" in messages[0]
    assert finished(cells, cell)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["grid"].update(rule=["bp", "backprop"]), "rule: must be one of"),
    (lambda s: s.pop("grammar"), "missing section \\[grammar\\]"),
    (lambda s: s["grid"].update(P=[]), "axis 'P' needs a non-empty list"),
    (lambda s: s["grid"].pop("rule"), "needs a `rule` axis"),
    (lambda s: s["grid"].update(P_scale=[1]), "exactly one of `P` and `P_scale`"),
    (lambda s: s["grammar"].pop("m"), "lacks \\['m'\\]"),
    (lambda s: s["grid"].update(width=[0]), "width: .*cell .*width.: 0.*must be >= 1"),
    (lambda s: s["run"].update(gpus=2), "unknown keys \\['gpus'\\]"),
    (lambda s: s["grid"].update(P=[70000]), "leaves no test inputs"),
    (lambda s: s.update(extras={}), "unknown sections"),
    (lambda s: s["run"].update(keep_checkpoints="false"), "keep_checkpoints: .*true or false"),
])
def test_bad_experiment_files_fail_before_any_work(change, message, tmp_path):
    import copy

    spec = copy.deepcopy(SPEC)
    change(spec)
    with pytest.raises(ParameterError, match=message):
        build_experiment(spec)


def test_p_scale_and_linked_axes(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('''
[grammar]
s = 2
L = 2
[grid]
rule = ["bp"]
P_scale = [0.5, 2]
[[grid.together]]
v = [4, 6]
n_classes = [4, 6]
m = [4, 6]
[models.fast_bp]
rule = "bp"
lr = 0.2
''')
    exp = load_experiment(path)
    assert [(c.axes["v"], c.axes["m"], c.P) for c in exp.cells] == [
        (4, 4, 32), (6, 6, 108), (4, 4, 128), (6, 6, 432)]


def test_the_shipped_experiment_files_are_valid():
    folder = Path(__file__).parents[1] / "experiments"
    files = sorted(folder.glob("*.toml"))
    assert {"demo.toml", "sample_complexity.toml", "masking.toml", "sensitivity.toml"} <= {f.name for f in files}
    for path in files:
        assert load_experiment(path).cells


def test_sweep_and_plot_commands(tmp_path):
    exp = tmp_path / "e.toml"
    exp.write_text('''
title = "cli sweep"
[grammar]
v = 4
n_classes = 4
m = 4
s = 2
L = 3
[grid]
rule = ["bp", "dfa"]
P = [32, 64]
width = [8]
[run]
seeds = [0]
n_test = 50
epochs = 2
alignment_every = 1
''')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out), "--workers", "2",
                                       "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "| rule | P* (90%) |" in result.output
    for name in ("accuracy", "p_star", "alignment"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.pdf").exists()
    again = CliRunner().invoke(main, ["plot", str(out / "e.nc"), "--out", str(tmp_path / "figs")])
    assert again.exit_code == 0 and (tmp_path / "figs" / "accuracy.png").exists()
    rerun = CliRunner().invoke(main, ["sweep", str(exp), "--out", str(out), "--format", "zarr",
                                      "--no-plot", "--quiet"])
    assert "skipping 4 already on disk; running 0" in rerun.output
    assert xr.open_zarr(out / "e.zarr", consolidated=False).test_accuracy.shape[:2] == (2, 2)
    bad = CliRunner().invoke(main, ["sweep", str(tmp_path / "missing.toml"), "--out", str(out)])
    assert bad.exit_code == 2 and "no such experiment file" in bad.output


def test_linked_axes_share_one_dimension_and_filters_select_cells(tmp_path):
    from plasticity_sim.experiment import select_cells

    spec = {"grammar": {"s": 2, "L": 3}, "grid": {
        "rule": ["bp"], "P": [16, 24], "together": [{"v": [3, 4], "n_classes": [2, 3], "m": [2, 2]}]},
        "run": {"seeds": [0], "n_test": 30, "epochs": 1}, "title": "linked"}
    spec["grid"]["width"] = [4]
    exp = build_experiment(spec)
    assert len(exp.cells) == 4 and exp.linked == {"n_classes": "v", "m": "v"}
    small = select_cells(exp, max_P=16, where=["v=3"])
    assert [(c.axes["v"], c.P) for c in small] == [(3, 16)]
    either = select_cells(exp, where=["v=3", "v=4", "P=24"])     # one axis: alternatives
    assert sorted((c.axes["v"], c.P) for c in either) == [(3, 24), (4, 24)]
    with pytest.raises(ParameterError, match="where"):
        select_cells(exp, where=["colour=red"])
    result = sweep(exp, tmp_path)
    assert "n_classes" not in result.test_accuracy.dims and "v" in result.test_accuracy.dims
    assert list(result.n_classes.values) == [2, 3] and result.n_classes.dims == ("v",)


def test_a_selection_runs_only_its_cells_but_the_result_holds_the_whole_grid(experiment, tmp_path):
    from plasticity_sim.experiment import select_cells

    first = select_cells(experiment, where=["rule=bp"])
    result = sweep(experiment, tmp_path, cell_fn=logged_cell, cells=first)
    assert sorted(calls(tmp_path)) == sorted(c.key for c in first)
    assert np.isfinite(result.test_accuracy.sel(rule="bp")).all()
    assert np.isnan(result.test_accuracy.sel(rule="dfa")).all()      # not run yet: NaN
    assert np.isnan(result.epochs_trained.sel(rule="dfa")).all()     # an integer, as float here
    on_disk = xr.load_dataset(tmp_path / "tiny_sweep.nc")          # text variables survive
    assert set(on_disk.stopped_by.sel(rule="dfa").values.ravel()) == {""}
    assert set(on_disk.stopped_by.sel(rule="bp").values.ravel()) <= {"converged", "plateau", "cap"}
    settings = json.loads(on_disk.model_settings.sel(rule="bp", P=32, width=8).item())
    assert settings["model"]["rule"] == "bp" and settings["training"]["lr"] == DEFAULT_LR["bp"][3]
    result = sweep(experiment, tmp_path, cell_fn=logged_cell, cells=select_cells(experiment,
                                                                                 max_P=32))
    assert len(calls(tmp_path)) == 3                                 # only dfa at P = 32 was new
    assert np.isfinite(result.test_accuracy.sel(rule="dfa", P=32)).all()
    assert np.isnan(result.test_accuracy.sel(rule="dfa", P=64)).all()
    assert result.attrs["cells_finished"] == 3


def test_a_grown_grid_keeps_the_files_of_the_cells_it_had(tmp_path):
    import copy

    small = copy.deepcopy(SPEC)
    small["grid"].update(rule=["dfa"], P=[64])
    sweep(build_experiment(small), tmp_path, cell_fn=logged_cell)
    grown = copy.deepcopy(SPEC)                                       # dfa at P = 64 is now cell 3
    messages = []
    result = run_sweep(build_experiment(grown), tmp_path, n_workers=2, quiet=True,
                       echo=messages.append, cell_fn=logged_cell, pack=False)
    assert "skipping 1 already on disk; running 3" in messages[0]
    assert len(calls(tmp_path)) == 4 and np.isfinite(result.test_accuracy.values).all()


def test_overrides_change_only_the_cells_they_name():
    import copy

    spec = copy.deepcopy(SPEC)
    spec["override"] = [{"where": {"rule": "dfa", "P": 64}, "lr_factor": 0.5, "width": 6}]
    cells = {(c.axes["rule"], c.P): c for c in build_experiment(spec).cells}
    plain = {(c.axes["rule"], c.P): c for c in build_experiment(SPEC).cells}
    changed = cells[("dfa", 64)].model
    assert changed.training.lr == pytest.approx(0.5 * plain[("dfa", 64)].model.training.lr)
    assert changed.width == 6
    for key in [("bp", 32), ("bp", 64), ("dfa", 32)]:
        assert cells[key].model == plain[key].model and cells[key].key == plain[key].key
    assert cells[("dfa", 64)].digest != plain[("dfa", 64)].digest     # recomputed, not reused


@pytest.mark.parametrize("override, message", [
    ({"where": {"rule": "fa"}, "lr": 0.1}, "names no cell of the grid"),
    ({"where": {"colour": "red"}, "lr": 0.1}, "not axes of the grid"),
    ({"lr": 0.1}, "needs `where"),
    ({"where": {"rule": "bp"}}, "changes nothing"),
    ({"where": {"rule": "bp"}, "L": 4}, "define the cell itself"),
    ({"where": {"rule": "bp"}, "lr": -1.0}, "lr: .*cell .*must be > 0"),
    ({"where": {"rule": "bp"}, "colour": 1}, "unknown settings \\['colour'\\]"),
    ({"where": {"rule": "bp"}, "lr": 0.1, "lr_factor": 2}, "sets `lr` where `lr_factor`"),
    ({"where": {"rule": "bp"}, "lr_factor": -1}, "lr_factor: .*must be a number > 0"),
    ({"where": {"P": "64"}, "lr": 0.1}, "names no cell .*'P': 'int'"),
])
def test_bad_overrides_fail_before_any_work(override, message):
    import copy

    spec = copy.deepcopy(SPEC)
    spec["override"] = [override]
    with pytest.raises(ParameterError, match=message):
        build_experiment(spec)


@pytest.mark.parametrize("rule, models", [("dfa", {}),
                                          ("cv", {"cv": {"rule": "clapp", "pairs": "views"}})])
def test_alignment_per_epoch_and_compact_cells(tmp_path, rule, models):
    import copy

    spec = copy.deepcopy(SPEC)
    spec["grid"].update(rule=[rule], P=[64])
    spec["models"] = models
    spec["run"].update(alignment_every=1, epochs=3, sensitivity_samples=0)
    full = xr.load_dataset(run_cell(build_experiment(spec).cells[0], str(tmp_path / "a")))
    spec["run"]["keep_checkpoints"] = False
    compact = xr.load_dataset(run_cell(build_experiment(spec).cells[0], str(tmp_path / "b")))
    # views show P/2 trees twice per epoch: an epoch is not P presentations
    per_epoch = 32 if models else 64
    epoch_of = full.checkpoint_presentation.values // per_epoch
    np.testing.assert_array_equal(full.checkpoint_epoch.values, epoch_of)
    for e in range(3):   # the per-epoch value is the mean of that epoch's checkpoints
        expect = full.signal_alignment.values[:, epoch_of == e].mean(1)
        np.testing.assert_allclose(full.signal_alignment_by_epoch.sel(epoch=e), expect)
        np.testing.assert_allclose(compact.signal_alignment_by_epoch.sel(epoch=e), expect)
    # the last epochs have values (CLAPP's first delta may be silent: no direction, NaN)
    assert np.isfinite(compact.signal_alignment_by_epoch.isel(epoch=slice(1, None)).values).all()
    assert "checkpoint" not in compact.dims and "update_alignment" not in compact
    np.testing.assert_allclose(compact.update_alignment_mean, full.update_alignment_mean)
    assert compact.update_alignment_by_epoch.dims == ("seed", "epoch", "projection")


def test_an_override_of_skipped_cells_only_is_an_error():
    import copy

    spec = copy.deepcopy(SPEC)
    spec["grammar"]["L"] = 2                       # 256 inputs: P = 200 is skipped
    spec["grid"]["P"] = [32, 200]
    spec["run"]["skip_infeasible"] = True
    assert [c.P for c in build_experiment(spec).cells] == [32, 32]
    spec["override"] = [{"where": {"P": 200}, "lr_factor": 2}]
    with pytest.raises(ParameterError, match="names no cell"):
        build_experiment(spec)


def test_a_broken_file_of_a_cell_does_not_hide_its_complete_one(experiment, tmp_path):
    cells = tmp_path / "cells"
    cell = experiment.cells[0]
    good = Path(run_cell(cell, str(cells))).rename(cells / f"cell-00042-{cell.digest}.nc")
    (cells / f"{cell.key}.nc").write_bytes(b"\x89HDF\r\n partial")   # own name, sorted first
    assert finished(cells, cell) == good


def test_a_scheduler_that_does_not_answer_is_one_clear_error():
    from plasticity_sim.sweep import connect

    with pytest.raises(ParameterError, match="no dask scheduler answers at 'tcp://127.0.0.1:1'"):
        connect("tcp://127.0.0.1:1", timeout=2)


def test_ctrl_c_during_a_sweep_is_a_short_message_and_exit_130(monkeypatch, tmp_path):
    import plasticity_sim.sweep as sweep_module
    from plasticity_sim.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep_module, "run_sweep", interrupted)
    result = CliRunner().invoke(main, ["sweep", "experiments/demo.toml", "--out", str(tmp_path)])
    assert result.exit_code == 130 and "interrupted: what had finished is kept" in result.output
    assert "Traceback" not in result.output


def one_cell(**run):
    import copy

    spec = copy.deepcopy(SPEC)
    spec["grid"].update(rule=["bp"], P=[32])
    spec["run"].update({"seeds": [0], "epochs": 1, "sensitivity_samples": 0, **run})
    return build_experiment(spec)


def test_a_cell_file_damaged_in_place_is_named_and_its_cell_runs_again(tmp_path):
    exp = one_cell()
    cells = tmp_path / "cells"
    path = Path(run_cell(exp.cells[0], str(cells)))
    data = bytearray(path.read_bytes())
    data[1000:5000] = b"\xff" * 4000           # metadata overwritten, length unchanged
    path.write_bytes(bytes(data))
    stale, fresh = cells / f".{path.name}.0ld.tmp.nc", cells / f".{path.name}.n3w.tmp.nc"
    for tmp in (stale, fresh):                 # temporary files of killed cells
        tmp.write_bytes(b"\x89HDF\r\n partial")
    os.utime(stale, (0, 0))                    # untouched for ages: no sweep is writing it
    messages = []
    run_sweep(exp, tmp_path, n_workers=1, quiet=True, echo=messages.append, cell_fn=logged_cell)
    assert "skipping 0 already on disk; running 1" in messages[0]
    [line] = [m for m in messages if m.startswith("unreadable cell file")]
    assert str(path) in line and line.endswith("its cell runs again") and "\n" not in line
    assert "removed 1 temporary files of cells killed while writing" in messages
    assert not stale.exists() and fresh.exists()
    assert calls(tmp_path) == [exp.cells[0].key] and finished(cells, exp.cells[0]) == path


def test_the_recorded_training_set_size_is_the_one_trained_on(tmp_path):
    import copy

    spec = copy.deepcopy(SPEC)
    spec["grid"].update(rule=["clapp"], P=[63], pairs=["views"])
    spec["run"].update(seeds=[0], epochs=1, sensitivity_samples=0, probes=False)
    [cell] = build_experiment(spec).cells
    with pytest.warns(UserWarning, match="training on P = 62"):
        ds = xr.load_dataset(run_cell(cell, str(tmp_path)))
    assert int(ds.training_set_size) == 62 and ds.attrs["P"] == 62


@pytest.mark.parametrize("run, message", [
    ({"device": "cuda"}, "^device: .*device = 'cuda': CUDA was asked for but torch sees no GPU"),
    ({"alignment_every": -5}, "^alignment_every: .*must be >= 0; got -5"),
    ({"sensitivity_samples": -1}, "^sensitivity_samples: .*must be >= 0"),
    ({"n_test": 2.5}, "^n_test: .*must be an integer"),
])
def test_run_settings_this_machine_or_the_protocol_cannot_honour_fail_when_checked(
        run, message, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)   # also on a GPU machine
    with pytest.raises(ParameterError, match=message):
        one_cell(**run)


def test_a_missing_model_file_says_where_it_was_looked_for(tmp_path):
    exp = tmp_path / "e.toml"
    exp.write_text('[grammar]\nv = 4\nn_classes = 4\nm = 4\ns = 2\nL = 2\n[grid]\n'
                   'rule = ["mine"]\nP = [32]\n[models.mine]\nfile = "models/mine.toml"\n')
    with pytest.raises(ParameterError, match="file = 'models/mine.toml': no such model file; "
                       f"looked for {tmp_path / 'models' / 'mine.toml'} .relative to {exp}."):
        load_experiment(exp)


def test_a_new_version_of_the_package_recomputes_its_cells(experiment, tmp_path, monkeypatch):
    """The cache key holds the package's version: cells made by another version are kept
    on disk, said to be there, and not used."""
    cell = experiment.cells[0]
    run_cell(cell, str(tmp_path / "cells"))                      # in this process
    assert finished(tmp_path / "cells", cell) is not None
    for module in ("plasticity_sim.experiment", "plasticity_sim.sweep"):
        monkeypatch.setattr(f"{module}.__version__", "99.0")
    assert finished(tmp_path / "cells", cell) is None
    messages = []
    with pytest.raises(ParameterError, match="no cell finished"):
        run_sweep(experiment, tmp_path, cells=(), quiet=True, echo=messages.append)
    assert any("1 cell files on disk belong to no cell of this grid" in m and "99.0" in m
               for m in messages), messages
    assert len(list((tmp_path / "cells").glob("cell-*.nc"))) == 1


def test_settings_added_at_their_default_keep_a_cells_digest(monkeypatch):
    """A cache key changes when what a cell computes changes, not when a setting is added
    whose default reproduces the runs before it (experiment.ADDED_TRAINING_DEFAULTS)."""
    from plasticity_sim.experiment import ADDED_TRAINING_DEFAULTS
    from plasticity_sim.model import Model

    cell = build_experiment(SPEC).cells[0]
    before = cell.digest
    to_dict = Model.to_dict

    def without_added(model):  # the model's dict as it was before those settings existed
        spec = to_dict(model)
        spec["training"] = {k: v for k, v in spec["training"].items()
                            if k not in ADDED_TRAINING_DEFAULTS}
        return spec

    monkeypatch.setattr(Model, "to_dict", without_added)
    assert cell.digest == before
    monkeypatch.setattr(Model, "to_dict", to_dict)
    import dataclasses

    for change in ({"lr_schedule": "warmup_cosine", "warmup_epochs": 1}, {"decay_biases": False}):
        other = dataclasses.replace(cell, model=cell.model.replace(**change))
        assert other.digest != before, change


def test_a_dry_run_says_the_cost_and_computes_nothing(tmp_path):
    import copy

    from plasticity_sim.sweep import dry_run

    exp = build_experiment(SPEC)
    lines = []
    plan = dry_run(exp, tmp_path, n_workers=1, echo=lines.append)
    # 2 rules x (P = 32 + 64) x 2 seeds x a cap of 2 epochs
    assert plan["cells"] == 4 and plan["presentations_at_cap"] == 2 * (32 + 64) * 2 * 2
    assert "cost: at most 768 presentations" in "\n".join(lines)
    assert plan["hours_at_cap"] > 0 and not list(tmp_path.glob("cells/*.nc"))
    # with cells of the same rules on disk, the typical cost follows their epochs
    run_sweep(exp, tmp_path, n_workers=1, quiet=True, echo=lambda *_: None)
    grown = copy.deepcopy(SPEC)
    grown["grid"]["P"] = [32, 64, 128]
    lines = []
    plan = dry_run(build_experiment(grown), tmp_path, n_workers=1, echo=lines.append)
    assert plan["cells"] == 2 and plan["presentations_at_cap"] == 2 * 128 * 2 * 2
    assert plan["presentations_typical"] <= plan["presentations_at_cap"]
    assert "if runs stop as the finished cells of the same rules did" in "\n".join(lines)
