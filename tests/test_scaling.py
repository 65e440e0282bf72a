import numpy as np
import pytest
import xarray as xr

from plasticity_sim.scaling import (alignment_by_distance, alignment_over_training, plot_scaling,
                                    scaling_summary, scaling_table)

SCALES = [0.25, 1, 4, 16]


def synthetic():
    """bp crosses 0.9 between 1 and 4 n_c m^L at every depth; dfa later and later; never at L=4."""
    acc = np.zeros((2, 2, len(SCALES), 2))  # rule, L, P_scale, seed
    curve = lambda *v: np.array(v)[:, None]  # noqa: E731 (the same for both seeds)
    acc[0, :] = curve(0.3, 0.6, 1.0, 1.0)
    acc[1, 0] = curve(0.3, 0.5, 0.7, 1.0)
    acc[1, 1] = curve(0.3, 0.4, 0.5, 0.6)
    align = np.zeros((2, 2, len(SCALES), 2, 4))
    align[0] = 1.0
    align[1, ..., :] = [0.1, 0.3, 0.6, 0.9]   # dfa: less aligned far from the output
    align[1, 0, ..., 2:] = np.nan              # L = 2 has two hidden layers
    align[0, 0, ..., 2:] = np.nan
    return xr.Dataset({"test_accuracy": (("rule", "L", "P_scale", "seed"), acc),
                       "signal_alignment_mean": (("rule", "L", "P_scale", "seed", "layer"), align)},
                      coords={"rule": ["bp", "dfa"], "L": [2, 4], "P_scale": SCALES, "seed": [0, 1],
                              "layer": [1, 2, 3, 4]})


def test_p_star_per_depth_and_its_ratio_to_backprop():
    rows = scaling_summary(synthetic())
    by = {(r["rule"], r["L"]): r for r in rows}
    bp2, dfa2, dfa4 = by[("bp", 2)], by[("dfa", 2)], by[("dfa", 4)]
    assert bp2["p_star"].bound == "=" and 1 < bp2["p_star"].value < 4
    assert dfa2["p_star"].value > bp2["p_star"].value and dfa2["ratio_to_bp"] > 1
    assert dfa4["p_star"].bound == ">" and dfa4["p_star"].value == 16
    table = scaling_table(rows)
    assert "| None | 4 | dfa | > 16 |" in table


def test_alignment_against_distance_from_the_output():
    cos = alignment_by_distance(synthetic())
    # L = 4: layer 4 is next to the output (distance 1), layer 1 is four layers away
    assert float(cos.sel(L=4, rule="dfa", distance=1)) == 0.9
    assert float(cos.sel(L=4, rule="dfa", distance=4)) == 0.1
    assert float(cos.sel(L=2, rule="dfa", distance=1)) == 0.3
    assert np.isnan(float(cos.sel(L=2, rule="dfa", distance=4)))
    assert float(cos.sel(L=4, rule="bp").min()) == 1.0


def with_epochs(ds):
    """The synthetic scan with a per-epoch alignment: dfa's grows over 3 epochs, then stops."""
    ramp = np.array([0.25, 0.5, 1.0, np.nan])[:, None]       # epoch x layer factor
    by_epoch = ds.signal_alignment_mean.expand_dims(epoch=4, axis=-2) * ramp
    return ds.assign(signal_alignment_by_epoch=by_epoch.assign_coords(epoch=np.arange(4)))


def test_alignment_over_training_by_distance_from_the_output():
    cos = alignment_over_training(with_epochs(synthetic()), L=4, P_scale=16)
    assert cos.dims == ("rule", "epoch", "distance")
    np.testing.assert_allclose(cos.sel(rule="dfa", distance=1).values[:3], [0.225, 0.45, 0.9])
    np.testing.assert_allclose(cos.sel(rule="dfa", distance=4).values[:3], [0.025, 0.05, 0.1])
    assert np.isnan(cos.sel(rule="bp", epoch=3)).all()


def test_the_scaling_figures(tmp_path):
    ds = with_epochs(synthetic())
    paths = plot_scaling(ds, scaling_summary(ds), tmp_path)
    assert [p.name for p in paths] == ["scaling_p_star.png", "scaling_alignment.png",
                                       "scaling_alignment_training.png"]
    for p in paths:
        assert p.stat().st_size > 10_000 and p.with_suffix(".pdf").exists()


def test_alignment_is_read_at_the_largest_P_every_rule_ran():
    ds = synthetic()
    ds["signal_alignment_mean"] = ds.signal_alignment_mean * xr.DataArray(
        [0.25, 0.5, 0.75, 1.0], dims="P_scale", coords={"P_scale": SCALES})
    ds["test_accuracy"].loc[dict(rule="dfa", L=4, P_scale=16)] = np.nan   # not run
    cos = alignment_by_distance(ds)
    assert list(cos.P_scale.values) == [16, 4]                           # per depth
    assert float(cos.sel(L=4, rule="dfa", distance=1)) == pytest.approx(0.9 * 0.75)
    assert float(cos.sel(L=2, rule="dfa", distance=1)) == pytest.approx(0.3)
    assert float(alignment_by_distance(ds, P_scale=1).sel(L=2, rule="dfa", distance=1)) == \
        pytest.approx(0.3 * 0.5)


def test_the_largest_common_P_whatever_the_order_of_the_grid():
    from plasticity_sim.scaling import largest_common_P

    ds = synthetic().isel(P_scale=[3, 1, 0, 2])                        # 16, 1, 0.25, 4
    assert largest_common_P(ds, 4) == 16
    ds["test_accuracy"].loc[dict(rule="dfa", L=4, P_scale=16)] = np.nan
    assert largest_common_P(ds, 4) == 4
    ds["test_accuracy"].loc[dict(rule="dfa", L=4)] = np.nan           # dfa never ran: smallest
    assert largest_common_P(ds, 4) == 0.25


def test_a_p_star_beyond_the_grid_is_a_marker_not_a_point_on_the_line(monkeypatch, tmp_path):
    import plasticity_sim.scaling as scaling

    figures = []
    monkeypatch.setattr(scaling, "save_figure", lambda fig, path: figures.append(fig) or path)
    ds = synthetic()
    plot_scaling(ds.drop_vars("signal_alignment_mean"), scaling_summary(ds), tmp_path)
    ax = figures[0].axes[0]
    dfa = [line for line in ax.lines if line.get_label() == "dfa"][0]
    # dfa's L = 4 value (16) is only a lower bound: the line stops at L = 2
    assert np.isnan(dfa.get_ydata()[1]) and np.isfinite(dfa.get_ydata()[0])
    [bound] = [line for line in ax.lines if line.get_marker() == "^"]
    # at L = 4, moved a little along L so that rules bounded at the same P stay visible
    assert len(bound.get_xdata()) == 1 and abs(bound.get_xdata()[0] - 4) < 0.2
    assert list(bound.get_ydata()) == [16]
