"""The protocol every comparison uses: three disjoint sets, divergence that means divergence,
one stopping rule, one evaluator, P* with diverged seeds as failures, searches that read
validation only and move past an edge."""

import copy

import numpy as np
import pytest
import xarray as xr

from plasticity_sim import DivergenceError, ParameterError
from plasticity_sim.analysis.sample_complexity import sample_complexity, scored_accuracy
from plasticity_sim.backends.torch.data import TrainingData
from plasticity_sim.backends.torch.train import Trainer, train
from plasticity_sim.experiment import build_experiment
from plasticity_sim.model import DEFAULT_LR, Model, Training, default_lr
from plasticity_sim.rhm import Grammar
from plasticity_sim.stopping import Stopping
from plasticity_sim.tuning import beyond, run_search, search_choice
from tests.test_sweep import SPEC

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def small(rule, **changes):
    return Model.for_rule(rule, **{"width": 16, "epochs": 3, "batch_size": 8, **changes})


# --- three disjoint sets -----------------------------------------------------------------
@pytest.mark.parametrize("pairs", [None, "views", "fixations", "siblings"])
def test_training_validation_and_test_sets_are_disjoint(pairs):
    rule = "bp" if pairs is None else "clapp"
    model = small(rule, **({"pairs": pairs} if pairs else {}))
    data = TrainingData(Trainer(model, G, [0, 1, 2]), 96, n_test=300, n_val=200)
    for member in range(3):
        shown = set(data.pools[member].keys().tolist())
        val = data.vals[member].keys().tolist()
        test = data.tests[member].keys().tolist()
        assert len(set(val)) == len(val) == 200 and len(set(test)) == len(test) == 300
        assert not shown & set(val) and not shown & set(test) and not set(val) & set(test)


def test_the_training_set_depends_on_its_seed_only():
    a = TrainingData(Trainer(small("bp"), G, [4]), 64, n_test=10, n_val=0)
    b = TrainingData(Trainer(small("bp"), G, [4]), 64, n_test=500, n_val=700)
    assert np.array_equal(a.pools[0].keys(), b.pools[0].keys())


def test_a_small_grammar_splits_what_is_left_between_validation_and_test():
    tiny = Grammar(v=3, n_classes=2, m=2, s=2, L=2, seed=0)   # 2 * 2^3 = 16 inputs
    with pytest.warns(UserWarning, match="n_test = 100 asked for"):
        data = TrainingData(Trainer(small("bp", batch_size=2), tiny, [0]), 6, n_test=100, n_val=100)
    assert (data.n_val, data.n_test) == (5, 5)


def test_sets_shrunk_to_what_the_grammar_has_left_are_warned_about_with_the_numbers():
    tiny = Grammar(v=3, n_classes=2, m=2, s=2, L=2, seed=0)   # 16 inputs
    with pytest.warns(UserWarning) as caught:
        TrainingData(Trainer(small("bp", batch_size=2), tiny, [0]), 6, n_test=100, n_val=3)
    [message] = [str(w.message) for w in caught]
    assert message.startswith("n_test = 100 asked for, but only 7 inputs are left")
    assert "testing on n_test = 7" in message
    with pytest.raises(ParameterError, match="^n_test: no inputs are left"):
        TrainingData(Trainer(small("bp", batch_size=2), tiny, [0]), 16, n_test=1)


def test_a_p_that_is_not_whole_trees_is_adjusted_with_a_warning_and_recorded():
    with pytest.warns(UserWarning, match="P = 63 is not a multiple of the 2 inputs per tree "
                      "with pairs = 'views'; training on P = 62"):
        data = TrainingData(Trainer(small("clapp", pairs="views"), G, [0]), 63, n_test=10)
    assert data.P == 62


