"""Random generators derived from explicit seeds, one stream per purpose.

Each purpose (grammar rules, training samples, test samples, views, stream order, network
weights, ...) gets its own generator so that changing one draw never shifts another.
"""

from __future__ import annotations

import zlib

import numpy as np

from .errors import require_int


def generator(seed: int, purpose: str, *extra: int) -> np.random.Generator:
    """A PCG64 generator determined by ``seed``, the ``purpose`` string and ``extra`` ints."""
    seed = require_int("seed", seed, minimum=0)
    tag = zlib.crc32(purpose.encode())  # stable across runs and platforms, unlike hash()
    return np.random.default_rng(np.random.SeedSequence([seed, tag, *map(int, extra)]))
