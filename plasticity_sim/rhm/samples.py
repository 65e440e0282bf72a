"""Sets of RHM trees: every hidden variable of every sample, and exact sampling.

Sampling is without replacement. Where n_inputs fits int64, distinct indices are drawn and
decoded through the exact bijection ("index" method). Beyond int64, trees are drawn as
i.i.d. choices and repeated trees are rejected and redrawn ("rejection" method), which is
still sampling without replacement; the method used is recorded on the Samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError, require_int
from ..seeding import generator
from .grammar import Grammar

MAX_ENUMERATE = 10**7


@dataclass(frozen=True, eq=False)
class Samples:
    """N trees of one grammar.

    ``labels`` (N,), ``choices`` (N, n_internal), ``latents[l]`` (N, s**l) for l = 0..L,
    ``latents[L]`` being the input tokens.
    """

    grammar: Grammar
    labels: np.ndarray
    choices: np.ndarray
    latents: tuple
    method: str = "index"

    @classmethod
    def from_trees(cls, grammar: Grammar, labels, choices, method: str = "index") -> "Samples":
        labels = np.asarray(labels, dtype=np.int32)
        choices = np.asarray(choices, dtype=np.int32).reshape(len(labels), grammar.n_internal)
        return cls(grammar, labels, choices, tuple(grammar.expand(labels, choices)), method)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def tokens(self) -> np.ndarray:
        """Input tokens (N, s**L)."""
        return self.latents[-1]

    @property
    def index(self) -> np.ndarray:
        """Each tree's index in [0, n_inputs) (int64, or Python ints beyond int64)."""
        return self.grammar.tree_to_index(self.labels, self.choices)

    def choices_at(self, depth: int) -> np.ndarray:
        """Production choices of the internal nodes at ``depth`` (N, s**depth)."""
        start = self.grammar.node_offset(depth)
        return self.choices[:, start:start + self.grammar.n_nodes(depth)]

    def take(self, which) -> "Samples":
        """The subset (or reordering) selected by an index array or slice."""
        return Samples(self.grammar, self.labels[which], self.choices[which],
                       tuple(lat[which] for lat in self.latents), self.method)

    @staticmethod
    def concat(parts: list["Samples"]) -> "Samples":
        first = parts[0]  # views and redraws keep the method of the trees they came from
        return Samples(first.grammar, np.concatenate([p.labels for p in parts]),
                       np.concatenate([p.choices for p in parts]),
                       tuple(np.concatenate(lv) for lv in zip(*(p.latents for p in parts))),
                       first.method)

    def keys(self) -> np.ndarray:
        """One comparable key per tree (equal keys <=> equal trees)."""
        if self.grammar.index_fits_int64:
            return self.index
        return _row_keys(self.labels, self.choices)


def sample(grammar: Grammar, n: int, seed: int, exclude: Samples | None = None,
           purpose: str = "rhm.samples") -> Samples:
    """``n`` distinct trees drawn uniformly, none of them in ``exclude``.

    Fully determined by (grammar, n, seed, exclude, purpose).
    """
    n = require_int("n", n, minimum=1)  # an empty set would fail deep in numpy
    n_excluded = 0 if exclude is None else len(exclude)
    if n + n_excluded > grammar.n_inputs:
        raise ParameterError(
            "n", f"must be <= n_inputs - excluded = {grammar.n_inputs - n_excluded} "
            f"(the grammar has only {grammar.n_inputs} distinct inputs); got {n}")
    rng = generator(seed, purpose)
    if grammar.index_fits_int64:
        return _sample_by_index(grammar, n, rng, exclude)
    return _sample_by_rejection(grammar, n, rng, exclude)


def train_test(grammar: Grammar, P: int, n_test: int, seed: int) -> tuple[Samples, Samples]:
    """Disjoint training (P) and test (n_test) sets; the training set does not depend on n_test."""
    require_int("P", P, minimum=1)
    require_int("n_test", n_test, minimum=1)
    train = sample(grammar, P, seed, purpose="rhm.train")
    test = sample(grammar, n_test, seed, exclude=train, purpose="rhm.test")
    return train, test


def enumerate_all(grammar: Grammar) -> Samples:
    """Every input of the grammar, in index order (refused beyond 10**7 inputs)."""
    if grammar.n_inputs > MAX_ENUMERATE:
        raise ParameterError(
            "n_inputs", f"enumeration is limited to {MAX_ENUMERATE} inputs; this grammar has "
            f"{grammar.n_inputs} (lower m, L or n_classes, or sample with --n)")
    return Samples.from_trees(grammar, *grammar.index_to_tree(np.arange(grammar.n_inputs)))


def resample_below(samples: Samples, k: int, seed: int, purpose: str = "rhm.views") -> Samples:
    """New trees keeping every latent at levels <= k and redrawing all choices below.

    k = 0 keeps only the class; k = L returns identical trees.
    """
    g = samples.grammar
    k = require_int("k", k, minimum=0)
    if k > g.L:
        raise ParameterError("k", f"must lie in [0, L={g.L}]; got {k}")
    return redraw_below(samples, k, generator(seed, purpose))


def redraw_below(samples: Samples, k: int, rng: np.random.Generator) -> Samples:
    """As :func:`resample_below`, drawing from a given generator (k already checked)."""
    g = samples.grammar
    start = g.node_offset(k)  # choices at depths >= k decide the latents below level k
    choices = samples.choices.copy()
    choices[:, start:] = rng.integers(0, g.m, size=(len(samples), g.n_internal - start),
                                      dtype=np.int32)
    return Samples.from_trees(g, samples.labels, choices, samples.method)


def _sample_by_index(grammar: Grammar, n: int, rng, exclude: Samples | None) -> Samples:
    if exclude is None or len(exclude) == 0:
        index = rng.choice(grammar.n_inputs, size=n, replace=False)
    else:
        # Distinct candidates, the excluded ones dropped, the first n kept: uniform over
        # n-subsets of the complement by symmetry.
        n_draw = min(grammar.n_inputs, n + len(exclude))
        candidates = rng.choice(grammar.n_inputs, size=n_draw, replace=False)
        index = candidates[~np.isin(candidates, exclude.keys())][:n]
    return Samples.from_trees(grammar, *grammar.index_to_tree(index), method="index")


def _sample_by_rejection(grammar: Grammar, n: int, rng, exclude: Samples | None) -> Samples:
    labels = np.empty(0, dtype=np.int32)
    choices = np.empty((0, grammar.n_internal), dtype=np.int32)
    seen = np.empty(0, dtype=_row_keys(labels, choices).dtype)
    if exclude is not None:
        seen = exclude.keys()
    while len(labels) < n:
        need = n - len(labels)
        new_labels = rng.integers(0, grammar.n_classes, size=need, dtype=np.int32)
        new_choices = rng.integers(0, grammar.m, size=(need, grammar.n_internal), dtype=np.int32)
        keys = _row_keys(new_labels, new_choices)
        _, first = np.unique(keys, return_index=True)
        keep = np.sort(first)  # first occurrence within the batch, in draw order
        keep = keep[~np.isin(keys[keep], seen)]
        labels = np.concatenate([labels, new_labels[keep]])
        choices = np.concatenate([choices, new_choices[keep]])
        seen = np.concatenate([seen, keys[keep]])
    return Samples.from_trees(grammar, labels, choices, method="rejection")


def _row_keys(labels: np.ndarray, choices: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(np.column_stack([labels, choices]).astype(np.int32))
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
