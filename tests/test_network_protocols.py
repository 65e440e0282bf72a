"""The frequency-response induction on a rule's network, on both engines, and the streams of
input rates it is shown."""

import numpy as np
import pytest
import xarray as xr
from brian2 import Hz, kHz, second

from plasticity_sim import Grammar, Model, ParameterError
from plasticity_sim.analysis.network_protocols import (network_frequency_response,
                                                       network_protocol, network_table)
from plasticity_sim.analysis.protocols import Synapse, frequency_response
from plasticity_sim.engines import Brian2Engine, TorchEngine
from plasticity_sim.rhm import Stream, rate_stream
from plasticity_sim.rules import get_rule

F = [1, 10, 100]
PHYSICAL = dict(rate_unit=10.0, tau_w=36_000.0, tau_state=3_600.0)
G = Grammar(v=2, n_classes=2, m=2, s=2, L=1, seed=0)


@pytest.mark.parametrize("rule, w0", [("bcm", 1.0), ("oja", 0.5)])
@pytest.mark.parametrize("engine", ["torch", "brian2"])
def test_a_local_rule_on_the_network_gives_the_one_synapse_curve(rule, w0, engine):
    """Oja and BCM read nothing from the rest of the network, and every hidden unit's tested
    synapse starts at w0: each unit changes as the one-synapse protocol says (its threshold
    moving as it does)."""
    one = frequency_response(Synapse.make(get_rule(rule), w0=w0, **PHYSICAL), F, pulses=900)
    net = network_frequency_response(get_rule(rule), F, engine=engine, w0=w0, **PHYSICAL)
    assert np.abs(one.dw.values).max() > 1e-3  # a change to compare, of either sign
    np.testing.assert_allclose(net.dw.values, np.repeat(one.dw.values[:, None], 4, axis=1),
                               rtol=1e-9, atol=1e-15)
    assert float(net.crossover) == pytest.approx(float(one.crossover), nan_ok=True)


