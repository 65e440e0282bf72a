"""Self-supervised and Hebbian rules: explicit updates against autograd of their local losses,
the pairing schemes, the data budget, probes."""

import numpy as np
import pytest
import torch

from plasticity_sim import ParameterError
from plasticity_sim.backends.torch.codegen import CompiledNetwork
from plasticity_sim.backends.torch.data import Batch, TrainingData
from plasticity_sim.backends.torch.train import Trainer, train
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar, sample

from . import pairs
from .pairs import layer_inputs

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
G8 = Grammar(v=8, n_classes=8, m=4, s=2, L=3, seed=1)


def make(rule, arch="cnn", pairs="views", **changes):
    model = Model.for_rule(rule, arch=arch, width=6, pairs=pairs, **changes)
    trainer = Trainer(model, G, seeds=[0, 1], dtype="float64")
    return model, trainer


def pair_batch(trainer, copies=2, n=5):
    return pairs.pair_batch(trainer, G, copies, n)


def grads_of(loss, params):
    return torch.autograd.grad(loss, params)


def relative(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def contrastive_loss(u, positive, kind):
    if kind == "hinge":
        return torch.where(positive > 0, torch.relu(1 - u), torch.relu(1 + u))
    return torch.where(positive > 0, torch.nn.functional.softplus(-u), torch.nn.functional.softplus(u))


@pytest.mark.parametrize("rule, kind", [("clapp_layer", "hinge"), ("clapp_nce", "logistic")])
@pytest.mark.parametrize("arch", ["cnn", "lcn", "fc"])
@pytest.mark.parametrize("retrodiction", [1.0, 0.0])
def test_contrastive_updates_equal_autograd_of_the_layer_loss(rule, kind, arch, retrodiction):
    model, trainer = make(rule, arch, retrodiction=retrodiction)
    for name in trainer.S:  # a trained-looking predictor, so that every term is exercised
        if "_pred_" in name:
            trainer.S[name].normal_(0, 0.3)
    batch = pair_batch(trainer)
    U, _, _ = trainer.signals(batch)
    main, ctx = layer_inputs(trainer, batch)
    act = trainer.net.neuron.act
    for l in range(1, trainer.net.out):
        W = trainer.S[f"s{l - 1}_w"].clone().requires_grad_(True)
        Wp = trainer.S[f"l{l}_pred_wp"].clone().requires_grad_(True)
        proj, lateral = trainer.net.projections[l - 1], trainer.net.lateral[l]
        z = act.f(proj.forward(W, main[l - 1]))
        c = act.f(proj.forward(W, ctx[l - 1]))
        if not retrodiction:
            c = c.detach()
        u = (z * lateral.forward(Wp, c)).sum(dim=(2, 3), keepdim=True)
        loss = contrastive_loss(u, batch.positive, kind).mean(1).sum()
        gW, gWp = grads_of(loss, [W, Wp])
        assert relative(U[f"s{l - 1}_w"], -gW) < 1e-10, (l, relative(U[f"s{l - 1}_w"], -gW))
        assert relative(U[f"l{l}_pred_wp"], -gWp) < 1e-10


def test_clapp_top_predicts_the_top_layer_and_equals_autograd():
    model, trainer = make("clapp_top")
    for name in trainer.S:
        if "_pred_" in name:
            trainer.S[name].normal_(0, 0.3)
    batch = pair_batch(trainer)
    U, _, _ = trainer.signals(batch)
    main, ctx = layer_inputs(trainer, batch)
    top = ctx[trainer.net.depth]  # the context's top hidden layer, held fixed
    for l in range(1, trainer.net.out):
        W = trainer.S[f"s{l - 1}_w"].clone().requires_grad_(True)
        Wp = trainer.S[f"d{l}_pred_wp"].clone().requires_grad_(True)
        z = torch.relu(trainer.net.projections[l - 1].forward(W, main[l - 1]))
        u = (z * trainer.net.direct[(l, "pred")].forward(Wp, top)).sum(dim=(2, 3), keepdim=True)
        loss = contrastive_loss(u, batch.positive, "hinge").mean(1).sum()
        gW, gWp = grads_of(loss, [W, Wp])
        assert relative(U[f"s{l - 1}_w"], -gW) < 1e-10
        assert relative(U[f"d{l}_pred_wp"], -gWp) < 1e-10


def test_running_statistics_track_the_rates():
    model, trainer = make("lpl", eps=0.5, pooled=0.0)
    batch = pair_batch(trainer, copies=1, n=40)
    U, _, st = trainer.signals(batch, want_state=True)
    zc = st["p2_zc"]  # rates centred per channel over the batch and the (2) positions
    assert torch.allclose(zc.mean(dim=(1, 2)), torch.zeros_like(zc[:, 0, 0]), atol=1e-12)
    # a running statistic of a conv layer averages over the batch and the positions
    expected = 0.5 * torch.einsum("ebpi,ebpk->eik", zc, zc) / (40 * 2) - 0.5 * trainer.S["l2_decorr_cov"]
    od = trainer.S["l2_decorr_od"]
    assert torch.allclose(U["l2_decorr_cov"], expected * od)
    assert torch.equal(od[0].diagonal(), torch.zeros(6, dtype=torch.float64))
    bcm = Trainer(Model.for_rule("bcm", arch="fc", width=5), G, seeds=[0], dtype="float64")
    x, t, _ = bcm.encode([sample(G, 9, seed=1)])
    U, _, st = bcm.net.compute(bcm.S, x, t, True, ST=bcm.ST)
    eps = bcm.model.rule.params["eps"]
    theta = bcm.ST["p1_theta"]
    assert torch.allclose(U["ST:p1_theta"], theta + eps * ((st["p1_r"] ** 2).mean(1, keepdim=True) - theta))


def test_oja_and_bcm_updates_are_their_formulas():
    for rule in ("oja", "bcm"):
        model = Model.for_rule(rule, arch="fc", width=5)
        trainer = Trainer(model, G, seeds=[0], dtype="float64")
        x, t, _ = trainer.encode([sample(G, 9, seed=1)])
        U, _, st = trainer.net.compute(trainer.S, x, t, True, ST=trainer.ST)
        pre, post = st["p1_r"][0, :, 0], st["p2_r"][0, :, 0]  # FC layer 2: (B, units)
        w = trainer.S["s1_w"][0]
        if rule == "oja":
            expected = (post.T @ pre - (post ** 2).sum(0)[:, None] * w) / 9
        else:
            theta = trainer.ST["p2_theta"][0, 0, 0]
            expected = ((post * (post - theta)).T @ pre) / 9
        assert torch.allclose(U["s1_w"][0], expected)


def test_every_input_counts_toward_P():
    for pairs, T, k, trees in (("views", 4, None, 50), ("fixations", 4, None, 25),
                               ("siblings", 4, None, 100), ("views", 4, "layer", 33)):
        model = Model.for_rule("clapp", width=4, pairs=pairs, T=T, k=k, retrodiction=0.0, epochs=2)
        trainer = Trainer(model, G, [0, 1])
        data = TrainingData(trainer, 100, n_test=50, n_val=40)
        shown_total = 100 if k is None else 99   # L = 3: views at levels 2 and 1, 3 inputs per tree
        assert data.P == shown_total and data.n_trees == trees
        assert len(data.pools[0]) == shown_total
        assert data.per_epoch == (trees if pairs == "views" else 100)
        # validation and test exclude every input shown, views and redraws included, and
        # each other
        for member in (0, 1):
            shown = set(data.pools[member].keys().tolist())
            val, test = (set(s[member].keys().tolist()) for s in (data.vals, data.tests))
            assert len(val) == 40 and len(test) == 50
            assert not shown & val and not shown & test and not val & test


def test_view_pairs_share_their_upper_latents_and_negatives_do_not():
    model = Model.for_rule("clapp", width=4, pairs="views", k=1, negatives=2, batch_size=8)
    trainer = Trainer(model, G8, [0])
    data = TrainingData(trainer, 200, n_test=10)
    batch = next(data.batches(0, 8))
    assert batch.copies == 3 and batch.x.shape[1] == 24
    assert batch.positive[0, :8].eq(1).all() and batch.positive[0, 8:].eq(0).all()
    st = data.streams[0]
    shown, view = st.presented(slice(0, 8)), st.partners(slice(0, 8))
    assert np.array_equal(shown.latents[1], view.latents[1])
    assert torch.equal(batch.xc[:, 8:16], batch.xc[:, :8].roll(1, dims=1))


def test_fixation_pairs_are_consecutive_and_negative_across_saccades():
    model = Model.for_rule("lpl", width=4, pairs="fixations", T=3, batch_size=6)
    trainer = Trainer(model, G, [0])
    data = TrainingData(trainer, 30, n_test=10)
    batch = next(data.batches(0, 6))
    assert batch.positive[0, :, 0, 0].tolist() == [0, 1, 1, 0, 1, 1]
    assert torch.equal(batch.xc[:, 1:], batch.x[:, :-1])
    assert torch.equal(batch.xc[:, 0], torch.zeros_like(batch.xc[:, 0]))  # nothing came before
    last = list(data.batches(0, 6))[-1].x[:, -1]
    data2 = TrainingData(trainer, 30, n_test=10)
    first_of_second = next(data2.batches(1, 6))
    assert torch.equal(first_of_second.xc[:, 0], list(data2.batches(0, 6))[-1].x[:, -1])


def test_siblings_context_is_the_sibling_position():
    model = Model.for_rule("clapp", width=4, pairs="siblings", retrodiction=0.0, negatives=1)
    trainer = Trainer(model, G, [0], dtype="float64")
    x, t, y = trainer.encode([sample(G, 4, seed=0)])
    x2 = torch.cat([x, x], dim=1)
    positive = torch.cat([torch.ones(1, 4, 1, 1), torch.zeros(1, 4, 1, 1)], 1).double()
    _, _, st = trainer.net.compute(trainer.S, x2, torch.cat([t, t], 1), True, positive=positive,
                                   ST=trainer.ST, copies=2)
    r, c = st["p1_r"], st["p1_r_ctx"]          # layer 1 has 4 positions: siblings 0<->1, 2<->3
    assert torch.equal(c[:, :4, [0, 1, 2, 3]], r[:, :4, [1, 0, 3, 2]])
    assert torch.equal(c[:, 4:], c[:, :4].roll(1, dims=1))   # negatives: another tree's sibling
    assert torch.equal(st["p3_r_ctx"], torch.zeros_like(st["p3_r_ctx"]))  # the top has none


def test_siblings_hold_the_context_fixed():
    assert Model.for_rule("clapp", pairs="siblings").rule.params["retrodiction"] == 0
    # VICReg-local's second branch learns through the context's own pass: off with siblings
    assert Model.for_rule("vicreg_local", pairs="siblings").rule.params["both_branches"] == 0
    assert Model.for_rule("vicreg_local", pairs="views").rule.params["both_branches"] == 1
    Trainer(Model.for_rule("vicreg_local", width=4, pairs="siblings"), G, [0])  # builds
    with pytest.raises(ParameterError, match="holds the context fixed"):
        Trainer(Model.for_rule("clapp", width=4, pairs="siblings", retrodiction=1.0), G, [0])


@pytest.mark.parametrize("call, message", [
    (lambda: Model.for_rule("clapp", pairs=None), "learns from pairs"),
    (lambda: Model.for_rule("bp", pairs="views"), "uses no pairs"),
    (lambda: Model.for_rule("clapp", pairs="saccades"), "must be one of views, fixations"),
    (lambda: Model.for_rule("clapp", batch_size=1), "batch_size >= 2"),
    (lambda: Model.for_rule("clapp", T=1), "T: must be >= 2"),
    (lambda: Trainer(Model.for_rule("clapp", k=5), G, [0]), "k: must lie in"),
    (lambda: train(Model.for_rule("lpl", pairs="fixations", T=4), G, 3, [0]), "P: must be >= 4"),
])
def test_bad_pairings_give_one_clear_error(call, message):
    with pytest.raises(ParameterError, match=message):
        call()


def test_a_compiled_pair_rule_without_context_is_refused():
    rule = Model.for_rule("clapp").rule
    with pytest.raises(ParameterError, match="learns from pairs"):
        CompiledNetwork(Model.for_rule("bp").architecture(G), rule, Model.for_rule("bp").neuron)


@pytest.mark.parametrize("rule, pairs", [("clapp", "views"), ("clapp_nce", "views"),
                                         ("clapp_top", "fixations"), ("lpl", "fixations"),
                                         ("vicreg_local", "views"), ("oja", None), ("bcm", None)])
def test_every_rule_trains_and_is_probed(rule, pairs):
    changes = {"pairs": pairs} if pairs else {}
    # lpl and vicreg_local learn with Adam: normalized steps
    readout_lr = 0.003 if rule in ("lpl", "vicreg_local") else 0.05
    model = Model.for_rule(rule, width=16, epochs=4, readout_lr=readout_lr, **changes)
    ds = train(model, G8, 256, [0, 1], n_test=300, n_val=200, evaluator="probe",
               quiet=True).to_dataset()
    assert ds.probe_accuracy.dims == ("seed", "probe_layer") and ds.sizes["probe_layer"] == 4
    assert np.isfinite(ds.probe_accuracy.values).all() and (ds.diverged_at.values == -1).all()
    assert np.array_equal(ds.test_accuracy.values, ds.probe_accuracy.values[:, -1])
    assert np.array_equal(ds.val_accuracy.values, ds.probe_val_accuracy.values[:, -1])
    assert ds.test_accuracy.attrs["evaluator"] == "probe"
    assert np.isfinite(ds.readout_accuracy.values).all()    # the other evaluator is recorded too
    assert ((ds.probe_accuracy.values >= 0) & (ds.probe_accuracy.values <= 1)).all()
    loss = ds.train_loss.values
    assert np.isfinite(loss).all()
    if rule != "vicreg_local":  # the local readout learns meanwhile; VICReg-local's variance
        # term divides by the deep layers' tiny batch sd and inflates the rates it reads
        assert (loss[:, 1:].min(1) < loss[:, 0]).all()
    assert ds.attrs["P"] == 256


def test_probe_reads_a_linearly_separable_layer_perfectly():
    from plasticity_sim.analysis import fit_probe
    from plasticity_sim.analysis.probes import DECAYS

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (2, 300), generator=g)
    x = torch.nn.functional.one_hot(y, 3).double() * 3 + torch.randn(2, 300, 3, generator=g) * 0.1
    train_, val, test = slice(0, 150), slice(150, 200), slice(200, 300)
    probe = fit_probe(x[:, train_], y[:, train_], x[:, val], y[:, val], x[:, test], y[:, test], 3)
    assert (probe.test_accuracy == 1).all() and (probe.val_accuracy == 1).all()
    assert np.isin(probe.decay, DECAYS).all()
    # features that carry nothing about the labels: the probe must not read a class out of them
    blank = torch.randn(2, 300, 3, generator=g, dtype=torch.float64)
    probe = fit_probe(blank[:, train_], y[:, train_], blank[:, val], y[:, val], blank[:, test],
                      y[:, test], 3)
    assert (probe.test_accuracy < 0.5).all()
