"""Small parsers shared by the command line and the experiment files."""

from __future__ import annotations

from .errors import ParameterError


def parse_seed_list(value) -> list[int]:
    """'0-3' -> [0, 1, 2, 3]; '1,4,9' -> [1, 4, 9]; 5 -> [5]; [0, 2] -> [0, 2]."""
    if isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = str(value).split(",")
    seeds = []
    for part in items:
        lo, sep, hi = part.strip().partition("-")
        try:
            seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise ParameterError("seeds", f"must look like 0-3 or 1,4,9; got {value!r}") from None
    if not seeds or min(seeds) < 0:
        raise ParameterError("seeds", f"must name at least one seed >= 0; got {value!r}")
    return seeds
