"""Small parsers shared by the command line and the experiment files."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .errors import ParameterError


def writable_output(path, *, folder: bool = False) -> Path:
    """Check, before any work starts, that ``path`` (a file, or a folder with
    ``folder=True``) can be written: its folder is made if missing and a probe file is
    written and removed there. One ParameterError naming --out otherwise, so that a long
    run never ends in a traceback with nothing saved."""
    target = Path(path)
    where = target if folder else target.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where, prefix=".plasticity-sim-probe-"):
            pass
    except OSError as err:
        raise ParameterError("out", f"cannot write {path}: {err.strerror or err}") from None
    return target


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
