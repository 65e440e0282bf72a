"""Writing Datasets atomically: netCDF (.nc, via h5netcdf) or zarr (.zarr), chosen by suffix."""

from __future__ import annotations

import os
import shutil
import tomllib
import uuid
from pathlib import Path

import xarray as xr

from .errors import ParameterError

SUFFIXES = (".nc", ".zarr")


def write_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to a temporary name beside ``path``, then rename: a reader never sees half a file."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ParameterError("out", f"must end in one of {', '.join(SUFFIXES)}; got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp{path.suffix}")
    try:
        if path.suffix == ".nc":
            ds.to_netcdf(tmp, engine="h5netcdf", encoding=_compressed(ds))
        else:
            ds.to_zarr(tmp, mode="w", consolidated=False)
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    return path


def _compressed(ds: xr.Dataset) -> dict:
    """gzip for numeric arrays: sweep results are mostly NaN padding and repeated values."""
    return {name: {"zlib": True, "complevel": 4} for name, var in ds.variables.items()
            if var.ndim > 0 and var.dtype.kind in "biuf" and name not in ds.dims}


def open_dataset(path: str | os.PathLike) -> xr.Dataset:
    """Load a Dataset written by :func:`write_dataset` fully into memory."""
    path = Path(path)
    if not path.exists():
        raise ParameterError("path", f"no such file: {str(path)!r}")
    try:
        if path.suffix == ".zarr":
            return xr.open_zarr(path, consolidated=False).load()
        return xr.load_dataset(path, engine="h5netcdf")
    except (OSError, ValueError, KeyError) as err:   # not netCDF/zarr, truncated, corrupted
        raise ParameterError("path", f"{path} is not a readable netCDF or zarr dataset "
                             f"({type(err).__name__}: {err})") from None


def read_toml(path: str | os.PathLike, parameter: str) -> dict:
    """A TOML file as a dict; a missing or malformed file is one error naming ``parameter``."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(parameter, f"no such {parameter} file: {str(path)!r}")
    try:
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(parameter, f"{path} is not a TOML {parameter} file: {err}") from None
