"""Figures of one train result."""

import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner

from plasticity_sim.analysis import AlignmentMonitor
from plasticity_sim.backends.torch.train import train
from plasticity_sim.cli import main
from plasticity_sim.io import write_dataset
from plasticity_sim.model import Model
from plasticity_sim.plots_run import FIGURES, is_run, plot_run
from plasticity_sim.rhm import Grammar

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def run():
    model = Model.for_rule("dfa", width=8, epochs=3, batch_size=16)
    return train(model, Grammar(v=4, n_classes=4, m=4, s=2, L=3), 128, [0, 1], n_test=200,
                 n_val=50, quiet=True, monitors=[AlignmentMonitor(4)], sensitivity_samples=30,
                 representation_samples=40).to_dataset()


def test_every_figure_of_a_run_is_a_figure_with_its_data(run):
    from matplotlib.figure import Figure

    assert is_run(run)
    for name, (draw, needs) in FIGURES.items():
        fig = draw(run)
        assert isinstance(fig, Figure), name
        drawn = [line for ax in fig.axes for line in ax.get_lines()] + \
            [image for ax in fig.axes for image in ax.get_images()]
        assert drawn, name
    probes = FIGURES["probes"][0](run).axes[0].get_lines()
    mean = [line for line in probes if line.get_label() == "mean over seeds"][0]
    np.testing.assert_allclose(mean.get_ydata(), run.probe_accuracy.mean("seed").values)


def test_plot_draws_one_run_in_the_formats_asked(run, tmp_path):
    result = tmp_path / "run.nc"
    write_dataset(run, result)
    out = tmp_path / "figures"
    done = CliRunner().invoke(main, ["plot", str(result), "--out", str(out), "--format", "svg",
                                     "--dpi", "72"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.svg" for name in FIGURES)
    bad = CliRunner().invoke(main, ["plot", str(result), "--out", str(out), "--dpi", "0"])
    assert bad.exit_code == 2 and "dpi" in bad.output


def test_only_the_figures_a_run_recorded_are_drawn(run, tmp_path):
    bare = run.drop_vars(["update_alignment", "signal_alignment", "sensitivity",
                          "representational_similarity"])
    assert [p.stem for p in plot_run(bare, tmp_path)] == ["learning_curves", "probes"]