# --- divergence --------------------------------------------------------------------------
class _Blowup:
    """Multiplies member 0's readout weights by a large finite factor at one step."""

    def __init__(self, step, factor=1e4):
        self.step, self.factor = step, factor

    def start(self, trainer, epochs, P):
        pass

    def wants(self, step):
        return step == self.step

    def observe(self, trainer, step, presentation, x, t, U, state):
        trainer.S[f"s{trainer.net.depth}_w"][0].mul_(self.factor)

    def record(self, rec):
        pass


def test_a_loss_that_explodes_without_reaching_nan_is_a_divergence():
    ds = train(small("bp", epochs=6), G, 32, [0, 1], n_test=50, n_val=50, quiet=True,
               monitors=[_Blowup(9)], on_divergence="mask").to_dataset()
    loss = ds.train_loss.values
    assert np.isfinite(loss[0, 2]) and loss[0, 2] > 100 * ds.initial_loss.values[0]
    assert ds.diverged.values.tolist() == [True, False]
    assert ds.stopped_by.values[0] == "diverged" and ds.stopped_by.values[1] != "diverged"
    assert 2 * 32 <= ds.diverged_at.values[0] < 3 * 32          # in the epoch it blew up
    assert ds.epochs_trained.values[0] == 3 and np.isnan(loss[0, 3:]).all()
    assert np.isnan(ds.test_accuracy.values[0]) and np.isfinite(ds.test_accuracy.values[1])


def test_the_bound_is_relative_to_the_initial_loss():
    # weights x 1000 at step 9 (epoch 2): that epoch's loss is about 6e3 times the initial
    # one, the next epoch's far more
    def run(**changes):
        return train(small("bp", epochs=6, **changes), G, 32, [0], n_test=50, n_val=50,
                     quiet=True, monitors=[_Blowup(9, 1e3)], on_divergence="mask").to_dataset()

    default, lenient = run(), run(divergence_factor=1e4)
    assert 2 * 32 <= default.diverged_at.values[0] < 3 * 32
    assert 3 * 32 <= lenient.diverged_at.values[0] < 4 * 32
    assert np.isfinite(lenient.train_loss.values[0, 2])          # recorded, not yet diverged
    with pytest.raises(DivergenceError, match="exceeded") as info:
        train(small("bp", epochs=6), G, 32, [0], n_test=50, quiet=True, monitors=[_Blowup(9)])
    assert info.value.recording is not None


# --- one stopping rule -------------------------------------------------------------------
def test_the_stopping_rule_names_why_each_member_stopped():
    rule = Stopping(Training(patience=3, epochs=8, loss_threshold=0.01), np.ones(4))
    val = [[0.5, 0.5, 0.5, 0.5], [0.6, 0.5, 0.6, 0.5], [0.7, 0.5, 0.6, 0.5],
           [0.7, 0.5, 0.7, 0.5], [0.7, 0.5, 0.71, 0.5], [0.7, 0.5, 0.72, 0.5],
           [0.7, 0.5, 0.73, 0.5], [0.7, 0.5, 0.74, 0.5]]
    loss = [1.0, 1.0, 1.0, 1.0]
    stopped_at = {}
    for epoch, v in enumerate(val):
        epoch_loss = np.array(loss)
        if epoch == 1:
            epoch_loss[3] = 0.001                           # member 3 converges
        stop = rule.after_epoch(epoch, epoch_loss, np.array(v), np.zeros(4, bool))
        for member in np.flatnonzero(stop):
            stopped_at[int(member)] = epoch
    # member 0: best 0.7 at epoch 2, three epochs without better; member 1 never improved
    # after epoch 0; member 2 keeps improving until the cap; member 3 converged
    assert rule.stopped_by.tolist() == ["plateau", "plateau", "cap", "converged"]
    assert stopped_at == {0: 5, 1: 3, 2: 7, 3: 1}
    assert rule.epochs.tolist() == [6, 4, 8, 2]


@pytest.mark.parametrize("rule, pairs", [("bp", None), ("dfa", None), ("clapp", "views"),
                                         ("lpl", "fixations"), ("oja", None)])
