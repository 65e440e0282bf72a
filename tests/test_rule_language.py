"""The rule language beyond neuron equations: network-global (broadcast) variables, synaptic
state (eligibility traces) on the forward projections, state on the input population
(presynaptic traces) and ``dx/dt`` lines, each against a hand computation, on both engines,
and read by the rule cards."""

from pathlib import Path

import numpy as np
import pytest
import torch

from plasticity_sim import Grammar, Model, ParameterError, Rule
from plasticity_sim.analysis.cards import rule_card
from plasticity_sim.analysis.protocols import Synapse
from plasticity_sim.analysis.virtual import virtual_experiments
from plasticity_sim.backends.brian2 import crosscheck
from plasticity_sim.backends.torch.data import Batch
from plasticity_sim.backends.torch.train import Trainer
from plasticity_sim.rules.equations import parse_equations

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
G2 = Grammar(v=4, n_classes=4, m=2, s=2, L=2, seed=0)
REWARD_HEBB = Path(__file__).parents[1] / "models" / "reward_hebb.toml"


def language_rule(**changes):
    """Every new construct at once: a broadcast reward, a trace per synapse that reads it,
    a presynaptic trace on every population (the input's included)."""
    spec = dict(hidden="", output="delta = err : 1",
                broadcast="reward = layer_sum(target * p)\nshifted = reward - 0.25",
                state="xbar = xbar + 0.5 * (r - xbar)", state_init={"xbar": 0.1, "elig": 0.0},
                synapse_state="delig/dt = -elig / tau + shifted_post * r_post * (r_pre - xbar_pre)",
                update="elig - 0.01 * w", readout_update="-delta_post * r_pre",
                params={"tau": 4.0}, family="hebbian")
    return Rule("language", **{**spec, **changes})


def one_step(rule, arch="fc", batch=5):
    model = Model.for_rule(rule, arch=arch, width=6, batch_size=batch, lr=0.1, momentum=0.0)
    trainer = Trainer(model, G, [0], dtype="float64")
    from plasticity_sim.backends.torch.data import TrainingData

    data = TrainingData(trainer, 64, n_test=0)
    batch = next(data.batches(0, batch))
    before = {n: t.clone() for n, t in {**trainer.S, **trainer.ST}.items()}
    U, _, state = trainer.signals(batch, want_state=True)
    trainer.apply(U)
    return trainer, before, state, batch


def test_a_broadcast_variable_is_one_value_per_presentation_in_every_population():
    trainer, _, state, batch = one_step(language_rule())
    out = trainer.net.out
    expected = (state[f"p{out}_target"] * state[f"p{out}_p"]).sum(dim=(2, 3), keepdim=True)
    for pop in range(1, out + 1):
        torch.testing.assert_close(state[f"p{pop}_reward"], expected, rtol=0, atol=0)
        torch.testing.assert_close(state[f"p{pop}_shifted"], expected - 0.25, rtol=0, atol=0)
    assert state[f"p1_reward"].shape == (1, batch.x.shape[1], 1, 1)


def test_an_eligibility_trace_takes_the_batch_mean_of_its_new_value():
    trainer, before, state, _ = one_step(language_rule())
    for k in range(trainer.net.depth):  # the hidden projections (Dense: post x pre)
        post = (state[f"p{k + 1}_r"][0] * state[f"p{k + 1}_shifted"][0]).flatten(1)
        pre = (state[f"p{k}_r"][0] - before[f"p{k}_xbar"][0]).flatten(1)  # position-major units
        old = before[f"s{k}_elig"][0]
        coincidence = torch.einsum("bo,bi->oi", post, pre) / len(pre)
        expected = old + (-old / 4.0 + coincidence.reshape(old.shape))
        torch.testing.assert_close(trainer.S[f"s{k}_elig"][0], expected, rtol=1e-12, atol=1e-14)
        # the weight changed by the old trace (the update reads it before it moves)
        torch.testing.assert_close(trainer.S[f"s{k}_w"][0] - before[f"s{k}_w"][0],
                                   0.1 * (old - 0.01 * before[f"s{k}_w"][0]),
                                   rtol=1e-12, atol=1e-14)


def test_state_lives_where_it_is_read():
    net = Trainer(Model.for_rule(language_rule(), arch="fc", width=4), G, [0]).net
    depth = net.depth
    # the readout's update does not read the trace: the readout has none
    assert {f"s{k}_elig" for k in range(depth)} <= set(net.synapse_specs)
    assert f"s{depth}_elig" not in net.synapse_specs
    # the input has xbar because the first projection reads xbar_pre
    assert "p0_xbar" in net.states
    plain = language_rule(update="elig", synapse_state="delig/dt = -elig / tau + r_post * r_pre")
    assert "p0_xbar" not in Trainer(Model.for_rule(plain, arch="fc", width=4), G, [0]).net.states


def test_the_input_presynaptic_trace_follows_its_equation():
    trainer, before, state, _ = one_step(language_rule())
    expected = (before["p0_xbar"] + 0.5 * (state["p0_r"] - before["p0_xbar"])).mean(1, keepdim=True)
    torch.testing.assert_close(trainer.ST["p0_xbar"], expected, rtol=1e-12, atol=1e-14)


