"""Synonymic sensitivity (Cagnetta et al., PRX 2024) of every hidden layer to every level.

S[k, l] = E ||f_k(x) - f_k(x')||^2 / E ||f_k(x) - f_k(y)||^2, where x' keeps every latent
of x at levels <= l and redraws every production below (resample_below(x, l)), and y is
an unrelated input. A layer that represents the level-l latents and nothing below is
insensitive to those redraws (S ~ 0); a layer that only copies its input has S ~ 1 or more.
"""

from __future__ import annotations

import numpy as np
import torch

from ..rhm.samples import Samples, resample_below


def synonymic_sensitivity(trainer, samples: list[Samples], seed: int = 0) -> np.ndarray:
    """(E members, hidden layers, levels 0..L-1) for a trained ensemble, one sample set per member."""
    g = trainer.grammar
    x = trainer.encode(samples)[0]
    base = trainer.net.represent(trainer.S, x)
    unrelated = trainer.net.represent(trainer.S, x.roll(1, dims=1))  # another sample of the set
    denominator = [_mean_sq(b - u) for b, u in zip(base, unrelated)]
    out = np.full((trainer.E, len(base), g.L), np.nan)
    for level in range(g.L):
        views = [resample_below(s, level, seed, purpose="analysis.sensitivity") for s in samples]
        redrawn = trainer.net.represent(trainer.S, trainer.encode(views)[0])
        for k, (b, r) in enumerate(zip(base, redrawn)):
            out[:, k, level] = (_mean_sq(b - r) / denominator[k].clamp_min(1e-300)).cpu().numpy()
    return out


def _mean_sq(diff: torch.Tensor) -> torch.Tensor:
    """Mean over samples of the squared norm of each sample's difference, per member (E,)."""
    return diff.double().pow(2).flatten(2).sum(2).mean(1)
