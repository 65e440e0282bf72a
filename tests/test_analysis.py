import numpy as np
import pytest
import xarray as xr

from plasticity_sim import ParameterError
from plasticity_sim.analysis import cosine_per_member, sample_complexity
from plasticity_sim.plots import p_star_table

P = [64, 128, 256, 512, 1024]


def test_p_star_is_interpolated_in_log_p():
    star = sample_complexity(P, [0.3, 0.5, 0.8, 1.0, 1.0], threshold=0.9)
    assert star.bound == "=" and star.value == pytest.approx(256 * np.sqrt(2))  # halfway in log
    assert str(star) == "362"


def test_p_star_averages_seeds_first():
    acc = np.array([[0.3, 0.85, 0.95, 1, 1], [0.3, 0.95, 0.95, 1, 1]])  # mean crosses at 128
    assert sample_complexity(P, acc).value == pytest.approx(128)
    nan_seed = np.array([[0.3, 0.85, 0.95, 1, 1], [np.nan] * 5])
    assert sample_complexity(P, nan_seed).value > 128


def test_curves_that_never_cross_are_reported_as_beyond_the_grid():
    star = sample_complexity(P, [0.3, 0.4, 0.5, 0.6, 0.89])
    assert star.bound == ">" and star.value == 1024 and star.finite == np.inf
    assert str(star) == "> 1024"


def test_a_bound_beyond_the_grid_is_the_largest_p_run():
    # the cells at 512 and 1024 were not run (NaN): "> 256", not "> 1024"
    star = sample_complexity(P, [0.3, 0.4, 0.5, np.nan, np.nan])
    assert str(star) == "> 256"
    assert sample_complexity(P, [0.3, 0.95, 1.0, np.nan, np.nan]).value < 256
    assert np.isnan(sample_complexity(P, [np.nan] * 5).value)


def test_curves_above_the_threshold_everywhere_are_an_upper_bound():
    star = sample_complexity(P, [0.95, 1, 1, 1, 1])
    assert star.bound == "<=" and str(star) == "<= 64"


def test_first_crossing_wins_on_a_non_monotone_curve():
    star = sample_complexity(P, [0.5, 0.9, 0.7, 0.95, 1.0])
    assert star.value == pytest.approx(128)


@pytest.mark.parametrize("args, parameter", [
    (([64, 32], [0.5, 0.9]), "P"),
    (([64, 128], [0.5]), "accuracy"),
    (([64, 128], [0.5, 0.9], 1.5), "threshold"),
])
def test_bad_curves_are_refused(args, parameter):
    with pytest.raises(ParameterError) as info:
        sample_complexity(*args)
    assert info.value.parameter == parameter


def test_cosine_per_member():
    import torch

    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [-1.0, -1.0]])
    assert torch.allclose(cosine_per_member(a, b), torch.tensor([1.0, -1.0], dtype=torch.float64))


def test_p_star_table_lists_every_rule():
    acc = np.array([[[0.3, 0.5, 0.8, 1, 1]], [[0.3, 0.3, 0.3, 0.3, 0.3]]]).transpose(0, 2, 1)
    ds = xr.Dataset({"test_accuracy": (("rule", "P", "seed"), acc),
                     "sample_complexity_scale": (("rule", "P"), np.full((2, 5), 256))},
                    coords={"rule": ["good", "bad"], "P": P, "seed": [0]})
    table = p_star_table(ds)
    assert "| good | 362 | 362 | 1.4 | 1.000 ± 0.000 | 0 | 0 |" in table
    assert "| bad | > 1024 | > 1024 | > 4 | 0.300 ± 0.000 | 0 | 0 |" in table
    assert "evaluator not recorded" in table


def test_a_rule_of_the_grid_that_was_not_run_is_named_not_tabled(tmp_path):
    acc = np.array([[[0.3, 0.5, 0.8, 1, 1]], [[np.nan] * 5]]).transpose(0, 2, 1)
    ds = xr.Dataset({"test_accuracy": (("rule", "P", "seed"), acc),
                     "sample_complexity_scale": (("rule", "P"), np.full((2, 5), 256))},
                    coords={"rule": ["ran", "later"], "P": P, "seed": [0]})
    table = p_star_table(ds)
    assert "| ran | 362 |" in table and "| later |" not in table
    assert "Not run (no cell of theirs on disk): later." in table
    from plasticity_sim.plots import plot_result

    assert len(plot_result(ds, tmp_path)) == 2     # accuracy and P*, drawn for `ran` only


def test_the_table_reads_the_largest_P_that_was_run():
    acc = np.array([[[0.3, 0.5, 0.8, np.nan, np.nan]], [[0.3, 0.3, 0.3, np.nan, np.nan]]])
    ds = xr.Dataset({"test_accuracy": (("rule", "P", "seed"), acc.transpose(0, 2, 1)),
                     "sample_complexity_scale": (("rule", "P"), np.full((2, 5), 256))},
                    coords={"rule": ["good", "bad"], "P": P, "seed": [0]})
    table = p_star_table(ds)
    assert "accuracy at P = 256 |" in table and "| good | > 256 |" in table
    assert "nan" not in table
    acc[1, 0, 2] = np.nan  # one rule not run at the largest P another reached
    table = p_star_table(ds.assign(test_accuracy=(("rule", "P", "seed"), acc.transpose(0, 2, 1))))
    assert "| bad | > 128 | > 128 | > 0.5 | not run | 0 | 0 |" in table


