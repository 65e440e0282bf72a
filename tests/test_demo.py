import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from plasticity_sim import ParameterError
from plasticity_sim.cli import main
from plasticity_sim.demo import DEMO_FILE, run_demo
from plasticity_sim.experiment import load_experiment
from plasticity_sim.io import open_dataset


def test_the_demo_file_compares_backprop_with_direct_feedback():
    exp = load_experiment(DEMO_FILE)
    rules = {c.axes["rule"] for c in exp.cells}
    assert {"bp", "dfa"} <= rules and len(exp.cells) <= 12


def test_demo_writes_dataset_figures_and_table(tmp_path, capsys):
    tiny = tmp_path / "demo.toml"
    tiny.write_text(DEMO_FILE.read_text().replace("P = [256, 1024, 4096]", "P = [32, 64]")
                    .replace("width = [128]", "width = [8]").replace("epochs = 100", "epochs = 2")
                    .replace("n_test = 5000", "n_test = 100"))
    run_demo(tmp_path / "out", quiet=True, experiment_file=tiny)
    ds = open_dataset(tmp_path / "out" / "demo.nc")
    assert ds.test_accuracy.dims[:2] == ("rule", "P")
    assert np.isfinite(ds.test_accuracy.values).all()
    assert (tmp_path / "out" / "accuracy.png").stat().st_size > 1000
    assert (tmp_path / "out" / "p_star.pdf").exists()
    printed = capsys.readouterr().out
    assert "| rule | P* (90%) |" in printed and "| bp |" in printed


def test_demo_without_its_experiment_file_says_so(tmp_path):
    with pytest.raises(ParameterError, match="is missing"):
        run_demo(tmp_path, experiment_file=tmp_path / "none.toml")


@pytest.mark.slow
def test_full_demo_shows_bp_ahead_of_dfa(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    acc = open_dataset(tmp_path / "demo.nc").test_accuracy.mean("seed").squeeze()
    assert float(acc.sel(rule="bp", P=1024)) > 0.9
    assert float(acc.sel(rule="dfa", P=1024)) < float(acc.sel(rule="bp", P=1024)) - 0.1
