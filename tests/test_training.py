import numpy as np
import pytest
import torch

from plasticity_sim import DivergenceError, ParameterError
from plasticity_sim.analysis import AlignmentMonitor
from plasticity_sim.backends.torch.train import Trainer, train
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar, sample
from plasticity_sim.rules import FEEDBACK_RULES

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def small(rule, **changes):
    return Model.for_rule(rule, **{"width": 16, "epochs": 3, "batch_size": 8, **changes})


def test_an_ensemble_equals_separate_runs(one_thread):
    model = small("dfa", epochs=4)
    together = train(model, G, 64, [3, 4, 5], n_test=300, dtype="float64", quiet=True,
                     lr=[0.01, 0.02, 0.03]).to_dataset()
    for i, (seed, lr) in enumerate([(3, 0.01), (4, 0.02), (5, 0.03)]):
        alone = train(model, G, 64, [seed], n_test=300, dtype="float64", quiet=True,
                      lr=lr).to_dataset()
        assert np.allclose(together.train_loss[i], alone.train_loss[0], rtol=1e-10)
        assert together.test_accuracy[i] == alone.test_accuracy[0]
        assert np.isclose(together.test_loss[i], alone.test_loss[0], rtol=1e-10)


@pytest.mark.parametrize("rule", [r.name for r in FEEDBACK_RULES])
@pytest.mark.parametrize("arch", ["cnn", "lcn", "fc"])
def test_every_rule_and_architecture_learns_its_training_set(rule, arch):
    # the rule's own defaults (learning rate, batch 32), a narrow network, a few epochs
    model = Model.for_rule(rule, arch=arch, width=32, epochs=40)
    ds = train(model, G, 128, [0, 1], n_test=200, quiet=True).to_dataset()
    loss = ds.train_loss.values
    assert np.isfinite(loss[:, 0]).all() and (ds.diverged_at.values == -1).all()
    assert (np.nanmin(loss, axis=1) < 0.95 * loss[:, 0]).all(), loss[:, [0, -1]]
    assert (ds.final_train_accuracy.values > 0.4).all()  # chance is 0.25


def test_euler_dynamics_converge_to_the_steady_state():
    steady = Trainer(small("bp"), G, [0], dtype="float64")
    euler = Trainer(small("bp", time_model="euler", tau=5.0, dt=1.0, n_steps=300), G, [0],
                    dtype="float64")
    x, t, _ = steady.encode([sample(G, 20, seed=1)])
    out_steady, out_euler = steady.net.predict(steady.S, x), euler.net.predict(euler.S, x)
    assert torch.allclose(out_steady, out_euler, atol=1e-8)
    short = Trainer(small("bp", time_model="euler", tau=5.0, dt=1.0, n_steps=3), G, [0],
                    dtype="float64")
    assert not torch.allclose(out_steady, short.net.predict(short.S, x), atol=1e-3)


def test_euler_updates_every_layer_from_the_previous_step():
    one = Trainer(small("bp", time_model="euler", tau=2.0, dt=2.0, n_steps=1), G, [0],
                  dtype="float64")
    x, t, _ = one.encode([sample(G, 5, seed=1)])
    _, _, state = one.net.compute(one.S, x, t, want_state=True)
    assert state["p1_r"].abs().sum() > 0          # layer 1 sees the input at once
    assert torch.equal(state["p2_r"], torch.zeros_like(state["p2_r"]))  # layer 2 saw r1 = 0


@pytest.mark.parametrize("arch", ["cnn", "fc"])
def test_euler_training_runs_every_rule(arch):
    for rule in ("bp", "dfa"):
        model = small(rule, arch=arch, time_model="euler", tau=4.0, dt=1.0, n_steps=20, epochs=6)
        ds = train(model, G, 64, [0], n_test=100, quiet=True).to_dataset()
        assert ds.train_loss.values[0, -1] < ds.train_loss.values[0, 0]


def test_bp_nomask_with_batches_of_one_is_bp():
    a = train(small("bp", batch_size=1), G, 32, [0], n_test=100, dtype="float64", quiet=True)
    b = train(small("bp_nomask", batch_size=1), G, 32, [0], n_test=100, dtype="float64", quiet=True)
    c = train(small("bp_nomask", batch_size=8), G, 32, [0], n_test=100, dtype="float64", quiet=True)
    a, b, c = (r.to_dataset().train_loss.values for r in (a, b, c))
    assert np.allclose(a, b, rtol=1e-12)
    assert not np.allclose(a, c, rtol=1e-3)


