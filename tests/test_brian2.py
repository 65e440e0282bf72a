"""The Brian2 engine against the torch engine, presentation by presentation (float64)."""

import re

import numpy as np
import pytest
from click.testing import CliRunner

from plasticity_sim import ParameterError
from plasticity_sim.backends.brian2 import SCHEDULE, Brian2Model, crosscheck
from plasticity_sim.backends.brian2.runner import stream_arrays
from plasticity_sim.engines import Brian2Engine, TorchEngine, Trajectory
from plasticity_sim.cli import main
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar, epoch_stream
from plasticity_sim.rules import FEEDBACK_RULES, Pathway, Rule

G2 = Grammar(v=4, n_classes=4, m=2, s=2, L=2, seed=0)
G3 = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
EULER = dict(time_model="euler", tau=4.0, dt=1.0, n_steps=5)

pytestmark = pytest.mark.cross_backend


def check(model, grammar, n=8, target="numpy"):
    result = crosscheck(model, grammar, presentations=n, target=target)
    assert result.passed, result.table()
    assert max(d.max_rel for d in result.differences) < 1e-12
    assert result.presentations == n
    return result


@pytest.mark.parametrize("rule", [r.name for r in FEEDBACK_RULES])
@pytest.mark.parametrize("arch", ["fc", "lcn"])
def test_feedback_rules_agree(rule, arch):
    result = check(Model.for_rule(rule, arch=arch, width=5), G2)
    moved = [d for d in result.differences if d.name == "s0_w"]
    assert moved  # the first projection's weights were compared


@pytest.mark.parametrize("rule", ["bp", "dfa"])
def test_euler_dynamics_agree(rule):
    check(Model.for_rule(rule, arch="lcn", width=4, **EULER), G3, n=5)


@pytest.mark.parametrize("rule, changes", [
    ("clapp", dict(pairs="fixations")), ("clapp_layer", dict(pairs="fixations")),
    ("clapp_nce", dict(pairs="fixations")),
    ("lpl", dict(pairs="fixations", optimizer="sgd", bias=False)),  # (its defaults: adam, biases)
    ("vicreg_local", dict(pairs="fixations", optimizer="sgd")),     # (its default: adam)
    ("oja", {}), ("bcm", {}),
])
@pytest.mark.parametrize("arch", ["fc", "lcn"])  # lcn: several positions below the top layer
def test_self_supervised_rules_on_fixations_agree(rule, changes, arch):
    check(Model.for_rule(rule, arch=arch, width=5, **changes), G3, n=12)  # 3 fixations of 4


# A hand-made rule that reads every per-position and per-channel reduction and the population
# constants (nested: a mean over positions of sums over channels).
REDUCING = Rule(
    name="reducing_bp",
    summary="backprop with per-position and per-channel signals (a test of the reductions)",
    hidden="""
        cs = channel_sum(r * r_ctx) : 1
        pm = position_mean(r) : 1
        pcs = position_mean(channel_sum(r)) : 1
        delta = fprime(a) * (fb + 0.3 * cs / channels - 0.2 * positions * (r - pm) + negatives * 0.1 * pcs * positive) : 1
    """,
    output="delta = err : 1",
    pathways=[Pathway("fb", "transpose", "w * delta_post")],
    update="-delta_post * r_pre",
)


def test_a_synaptic_variable_whose_name_holds_an_underscore_reaches_brian2():
    """Torch names a pathway's synaptic variable {projection}_{variable}; both halves may
    hold "_" (d1_fb and b_fb). It used to be split at its last "_", so Brian2 never got
    b_fb and its feedback stayed at zero."""
    from plasticity_sim.rules import DFA

    rule = Rule("dfa_underscored", hidden=DFA.hidden, output=DFA.output, update=DFA.update,
                pathways=[Pathway("fb", "direct", "b_fb * err_pre", synapses={"b_fb": "randn / sqrt(fan_in)"})])
    result = check(Model.for_rule(rule, arch="fc", width=5, lr=0.05), G2)
    names = {d.name for d in result.differences}
    assert "d1_fb_b_fb" in names and "s0_w" in names


