"""The Random Hierarchy Model grammar (Cagnetta et al., PRX 2024, arXiv 2307.02129).

Level 0 holds the class; each symbol of level l < L has m productions, each an s-tuple of
symbols of level l+1. A tree is the class plus one production choice per internal node.
Internal nodes are numbered breadth-first, left to right: depth d holds s**d nodes starting
at offset (s**d - 1) // (s - 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError, require_int
from ..seeding import generator

INT64_MAX = np.iinfo(np.int64).max
MAX_TUPLES = 2**24      # v**s: the productions of a level are drawn from a table this long
MAX_POSITIONS = 2**16   # s**L: tokens of one input


@dataclass(frozen=True)
class Grammar:
    """An unambiguous random hierarchy: ``rules[l][symbol, choice]`` is an s-tuple of level l+1.

    Parameters: ``v`` vocabulary size of levels 1..L, ``n_classes`` symbols at level 0,
    ``m`` productions per symbol, ``s`` tuple size, ``L`` depth, ``seed`` of the rules.
    """

    v: int
    n_classes: int
    m: int
    s: int
    L: int
    seed: int = 0
    rules: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        v = require_int("v", self.v, minimum=1)
        n_classes = require_int("n_classes", self.n_classes, minimum=1)
        m = require_int("m", self.m, minimum=1)
        s = require_int("s", self.s, minimum=2)
        L = require_int("L", self.L, minimum=1)
        seed = require_int("seed", self.seed, minimum=0)
        # limits checked on exponents first, so that a huge value is refused, not computed
        if (v > 1 and s > MAX_TUPLES.bit_length()) or v**s > MAX_TUPLES:
            raise ParameterError(
                "v", f"v**s = {v}**{s} tuples per level is more than the {MAX_TUPLES} a grammar "
                f"can draw its productions from; lower v or s")
        if L > MAX_POSITIONS.bit_length() or s**L > MAX_POSITIONS:
            raise ParameterError(
                "L", f"s**L = {s}**{L} input tokens is more than {MAX_POSITIONS}; lower L or s")
        if m > v ** (s - 1):
            raise ParameterError(
                "m", f"must be <= v**(s-1) = {v ** (s - 1)} so that the v symbols of a level "
                f"can own m distinct s-tuples each; got m={m} (v={v}, s={s})")
        if m * n_classes > v**s:
            raise ParameterError(
                "n_classes", f"must be <= v**s // m = {v**s // m} so that each class owns m "
                f"distinct s-tuples; got n_classes={n_classes} (v={v}, m={m}, s={s})")
        for name, value in dict(v=v, n_classes=n_classes, m=m, s=s, L=L, seed=seed).items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "rules", self._draw_rules())

    def _draw_rules(self) -> tuple:
        rng = generator(self.seed, "rhm.rules")
        powers = self.v ** np.arange(self.s - 1, -1, -1, dtype=np.int64)  # first slot most significant
        rules = []
        for level in range(self.L):
            n_parents = self.n_symbols(level)
            codes = rng.choice(self.v**self.s, size=n_parents * self.m, replace=False)
            tuples = (codes[:, None] // powers) % self.v
            rules.append(tuples.reshape(n_parents, self.m, self.s).astype(np.int32))
        return tuple(rules)

    # --- sizes -----------------------------------------------------------------------------
    def n_symbols(self, level: int) -> int:
        """Number of distinct symbols at ``level`` (n_classes at 0, v below)."""
        return self.n_classes if level == 0 else self.v

    def n_nodes(self, level: int) -> int:
        """Number of nodes at ``level`` (s**level); level L holds the input tokens."""
        return self.s**level

    def node_offset(self, depth: int) -> int:
        """Breadth-first index of the first internal node at ``depth``."""
        return (self.s**depth - 1) // (self.s - 1)

    @property
    def n_positions(self) -> int:
        """Input positions (tokens) of a tree: s**L."""
        return self.s**self.L

    @property
    def n_internal(self) -> int:
        """Internal nodes of a tree, (s**L - 1) / (s - 1): one production choice each."""
        return self.node_offset(self.L)

    @property
    def n_inputs(self) -> int:
        """Number of distinct inputs, n_classes * m**n_internal, as an exact Python int."""
        return self.n_classes * self.m**self.n_internal

    @property
    def n_inputs_text(self) -> str:
        """n_inputs in decimal, or its order of magnitude when the number is too long to
        print (Python refuses to format integers of more than 4300 digits)."""
        n = self.n_inputs
        if n.bit_length() <= 4000:
            return str(n)
        exponent = math.log10(self.n_classes) + self.n_internal * math.log10(self.m)
        return f"about 10^{exponent:.1f}"

    @property
    def sample_complexity_scale(self) -> int:
        """n_classes * m**L, the training-set size at which deep CNNs learn the RHM."""
        return self.n_classes * self.m**self.L

    @property
    def index_fits_int64(self) -> bool:
        """Whether every input's index fits an int64 (exact sampling without replacement needs
        it)."""
        return self.n_inputs - 1 <= INT64_MAX

    @property
    def params(self) -> dict:
        """The parameters that define the grammar: ``Grammar(**g.params) == g``."""
        return dict(v=self.v, n_classes=self.n_classes, m=self.m, s=self.s, L=self.L, seed=self.seed)

    # --- trees -----------------------------------------------------------------------------
    def expand(self, labels: np.ndarray, choices: np.ndarray) -> list[np.ndarray]:
        """Latent symbols of every level: a list of L+1 arrays, ``[l]`` of shape (N, s**l).

        ``labels`` (N,) classes, ``choices`` (N, n_internal) production choices.
        """
        labels = np.asarray(labels)
        latents = [labels.astype(np.int32, copy=False).reshape(-1, 1)]
        for level in range(self.L):
            start = self.node_offset(level)
            chosen = choices[:, start:start + self.n_nodes(level)]
            flat = self.rules[level].reshape(-1, self.s)  # (n_parents*m, s)
            children = flat[latents[-1] * self.m + chosen]  # (N, s**level, s)
            latents.append(children.reshape(len(labels), -1))
        return latents

    def index_to_tree(self, index) -> tuple[np.ndarray, np.ndarray]:
        """Exact bijection [0, n_inputs) -> (labels (N,), choices (N, n_internal)).

        The class is index // (n_inputs / n_classes); the remainder, read as base-m digits,
        gives the choices, the root's most significant. Accepts int64 arrays, or Python ints
        (an object array) when n_inputs exceeds int64.
        """
        index = self._as_index_array(index)
        if index.size and (index.min() < 0 or index.max() >= self.n_inputs):
            raise ParameterError("index", f"must lie in [0, n_inputs={self.n_inputs}); "
                                 f"got values in [{index.min()}, {index.max()}]")
        per_class = self.m**self.n_internal
        labels, rest = index // per_class, index % per_class  # divmod lacks object support
        choices = np.empty((self.n_internal, len(index)), dtype=np.int32)  # rows: contiguous writes
        for node in range(self.n_internal - 1, -1, -1):
            choices[node] = rest % self.m
            rest = rest // self.m
        return labels.astype(np.int32), np.ascontiguousarray(choices.T)

    def tree_to_index(self, labels, choices) -> np.ndarray:
        """Inverse of :meth:`index_to_tree`: int64 array, or object array of Python ints."""
        labels, choices = np.asarray(labels), np.asarray(choices)
        # out of range, a tree would get the index of another tree or one past n_inputs
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ParameterError("labels", f"must lie in [0, n_classes={self.n_classes}); got "
                                 f"values in [{labels.min()}, {labels.max()}]")
        if choices.size and (choices.min() < 0 or choices.max() >= self.m):
            raise ParameterError("choices", f"must lie in [0, m={self.m}); got values in "
                                 f"[{choices.min()}, {choices.max()}]")
        dtype = np.int64 if self.index_fits_int64 else object
        index = labels.astype(dtype)
        for node in range(self.n_internal):
            index = index * self.m + choices[:, node].astype(dtype)
        return index

    def _as_index_array(self, index) -> np.ndarray:
        if self.index_fits_int64:
            return np.atleast_1d(np.asarray(index, dtype=np.int64))
        return np.atleast_1d(np.asarray(index, dtype=object))

    def describe(self) -> str:
        """Human-readable summary: sizes and every production, level by level."""
        lines = [
            f"Random Hierarchy Model v={self.v} n_classes={self.n_classes} m={self.m} "
            f"s={self.s} L={self.L} seed={self.seed}",
            f"input: {self.n_positions} tokens of vocabulary {self.v}",
            f"n_inputs = n_classes * m^((s^L-1)/(s-1)) = {self.n_inputs_text}",
            f"sample-complexity scale n_classes * m^L = {self.sample_complexity_scale}",
        ]
        for level, rules in enumerate(self.rules):
            parent = "class" if level == 0 else f"level {level} symbol"
            lines.append(f"productions level {level} -> {level + 1} ({parent} -> {self.s}-tuples):")
            for symbol, productions in enumerate(rules):
                tuples = " ".join("(" + ",".join(map(str, t)) + ")" for t in productions)
                lines.append(f"  {symbol:>3}: {tuples}")
        return "\n".join(lines)
