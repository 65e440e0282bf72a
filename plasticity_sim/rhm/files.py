"""Sample files: what ``plasticity-sim rhm --out`` writes."""

from __future__ import annotations

import xarray as xr

from ..errors import ParameterError, require_int
from ..io import write_dataset
from ..provenance import global_attrs
from .dataset import grammar_to_dataset, samples_to_dataset
from .encoding import one_hot
from .grammar import Grammar
from .samples import enumerate_all, resample_below, sample


def samples_file_dataset(grammar: Grammar, *, n: int | None = None, all_inputs: bool = False,
                         sample_seed: int = 0, views_k: int | None = None,
                         encode: bool = False, whiten: bool = False) -> xr.Dataset:
    """Distinct samples (or every input) with all latents, optional views and encodings."""
    if (n is None) == (not all_inputs):
        raise ParameterError("n", "give exactly one of --n N and --all")
    require_int("sample_seed", sample_seed, minimum=0)  # not "seed": that is the grammar's
    if all_inputs:
        samples = enumerate_all(grammar)
    else:
        samples = sample(grammar, require_int("n", n, minimum=1), sample_seed)
    parts = [samples_to_dataset(samples), grammar_to_dataset(grammar)]
    if views_k is not None:
        views = resample_below(samples, views_k, sample_seed)
        parts.append(samples_to_dataset(views, suffix="_view"))
    if encode:
        for suffix, part in [("", samples)] + ([("_view", views)] if views_k is not None else []):
            parts.append(xr.Dataset({"x" + suffix: xr.Variable(
                ("sample", "channel", "position"), one_hot(part.tokens, grammar.v, whiten=whiten),
                {"long_name": "whitened one-hot input" if whiten else "one-hot input", "units": "1"})}))
    ds = xr.merge(parts, combine_attrs="override")
    config = dict(grammar.params, n=n, all=all_inputs, sample_seed=sample_seed, views_k=views_k,
                  encode=encode, whiten=whiten)
    ds.attrs.update(global_attrs("Random Hierarchy Model samples", config))
    ds.attrs.update(sample_seed=sample_seed, n_samples=len(samples))
    if views_k is not None:
        ds.attrs["views_k"] = views_k
    return ds


def write_samples(grammar: Grammar, out, **options) -> tuple:
    ds = samples_file_dataset(grammar, **options)
    return write_dataset(ds, out), ds.sizes["sample"]
