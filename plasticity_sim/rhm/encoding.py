"""Input encodings: one-hot (sample, v channels, positions), optionally whitened."""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError


def one_hot(tokens: np.ndarray, v: int, *, whiten: bool = False, dtype=np.float32) -> np.ndarray:
    """(N, positions) int tokens -> (N, v, positions) array.

    With ``whiten``, each entry x becomes (x - 1/v) / sqrt(1 - 1/v), so every position is
    zero-mean with unit norm over channels.
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 2:
        raise ParameterError("tokens", f"must have shape (samples, positions); got {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= v):
        raise ParameterError("tokens", f"must lie in [0, v={v}); got [{tokens.min()}, {tokens.max()}]")
    if whiten and v < 2:
        raise ParameterError("whiten", "needs v >= 2")
    n, positions = tokens.shape
    on, off = whitened_levels(v) if whiten else (1.0, 0.0)
    out = np.full(n * v * positions, off, dtype) if off else np.zeros(n * v * positions, dtype)
    # channel-major layout: flat offset = sample * v * positions + token * positions + position
    flat = tokens * positions + np.arange(positions)
    flat = flat + np.arange(0, n * v * positions, v * positions, dtype=np.int64)[:, None]
    out[flat.ravel()] = on
    return out.reshape(n, v, positions)


def whitened_levels(v: int) -> tuple[float, float]:
    """Values of an active and an inactive channel after whitening."""
    scale = np.sqrt(1.0 - 1.0 / v)
    return (1.0 - 1.0 / v) / scale, (-1.0 / v) / scale
