"""The sample complexity P*: the smallest training-set size reaching a threshold accuracy.

Two readings of one accuracy-vs-P curve: the *first* crossing of the threshold, and the
*stable* one (from there on, every larger P is above the threshold too); they differ when
a curve crosses and falls back. A diverged run is a failure, never a missing value: it
scores chance (:func:`scored_accuracy`).
"""

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


def sample_complexity(P, accuracy, threshold: float = 0.9, stable: bool = False) -> SampleComplexity:
    """P* of an accuracy-vs-P curve: the first crossing of ``threshold`` by the mean accuracy,
    or with ``stable`` the crossing after which the curve stays at or above it.

    ``accuracy`` is (len(P),) or (seeds, len(P)); the mean over seeds (NaNs ignored: cells
    not run; score diverged runs with :func:`scored_accuracy` first) is used. Between the
    last P below and the next P at or above the threshold, P* is interpolated linearly in
    log P.
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
    run = np.isfinite(acc)  # a P with no cell run says nothing: "> P" is the largest one run
    if not run.any():
        return SampleComplexity(float("nan"), ">")
    P, acc = P[run], acc[run]
    above = acc >= threshold
    if not above[-1 if stable else slice(None)].any():
        return SampleComplexity(float(P[-1]), ">")
    i = (len(P) - np.argmin(above[::-1])) if stable and not above.all() else int(np.argmax(above))
    if i == 0:
        return SampleComplexity(float(P[0]), "<=")
    lo, hi = np.log(P[i - 1]), np.log(P[i])
    frac = (threshold - acc[i - 1]) / (acc[i] - acc[i - 1])
    return SampleComplexity(float(np.exp(lo + frac * (hi - lo))), "=")


def scored_accuracy(ds, name: str = "test_accuracy"):
    """``ds[name]`` with every diverged run scored at chance (1 / n_classes): what tables,
    P* and searches read, so that a run that blew up counts as a failure to learn."""
    acc = ds[name]
    if "diverged" in ds:
        bad = ds["diverged"].fillna(0).astype(bool)
    elif "diverged_at" in ds:
        bad = ds["diverged_at"].fillna(-1) >= 0
    else:
        return acc
    chance = ds["chance_accuracy"] if "chance_accuracy" in ds else 0.0
    return acc.where(~bad, chance)


def count_runs(ds, name: str, value=True) -> int:
    """How many runs in ``ds`` have ``ds[name] == value`` (``diverged``, or ``stopped_by`` ==
    "cap"); 0 when the variable was not recorded."""
    if name not in ds:
        return 0
    var = ds[name].fillna(0).astype(bool) if name == "diverged" else ds[name]
    return int((var == value).sum())
