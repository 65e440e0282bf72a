"""The explicit bp equations against torch.autograd of the same network and loss."""

import numpy as np
import pytest
import torch

from plasticity_sim.backends.torch.train import Trainer
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar, sample


def reference_logits(arch, S, x, act=torch.relu):
    """An independent forward pass written with torch.nn.functional (x: (E,B,P,v))."""
    h = x
    E = x.shape[0]
    outs = []
    for e in range(E):
        h = x[e]  # (B, P, C)
        for k, proj in enumerate(arch.projections[:-1]):
            w = S[f"s{k}_w"][e]
            bias = S.get(f"s{k}_bias")
            if proj.kind == "conv":
                C_in, s = proj.in_shape[1], proj.s
                kernel = w.view(w.shape[0], s, C_in).permute(0, 2, 1)
                a = torch.nn.functional.conv1d(h.transpose(1, 2), kernel, stride=s).transpose(1, 2)
            elif proj.kind == "local":
                patches = h.unfold(1, proj.s, proj.s).transpose(2, 3).flatten(2)  # (B,Q,s*C)
                a = torch.einsum("qok,bqk->bqo", w, patches)
            else:
                a = torch.nn.functional.linear(h.flatten(1), w).unsqueeze(1)
            if bias is not None:
                a = a + bias[e]
            h = act(a)
        w = S[f"s{len(arch.projections) - 1}_w"][e]
        out = torch.nn.functional.linear(h.mean(1), w)
        bias = S.get(f"s{len(arch.projections) - 1}_bias")
        outs.append(out + (bias[e][0] if bias is not None else 0))
    return torch.stack(outs)  # (E,B,n_classes)


@pytest.mark.parametrize("arch", ["cnn", "lcn", "fc"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_bp_equations_equal_autograd_gradients(arch, bias, loss):
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    model = Model.for_rule("bp", arch=arch, width=12, bias=bias, loss=loss)
    trainer = Trainer(model, g, seeds=[0, 1], dtype="float64")
    if bias:  # non-zero biases, so that their gradients are not trivially tested at 0
        for name in trainer.S:
            if name.endswith("_bias"):
                trainer.S[name].normal_(0, 0.3)
    x, t, y = trainer.encode([sample(g, 17, seed=3), sample(g, 17, seed=4)])
    U, logits, _ = trainer.net.compute(trainer.S, x, t)

    S = {k: v.clone().requires_grad_(True) for k, v in trainer.S.items()}
    ref = reference_logits(trainer.net.arch, S, x)
    assert torch.allclose(ref, logits[:, :, 0], rtol=1e-12, atol=1e-12)
    if loss == "cross_entropy":
        per_sample = torch.logsumexp(ref, dim=2) - ref.gather(2, y[..., None])[..., 0]
    else:
        per_sample = 0.5 * ((ref - t[:, :, 0]) ** 2).sum(2)
    grads = torch.autograd.grad(per_sample.mean(1).sum(), [S[n] for n in trainer.plastic])
    assert len(grads) == (8 if bias else 4)
    for name, grad in zip(trainer.plastic, grads):
        rel = float((U[name] + grad).norm() / grad.norm())
        assert rel < 1e-10, f"{name}: relative difference {rel:.2e}"


def test_bp_step_equals_torch_sgd_with_momentum():
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    model = Model.for_rule("bp", width=8, lr=0.1, momentum=0.9, weight_decay=0.01)
    trainer = Trainer(model, g, seeds=[5], dtype="float64")
    params = {k: v.clone().requires_grad_(True) for k, v in trainer.S.items()}
    opt = torch.optim.SGD(params.values(), lr=0.1, momentum=0.9, weight_decay=0.01)
    for step in range(3):
        x, t, y = trainer.encode([sample(g, 9, seed=10 + step)])
        trainer.step(x, t)
        opt.zero_grad()
        ref = reference_logits(trainer.net.arch, params, x)
        loss = (torch.logsumexp(ref, 2) - ref.gather(2, y[..., None])[..., 0]).mean()
        loss.backward()
        opt.step()
    for name in trainer.plastic:
        assert np.allclose(trainer.S[name].numpy(), params[name].detach().numpy(), rtol=1e-10,
                           atol=1e-12)


def test_bp_step_with_adam_equals_torch_adam():
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    model = Model.for_rule("bp", width=8, lr=0.01, optimizer="adam", weight_decay=0.01)
    trainer = Trainer(model, g, seeds=[5], dtype="float64")
    params = {k: v.clone().requires_grad_(True) for k, v in trainer.S.items()}
    opt = torch.optim.Adam(params.values(), lr=0.01, weight_decay=0.01)
    for step in range(4):
        x, t, y = trainer.encode([sample(g, 9, seed=10 + step)])
        trainer.step(x, t)
        opt.zero_grad()
        ref = reference_logits(trainer.net.arch, params, x)
        (torch.logsumexp(ref, 2) - ref.gather(2, y[..., None])[..., 0]).mean().backward()
        opt.step()
    for name in trainer.plastic:
        assert np.allclose(trainer.S[name].numpy(), params[name].detach().numpy(), rtol=1e-9,
                           atol=1e-12)
