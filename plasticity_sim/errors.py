"""Errors a user can cause, each naming what is at fault and what is allowed."""

from __future__ import annotations


class PlasticitySimError(Exception):
    """Base of the errors the command line reports in one line, without a traceback."""


class ParameterError(PlasticitySimError, ValueError):
    """A parameter outside its allowed range.

    ``parameter`` names the offending parameter so that a CLI or a sweep can report it
    without parsing the message.
    """

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


class DivergenceError(PlasticitySimError, FloatingPointError):
    """A run diverged: its loss became NaN or inf, or its epoch's mean loss exceeded
    ``bound`` (a multiple of its initial loss). ``recording`` holds what was recorded."""

    def __init__(self, presentation: int, member: int, seed: int, recording=None,
                 bound: float | None = None):
        self.presentation, self.member, self.seed, self.recording = presentation, member, seed, recording
        self.bound = bound
        what = "became NaN or inf" if bound is None else f"became NaN or inf or exceeded {bound:.3g}"
        super().__init__(f"diverged: the loss of seed {seed} (ensemble member {member}) {what} "
                         f"at presentation {presentation}; lower the learning rate. "
                         "What was recorded before is kept.")


def require_int(name: str, value, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ParameterError naming ``name``."""
    if isinstance(value, bool) or not _is_integral(value):
        raise ParameterError(name, f"must be an integer; got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ParameterError(name, f"must be >= {minimum}; got {value}")
    return value


def _is_integral(value) -> bool:
    try:
        return int(value) == value
    except (TypeError, ValueError, OverflowError):
        return False