def test_every_rule_family_records_its_evaluator_and_stopping_reason(rule, pairs):
    model = small(rule, epochs=4, **({"pairs": pairs} if pairs else {}))
    for evaluator in ("readout", "probe"):
        ds = train(model, G, 64, [0, 1], n_test=100, n_val=100, evaluator=evaluator,
                   quiet=True, on_divergence="mask").to_dataset()
        assert set(ds.stopped_by.values) <= {"converged", "plateau", "cap", "diverged"}
        assert ds.attrs["evaluator"] == evaluator == ds.test_accuracy.attrs["evaluator"]
        top = "probe_accuracy" if evaluator == "probe" else "readout_accuracy"
        expected = ds[top].values[:, -1] if evaluator == "probe" else ds[top].values
        assert np.array_equal(ds.test_accuracy.values, expected, equal_nan=True)
        for name in ("readout_accuracy", "probe_accuracy", "val_accuracy", "diverged"):
            assert name in ds
        assert ds.val_readout_accuracy.dims == ("seed", "epoch")


def test_training_stops_on_a_validation_plateau_before_the_cap():
    # dfa on 64 inputs cannot reach the loss threshold: it stops when validation stalls
    ds = train(small("dfa", epochs=400, patience=5), G, 64, [0, 1], n_test=100, n_val=300,
               quiet=True).to_dataset()
    assert ds.stopped_by.values.tolist() == ["plateau", "plateau"]
    curve = ds.val_readout_accuracy.values
    for member, epochs in enumerate(ds.epochs_trained.values):
        best = np.nanargmax(curve[member])
        assert epochs - 1 - best == 5                      # five epochs without a better one
    assert ds.sizes["epoch"] == ds.epochs_trained.values.max() < 400
    # the network evaluated is the one of its best validation epoch, not the last
    assert np.array_equal(ds.readout_val_accuracy.values, np.nanmax(curve, axis=1))
    assert np.array_equal(ds.best_epoch.values, np.nanargmax(curve, axis=1))


# --- P* ----------------------------------------------------------------------------------
def test_a_diverged_seed_is_a_failure_for_p_star():
    P = [64, 128, 256]
    acc = xr.DataArray([[0.5, 0.95, 1.0], [0.5, np.nan, 1.0]], dims=("seed", "P"),
                       coords={"seed": [0, 1], "P": P})
    ds = xr.Dataset({"test_accuracy": acc, "diverged": acc.isnull(),
                     "chance_accuracy": xr.DataArray(0.25)})
    scored = scored_accuracy(ds)
    assert scored.values[1, 1] == 0.25
    dropped = sample_complexity(P, acc.values)               # nanmean: the old reading
    counted = sample_complexity(P, scored.values)
    assert dropped.value == pytest.approx(64 * 2 ** (0.4 / 0.45))
    assert counted.value == pytest.approx(128 * 2 ** (0.3 / 0.4))
    assert counted.value > dropped.value and counted.bound == "="


def test_first_and_stable_crossings_differ_for_a_curve_that_falls_back():
    P = [1, 2, 4, 8, 16]
    curve = [0.5, 0.95, 0.6, 0.95, 0.97]
    first, stable = sample_complexity(P, curve), sample_complexity(P, curve, stable=True)
    assert first.value == pytest.approx(2 ** (0.4 / 0.45))
    assert stable.value == pytest.approx(4 * 2 ** (0.3 / 0.35)) and stable.value > first.value
    assert sample_complexity(P, [0.5, 0.95, 0.5, 0.95, 0.5], stable=True).bound == ">"
    assert sample_complexity(P, [0.95] * 5, stable=True).bound == "<="


