import numpy as np
import pytest
from click.testing import CliRunner

from plasticity_sim import demo as demo_module
from plasticity_sim.cli import main
from plasticity_sim.io import open_dataset


@pytest.fixture
def tiny_demo(monkeypatch):
    """The demo's own code path, on a grid small enough for the fast suite."""
    real = demo_module.accuracy_curves

    def shrunk(models, grammar, P_grid, seeds, **kw):
        models = {k: m.replace(width=8, epochs=3) for k, m in models.items()}
        return real(models, grammar, [32, 64], [0], n_test=200, quiet=True)

    monkeypatch.setattr(demo_module, "accuracy_curves", shrunk)


def test_demo_writes_dataset_figure_and_table(tmp_path, tiny_demo):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d"), "--quiet"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ds = open_dataset(tmp_path / "d" / "demo.nc")
    assert ds.test_accuracy.dims == ("rule", "P", "seed")
    assert list(ds.rule.values) == list(demo_module.DEMO_RULES)
    assert np.isfinite(ds.test_accuracy.values).all()
    assert (tmp_path / "d" / "demo_accuracy.png").stat().st_size > 1000
    assert "| rule | P* (90%) |" in result.output and "| bp |" in result.output


@pytest.mark.slow
def test_full_demo_shows_bp_ahead_of_dfa(tmp_path):
    CliRunner().invoke(main, ["demo", "--out", str(tmp_path), "--quiet"], catch_exceptions=False)
    ds = open_dataset(tmp_path / "demo.nc")
    acc = ds.test_accuracy.mean("seed")
    assert float(acc.sel(rule="bp", P=1024)) > 0.9
    assert float(acc.sel(rule="dfa", P=1024)) < float(acc.sel(rule="bp", P=1024)) - 0.1
