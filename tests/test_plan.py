"""The engine-neutral plan: variables addressed by typed keys, and the initial state drawn
from the seeds without an engine."""

import numpy as np
import pytest

from plasticity_sim import ParameterError
from plasticity_sim.backends.torch.train import Trainer
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar
from plasticity_sim.rules import FEEDBACK_RULES, Pathway, Rule
from plasticity_sim.rules.plan import Key, NetworkPlan, draw_initial_state

G3 = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)

# every kind of synaptic variable: forward weights and biases, transposed pathways' synapses
# (sign_symmetry reads w), direct (dfa) and lateral (lpl: eye) projections, traces
CASES = [("bp", {}), ("sign_symmetry", {}), ("dfa", dict(arch="lcn")), ("fa", dict(arch="cnn")),
         ("lpl", dict(pairs="views")), ("vicreg_local", dict(pairs="views", arch="lcn")),
         ("reward_hebb", {})]


def _model(rule, changes):
    if rule == "reward_hebb":
        return Model.from_toml("models/reward_hebb.toml").replace(width=6, **changes)
    return Model.for_rule(rule, width=6, **changes)


@pytest.mark.parametrize("rule, changes", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_torch_engine_starts_from_the_plans_draw(rule, changes, dtype):
    model = _model(rule, changes)
    trainer = Trainer(model, G3, [4, 1], dtype=dtype)
    plan = NetworkPlan.of(model, G3)
    assert set(plan.synapses) == set(trainer.S) and set(plan.states) == set(trainer.ST)
    for e, seed in enumerate([4, 1]):
        drawn = draw_initial_state(plan, seed, np.float32 if dtype == "float32" else np.float64)
        for name, tensor in {**trainer.S, **trainer.ST}.items():
            np.testing.assert_array_equal(tensor[e].double().numpy(), drawn[name], err_msg=name)


# Hashes of the initial values the torch engine drew before the plan existed (commit
# 326ad06, seed 5, G3, width 6): the plan's draw must keep every committed result's start.
# fa_from_w's feedback starts from the float32-rounded forward weights (0.5 * w + ...).
FA_FROM_W = Rule(name="fa_from_w", summary="feedback weights drawn around the forward ones",
                 hidden="delta = fb * fprime(a) : 1", output="delta = err : 1",
                 pathways=[Pathway("fb", "transpose", "b * delta_post",
                                   synapses={"b": "0.5 * w + 0.1 * randn"})],
                 update="-delta_post * r_pre")
RECORDED = [("bp", "fc", np.float64, "s0_w", "07e9910497df299a"),
            ("bp", "fc", np.float64, "s3_w", "c8b098abb9f42dc3"),
            (FA_FROM_W, "lcn", np.float32, "s1_w", "dbb49f7cddea0996"),
            (FA_FROM_W, "lcn", np.float32, "s1_b", "68249989a4dda316"),
            ("dfa", "fc", np.float32, "d2_fb_b", "57223ef7154d378e")]


@pytest.mark.parametrize("rule, arch, dtype, name, digest", RECORDED)
def test_the_plans_draw_is_the_one_the_committed_results_started_from(rule, arch, dtype, name,
                                                                      digest):
    import hashlib

    plan = NetworkPlan.of(Model.for_rule(rule, arch=arch, width=6), G3)
    value = draw_initial_state(plan, 5, dtype)[name]
    assert hashlib.sha1(value.tobytes()).hexdigest()[:16] == digest


def test_draws_differ_between_seeds_and_variables_and_round_as_asked():
    plan = NetworkPlan.of(Model.for_rule("dfa", arch="fc", width=6), G3)
    a, b = draw_initial_state(plan, 0), draw_initial_state(plan, 1)
    assert not np.array_equal(a["s0_w"], b["s0_w"])
    assert not np.array_equal(a["s1_w"].ravel()[:20], a["s2_w"].ravel()[:20])
    single = draw_initial_state(plan, 0, np.float32)
    assert np.array_equal(single["s0_w"], a["s0_w"].astype(np.float32).astype(np.float64))
    assert not np.array_equal(single["s0_w"], a["s0_w"])


def test_a_key_is_looked_up_not_split():
    """Both halves of a name may hold "_": the plan reads it back whole."""
    rule = Rule(name="dfa_underscored", summary="dfa with an underscored feedback matrix",
                hidden="delta = fb * fprime(a) : 1", output="delta = err : 1",
                pathways=[Pathway("fb", "direct", "b_fb * err_pre", synapses={"b_fb": "randn"})],
                update="-delta_post * r_pre")
    plan = NetworkPlan.of(Model.for_rule(rule, arch="fc", width=4), G3)
    assert plan.key("d1_fb_b_fb") == Key("d1_fb", "b_fb")
    assert plan.key("d1_fb_b_fb").route == "direct" and plan.key("s0_w").route == "forward"
    assert plan.synapses["d2_fb_b_fb"].change is None and plan.synapses["s1_w"].change == "lr"
    with pytest.raises(ParameterError, match="no variable 'd1_b_fb'"):
        plan.key("d1_b_fb")


def test_state_keys_name_their_population():
    plan = NetworkPlan.of(Model.for_rule("bcm", arch="fc", width=4), G3)
    key = plan.key("p2_theta")
    assert key == Key("p2", "theta") and key.population == 2 and key.route == "population"
    assert str(key) == "p2_theta" and Key("s0", "w").population is None


def test_the_feedback_rules_plans_list_what_changes():
    for rule in FEEDBACK_RULES:
        plan = NetworkPlan.of(Model.for_rule(rule.name, arch="fc", width=4), G3)
        assert plan.names("lr") == [f"s{k}_w" for k in range(G3.L + 1)], rule.name


def test_both_engines_compute_a_population_in_the_plans_order():
    """Equations written out of order are computed as their dependencies allow; a circle is
    one clear error naming what cannot be computed."""
    from plasticity_sim.backends.brian2 import Brian2Model
    from plasticity_sim.backends.brian2.runner import stream_arrays
    from plasticity_sim.rhm import epoch_stream

    rule = Rule(name="reordered", summary="backprop's signal through two helpers, written last first",
                hidden="delta = g * fprime(a) : 1\ng = h : 1\nh = fb : 1", output="delta = err : 1",
                pathways=[Pathway("fb", "transpose", "w * delta_post")], update="-delta_post * r_pre")
    model = Model.for_rule(rule, arch="fc", width=4)
    plan = NetworkPlan.of(model, G3)
    assert [thing.name for _, thing in plan.hidden_order(1)] == ["h", "g", "delta"]
    source = Trainer(model, G3, [0]).net.source
    assert source.index("p1_h =") < source.index("p1_g =") < source.index("p1_delta =")
    Brian2Model(model, G3, *stream_arrays(epoch_stream(G3, 2)))  # builds in that order too
    circle = Rule(name="circle", summary="two signals that read each other",
                  hidden="delta = g * fprime(a) : 1\ng = delta : 1", output="delta = err : 1",
                  update="-delta_post * r_pre")
    with pytest.raises(ParameterError, match=r"cannot compute \['delta', 'g'\] in layer \d; "
                                             r"unknown or circular: \['delta', 'g'\]"):
        Trainer(Model.for_rule(circle, arch="fc", width=4), G3, [0])