# --- searches ----------------------------------------------------------------------------
def fake_sweep(peak: float = 1, diverge_above: float = np.inf, curve=None):
    """A stand-in for run_sweep: validation accuracy peaks at lr_factor = peak (test accuracy
    the reverse, which the search must ignore); factors above ``diverge_above`` diverge."""
    calls = []

    def run(experiment, out_dir, echo=None, cells=None, **_):
        calls.append(sorted({c.axes["lr_factor"] for c in (cells or experiment.cells)}))
        factors = experiment.axes["lr_factor"]
        val = [curve(f) if curve else 0.9 - 0.1 * abs(np.log10(f / peak)) for f in factors]
        shape = (1, len(factors), 2)
        val = np.broadcast_to(np.array(val)[None, :, None], shape).copy()
        bad = np.broadcast_to((np.array(factors) > diverge_above)[None, :, None], shape)
        return xr.Dataset(
            {"val_accuracy": (("rule", "lr_factor", "seed"), np.where(bad, np.nan, val)),
             "test_accuracy": (("rule", "lr_factor", "seed"), 1 - val),
             "diverged": (("rule", "lr_factor", "seed"), bad),
             "chance_accuracy": 0.25},
            coords={"rule": ["bp"], "lr_factor": factors, "seed": [0, 1]})

    return run, calls


def search_experiment(factors=(0.1, 0.3, 1, 3, 10)):
    spec = copy.deepcopy(SPEC)
    spec["grid"].update(rule=["bp"], P=[64], lr_factor=list(factors))
    spec["run"].pop("epochs")
    return build_experiment(spec)


def test_a_search_reads_validation_not_test():
    run, _ = fake_sweep(peak=1)
    [row] = search_choice(run(search_experiment(), None))
    assert row["best"] == 1 and row["edge"] is None


def test_a_search_whose_choice_is_on_the_edge_extends_until_it_is_not():
    run, calls = fake_sweep(peak=30)
    result, [row] = run_search(search_experiment(), None, run_sweep=run, echo=lambda *_: None)
    assert calls == [[0.1, 0.3, 1, 3, 10], [30.0], [100.0]]    # only the new cells run
    assert row["best"] == 30 and row["edge"] is None
    assert list(result.lr_factor.values) == [0.1, 0.3, 1, 3, 10, 30, 100]


def test_a_tie_that_reaches_an_edge_extends_the_search_too():
    # 0.1 and 0.3 tie: the choice (0.3) is inside, but a smaller rate may still be better
    run, calls = fake_sweep(curve=lambda f: 0.8 if 0.05 < f <= 0.3 else 0.7)
    _, [row] = run_search(search_experiment(), None, run_sweep=run, echo=lambda *_: None)
    assert calls == [[0.1, 0.3, 1, 3, 10], [0.03]]
    assert row["best"] == 0.3 and row["edge"] is None
    run, calls = fake_sweep(curve=lambda f: 0.8 if f <= 0.3 else 0.7)   # flat all the way down
    _, [row] = run_search(search_experiment(), None, run_sweep=run, echo=lambda *_: None,
                          max_extensions=2)
    assert calls == [[0.1, 0.3, 1, 3, 10], [0.03], [0.01]]
    assert row["best"] == 0.1 and row["edge"] == "low"


def test_an_edge_that_persists_is_reported_after_the_last_extension():
    run, calls = fake_sweep(peak=1e6)
    _, [row] = run_search(search_experiment(), None, run_sweep=run, echo=lambda *_: None,
                          max_extensions=2)
    assert len(calls) == 3 and row["best"] == 100 and row["edge"] == "high"


def test_diverged_rates_count_as_failures_in_a_search():
    run, _ = fake_sweep(peak=10, diverge_above=3)   # the best rates blow up
    [row] = search_choice(run(search_experiment(), None))
    assert row["accuracy"][10.0] == 0.25 and row["best"] == 3