def test_dfa_delivers_B_times_the_output_error():
    trainer = Trainer(small("dfa"), G, [0, 1], dtype="float64")
    x, t, _ = trainer.encode([sample(G, 6, seed=0), sample(G, 6, seed=1)])
    _, _, st = trainer.net.compute(trainer.S, x, t, want_state=True)
    err = st["p4_err"].flatten(2)                       # (E,B,n_classes)
    for layer in (1, 2, 3):
        B_l = trainer.S[f"d{layer}_fb_b"]               # (E, units, n_classes)
        expected = torch.einsum("euc,ebc->ebu", B_l, err).view_as(st[f"p{layer}_fb"])
        assert torch.allclose(st[f"p{layer}_fb"], expected)
        assert torch.equal(st[f"p{layer}_delta"], (st[f"p{layer}_a"] > 0) * st[f"p{layer}_fb"])


def test_feedback_alignment_started_symmetric_is_backprop_on_the_first_step():
    from plasticity_sim.rules import FA, Pathway, Rule

    symmetric = Rule("fa_sym", summary="FA with B = W at start", hidden=FA.hidden, output=FA.output,
                     update=FA.update, pathways=[Pathway("fb", "transpose", "b * delta_post", synapses={"b": "w"})])
    fa, bp = Trainer(small(symmetric), G, [2], dtype="float64"), Trainer(small("bp"), G, [2],
                                                                          dtype="float64")
    x, t, _ = fa.encode([sample(G, 8, seed=0)])
    U_fa, _, _ = fa.net.compute(fa.S, x, t)
    U_bp, _, _ = bp.net.compute(bp.S, x, t)
    for name in bp.plastic:
        assert torch.allclose(U_fa[name], U_bp[name], rtol=1e-12)
    fa.step(x, t), bp.step(x, t)  # after a step W moves and B does not: no longer backprop
    U_fa, _, _ = fa.net.compute(fa.S, x, t)
    U_bp, _, _ = bp.net.compute(bp.S, x, t)
    assert not torch.allclose(U_fa["s0_w"], U_bp["s0_w"], rtol=1e-6)


def test_alignment_monitor_gives_one_for_bp_and_about_zero_for_dfa_at_start():
    mon = AlignmentMonitor(every=1)
    ds = train(small("bp", epochs=1), G, 32, [0, 1], n_test=50, monitors=[mon], quiet=True,
               dtype="float64").to_dataset()
    assert np.allclose(ds.update_alignment, 1, atol=1e-10)
    assert np.allclose(ds.signal_alignment, 1, atol=1e-10)
    mon = AlignmentMonitor(every=1000)
    ds = train(small("dfa", epochs=1, width=64), G, 32, list(range(12)), n_test=50,
               monitors=[mon], quiet=True).to_dataset()
    first = ds.signal_alignment.isel(checkpoint=0)   # before any update: B is unrelated to W
    assert abs(float(first.sel(layer=1).mean())) < 0.1
    assert float(ds.update_alignment.isel(checkpoint=0, projection=-1).mean()) == pytest.approx(1)


class _Poison:
    """A monitor that writes NaN into a weight at one step (fault injection)."""

    def __init__(self, step):
        self.step = step

    def start(self, trainer, epochs, P):
        pass

    def wants(self, step):
        return step == self.step

    def observe(self, trainer, step, presentation, x, t, U, state):
        U["s0_w"][0].fill_(float("nan"))

    def record(self, rec):
        pass


def test_divergence_names_the_presentation_and_keeps_the_recording():
    # P = 32, batch 8: step 9 is the second batch of epoch 2; its update poisons the weights,
    # so the loss is first non-finite at the third batch of epoch 2: presentation 2*32 + 16
    with pytest.raises(DivergenceError) as info:
        train(small("bp", epochs=4), G, 32, [0, 1], n_test=50, monitors=[_Poison(9)], quiet=True)
    err = info.value
    assert err.presentation == 2 * 32 + 16 and err.member == 0 and err.seed == 0
    ds = err.recording.to_dataset()
    assert np.isfinite(ds.train_loss.values[:, :2]).all()   # the epochs before are kept
    assert "presentation 80" in str(err)


