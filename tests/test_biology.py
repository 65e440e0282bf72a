"""Rule cards, virtual plasticity experiments, plasticity statistics, representational comparison."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from plasticity_sim.analysis.cards import cards_table, rule_card
from plasticity_sim.analysis.plasticity_stats import PlasticityMonitor
from plasticity_sim.analysis.virtual import signatures, synapse_update, virtual_experiments
from plasticity_sim.backends.torch.train import train
from plasticity_sim.cli import main
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar
from plasticity_sim.rules import BP, DFA, RULES, Pathway, Rule

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def card(name):
    return rule_card(RULES[name])


def test_bp_needs_weight_transport_and_the_local_rules_do_not():
    assert card("bp").weight_transport and not card("bp").spatially_local
    assert card("bp_nomask").weight_transport
    # only the signs of the forward weights travel: not weight transport, still not local
    ss = card("sign_symmetry")
    assert ss.sign_transport and not ss.weight_transport and not ss.spatially_local
    assert not card("bp").sign_transport
    for name in ("dfa", "fa", "drtp", "clapp", "lpl", "oja", "bcm"):
        assert not card(name).weight_transport and card(name).spatially_local, name


def test_what_each_rule_needs():
    assert card("bp").needs_error and card("dfa").needs_error and card("fa").needs_error
    assert card("drtp").needs_label and not card("drtp").needs_error
    for name in ("clapp", "lpl", "vicreg_local", "oja", "bcm"):
        assert not card(name).needs_error and not card(name).needs_label, name
    assert card("clapp").needs_negatives and not card("bp").needs_negatives
    assert not card("oja").needs_negatives
    assert "100 presentations" in card("bcm").trace_span and "context" in card("clapp").trace_span


def test_batch_statistics_are_not_traces_in_time():
    nomask = card("bp_nomask")   # the masks above averaged over the minibatch
    assert nomask.batch_statistics and nomask.trace_span == "none (this presentation only)"
    assert card("vicreg_local").batch_statistics and card("lpl").batch_statistics
    assert not card("bp").batch_statistics and not card("clapp").batch_statistics
    assert card("bcm").trace_span == "100 presentations" and not card("bcm").batch_statistics


def test_a_deliberately_non_local_user_rule_is_flagged():
    # a "DFA" whose direct signal is routed instead through the transposed forward weights
    sneaky = Rule("sneaky", hidden=DFA.hidden, output=DFA.output, update=DFA.update,
                  pathways=[Pathway("fb", "transpose", "0.5 * w * delta_post")])
    c = rule_card(sneaky)
    assert c.weight_transport and not c.spatially_local
    honest = Rule("honest", hidden=DFA.hidden, output=DFA.output, update=DFA.update,
                  pathways=[Pathway("fb", "transpose", "b * delta_post", synapses={"b": "randn"})])
    assert not rule_card(honest).weight_transport
    signs = Rule("signs", hidden=DFA.hidden, output=DFA.output, update=DFA.update,
                 pathways=[Pathway("fb", "transpose", "sign(w) * delta_post")])
    assert rule_card(signs).sign_transport and not rule_card(signs).weight_transport
    both = Rule("both", hidden=DFA.hidden, output=DFA.output, update=DFA.update,
                pathways=[Pathway("fb", "transpose", "w * sign(w) * delta_post")])   # |w| travels too
    assert rule_card(both).weight_transport and not rule_card(both).sign_transport


def test_cards_classify_every_factor():
    reads = {r.variable: r.kind for r in card("bp").projections[0].reads}
    assert reads["r_pre"] == "pre" and reads["fb"] == "dendritic" and reads["f'(a)_post"] == "post"
    lpl = {r.variable: (r.kind, r.detail) for r in card("lpl").projections[0].reads}
    assert lpl["var_post"][0] == "batch" and lpl["decorr"][0] == "dendritic"
    assert lpl["z_post"] == ("modulatory", "z: one value per channel, averaged over the "
                             "layer's positions (position_mean)")
    clapp = {r.variable: (r.kind, r.detail) for r in card("clapp").projections[0].reads}
    assert clapp["u_post"][0] == "modulatory" and "per position" in clapp["u_post"][1]
    assert clapp["positive_post"][0] == "modulatory"
    layer = {r.variable: r.detail for r in card("clapp_layer").projections[0].reads}
    assert "one value per layer" in layer["u_post"]


def test_rules_command_formats(tmp_path):
    out = CliRunner().invoke(main, ["rules", "--format", "json"])
    data = json.loads(out.output)
    assert {d["rule"] for d in data} == set(RULES)
    for d in data:
        for key in ("spatially_local", "weight_transport", "needs_error", "needs_label",
                    "needs_negatives"):
            assert isinstance(d[key], bool)
    md = CliRunner().invoke(main, ["rules", "--format", "markdown"]).output
    assert md.startswith("| rule |") and "**clapp**" in md
    plain = CliRunner().invoke(main, ["rules", "--model", "models/dfa_sign_euler.toml"]).output
    assert "dfa_sign" in plain and "bp " not in plain


def test_virtual_slice_signatures():
    ds = virtual_experiments([RULES[n] for n in ("bp", "dfa", "clapp", "oja", "bcm", "lpl")])
    sig = {s.rule: s for s in signatures(ds)}
    assert sig["bcm"].bcm_switch and not sig["bp"].bcm_switch
    assert sig["bp"].gated and sig["dfa"].gated and sig["clapp"].gated
    assert not sig["oja"].gated and not sig["bcm"].gated
    assert sig["oja"].weight_dependent and not sig["bp"].weight_dependent
    assert sig["bp"].follows_modulator
    # BCM: depression below the threshold (rate 1), potentiation above, none at zero rate
    dw = synapse_update(RULES["bcm"], r_pre=1.0, a_post=np.array([0.0, 0.5, 2.0]), w=0.1)
    assert dw[0] == 0 and dw[1] < 0 < dw[2]
    # bp: -f'(a) * fb * r_pre
    assert synapse_update(BP, r_pre=2.0, a_post=1.0, w=0.3, modulator=0.5) == pytest.approx(-1.0)
    assert synapse_update(BP, r_pre=2.0, a_post=-1.0, w=0.3) == 0   # a silent unit does not learn


def test_only_a_rule_with_a_decay_term_changes_a_silent_synapse():
    """Heterosynaptic plasticity: a synapse with no pre-synaptic activity (now or in the
    pair's context) on a cell its other inputs drive. Oja's -r_post^2 w depresses it (w > 0),
    derived by hand; rules whose every term has a pre-synaptic factor leave it alone."""
    ds = virtual_experiments([RULES[n] for n in ("oja", "bcm", "dfa", "clapp", "vicreg_local")])
    sig = {s.rule: s.heterosynaptic for s in signatures(ds)}
    assert sig == {"oja": "depression", "bcm": "none", "dfa": "none", "clapp": "none",
                   "vicreg_local": "none"}
    r_post = np.maximum(ds.post_drive.values, 0)  # relu
    np.testing.assert_allclose(ds.dw_silent.sel(rule="oja").values, -r_post**2 * 0.1)
    # the context is the synapse's own earlier activity: with it active, CLAPP's
    # retrodiction term changes the synapse (not a heterosynaptic change)
    assert synapse_update(RULES["clapp"], r_pre=0.0, a_post=1.5, w=0.1, context_pre=0.5) != 0


def test_virtual_command(tmp_path):
    out = CliRunner().invoke(main, ["virtual", "--out", str(tmp_path), "--rule", "bcm", "--rule", "dfa"])
    assert out.exit_code == 0, out.output
    assert "| bcm | yes |" in out.output and (tmp_path / "virtual_vs_post.png").exists()


def test_plasticity_statistics_monitor():
    mon = PlasticityMonitor(every=3)
    ds = train(Model.for_rule("dfa", width=16, epochs=2), G, 64, [0, 1], n_test=50, quiet=True,
               monitors=[mon], dtype="float64").to_dataset()
    n_checkpoints = len(range(0, 2 * 2, 3))
    assert ds.sizes["stats_checkpoint"] == n_checkpoints and ds.sizes["projection"] == 4
    frac = ds.fraction_potentiated + ds.fraction_depressed
    assert (frac <= 1 + 1e-12).all() and (frac > 0).all()
    q = ds.dw_quantiles.values
    assert (np.diff(q, axis=-1) >= -1e-15).all()   # quantiles are ordered
    assert set(ds.factor.values) == {"delta_post", "r_pre"}
    assert (ds.factor_magnitude.sel(factor="r_pre") > 0).all()
    assert (ds.w_sd > 0).all()


def test_plasticity_statistics_equal_a_direct_computation():
    from plasticity_sim.backends.torch.data import Batch
    from plasticity_sim.backends.torch.train import Trainer
    from plasticity_sim.rhm import sample

    trainer = Trainer(Model.for_rule("bp", width=8), G, [0], dtype="float64")
    mon = PlasticityMonitor(1)
    mon.start(trainer, 1, 10)
    x, t, _ = trainer.encode([sample(G, 10, seed=0)])
    U, _, state = trainer.signals(Batch(x, t, None), want_state=True)
    mon.observe(trainer, 0, 0, x, t, U, state)
    row = mon.rows[0][1]
    change = U["s1_w"][0].flatten() * trainer.lr[0]
    assert float(row["mean"][0]) == pytest.approx(float(change.mean()))
    assert float(row["potentiated"][0]) == pytest.approx(float((change > 1e-9 * change.abs().max()).double().mean()))


def test_backprop_layers_encode_their_levels():
    ds = train(Model.for_rule("bp"), G, 2048, [0], n_test=400, quiet=True,
               representation_samples=300).to_dataset()
    rsa = ds.representational_similarity.sel(seed=0).values   # (layer, level 0..3)
    assert ds.test_accuracy.values[0] > 0.95
    assert int(np.argmax(rsa[-1])) in (0, 1)       # the top layer: the class or level 1
    assert int(np.argmax(rsa[0])) in (2, 3)        # the first layer: the levels near the input
    assert rsa[0, 3] > rsa[0, 0] and rsa[-1, 1] > rsa[-1, 3]