def test_a_search_where_every_rate_diverges_moves_to_lower_rates():
    run, calls = fake_sweep(peak=1, diverge_above=0.01)
    _, [row] = run_search(search_experiment(), None, run_sweep=run, echo=lambda *_: None,
                          max_extensions=2)
    assert calls == [[0.1, 0.3, 1, 3, 10], [0.03], [0.01]]
    assert row["best"] == 0.01 and row["edge"] == "low"     # still diverging: reported


def test_values_past_an_edge_follow_the_1_3_10_series():
    assert [beyond(10, "high", []), beyond(30, "high", []), beyond(0.1, "low", []),
            beyond(0.03, "low", [])] == [30, 100, 0.03, 0.01]
    assert beyond(2, "high", [0.5, 1, 2]) == 4


# --- defaults and settings ----------------------------------------------------------------
def test_learning_rate_defaults_depend_on_depth():
    for rule, table in DEFAULT_LR.items():
        for L, lr in table.items():
            assert default_lr(rule, L) == lr
    deepest = max(DEFAULT_LR["bp"])
    assert default_lr("bp", deepest + 3) == DEFAULT_LR["bp"][deepest]
    assert default_lr("my_rule", 3) == 0.05
    model = Model.for_rule("bp")
    assert model.training.lr is None
    G4 = Grammar(v=4, n_classes=4, m=4, s=2, L=4)
    assert model.at(G4).training.lr == DEFAULT_LR["bp"][4]
    assert model.replace(lr=0.2).at(G4).training.lr == 0.2     # a set rate is kept


def test_a_model_setting_that_run_would_override_is_an_error():
    spec = copy.deepcopy(SPEC)
    spec["models"] = {"slow": {"rule": "bp", "epochs": 50}}
    spec["grid"]["rule"] = ["bp", "slow"]
    with pytest.raises(ParameterError, match="would override the epochs set by \\['slow'\\]"):
        build_experiment(spec)
    spec["run"].pop("epochs")
    cells = build_experiment(spec).cells
    assert {c.axes["rule"]: c.model.training.epochs for c in cells} == {"bp": 1000, "slow": 50}


def test_the_train_command_takes_the_protocol_settings(tmp_path):
    from click.testing import CliRunner

    from plasticity_sim.cli import main

    out = tmp_path / "run.nc"
    args = ["train", "--rule", "bp", "--width", "8", "--v", "4", "--classes", "4", "--m", "4",
            "--s", "2", "--L", "3", "--P", "64", "--seeds", "0,1", "--epochs", "30",
            "--patience", "2", "--n-val", "100", "--n-test", "200", "--evaluator", "probe",
            "--quiet", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "stopped by ['" in result.output and "a linear probe of the top hidden layer" in result.output
    ds = xr.load_dataset(out)
    assert ds.attrs["evaluator"] == "probe" and (ds.attrs["n_val"], ds.attrs["n_test"]) == (100, 200)
    assert (ds.epochs_trained.values < 30).all()                   # patience 2: an early plateau
    bad = CliRunner().invoke(main, args[:-2] + ["--evaluator", "oracle", "--out", str(out)])
    assert bad.exit_code == 2 and "oracle" in bad.output


@pytest.mark.parametrize("L, v", [(2, 8), (3, 4), (4, 4)])
def test_backprop_learns_at_its_defaults_at_every_documented_depth(L, v):
    # before the protocol, bp at L = 4 and its default rate (0.1, trained to a loss of 1e-3
    # without early stopping) ended at chance on most seeds; with the per-depth defaults and
    # the stopping rule it learns, at a width other than the searched one (128) too.
    g = Grammar(v=v, n_classes=v, m=v, s=2, L=L, seed=0)
    P = 4 * g.sample_complexity_scale
    for width in (64, 128):
        ds = train(Model.for_rule("bp", width=width), g, P, [7], n_test=1000, n_val=500,
                   quiet=True, probes=False).to_dataset()
        assert not ds.diverged.values[0] and ds.test_accuracy.values[0] > 0.9, (width, ds.lr.values)
