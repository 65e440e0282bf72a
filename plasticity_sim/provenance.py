"""Global attributes that make an output Dataset self-describing."""

from __future__ import annotations

import datetime as _dt
import functools
import json
import subprocess
import sys
from pathlib import Path

from . import __version__


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the source tree this package runs from ('+dirty' if modified), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def source() -> str:
    """This package's version and the commit it runs from."""
    return f"plasticity_sim {__version__} (git {git_commit()})"


def global_attrs(title: str, config: dict, **extra) -> dict:
    """title, source, history, Conventions, and the configuration as JSON."""
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
    attrs = {
        "title": title,
        "source": source(),
        "history": f"{now}: {command}",
        "Conventions": "CF-1.10",
        "config": json.dumps(config, sort_keys=True, default=str),
    }
    attrs.update({k: _netcdf_attr(v) for k, v in extra.items()})
    return attrs


def _netcdf_attr(value):
    """netCDF attributes hold numbers and strings: booleans become strings, None (a setting
    not given) the empty string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) and not -2**63 <= value < 2**63:
        return str(value)
    return value
