import numpy as np
import pytest
import xarray as xr

from plasticity_sim import ParameterError
from plasticity_sim.experiment import build_experiment
from plasticity_sim.tuning import learning_rate_overrides, plot_search, search_choice, search_table
from tests.test_sweep import SPEC

FACTORS = [0.1, 0.3, 1, 3, 10]


def search():
    acc = np.array([
        [[0.99, 1.0, 1.0, 0.25, 0.25], [0.9, 0.95, 0.6, 0.25, 0.25]],    # bp at L = 3, L = 4
        [[0.5, 0.6, 0.7, 0.8, 0.81], [0.5, 0.6, 0.7, 0.8, np.nan]],      # fa: faster is better
    ])[..., None]  # rule, L, lr_factor, seed
    return xr.Dataset({"val_accuracy": (("rule", "L", "lr_factor", "seed"), acc)},
                      coords={"rule": ["bp", "fa"], "L": [3, 4], "lr_factor": FACTORS, "seed": [0]})


def test_the_middle_of_the_best_factors_per_rule_and_depth():
    best = {(r["rule"], r["setting"]["L"]): r["best"] for r in search_choice(search())}
    assert best == {("bp", 3): 1.0,      # 0.3 and 1 tie: of two middles, the default
                    ("bp", 4): 0.3,
                    ("fa", 3): 10.0,     # 0.81 beats 0.80 by more than the tie
                    ("fa", 4): 3.0}      # a missing cell is not chosen (nor an edge past it)
    edges = {(r["rule"], r["setting"]["L"]): r["edge"] for r in search_choice(search())}
    assert edges == {("bp", 3): None, ("bp", 4): None, ("fa", 3): "high", ("fa", 4): "high"}
    table = search_table(search_choice(search()))
    assert "| bp | L = 4 | 0.900 | 0.950 | 0.600 | 0.250 | 0.250 | x0.3 | nan |" in table
    assert "| fa | L = 4 | 0.500 | 0.600 | 0.700 | 0.800 | — | x3 **at the high edge** | nan |" in table
    assert "| fa | L = 3 | 0.500 | 0.600 | 0.700 | 0.800 | 0.810 | x10 **at the high edge** |" in table


def test_a_wider_tie_widens_the_plateau(tmp_path):
    best = {(r["rule"], r["setting"]["L"]): r["best"] for r in search_choice(search(), tie=0.02)}
    assert best[("fa", 3)] == 3.0        # 3 and 10 tie: the one closer to the default
    assert best[("bp", 3)] == 0.3        # 0.1, 0.3 and 1 tie: the middle
    [png] = plot_search(search_choice(search()), tmp_path)
    assert png.stat().st_size > 10_000 and png.with_suffix(".pdf").exists()


def test_a_result_without_learning_rates_is_refused():
    with pytest.raises(ParameterError, match="none of the search axes"):
        search_choice(search().isel(lr_factor=0, drop=True))


def test_the_choice_as_overrides_of_an_experiment_file():
    import copy
    import tomllib

    text = learning_rate_overrides(search_choice(search()))
    assert 'where = { rule = "bp", L = 4 }\nlr_factor = 0.3' in text
    assert 'rule = "bp", L = 3' not in text                 # the default needs no override
    spec = copy.deepcopy(SPEC)
    spec["grid"].update(rule=["bp", "fa"], L=[3, 4], P=[64])
    spec["override"] = tomllib.loads(text)["override"]
    lr = {(c.axes["rule"], c.axes["L"]): c.model.training.lr for c in build_experiment(spec).cells}
    plain = {(c.axes["rule"], c.axes["L"]): c.model.training.lr
             for c in build_experiment({**spec, "override": []}).cells}
    assert lr[("bp", 4)] == pytest.approx(0.3 * plain[("bp", 4)])
    assert lr[("fa", 3)] == pytest.approx(10 * plain[("fa", 3)])
    assert lr[("bp", 3)] == plain[("bp", 3)]


def test_figures_of_facets_with_decimal_values_do_not_overwrite_each_other(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from plasticity_sim.plots import save_figure

    paths = [save_figure(plt.figure(), tmp_path / f"accuracy_lr_factor{f}") for f in (0.1, 0.3)]
    assert [p.name for p in paths] == ["accuracy_lr_factor0.1.png", "accuracy_lr_factor0.3.png"]
    assert len(list(tmp_path.iterdir())) == 4


def test_the_accuracy_is_pooled_over_the_training_set_sizes_searched():
    small = search().val_accuracy.copy()
    small.loc[dict(rule="bp", L=3)] = np.array([0.5, 0.6, 0.8, 0.25, 0.25])[:, None]
    ds = xr.concat([search(), small.to_dataset()], dim=xr.DataArray([8, 2], dims="P_scale",
                                                                    name="P_scale"))
    rows = search_choice(ds)
    bp3 = next(r for r in rows if r["rule"] == "bp" and r["setting"] == {"L": 3})
    assert bp3["accuracy"][1.0] == pytest.approx(0.9) and bp3["best"] == 1.0
    assert all("P_scale" not in r["setting"] for r in rows)


def test_a_rate_that_diverged_at_one_size_is_not_chosen_for_the_other():
    acc = xr.DataArray([[[0.70, np.nan]], [[0.99, 1.0]]], dims=("P_scale", "rule", "lr_factor"),
                       coords={"P_scale": [2, 8], "rule": ["bp"], "lr_factor": [1, 10]})
    diverged = xr.where(acc.isnull(), 100, -1)
    ds = xr.Dataset({"val_accuracy": acc.expand_dims(seed=[0]),
                     "diverged_at": diverged.expand_dims(seed=[0]), "chance_accuracy": 0.25})
    [row] = search_choice(ds)
    assert row["accuracy"] == {1.0: pytest.approx(0.845), 10.0: pytest.approx(0.625)}
    assert row["best"] == 1.0


def test_the_search_table_counts_the_diverged_runs_of_every_row():
    ds = search()
    diverged = ds.val_accuracy.isnull() | (ds.lr_factor >= 3)   # bp too fast at 3 and 10
    ds["diverged"] = diverged.where(ds.rule == "bp", False)
    rows = search_choice(ds)
    assert {(r["rule"], r["setting"]["L"]): r["diverged"] for r in rows} == \
        {("bp", 3): 2, ("bp", 4): 2, ("fa", 3): 0, ("fa", 4): 0}
    table = search_table(rows)
    assert "| chosen | lr | diverged |" in table
    lines = {" | ".join(line.split(" | ")[:2]): line for line in table.splitlines()
             if line.startswith("| ")}
    assert lines["| bp | L = 4"].endswith("| x0.3 | nan | 2 |")
    assert lines["| fa | L = 3"].endswith("| x10 **at the high edge** | nan | 0 |")
