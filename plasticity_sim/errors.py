"""Errors a user can cause, each naming the parameter at fault and what is allowed."""

from __future__ import annotations


class ParameterError(ValueError):
    """A parameter outside its allowed range.

    ``parameter`` names the offending parameter so that a CLI or a sweep can report it
    without parsing the message.
    """

    def __init__(self, parameter: str, message: str):
        self.parameter = parameter
        super().__init__(f"{parameter}: {message}")


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
