"""The sample complexity P*: the smallest training-set size reaching a threshold accuracy."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError


def seed_mean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean over seeds ignoring NaN (diverged runs); NaN where every seed is NaN, silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(values, axis=axis)


def seed_sd(values: np.ndarray, axis: int = 0) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanstd(values, axis=axis)


@dataclass(frozen=True)
class SampleComplexity:
    """``value`` is P*; ``bound`` says how to read it: '=' interpolated inside the grid,
    '<=' already reached at the smallest P, '>' never reached (value = largest P)."""

    value: float
    bound: str

    def __str__(self) -> str:
        prefix = {"=": "", "<=": "<= ", ">": "> "}[self.bound]
        return f"{prefix}{self.value:.0f}"

    @property
    def finite(self) -> float:
        """P* as a number, inf when never reached."""
        return np.inf if self.bound == ">" else self.value


def sample_complexity(P, accuracy, threshold: float = 0.9) -> SampleComplexity:
    """P* of an accuracy-vs-P curve: the first crossing of ``threshold`` by the mean accuracy.

    ``accuracy`` is (len(P),) or (seeds, len(P)); the mean over seeds (NaNs ignored) is used.
    Between the last P below and the first P at or above the threshold, P* is interpolated
    linearly in log P.
    """
    P = np.asarray(P, dtype=float)
    acc = np.asarray(accuracy, dtype=float)
    if acc.ndim == 2:
        acc = seed_mean(acc)
    if acc.shape != P.shape or P.ndim != 1 or len(P) == 0:
        raise ParameterError("accuracy", f"must have one value per P (or seeds x P); got shapes "
                             f"{acc.shape} and {P.shape}")
    if np.any(np.diff(P) <= 0) or np.any(P <= 0):
        raise ParameterError("P", "must be positive and strictly increasing")
    if not 0 < threshold <= 1:
        raise ParameterError("threshold", f"must lie in (0, 1]; got {threshold}")
    above = np.flatnonzero(acc >= threshold)
    if len(above) == 0:
        return SampleComplexity(float(P[-1]), ">")
    i = above[0]
    if i == 0:
        return SampleComplexity(float(P[0]), "<=")
    lo, hi = np.log(P[i - 1]), np.log(P[i])
    frac = (threshold - acc[i - 1]) / (acc[i] - acc[i - 1])
    return SampleComplexity(float(np.exp(lo + frac * (hi - lo))), "=")
