"""Figures of one train result."""

import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner

from plasticity_sim.analysis import AlignmentMonitor
from plasticity_sim.analysis.plasticity_stats import PlasticityMonitor
from plasticity_sim.backends.torch.train import Trainer, record_input_weights, train
from plasticity_sim.cli import main
from plasticity_sim.io import write_dataset
from plasticity_sim.model import Model
from plasticity_sim.plots_run import FIGURES, is_run, plot_run
from plasticity_sim.recording import Recording
from plasticity_sim.rhm import Grammar, sample

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def run():
    model = Model.for_rule("dfa", width=8, epochs=3, batch_size=16)
    return train(model, Grammar(v=4, n_classes=4, m=4, s=2, L=3), 128, [0, 1], n_test=200,
                 n_val=50, quiet=True, monitors=[AlignmentMonitor(4), PlasticityMonitor(4)],
                 sensitivity_samples=30, representation_samples=40,
                 record_weights=True).to_dataset()


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
                          "representational_similarity", "input_weights", "w_quantiles"])
    assert [p.stem for p in plot_run(bare, tmp_path)] == ["learning_curves", "probes"]


@pytest.mark.parametrize("arch", ["cnn", "lcn", "fc"])
def test_input_weights_are_each_units_receptive_field(arch):
    """Layer 1's drive recomputed from input_weights (unit x offset x token) equals the
    network's own, so the layout (offset-major, token-minor) is the engine's."""
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3)
    trainer = Trainer(Model.for_rule("bp", arch=arch, width=6, activation="linear"), g, [0, 3])
    rec = Recording("t", {})
    record_input_weights(rec, trainer)
    w = rec.to_dataset().input_weights
    field = g.s if arch != "fc" else g.s ** g.L
    assert w.sizes["input_offset"] == field and w.sizes["token"] == g.v and w.sizes["unit"] == 6
    assert ("field" in w.dims) == (arch == "lcn")
    x = trainer.encode([sample(g, 5, seed=1)] * 2)[0]          # (E, N, positions, v)
    rates = trainer.net.represent(trainer.S, x)[0]
    patches = x.double().numpy().reshape(2, 5, -1, field, g.v)                  # (E, N, fields, offset, token)
    if arch == "lcn":
        drive = np.einsum("eqoft,enqft->enqo", w.values, patches)
    else:
        drive = np.einsum("eoft,enqft->enqo", w.values, patches)
    np.testing.assert_allclose(drive, rates.double().numpy().reshape(drive.shape), rtol=1e-5,
                               atol=1e-6)


def test_weight_figures_show_the_recorded_distributions(run):
    fig = FIGURES["weights"][0](run)
    median = [line for line in fig.axes[0].get_lines() if line.get_label() == "median"][0]
    np.testing.assert_allclose(median.get_ydata(),
                               run.w_quantiles.isel(seed=0, projection=0).sel(quantile=0.5).values)
    fields = FIGURES["receptive_fields"][0](run)
    shown = fields.axes[0].get_images()[0].get_array()
    norms = np.sqrt((run.input_weights.isel(seed=0) ** 2).sum(("token", "input_offset")))
    strongest = run.input_weights.isel(seed=0, unit=int(np.argmax(norms.values)))
    np.testing.assert_allclose(shown, strongest.transpose("token", "input_offset").values)


def test_a_diverged_member_records_no_weights():
    model = Model.for_rule("dfa", width=8, epochs=4, batch_size=16)
    ds = train(model, Grammar(v=4, n_classes=4, m=4, s=2, L=3), 128, [0, 1], lr=[0.005, 1e4],
               n_test=50, n_val=50, quiet=True, probes=False, on_divergence="mask",
               record_weights=True).to_dataset()
    assert list(ds.diverged.values) == [False, True]
    assert np.isfinite(ds.input_weights.sel(seed=0)).all()
    assert np.isnan(ds.input_weights.sel(seed=1)).all()


def test_a_run_of_several_P_draws_each_seed_in_its_own_epochs():
    model = Model.for_rule("dfa", width=8, epochs=3, batch_size=16)
    ds = train(model, Grammar(v=4, n_classes=4, m=4, s=2, L=3), [64, 128], [0, 1], n_test=50,
               n_val=50, quiet=True, monitors=[AlignmentMonitor(2), PlasticityMonitor(2)]
               ).to_dataset()
    lines = FIGURES["alignment"][0](ds).axes[0].get_lines()
    seeds = {line.get_label(): line.get_xdata() for line in lines if line.get_label().startswith("seed")}
    seen = ds.checkpoint_presentation.values
    np.testing.assert_allclose(seeds["seed 0"], seen / 64)
    np.testing.assert_allclose(seeds["seed 1"], seen / 128)
    assert FIGURES["weights"][0](ds, seed_index=1).axes[0].get_lines()
