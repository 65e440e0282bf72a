"""Rerunning a result from its own file: same configuration, same numbers."""

import numpy as np
import xarray as xr
from click.testing import CliRunner

from plasticity_sim.cli import main
from plasticity_sim.experiment import build_experiment, select_cells
from plasticity_sim.rerun import finished_cells, rerun
from plasticity_sim.sweep import run_sweep

GRAMMAR = ["--v", "4", "--classes", "4", "--m", "4", "--s", "2", "--L", "2"]


def test_a_train_result_reruns_bit_for_bit_with_its_analysis(tmp_path):
    first, again = tmp_path / "a.nc", tmp_path / "b.nc"
    made = CliRunner().invoke(main, ["train", "--rule", "dfa", *GRAMMAR, "--P", "64", "--seeds",
                                     "0,1", "--lr", "0.02", "--n-val", "50", "--n-test", "80",
                                     "--epochs", "3", "--width", "16", "--alignment-every", "5",
                                     "--sensitivity-samples", "30", "--record-weights",
                                     "--out", str(first), "--quiet"])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(main, ["rerun", str(first), "--out", str(again), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "test_accuracy: identical to the original, bit for bit" in result.output
    a, b = xr.load_dataset(first), xr.load_dataset(again)
    assert float(b.lr[0]) == 0.02 and list(b.seed.values) == [0, 1]
    assert a.input_weights.dims == ("seed", "unit", "input_offset", "token")
    for name in ("train_loss", "test_accuracy", "update_alignment", "sensitivity", "input_weights"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_a_sweep_result_reruns_only_the_cells_it_holds(tmp_path):
    spec = {"title": "tiny", "grammar": {"v": 4, "n_classes": 4, "m": 4, "s": 2, "L": 3},
            "grid": {"rule": ["bp", "dfa"], "P": [32, 64], "width": [8]},
            "run": {"seeds": [0], "n_test": 50, "epochs": 2}}
    experiment = build_experiment(spec)
    first = run_sweep(experiment, tmp_path / "a", n_workers=1, quiet=True, echo=lambda *_: None,
                      cells=select_cells(experiment, where=["rule=bp"]))
    assert [c.axes["rule"] for c in finished_cells(first, experiment)] == ["bp", "bp"]
    lines = []
    path = next((tmp_path / "a").glob("*.nc"))
    again = rerun(path, tmp_path / "b", quiet=True, echo=lines.append, n_workers=1)
    assert "running 2" in lines[0] and "identical to the original, bit for bit" in lines[-1]
    assert np.isnan(again.test_accuracy.sel(rule="dfa")).all()
    np.testing.assert_array_equal(first.test_accuracy.values, again.test_accuracy.values)


def test_a_file_without_a_recorded_configuration_is_refused(tmp_path):
    samples = tmp_path / "s.nc"
    made = CliRunner().invoke(main, ["rhm", *GRAMMAR, "--n", "10", "--out", str(samples)])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(main, ["rerun", str(samples), "--out", str(tmp_path / "x.nc")])
    assert result.exit_code == 2 and "result" in result.output
    assert not (tmp_path / "x.nc").exists()