def test_dx_dt_is_one_euler_step_per_presentation():
    (eq,) = parse_equations("dx/dt = (y - x) / tau : 1", dynamics=True)
    assert (eq.name, eq.expr) == ("x", "x + ((y - x) / tau)")
    with pytest.raises(ParameterError, match="rate dynamics belong to the neuron model"):
        parse_equations("dx/dt = -x")  # a hidden population's equations are subexpressions


@pytest.mark.parametrize("changes, match", [
    (dict(broadcast="reward = p"), "outside layer_sum"),
    (dict(broadcast="reward = layer_sum(r_ctx)"), "does not have"),
    (dict(broadcast="delta = layer_sum(p)"), "already a variable"),
    (dict(synapse_state="w = w", state_init={"w": 0.0, "xbar": 0.1}), "already variables"),
    (dict(hidden="i = r : 1"), "reserved by Brian2"),
    (dict(hidden="mom = r : 1"), "reserved by Brian2"),  # the Brian2 builder's momentum
    (dict(broadcast="reward = layer_sum(p)\nz = layer_mean(p * reward)"), "does not have"),
    (dict(state_init={"xbar": 0.1}), "give initial values"),
])
def test_a_malformed_construct_is_refused_by_name(changes, match):
    with pytest.raises(ParameterError, match=match):
        language_rule(**changes)


def test_recorded_models_without_the_new_constructs_are_unchanged():
    # the fields every recorded rule had: a field added to Rule must be left out at its
    # empty value (LANGUAGE_ADDITIONS), or every cell digest on disk changes
    recorded = {"name", "summary", "hidden", "output", "update", "pathways", "readout_update",
                "params", "reference", "state", "state_init", "family", "third_factor"}
    from plasticity_sim.rules import RULES

    for rule in RULES.values():
        assert set(rule.to_dict()) == recorded, rule.name
    rule = language_rule()
    assert Rule.from_dict(rule.to_dict()) == rule


def test_a_cnn_refuses_a_trace_term_that_would_scale_with_positions():
    one_sided = language_rule(synapse_state="delig/dt = -elig / tau + elig * shifted_post")
    with pytest.raises(ParameterError, match="shares this synapse over positions"):
        Trainer(Model.for_rule(one_sided, arch="cnn", width=4), G, [0])
    Trainer(Model.for_rule(one_sided, arch="lcn", width=4), G, [0])  # no sharing: fine
    Trainer(Model.for_rule(language_rule(), arch="cnn", width=4), G, [0])  # both sides: fine


def test_the_virtual_slice_reads_presynaptic_state_and_a_broadcast_third_factor():
    from plasticity_sim.analysis.virtual import synapse_update

    rule = Rule("pre_trace", hidden="", output="delta = err : 1", family="hebbian",
                broadcast="M = layer_sum(target * p)", update="M_post * (r_pre - xbar_pre)",
                state="xbar = xbar + 0.5 * (r - xbar)", state_init={"xbar": 0.0})
    dw = synapse_update(rule, r_pre=1.0, a_post=1.0, w=0.1, modulator=1.0, state={"xbar": 0.7})
    assert float(dw) == pytest.approx(0.3)  # M clamped to 1 (the first broadcast variable)
    assert float(synapse_update(rule, r_pre=1.0, a_post=1.0, w=0.1, modulator=0.0)) == 0


def test_the_card_reads_the_reward_and_the_traces():
    card = rule_card(Model.from_toml(REWARD_HEBB).rule)
    assert card.needs_label and not card.needs_error  # a reward, not an error vector
    assert card.spatially_local and not card.batch_statistics
    assert "5 presentations" in card.trace_span and "100 presentations" in card.trace_span
    kinds = {r.variable: r.kind for r in card.projections[0].reads}
    assert kinds["elig"] == "trace" and kinds["reward_post"] == "modulatory"


def test_one_synapse_experiments_refuse_what_they_cannot_model():
    rule = Model.from_toml(REWARD_HEBB).rule
    with pytest.raises(ParameterError, match="eligibility traces"):
        virtual_experiments([rule])
    with pytest.raises(ParameterError, match="eligibility traces"):
        Synapse.make(rule)


@pytest.mark.cross_backend
@pytest.mark.parametrize("arch", ["fc", "lcn"])
def test_the_new_constructs_agree_on_both_engines(arch):
    model = Model.for_rule(language_rule(), arch=arch, width=4, lr=0.05)
    result = crosscheck(model, G2, presentations=12, target="numpy")
    assert result.passed, result.table()
    assert {"s0_elig", "s1_elig"} <= {d.name for d in result.differences}


@pytest.mark.cross_backend
def test_the_reward_modulated_rule_of_the_model_file_agrees_over_200_presentations():
    model = Model.from_toml(REWARD_HEBB).replace(width=4)
    result = crosscheck(model, G2, presentations=200, target="cython")
    assert result.passed and not any(result.diverged.values()), result.table()
    assert max(d.max_rel for d in result.differences) < 1e-9