def test_a_feedback_rule_on_the_network_follows_the_error_the_network_computes():
    """DFA's change is B e f'(a) x: with two classes the output error e = p - t is
    (-p1, p1) for class 0 and (p0, -p0) for class 1, so teaching the other class flips the
    sign of every unit's change; the two engines agree."""
    rule = get_rule("dfa")
    zero = network_frequency_response(rule, F, label=0, w0=1.0, **PHYSICAL)
    one = network_frequency_response(rule, F, label=1, w0=1.0, **PHYSICAL)
    moved = np.abs(zero.dw.values) > 1e-9
    assert moved.sum() >= 8
    assert (np.sign(zero.dw.values[moved]) == -np.sign(one.dw.values[moved])).all()
    # units with feedback weights of both signs: the population's changes differ in sign
    assert (zero.dw.values > 0).any() and (zero.dw.values < 0).any()
    on_brian2 = network_frequency_response(rule, F, label=0, w0=1.0, engine="brian2", **PHYSICAL)
    np.testing.assert_allclose(on_brian2.dw.values, zero.dw.values, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("engine", ["torch", "brian2"])
def test_a_history_on_the_network_moves_bcm_threshold_as_on_one_synapse(engine):
    """48 h at 3 Hz with the synapses frozen lowers the threshold to (3/10)^2 and the
    crossover below 1 Hz, as the one-synapse history does, number for number."""
    rule, history = get_rule("bcm"), dict(history_rate=3 * Hz, history_duration=48 * 3600.0)
    one = frequency_response(Synapse.make(rule, **PHYSICAL), [0.3, 1, 3, 10], **history)
    net = network_frequency_response(rule, [0.3, 1, 3, 10], engine=engine, **history,
                                     **PHYSICAL)
    assert float(net.theta_at_induction) == pytest.approx(0.09, rel=1e-9)
    assert float(net.crossover) < 1.0
    np.testing.assert_allclose(net.dw.values, np.repeat(one.dw.values[:, None], 4, axis=1),
                               rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("engine", [TorchEngine(), Brian2Engine(target="numpy")],
                         ids=["torch", "brian2"])
def test_a_frozen_run_keeps_every_weight_and_moves_the_states(engine):
    """plastic=False: with momentum and weight decay on, no synaptic variable changes, while
    BCM's threshold follows the rates (both engines, the same threshold)."""
    model = Model.for_rule("bcm", arch="fc", width=3, depth=1, bias=False, lr=0.01,
                           momentum=0.9, weight_decay=0.01, batch_size=1)
    inputs = np.random.default_rng(0).random((15, G.n_positions, G.v)) * 1.5
    stream = model.pairing.rate_stream(G, inputs)
    frozen = engine.run(model, G, stream, seed=2, plastic=False)
    learning = engine.run(model, G, stream, seed=2)
    for name, values in frozen.synapses.items():
        assert (values == values[0]).all(), name
        assert np.abs(learning.synapses[name][-1] - values[0]).max() > 1e-3, name
    # the threshold by hand: theta <- theta + eps (r^2 - theta), r = relu(W x), W frozen
    w = frozen.synapses["s0_w"][0]
    theta = np.ones(3)
    for x in inputs.reshape(len(inputs), -1):
        theta = theta + 0.01 * (np.maximum(w @ x, 0) ** 2 - theta)
    assert np.abs(theta - 1.0).max() > 0.01
    np.testing.assert_allclose(frozen.states["p1_theta"].ravel(), theta, rtol=1e-12)


def test_a_rule_variable_named_like_the_engines_flag_does_not_change_brian2(tmp_path):
    """A trace called ``plastic`` (reward_hebb's elig renamed) runs the same on both engines,
    learning and frozen."""
    text = open("models/reward_hebb.toml").read().replace("elig", "plastic")
    path = tmp_path / "renamed.toml"
    path.write_text(text)
    model = Model.from_toml(path).replace(arch="fc", width=3, depth=1, batch_size=1)
    inputs = np.random.default_rng(1).random((10, G.n_positions, G.v))
    stream = model.pairing.rate_stream(G, inputs, labels=np.arange(10) % 2)
    for plastic in (True, False):
        a = TorchEngine().run(model, G, stream, seed=0, plastic=plastic)
        b = Brian2Engine(target="numpy").run(model, G, stream, seed=0, plastic=plastic)
        for name in a.synapses:
            np.testing.assert_allclose(b.synapses[name], a.synapses[name], rtol=1e-9,
                                       atol=1e-12, err_msg=f"{name}, plastic={plastic}")


def test_the_protocol_in_khz_and_ms_equals_the_one_in_hz_and_s_with_units():
    rule = get_rule("bcm")
    a = network_frequency_response(rule, [1 * Hz, 10 * Hz], rate_unit=10 * Hz,
                                   tau_w=36_000 * second, tau_state=3_600 * second)
    b = network_frequency_response(rule, [0.001 * kHz, 0.01 * kHz], rate_unit=0.01 * kHz,
                                   tau_w=36_000_000 * second / 1000, tau_state=60 * 60 * second)
    np.testing.assert_allclose(a.dw.values, b.dw.values, rtol=1e-12)
    assert a.frequency.attrs["units"] == "Hz" and a.crossover.attrs["units"] == "Hz"
    assert all("units" in a[v].attrs for v in a.data_vars)


def test_every_rule_and_engine_is_checked_before_anything_runs():
    with pytest.raises(ParameterError) as info:
        network_protocol([get_rule("bcm"), get_rule("clapp_top")], F, engines=["torch", "brian2"])
    assert info.value.parameter == "rules" and "clapp_top on brian2" in str(info.value)
    with pytest.raises(ParameterError) as info:
        network_protocol([get_rule("bcm")], F, engines=["gpu"])
    assert info.value.parameter == "engines"
    with pytest.raises(ParameterError) as info:
        network_frequency_response(get_rule("bcm"), F, label=2)
    assert info.value.parameter == "label"
    with pytest.raises(ParameterError) as info:
        network_frequency_response(get_rule("bcm"), F, label=0.5)
    assert info.value.parameter == "label"
    with pytest.raises(ParameterError) as info:
        network_protocol([get_rule("bcm")], F, tau_x=3)
    assert info.value.parameter == "settings" and "tau_x" in str(info.value)
    with pytest.raises(ParameterError) as info:  # a history needs its duration
        network_protocol([get_rule("bcm")], F, histories={"deprived": 3.0})
    assert info.value.parameter == "history_duration"
    # pairs reach only the rules that learn from pairs: one file may mix both
    ds = network_protocol([get_rule("bcm"), get_rule("vicreg_local")], [10], engines=["torch"],
                          pairs="views", width=2)
    assert set(ds.rule.values) == {"bcm", "vicreg_local"}


def test_histories_on_the_network_make_a_history_dimension():
    ds = network_protocol([get_rule("bcm")], F, engines=["torch"], w0=1.0,
                          histories={"deprived": 3 * Hz, "normal": 10 * Hz},
                          history_duration=48 * 3600 * second, **PHYSICAL)
    assert ds.history_rate.attrs["units"] == "Hz"
    assert list(ds.history.values) == ["deprived", "normal"]
    theta = ds.theta_at_induction.sel(rule="bcm", engine="torch")
    np.testing.assert_allclose(theta.values, [0.09, 1.0], rtol=1e-9)
    np.testing.assert_allclose(ds.relative_change.sel(rule="bcm", engine="torch").values,
                               ds.one_synapse.sel(rule="bcm").values, rtol=1e-9)
    assert "| bcm | deprived (3 Hz) |" in network_table(ds)
    with pytest.raises(ParameterError) as info:
        network_protocol([get_rule("bcm")], F, histories={})
    assert info.value.parameter == "histories"


def test_the_network_protocol_compares_engines_and_the_one_synapse_curve():
    """A rule with eligibility traces has no one-synapse curve (NaN, and the reason), but
    runs on the network; the engines agree on every rule."""
    reward_hebb = Model.from_toml("models/reward_hebb.toml").rule
    ds = network_protocol([get_rule("oja"), reward_hebb], F, w0=0.5, **PHYSICAL)
    assert set(ds.engine.values) == {"torch", "brian2"}
    assert float(ds.engine_difference.max()) < 1e-12
    assert np.isnan(ds.one_synapse.sel(rule="reward_hebb").values).all()
    assert "reward_hebb" in ds.attrs["no_one_synapse"]
    np.testing.assert_allclose(ds.relative_change.sel(rule="oja", engine="brian2").values,
                               ds.one_synapse.sel(rule="oja").values, rtol=1e-9)
    table = network_table(ds)
    assert "| oja | potentiation at every frequency |" in table
    assert "not followed on one synapse" in table


def test_a_network_protocol_file_runs_and_a_network_table_elsewhere_is_refused(tmp_path):
    from plasticity_sim.analysis.protocol_files import load_protocol, run_protocol_file

    path = tmp_path / "net.toml"
    path.write_text('kind = "network_frequency_response"\nrules = ["bcm"]\n'
                    '[synapse]\ntau_w = "10 h"\n[stimulus]\nfrequencies = ["1 Hz", "50 Hz"]\n'
                    '[network]\nengines = ["torch"]\nwidth = 2\n')
    ds = run_protocol_file(path, tmp_path / "out", echo=lambda *_: None)
    assert ds.sizes == {"rule": 1, "engine": 1, "frequency": 2, "unit": 2}
    assert (tmp_path / "out" / "net.png").exists()
    assert xr.load_dataset(tmp_path / "out" / "net.nc").dw.attrs["units"] == "1"
    path.write_text('kind = "frequency_response"\n[network]\nwidth = 2\n')
    with pytest.raises(ParameterError) as info:
        load_protocol(path)
    assert info.value.parameter == "network"
    path.write_text('kind = "network_frequency_response"\n[network]\ncolour = 2\n')
    with pytest.raises(ParameterError) as info:
        load_protocol(path)
    assert info.value.parameter == "network"


# --- streams of input rates ----------------------------------------------------------------
def test_a_rate_stream_runs_the_same_on_both_engines_and_round_trips():
    rng = np.random.default_rng(3)
    inputs = rng.random((12, G.n_positions, G.v))
    model = Model.for_rule("clapp", arch="fc", width=3, depth=1, bias=False, lr=0.05,
                           momentum=0.0, pairs="fixations", batch_size=1)
    stream = model.pairing.rate_stream(G, inputs, labels=1, saccade=np.arange(12) % 4 == 0)
    a = TorchEngine().run(model, G, stream, seed=1)
    b = Brian2Engine(target="numpy").run(model, G, stream, seed=1)
    for name in a.synapses:
        np.testing.assert_allclose(a.synapses[name], b.synapses[name], rtol=1e-9, atol=1e-12)
    assert np.abs(a.synapses["s0_w"][-1] - a.synapses["s0_w"][0]).max() > 1e-4
    # the rates are what the network was shown: other rates, other weights
    other = model.pairing.rate_stream(G, inputs[::-1], labels=1, saccade=stream.saccade)
    c = TorchEngine().run(model, G, other, seed=1)
    assert np.abs(c.synapses["s0_w"][-1] - a.synapses["s0_w"][-1]).max() > 1e-6
    back = Stream.from_dataset(stream.to_dataset())
    assert back.equals(stream) and back.digest() == stream.digest()
    assert not other.equals(stream) and other.digest() != stream.digest()


@pytest.mark.parametrize("call, name", [
    (lambda: rate_stream(G, np.zeros((3, 5, 2))), "inputs"),
    (lambda: rate_stream(G, np.full((3, 2, 2), np.nan)), "inputs"),
    (lambda: rate_stream(G, np.zeros((3, 2, 2)), labels=7), "labels"),
    (lambda: rate_stream(G, np.zeros((3, 2, 2)), labels=0.5), "labels"),
    (lambda: rate_stream(G, np.zeros((3, 2, 2)), labels=[0, 1]), "labels"),
    (lambda: rate_stream(G, np.zeros((3, 2, 2)), kind="fixations", saccade=[True]), "saccade"),
    (lambda: rate_stream(G, np.zeros((3, 2, 2)), kind="movie"), "kind"),
    (lambda: rate_stream(G, np.zeros((3, 2, 2))).encoded(np.arange(3), whiten=True), "whiten"),
])
def test_a_bad_rate_stream_names_the_parameter(call, name):
    with pytest.raises(ParameterError) as info:
        call()
    assert info.value.parameter == name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["network_frequency_response", "network_rate_history"])
def test_the_committed_network_protocol_files_agree_across_engines(name):
    from plasticity_sim.analysis.protocol_files import load_protocol, run_protocol

    ds = run_protocol(load_protocol(f"experiments/protocols/{name}.toml"))
    assert float(ds.engine_difference.max()) < 1e-12
    for rule in ("oja", "bcm"):
        network = ds.relative_change.sel(rule=rule)
        one = ds.one_synapse.sel(rule=rule).broadcast_like(network)
        np.testing.assert_allclose(network.values, one.values, rtol=1e-9)
    if "history" in ds.dims:  # BCM's crossover moves down after deprivation: 20 -> 1.8 Hz
        bcm = ds.crossover.sel(rule="bcm", engine="brian2")  # (read off the file's grid)
        assert 1.0 < float(bcm.sel(history="deprived")) < 2.0 < 15 < float(bcm.sel(history="normal"))


@pytest.mark.slow
def test_a_frozen_run_on_the_compiled_binary_equals_torch_in_chunks():
    """plastic=False on cpp_standalone, run in chunks of 4 presentations: the weights stay,
    the threshold follows as on torch."""
    model = Model.for_rule("bcm", arch="fc", width=3, depth=1, bias=False, lr=0.01,
                           momentum=0.0, batch_size=1)
    inputs = np.random.default_rng(0).random((10, G.n_positions, G.v)) * 1.5
    stream = model.pairing.rate_stream(G, inputs)
    a = TorchEngine().run(model, G, stream, seed=2, plastic=False)
    b = Brian2Engine(target="cpp_standalone", chunk=4).run(model, G, stream, seed=2,
                                                            plastic=False)
    for name in a.synapses:
        assert (b.synapses[name] == b.synapses[name][0]).all(), name
    np.testing.assert_allclose(b.states["p1_theta"], a.states["p1_theta"], rtol=1e-9)
    assert np.abs(a.states["p1_theta"] - 1.0).max() > 0.01
