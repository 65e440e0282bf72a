"""The self-supervised rules as published: each explicit rule equals autograd of its paper's
loss, written here from the papers' formulas (not from the rule's equation strings)."""

import numpy as np
import pytest
import torch

from plasticity_sim.backends.torch.codegen import CompiledNetwork
from plasticity_sim.backends.torch.data import Batch, TrainingData
from plasticity_sim.backends.torch.train import Trainer
from plasticity_sim.model import Model
from plasticity_sim.network.architecture import build_architecture
from plasticity_sim.network.neurons import NeuronModel
from plasticity_sim.rhm import Grammar, sample
from plasticity_sim.rules.registry import get_rule

from . import pairs
from .pairs import layer_inputs

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def make(rule, arch="cnn", **changes):
    model = Model.for_rule(rule, arch=arch, width=6, pairs="views", **changes)
    return Trainer(model, G, seeds=[0, 1], dtype="float64")


def pair_batch(trainer, negatives=0, n=7):
    return pairs.pair_batch(trainer, G, 1 + negatives, n)


def relative(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def features(h, pooled):
    """(E, rows, M): pooled over positions (rows = presentations), or every position a row."""
    if pooled:
        return h.mean(dim=2)
    E, B, P, M = h.shape
    return h.reshape(E, B * P, M)


def off_diagonal_covariance(Z):
    """Covariance of the columns of Z (E, rows, M) around their (detached) mean, 1/rows."""
    Zc = Z - Z.mean(1, keepdim=True).detach()
    C = torch.einsum("eri,erk->eik", Zc, Zc) / Z.shape[1]
    return C * (1 - torch.eye(C.shape[-1], dtype=C.dtype))


def settle_traces(trainer, batch):
    """Put every covariance trace at this minibatch's covariance (eps = 1: one step)."""
    U, _, _ = trainer.signals(batch)
    for name in trainer.net.direct_rate:
        trainer.S[name] += U[name]


# --- CLAPP ----------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["cnn", "lcn", "fc"])
@pytest.mark.parametrize("retrodiction", [1.0, 0.0])
def test_clapp_equals_autograd_of_the_per_position_hinge(arch, retrodiction):
    negatives = 3
    trainer = make("clapp", arch, retrodiction=retrodiction, negatives=negatives)
    for name in trainer.S:  # a trained-looking predictor, so that every term is exercised
        if "_pred_" in name:
            trainer.S[name].normal_(0, 0.3)
    batch = pair_batch(trainer, negatives)
    U, _, _ = trainer.signals(batch)
    main, ctx = layer_inputs(trainer, batch)
    n = batch.n
    for l in range(1, trainer.net.out):
        W = trainer.S[f"s{l - 1}_w"].clone().requires_grad_(True)
        Wp = trainer.S[f"l{l}_pred_wp"].clone().requires_grad_(True)
        proj = trainer.net.projections[l - 1]
        z = torch.relu(proj.forward(W, main[l - 1]))
        c = torch.relu(proj.forward(W, ctx[l - 1]))
        if not retrodiction:
            c = c.detach()
        u = (z * trainer.net.lateral[l].forward(Wp, c)).sum(dim=3)       # (E, pairs, positions)
        hinge_pos = torch.relu(1 - u[:, :n]).mean(dim=2)                   # averaged over positions
        hinge_neg = torch.relu(1 + u[:, n:]).mean(dim=2)
        loss = (hinge_pos.mean(1) + hinge_neg.mean(1)).sum()              # Illing et al.: pos + mean neg
        gW, gWp = torch.autograd.grad(loss, [W, Wp])
        assert relative(U[f"s{l - 1}_w"], -gW) < 1e-10, l
        assert relative(U[f"l{l}_pred_wp"], -gWp) < 1e-10, l


def test_clapp_gates_every_position_by_its_own_score():
    """Two positions, one pair scored above the margin at position 0 and below it at 1."""
    arch = build_architecture("cnn", v=2, s=2, L=2, n_classes=2, width=2)
    net = CompiledNetwork(arch, get_rule("clapp"), NeuronModel(), context="input", negatives=1.0)
    S = {name: torch.zeros(1, *proj.weight_shape(), dtype=torch.float64)
         for name, (proj, _, _) in net.synapse_specs.items()}
    S["s0_w"][0, 0] = torch.tensor([1.0, 0.0, 1.0, 0.0])  # channel 0 counts token 0 in a patch
    S["l1_pred_wp"][0] = torch.eye(2)
    x = torch.zeros(1, 2, 4, 2, dtype=torch.float64)
    x[..., [0, 1], 0] = 1  # tokens 0, 0 | 1, 1: position 0 sees two 0s, position 1 none
    x[..., [2, 3], 1] = 1
    positive = torch.tensor([1.0, 0.0], dtype=torch.float64).view(1, 2, 1, 1)
    target = torch.zeros(1, 2, 1, 2, dtype=torch.float64)
    _, _, st = net.compute(S, x, target, True, xc=x.clone(), positive=positive)
    u, gamma = st["p1_u"][0, :, :, 0], st["p1_gamma"][0, :, :, 0]
    assert u.tolist() == [[4.0, 0.0], [4.0, 0.0]]     # (r * W_pred r) per position
    # positive pair: position 0 is past the margin (no change), position 1 is not; the
    # negative pair is above -1 at both; (1 + negatives) / positions = 1
    assert gamma.tolist() == [[0.0, 1.0], [-1.0, -1.0]]


# --- LPL --------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, pooled", [("cnn", 1.0), ("cnn", 0.0), ("lcn", 1.0), ("fc", 1.0)])
def test_lpl_equals_autograd_of_its_published_loss(arch, pooled):
    pull, push, decorr = 0.7, 1.3, 10.0
    trainer = make("lpl", arch, pooled=pooled, pull=pull, push=push, decorr_coeff=decorr)
    batch = pair_batch(trainer)
    batch.positive[:, 1] = 0  # one pair across a saccade: its predictive term is off
    settle_traces(trainer, batch)
    U, _, _ = trainer.signals(batch)
    main, ctx = layer_inputs(trainer, batch)
    for l in range(1, trainer.net.out):
        W = trainer.S[f"s{l - 1}_w"].clone().requires_grad_(True)
        b = trainer.S[f"s{l - 1}_bias"].clone().requires_grad_(True)
        proj = trainer.net.projections[l - 1]
        z = features(torch.relu(proj.forward(W, main[l - 1]) + b.unsqueeze(1)), pooled)
        target = features(ctx[l], pooled)                       # the other view, held fixed
        E, rows, M = z.shape
        keep = batch.positive.view(E, -1, 1).repeat_interleave(rows // batch.n, dim=1)
        pull_loss = (keep * (z - target) ** 2).mean(dim=(1, 2))
        if pooled:  # per unit: each channel's variance over the minibatch
            var = ((z - z.mean(1, keepdim=True).detach()) ** 2).mean(1)
        else:       # per position and channel
            h = torch.relu(proj.forward(W, main[l - 1]) + b.unsqueeze(1))
            var = ((h - h.mean(1, keepdim=True).detach()) ** 2).mean(1)
        hebbian = -torch.log(var + 1e-4).flatten(1).mean(1)
        C = off_diagonal_covariance(z)
        decorrelation = (C ** 2).sum(dim=(1, 2)) / (M ** 2 - M)
        loss = (pull * pull_loss + push * hebbian + decorr * decorrelation).sum()
        gW, gb = torch.autograd.grad(loss, [W, b])
        assert relative(U[f"s{l - 1}_w"], -gW) < 1e-9, l
        assert relative(U[f"s{l - 1}_bias"], -gb) < 1e-9, l
        if arch != "lcn":  # the trace is the minibatch covariance (an LCN's is per position)
            trace = trainer.S[f"l{l}_decorr_cov"]
            assert torch.allclose(trace, C.detach(), atol=1e-12)


# --- VICReg -----------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, pooled", [("cnn", 1.0), ("cnn", 0.0), ("fc", 1.0)])
def test_vicreg_equals_autograd_of_its_published_loss(arch, pooled):
    lam, mu, nu, target_sd = 25.0, 25.0, 1.0, 0.3
    trainer = make("vicreg_local", arch, pooled=pooled, sd_target=target_sd)
    batch = pair_batch(trainer, n=9)
    settle_traces(trainer, batch)
    U, _, _ = trainer.signals(batch)
    main, ctx = layer_inputs(trainer, batch)

    def variance_term(h):
        Z = features(h, pooled) if pooled else h
        sd = torch.sqrt(((Z - Z.mean(1, keepdim=True).detach()) ** 2).mean(1) + 1e-4)
        return torch.relu(target_sd - sd).flatten(1).mean(1)

    for l in range(1, trainer.net.out):
        W = trainer.S[f"s{l - 1}_w"].clone().requires_grad_(True)
        proj = trainer.net.projections[l - 1]
        h = torch.relu(proj.forward(W, main[l - 1]))
        h2 = torch.relu(proj.forward(W, ctx[l - 1]))       # both branches learn
        z, z2 = features(h, pooled), features(h2, pooled)
        M = z.shape[2]
        invariance = ((z - z2) ** 2).mean(dim=(1, 2))
        variance = (variance_term(h) + variance_term(h2)) / 2
        covariance = sum((off_diagonal_covariance(Z) ** 2).sum(dim=(1, 2)) / M for Z in (z, z2))
        loss = (lam * invariance + mu * variance + nu * covariance).sum()
        (gW,) = torch.autograd.grad(loss, [W])
        assert relative(U[f"s{l - 1}_w"], -gW) < 1e-9, l
    assert any(bool((U[n] != 0).any()) for n in U if n.startswith("s0"))


# --- positives per layer ----------------------------------------------------------------------
def test_per_layer_views_share_exactly_the_levels_each_layer_covers():
    model = Model.for_rule("clapp", width=4, k="layer", negatives=1, batch_size=8)
    trainer = Trainer(model, G, [0])
    assert model.at(G).pairing.k == (2, 1, 1)          # L = 3: layers cover levels 2, 1, 0 -> 1
    data = TrainingData(trainer, 240, n_test=10)
    assert data.view_levels == [1, 2] and trainer.net.context_levels == (1, 0, 0)
    batch = next(data.batches(0, 8))
    assert isinstance(batch.xc, list) and len(batch.xc) == 2
    rows, partner = data._rows(0, [0])
    pool = data.all_inputs(0)
    shown = pool.take(rows[0, :80].numpy())
    for i, k in enumerate(data.view_levels):
        view = pool.take(partner[0, :80, i].numpy())
        for level in range(k + 1):      # every latent at levels <= k is shared ...
            assert np.array_equal(shown.latents[level], view.latents[level])
        differs = (shown.latents[k + 1] != view.latents[k + 1]).any(axis=1)
        assert differs.mean() > 0.3     # ... and the level below is redrawn
        # the encoded context is the view of each presentation
        x_view, _, _ = trainer.encode([view.take(np.arange(8))])
        assert torch.equal(batch.xc[i][:, :8], x_view)


def test_per_layer_context_passes_feed_each_layer_and_its_update():
    trainer = make("clapp", k=[2, 1, 0], negatives=1)
    for name in trainer.S:
        if "_pred_" in name:
            trainer.S[name].normal_(0, 0.3)
    x, t, y = trainer.encode([sample(G, 5, seed=s) for s in (3, 4)])
    views = [trainer.encode([sample(G, 5, seed=s + 10 * i) for s in (5, 6)])[0] for i in range(3)]
    xc = [torch.cat([v, v.roll(1, dims=1)], dim=1) for v in views]      # levels 0, 1, 2
    positive = torch.cat([torch.ones(2, 5, 1, 1), torch.zeros(2, 5, 1, 1)], 1).double()
    rep = lambda a: torch.cat([a, a], dim=1)  # noqa: E731
    U, _, st = trainer.signals(Batch(rep(x), rep(t), y, xc, positive, 2), want_state=True)
    for l, i in ((1, 2), (2, 1), (3, 0)):   # layer l's context is the view at its own level
        expected = trainer.net.represent(trainer.S, xc[i])[l - 1]
        assert torch.allclose(st[f"p{l}_r_ctx"], expected, rtol=0, atol=1e-14)
    # the retrodiction term of projection 1 -> 2 reads layer 1's rates in layer 2's context
    # pass, not layer 1's own context
    W = trainer.S["s1_w"].clone().requires_grad_(True)
    proj, lateral = trainer.net.projections[1], trainer.net.lateral[2]
    with torch.no_grad():
        below_main = trainer.net.represent(trainer.S, rep(x))[0]
        below_ctx = trainer.net.represent(trainer.S, xc[1])[0]
    z = torch.relu(proj.forward(W, below_main))
    c = torch.relu(proj.forward(W, below_ctx))
    u = (z * lateral.forward(trainer.S["l2_pred_wp"], c)).sum(dim=3)
    loss = (torch.relu(1 - u[:, :5]).mean(2).mean(1) + torch.relu(1 + u[:, 5:]).mean(2).mean(1)).sum()
    (gW,) = torch.autograd.grad(loss, [W])
    assert relative(U["s1_w"], -gW) < 1e-10


# --- which term drives the update ---------------------------------------------------------------
def test_term_monitor_splits_every_update_into_its_terms():
    from plasticity_sim.analysis.terms import TermMonitor
    from plasticity_sim.backends.torch.train import train

    model = Model.for_rule("lpl", width=6, pairs="views", k="layer", epochs=2, bias=False)
    monitor = TermMonitor(["pull", "push", "decorr_coeff"], every=3)
    ds = train(model, G, 120, [0, 1], n_test=0, n_val=50, probes=False, quiet=True,
               monitors=[monitor]).to_dataset()
    norms, cos, whole = ds.term_norm.values, ds.term_cosine.values, ds.update_norm.values
    assert norms.shape == (2, ds.sizes["terms_checkpoint"], 3, 3) and (norms[:, 1:] > 0).all()
    assert (norms[:, 0, :, 2] == 0).all()  # the covariance trace starts at 0
    # LPL's update is the sum of its three terms: |U| = sum_i |U_i| cos(U_i, U)
    assert np.allclose((norms * cos).sum(-1), whole, rtol=1e-4)
    with pytest.raises(Exception, match="no parameters"):
        TermMonitor(["lam1"]).start(Trainer(model, G, [0]), 1, 10)