@pytest.mark.parametrize("call, parameter", [
    (lambda: small("nonexistent"), "rule"),
    (lambda: small("bp", arch="rnn"), "arch"),
    (lambda: small("bp", width=0), "width"),
    (lambda: small("bp", lr=-1), "lr"),
    (lambda: small("bp", momentum=1.0), "momentum"),
    (lambda: small("bp", batch_size=0), "batch_size"),
    (lambda: small("bp", activation="gelu"), "activation"),
    (lambda: small("bp", time_model="rk4"), "time_model"),
    (lambda: small("bp", dt=20.0), "dt"),
    (lambda: small("bp", loss="hinge"), "loss"),
    (lambda: small("bp", depth=2).architecture(G), "depth"),
    (lambda: small("bp", colour="red"), "model"),
    (lambda: Trainer(small("bp"), G, [0], dtype="float16"), "dtype"),
    (lambda: Trainer(small("bp"), G, [0], device="tpu"), "device"),
    (lambda: Trainer(small("bp"), G, []), "seeds"),
    (lambda: train(small("bp"), G, 0, [0]), "P"),
    (lambda: train(small("bp"), G, 10, [0], n_test=30_000), "n_test"),
    (lambda: train(small("bp"), G, 10, [0], sensitivity_samples=-1), "sensitivity_samples"),
    (lambda: train(small("bp"), G, 10, [0], representation_samples=-1), "representation_samples"),
    (lambda: AlignmentMonitor(every=-5), "alignment_every"),
    (lambda: AlignmentMonitor(every=0), "alignment_every"),
])
def test_bad_settings_give_one_clear_error(call, parameter):
    with pytest.raises(ParameterError) as info:
        call()
    assert info.value.parameter == parameter


def test_fc_allows_any_depth_but_cnn_needs_s_to_the_depth_positions():
    assert small("bp", arch="fc", depth=2).architecture(G).depth == 2
    with pytest.raises(ParameterError, match="s\\*\\*depth"):
        small("bp", arch="lcn", depth=4).architecture(G)


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ParameterError, match="no GPU"):
        Trainer(small("bp"), G, [0], device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_equals_cpu_in_float64():
    cpu = train(small("bp"), G, 32, [0], n_test=50, dtype="float64", quiet=True).to_dataset()
    gpu = train(small("bp"), G, 32, [0], n_test=50, dtype="float64", device="cuda",
                quiet=True).to_dataset()
    assert np.allclose(cpu.train_loss, gpu.train_loss, rtol=1e-9)


def test_masked_divergence_freezes_only_the_diverged_member():
    ds = train(small("bp", epochs=4), G, 32, [0, 1], n_test=50, monitors=[_Poison(9)], quiet=True,
               on_divergence="mask").to_dataset()
    assert ds.diverged_at.values.tolist() == [80, -1]
    assert np.isnan(ds.test_accuracy.values[0]) and np.isfinite(ds.test_accuracy.values[1])
    assert np.isfinite(ds.train_loss.values[1]).all()
    assert np.isnan(ds.train_loss.values[0, 2:]).all()


def test_sensitivity_of_an_untrained_network_is_one_at_level_zero():
    ds = train(small("bp", epochs=1, width=32), G, 32, [0, 1], n_test=2000, quiet=True,
               sensitivity_samples=2000, dtype="float64").to_dataset()
    sens = ds.sensitivity.values                       # (seed, layer, level)
    assert sens.shape == (2, 3, 3) and np.isfinite(sens).all()
    # redrawing everything but the class looks like an unrelated input to a barely trained net
    assert np.allclose(sens[:, :, 0], 1, atol=0.1)
    # redrawing only the lowest productions changes less than redrawing everything
    assert (sens[:, :, 2] < sens[:, :, 0]).all()


def test_backprop_makes_the_top_layer_insensitive_to_low_level_synonyms():
    ds = train(Model.for_rule("bp"), G, 1024, [0], n_test=2000, quiet=True,
               sensitivity_samples=2000).to_dataset()
    assert ds.test_accuracy.values[0] > 0.9
    sens = ds.sensitivity.sel(seed=0, level=2).values   # per layer, lowest productions redrawn
    assert sens[2] < 0.5 * sens[0], sens


def test_every_recorded_unit_is_a_udunits_unit_and_no_setting_reads_none():
    # losses are in nats, a dimensionless "1" (UDUNITS has no "nat"); the name says nats
    ds = train(small("bp", epochs=1), G, 64, [0], n_test=100, n_val=50, quiet=True,
                 sensitivity_samples=20).to_dataset()
    units = {name: var.attrs.get("units") for name, var in ds.variables.items()}
    assert "nat" not in units.values()
    for loss in ("train_loss", "test_loss", "initial_loss"):
        assert units[loss] == "1" and "nats" in ds[loss].attrs["long_name"]
    # a setting not given is empty, not the text "None"
    assert ds.attrs["pairs"] == "" and "None" not in ds.attrs.values()
    assert "0 = the input" in ds.probe_layer.attrs["long_name"]
    assert "1 = next to the input" in ds.layer.attrs["long_name"]
