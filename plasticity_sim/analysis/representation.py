"""Representational comparison: which layer encodes which level of the hidden tree.

Per hidden layer, the representational dissimilarity matrix (Euclidean distance between
the rates of every pair of stimuli) is rank-correlated (Spearman) with the dissimilarity of
the stimuli's latent symbols at every level l = 0..L (the fraction of level-l nodes whose
symbols differ; level L is the input itself).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import spearmanr

from ..rhm.samples import Samples


def level_dissimilarity(samples: Samples, level: int) -> np.ndarray:
    lat = samples.latents[level]
    return (lat[:, None, :] != lat[None, :, :]).mean(-1)


def representational_similarity(trainer, samples: list[Samples]) -> np.ndarray:
    """(E, hidden layers, levels 0..L): Spearman correlation of each layer's RDM with each
    level's latent dissimilarity, over the pairs of stimuli."""
    x = trainer.encode(samples)[0]
    with torch.no_grad():
        layers = trainer.net.represent(trainer.S, x)
    n = x.shape[1]
    upper = np.triu_indices(n, k=1)
    L = trainer.grammar.L
    out = np.full((trainer.E, len(layers), L + 1), np.nan)
    for e, smp in enumerate(samples):
        targets = [level_dissimilarity(smp, l)[upper] for l in range(L + 1)]
        for k, rates in enumerate(layers):
            rdm = torch.cdist(rates[e].double().flatten(1), rates[e].double().flatten(1)).numpy()[upper]
            for l, target in enumerate(targets):
                if np.ptp(rdm) > 0 and np.ptp(target) > 0:
                    out[e, k, l] = spearmanr(rdm, target).statistic
    return out