def test_a_search_without_a_test_set_is_tabled_on_validation():
    val = np.array([[[0.3, 0.5, 0.8, 1, 1]], [[0.3, 0.3, 0.3, 0.3, 0.3]]]).transpose(0, 2, 1)
    ds = xr.Dataset({"test_accuracy": (("rule", "P", "seed"), np.full_like(val, np.nan),
                                       {"evaluator": "readout"}),
                     "val_accuracy": (("rule", "P", "seed"), val),
                     "sample_complexity_scale": (("rule", "P"), np.full((2, 5), 256))},
                    coords={"rule": ["good", "bad"], "P": P, "seed": [0]})
    table = p_star_table(ds)
    assert "validation set: this result has no test set" in table
    assert "| good | 362 |" in table and "| bad | > 1024 |" in table
    assert "Not run" not in table


def test_p_star_table_counts_diverged_and_capped_runs_and_names_its_evaluator():
    acc = np.array([[[0.3, 0.5, 0.95, 0.85, 1]], [[0.3, 0.3, 0.3, 0.3, np.nan]]]).transpose(0, 2, 1)
    diverged = np.isnan(acc)
    stopped = np.where(diverged, "diverged", "plateau").astype(object)
    stopped[0, 1, 0] = "cap"
    ds = xr.Dataset({"test_accuracy": (("rule", "P", "seed"), acc, {"evaluator": "readout"}),
                     "diverged": (("rule", "P", "seed"), diverged),
                     "stopped_by": (("rule", "P", "seed"), stopped),
                     "chance_accuracy": 0.25,
                     "sample_complexity_scale": (("rule", "P"), np.full((2, 5), 256))},
                    coords={"rule": ["good", "bad"], "P": P, "seed": [0]})
    table = p_star_table(ds)
    assert table.startswith("Evaluator: the network's own readout")
    # first crossing between 128 and 256 (128 * 2^(0.4/0.45)); stable between 512 and 1024
    # (512 * 2^(0.05/0.15)): the curve falls back to 0.85 at 512
    assert "| good | 237 | 645 | 0.93 | 1.000 ± 0.000 | 0 | 1 |" in table
    assert "| bad | > 1024 | > 1024 | > 4 | 0.250 ± 0.000 | 1 | 0 |" in table   # chance


def test_p_star_table_in_units_of_the_scale():
    acc = np.array([[[0.3, 0.5, 0.8, 1, 1]]]).transpose(0, 2, 1)
    ds = xr.Dataset({"test_accuracy": (("rule", "P_scale", "seed"), acc),
                     "sample_complexity_scale": (("rule", "P_scale"), np.full((1, 5), 100))},
                    coords={"rule": ["r"], "P_scale": [0.25, 0.5, 1, 2, 4], "seed": [0]})
    assert "| r | 141 | 141 | 1.4 |" in p_star_table(ds)   # P* = 100 * 0.5 * sqrt(2)


def test_figures_are_print_ready_png_at_300_dpi_and_pdf_with_truetype_fonts(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from plasticity_sim.plots import save_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("P* per rule")
    png = save_figure(fig, tmp_path / "f")
    assert Image.open(png).info["dpi"] == pytest.approx((300, 300), abs=0.5)
    pdf = (tmp_path / "f.pdf").read_bytes()
    # TrueType outlines (embedded as CIDFontType2), never Type 3
    assert (b"/CIDFontType2" in pdf or b"/TrueType" in pdf) and b"/Type3" not in pdf


def test_projections_are_named_by_the_populations_they_join():
    from plasticity_sim.plots import projection_name

    assert [projection_name(k, 4) for k in range(4)] == [
        "input -> layer 1", "layer 1 -> layer 2", "layer 2 -> layer 3", "layer 3 -> readout"]


def test_the_accuracy_figure_draws_chance(tmp_path, monkeypatch):
    from plasticity_sim import plots

    acc = np.array([[[0.3, 0.5, 0.8, 1, 1]]]).transpose(0, 2, 1)
    ds = xr.Dataset({"test_accuracy": (("rule", "P", "seed"), acc),
                     "chance_accuracy": 0.25,
                     "sample_complexity_scale": (("rule", "P"), np.full((1, 5), 256))},
                    coords={"rule": ["bp"], "P": P, "seed": [0]})
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    plots.plot_result(ds, tmp_path)
    lines = figures[0].axes[0].get_lines()
    assert any(line.get_label() == "chance" and line.get_ydata()[0] == 0.25 for line in lines)
    # the same figure, from the public function that returns it
    mean = plots.accuracy_figure(ds).axes[0].get_lines()[0]
    np.testing.assert_allclose(mean.get_ydata(), acc[0, :, 0])
