"""Shared by the self-supervised tests: a hand-built minibatch of pairs and the detached
rates below every layer."""

import torch

from plasticity_sim.backends.torch.data import Batch
from plasticity_sim.rhm import sample


def pair_batch(trainer, grammar, copies=2, n=5):
    """n presentations (two members) with views as contexts, then copies - 1 blocks pairing
    each presentation with the view of the one j slots back (negatives)."""
    x, t, y = trainer.encode([sample(grammar, n, seed=s) for s in (3, 4)])
    xc, _, _ = trainer.encode([sample(grammar, n, seed=s) for s in (5, 6)])
    xc = torch.cat([xc] + [xc.roll(j, dims=1) for j in range(1, copies)], dim=1)
    positive = torch.zeros(2, n * copies, 1, 1, dtype=torch.float64)
    positive[:, :n] = 1
    rep = lambda a: torch.cat([a] * copies, dim=1)  # noqa: E731
    return Batch(rep(x), rep(t), y, xc, positive, copies)


def layer_inputs(trainer, batch):
    """Rates of every population for the main and the context input, detached."""
    with torch.no_grad():
        main = [batch.x] + trainer.net.represent(trainer.S, batch.x)
        ctx = [batch.xc] + trainer.net.represent(trainer.S, batch.xc) if batch.xc is not None else None
    return main, ctx