def test_channel_sums_and_position_means_agree_with_several_positions():
    model = Model.for_rule(REDUCING, arch="lcn", width=3, pairs="fixations", lr=0.05)
    shapes = model.architecture(G3).population_shapes
    assert shapes[1][0] > 1 and shapes[2][0] > 1  # several positions below the top layer
    result = check(model, G3, n=12)
    moved = {d.name for d in result.differences if d.kind == "synapses"}
    assert {"s0_w", "s1_w", "s2_w"} <= moved
    net = Brian2Model(model, G3, *stream_arrays(epoch_stream(G3, 4)))
    for l in (1, 2):  # one modulator neuron per position, one per channel, each to its units
        positions, channels = shapes[l]
        assert net.modulators[f"mod{l}_positions"].N == positions
        assert net.modulators[f"mod{l}_channels"].N == channels
        gather = net.plans[f"l{l}_red0_gather"]
        assert list(gather.j) == [i // channels for i in range(positions * channels)]
    assert "negatives" not in net.groups[1].equations["delta"].expr.code  # written in: 1/(T-1)


def test_the_engines_really_learn_and_disagree_when_they_should():
    model = Model.for_rule("bp", arch="fc", width=5)
    result = check(model, G2, n=8)
    changed = crosscheck(model.replace(lr=0.2), G2, presentations=8, target="numpy")
    assert changed.passed  # a different learning rate is applied on both sides alike

    class Drifting(TorchEngine):  # a torch side whose weights drift: must be caught
        def run(self, *args, **kw):
            run = super().run(*args, **kw)
            run.synapses["s1_w"] = run.synapses["s1_w"] * (1 + 1e-6)
            return run

    bad = crosscheck(model, G2, presentations=8, engines=(Drifting(), Brian2Engine("numpy")))
    assert not bad.passed and "above tolerance" in bad.table()
    assert "Brian2 against torch" in bad.table()
    assert result.differences[0].max_abs < 1e-14


def test_the_order_of_operations_is_the_documented_one():
    model = Model.for_rule("clapp", arch="fc", width=4, pairs="fixations", **EULER)
    stream = epoch_stream(G3, 4)
    net = Brian2Model(model, G3, *stream_arrays(stream))
    summary = net.schedule()
    rows = [line for line in summary.splitlines() if re.search(r"\bstart\b|\bgroups\b", line)]

    def position(pattern):
        return next(i for i, line in enumerate(rows) if re.search(pattern, line))

    # start: updates, then states, then latching the next presentation
    assert position(r"s0_run_regularly") < position(r"pop1_run_regularly.*\b5\b") \
        or position(r"s0_run_regularly") < position(r"pop0_run_regularly")
    assert position(r"s0_run_regularly") < position(r"pop0_run_regularly")
    # groups: drives in layer order, then the Euler update, the readout, the signals
    assert position(r"s0_summed_variable_a_post") < position(r"s1_summed_variable_a_post") \
        < position(r"pop1_stateupdater") < position(r"s3_summed_variable_a_post") \
        < position(r"softmax") < position(r"l3_pred_summed_variable_pred_post")
    assert position(r"l3_red0_gather") < position(r"l3_red0_broadcast") \
        < position(r"l2_pred_summed_variable_pred_post")
    assert SCHEDULE["learn"] < SCHEDULE["monitor"] < SCHEDULE["latch"]


@pytest.mark.parametrize("changes, parameter", [
    (dict(arch="cnn"), "arch"),
    (dict(arch="fc", bias=True), "bias"),
    (dict(arch="fc", optimizer="adam"), "optimizer"),
    (dict(arch="fc", lr_schedule="warmup_cosine"), "lr_schedule"),
])
def test_what_brian2_cannot_run_is_refused(changes, parameter):
    stream = epoch_stream(G2, 4)
    with pytest.raises(ParameterError) as info:
        Brian2Model(Model.for_rule("bp", **changes), G2, *stream_arrays(stream))
    assert info.value.parameter == parameter


# The self-supervised settings without in-batch negatives (Brian2 runs one presentation at a
# time): views through the same synapses, siblings copied from the next position.
PAIRED = [
    ("vicreg_local", dict(pairs="views", optimizer="sgd")),             # (its default: adam)
    ("lpl", dict(pairs="views", optimizer="sgd", bias=False)),
    ("clapp_layer", dict(pairs="views", negatives=0)),                  # retrodiction on
    ("clapp_nce", dict(pairs="views", negatives=0, k=1)),
    ("vicreg_local", dict(pairs="siblings", optimizer="sgd", both_branches=0.0)),
    ("lpl", dict(pairs="siblings", optimizer="sgd", bias=False)),
    ("clapp_layer", dict(pairs="siblings", negatives=0)),
]


@pytest.mark.parametrize("rule, changes", PAIRED, ids=[f"{r}-{c['pairs']}" for r, c in PAIRED])
@pytest.mark.parametrize("arch", ["fc", "lcn"])  # lcn: siblings at several positions
def test_views_and_siblings_agree(rule, changes, arch):
    check(Model.for_rule(rule, arch=arch, width=5, **changes), G3, n=12)


@pytest.mark.parametrize("pairs", ["views", "siblings"])
def test_views_and_siblings_agree_with_euler_dynamics(pairs):
    check(Model.for_rule("vicreg_local", arch="lcn", width=4, pairs=pairs, optimizer="sgd",
                         both_branches=float(pairs == "views"), **EULER), G3, n=5)


def test_a_sibling_context_is_the_next_position_under_the_same_parent_as_in_torch():
    """Brian2's sibling synapses carry unit (position, channel) of the sibling position to
    each unit: the torch engine's _sibctx, on a tensor whose values name their unit."""
    import torch

    from plasticity_sim.backends.torch.expressions import _sibctx

    G = Grammar(v=4, n_classes=4, m=2, s=3, L=2, seed=0)  # s = 3: a cycle, not a swap
    model = Model.for_rule("clapp_layer", arch="lcn", width=2, pairs="siblings", negatives=0)
    net = Brian2Model(model, G, *stream_arrays(epoch_stream(G, 2)))
    P, C = net.arch.population_shapes[1]
    units = torch.arange(P * C, dtype=torch.float64).reshape(1, 1, P, C)
    expected = _sibctx(units, 1, G.s).flatten().numpy()
    plan = net.plans["siblings1"]
    got = np.full(P * C, np.nan)
    got[plan.j] = plan.i
    np.testing.assert_array_equal(got, expected)
    assert "siblings2" not in net.plans  # the top layer has one position: no sibling


@pytest.mark.parametrize("changes, parameter, match", [
    (dict(pairs="views"), "negatives", "one presentation at a time"),
    (dict(pairs="siblings"), "negatives", "one presentation at a time"),
    (dict(pairs="views", k="layer", negatives=0), "k", "one k"),
    (dict(pairs="siblings", negatives=0, retrodiction=1.0), "pairs", "context's inputs"),
])
def test_what_brian2_cannot_pair_is_refused(changes, parameter, match):
    rule = "clapp" if changes.get("negatives", 1) else "clapp_layer"
    model = Model.for_rule(rule, arch="lcn", width=4, **changes)
    stream = epoch_stream(G3, 4)
    with pytest.raises(ParameterError, match=match) as info:
        Brian2Model(model, G3, *stream_arrays(stream))
    assert info.value.parameter == parameter


def test_crosscheck_command(tmp_path):
    args = ["crosscheck", "--rule", "fa", "--arch", "fc", "--width", "4", "--v", "4", "--classes",
            "4", "--m", "2", "--s", "2", "--L", "2", "--presentations", "6", "--target", "numpy"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "engines agree within relative 1e-09" in result.output
    assert "Brian2 (numpy): 6 presentations ..." in result.output  # told while it works
    assert re.search(r"s1_w\s+synapses\s+\d", result.output)
    bad = CliRunner().invoke(main, args[:-2] + ["--target", "numpy", "--tolerance", "0"])
    assert bad.exit_code == 1 and "DISAGREE" in bad.output


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cython", "cpp_standalone"])
def test_compiled_targets_agree(target):
    result = crosscheck(Model.for_rule("bp", arch="lcn", width=4), G3, presentations=25,
                        target=target, chunk=10 if target == "cpp_standalone" else None)
    assert result.passed, result.table()


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cython", "cpp_standalone"])
def test_views_on_compiled_targets_agree_over_200_presentations(target):
    """The context input travels through the standalone binary's chunks too."""
    result = crosscheck(Model.for_rule("vicreg_local", arch="lcn", width=4, pairs="views",
                                       optimizer="sgd"), G3, presentations=200, target=target,
                        chunk=64 if target == "cpp_standalone" else None)
    assert result.passed, result.table()


@pytest.mark.slow
@pytest.mark.parametrize("rule", [r.name for r in FEEDBACK_RULES])
@pytest.mark.parametrize("arch", ["fc", "lcn"])
@pytest.mark.parametrize("neuron", [{}, EULER], ids=["steady", "euler"])
@pytest.mark.parametrize("grammar", [G2, G3], ids=["depth2", "depth3"])
def test_full_cross_check_over_200_presentations(rule, arch, neuron, grammar):
    result = crosscheck(Model.for_rule(rule, arch=arch, width=6, **neuron), grammar,
                        presentations=200, target="numpy")
    assert result.passed, result.table()


def test_in_batch_negatives_are_refused_by_the_crosscheck_before_any_engine_runs():
    with pytest.raises(ParameterError, match="one presentation at a time"):
        crosscheck(Model.for_rule("clapp", arch="fc", width=4, pairs="views"), G2, presentations=4)


class Replay:
    """An engine that returns given trajectories (the interface of plasticity_sim.engines)."""

    def __init__(self, name, rates, synapses):
        self.name, self.rates, self.synapses = name, rates, synapses

    def check(self, model, grammar):
        pass

    def run(self, model, grammar, stream, seed=0):
        return Trajectory(self.name, {1: self.rates[:len(stream)]},
                          {"s1_w": self.synapses[:len(stream)]}, {})


def test_a_run_that_diverges_in_both_engines_is_compared_up_to_the_divergence():
    rates = np.arange(10.0)[:, None] * np.ones((10, 3))
    torch_rates, brian_rates = rates.copy(), rates.copy()
    torch_rates[5:], brian_rates[6:] = np.inf, np.nan            # blow-ups one apart
    w = np.ones((10, 2, 2))
    engines = (Replay("torch", torch_rates, w), Replay("Brian2", brian_rates, w))
    model = Model.for_rule("fa", arch="fc", width=3)
    both = crosscheck(model, G2, presentations=10, engines=engines)
    assert both.diverged == {"torch": 5, "Brian2": 6} and both.compared == 5 and both.passed
    assert "torch at presentation 5 and Brian2 at presentation 6" in both.table()
    assert "agree within relative 1e-09 up to presentation 5" in both.table()
    same = crosscheck(model, G2, presentations=10, engines=(Replay("x", torch_rates, w),
                                                             Replay("x", brian_rates, w)))
    assert same.diverged == {"x (reference)": 5, "x (other)": 6} and same.passed
    brian_rates[:] = rates                                       # now only torch blows up
    one = crosscheck(model, G2, presentations=10, engines=engines)
    assert not one.passed and "not in the other engine" in one.table()


def test_a_reduction_outside_a_hidden_equation_is_one_clear_error_in_brian2():
    from plasticity_sim.rules import OJA

    rule = Rule("hebb_state", hidden="", output="delta = err : 1", update="r_post * r_pre - theta_post * w",
                family="hebbian", state="theta = theta + eps * (layer_mean(r**2) - theta) : 1",
                state_init={"theta": 1.0}, params={"eps": 0.1}, readout_update=OJA.readout_update)
    with pytest.raises(ParameterError, match=r"equations: layer_mean\(r \*\* 2\) in .*hidden population"):
        crosscheck(Model.for_rule(rule, arch="fc", width=4, lr=0.01), G2, presentations=4,
                   target="numpy")


@pytest.mark.parametrize("rule, variables", [("dfa", ["r", "delta"]), ("bcm", ["r", "theta"])])
def test_a_state_monitor_records_the_same_values_on_both_engines(rule, variables):
    """The same StateMonitor on torch (train on a Stream, online, float64) and on Brian2."""
    from plasticity_sim import StateMonitor, train
    from plasticity_sim.backends.brian2 import run_brian2

    model = Model.for_rule(rule, arch="lcn", width=4, batch_size=1, lr=0.05)
    stream = epoch_stream(G3, 12, epochs=1, sample_seed=0, stream_seed=0)
    torch_monitor = StateMonitor(variables, every=4, populations=[1, 2])
    rec = train(model, stream, seeds=[0], dtype="float64", n_val=0, n_test=0, probes=False,
                monitors=[torch_monitor], quiet=True, on_divergence="mask")
    run = run_brian2(model, G3, stream, seed=0, target="numpy",  # its own draw, as torch's seed 0
                     monitor=StateMonitor(variables, every=4, populations=[1, 2]))
    got, ref = run.state_dataset(), rec.to_dataset()
    np.testing.assert_array_equal(got.state_step.values, [0, 4, 8])
    for name in [f"state_{v}_p{p}" for v in variables for p in (1, 2)]:
        np.testing.assert_allclose(got[name].values, ref[name].isel(seed=0).values,
                                   rtol=1e-9, atol=1e-12, err_msg=name)


def test_a_brian2_state_monitor_names_what_exists():
    from plasticity_sim import StateMonitor
    from plasticity_sim.backends.brian2 import run_brian2

    model = Model.for_rule("dfa", arch="fc", width=3, batch_size=1)
    stream = epoch_stream(G2, 2, epochs=1)
    with pytest.raises(ParameterError, match="no population of this network has"):
        run_brian2(model, G2, stream, target="numpy", monitor=StateMonitor("nope"))


def test_both_engines_continue_from_a_state_set_by_name():
    """A run's final state (weights and BCM's thresholds), written into either engine by
    name, continues identically on both."""
    model = Model.for_rule("bcm", arch="lcn", width=4, batch_size=1, lr=0.05)
    first = TorchEngine().run(model, G3, epoch_stream(G3, 6, sample_seed=1, stream_seed=1), seed=2)
    start = first.final
    assert "p1_theta" in start and not np.allclose(start["p1_theta"], 1.0)  # the threshold moved
    stream = epoch_stream(G3, 6, sample_seed=5, stream_seed=5)
    a = TorchEngine().run(model, G3, stream, seed=9, init=start)
    b = Brian2Engine("numpy").run(model, G3, stream, seed=9, init=start)
    for name in a.synapses:
        np.testing.assert_allclose(b.synapses[name], a.synapses[name], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(b.states["p2_theta"], a.states["p2_theta"], rtol=1e-9)
    fresh = TorchEngine().run(model, G3, stream, seed=9)
    assert not np.allclose(fresh.synapses["s0_w"][0], a.synapses["s0_w"][0])  # init was used
    with pytest.raises(ParameterError, match="no variable"):
        Brian2Engine("numpy").run(model, G3, stream, init={"s9_w": start["s0_w"]})
