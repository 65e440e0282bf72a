"""Samples and grammars <-> xarray Datasets (the on-disk form of every stimulus)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ParameterError
from .grammar import Grammar
from .samples import Samples

GRAMMAR_ATTRS = ("v", "n_classes", "m", "s", "L")


def grammar_attrs(grammar: Grammar) -> dict:
    attrs = {name: getattr(grammar, name) for name in GRAMMAR_ATTRS}
    attrs.update(seed=grammar.seed, n_inputs=grammar.n_inputs_text,
                 sample_complexity_scale=str(grammar.sample_complexity_scale))
    return attrs


def grammar_from_attrs(attrs) -> Grammar:
    missing = [k for k in (*GRAMMAR_ATTRS, "seed") if k not in attrs]
    if missing:
        raise ParameterError("dataset", f"lacks the grammar attributes {missing}")
    return Grammar(**{k: int(attrs[k]) for k in (*GRAMMAR_ATTRS, "seed")})


def grammar_to_dataset(grammar: Grammar) -> xr.Dataset:
    """The productions of every level: ``rules_<l>`` (parent_<l>, synonym, slot)."""
    data = {}
    for level, rules in enumerate(grammar.rules):
        data[f"rules_{level}"] = xr.Variable(
            (f"parent_{level}", "synonym", "slot"), rules,
            {"long_name": f"s-tuple of level {level + 1} produced by each level-{level} symbol",
             "units": "1"})
    return xr.Dataset(data, attrs=grammar_attrs(grammar))


def samples_to_dataset(samples: Samples, suffix: str = "", dim: str = "sample") -> xr.Dataset:
    """tokens, label, latent_<l> (l = 0..L), choice_<l> (l < L), index; names end in ``suffix``."""
    g = samples.grammar
    data = {
        "tokens": xr.Variable((dim, "position"), samples.tokens,
                              {"long_name": "input token (latent symbol of level L)", "units": "1"}),
        "label": xr.Variable((dim,), samples.labels, {"long_name": "class", "units": "1"}),
    }
    for level, latent in enumerate(samples.latents):
        data[f"latent_{level}"] = xr.Variable(
            (dim, f"node_{level}"), latent,
            {"long_name": f"latent symbol at level {level}", "units": "1"})
    for depth in range(g.L):
        data[f"choice_{depth}"] = xr.Variable(
            (dim, f"node_{depth}"), samples.choices_at(depth),
            {"long_name": f"production chosen at each level-{depth} node", "units": "1"})
    if g.index_fits_int64:
        data["index"] = xr.Variable((dim,), samples.index,
                                    {"long_name": "index of the input tree in [0, n_inputs)",
                                     "units": "1"})
    ds = xr.Dataset({name + suffix: var for name, var in data.items()})
    ds.attrs.update(grammar_attrs(g))
    ds.attrs["sampling_method" + suffix] = samples.method
    return ds


def samples_from_dataset(ds: xr.Dataset, suffix: str = "", grammar: Grammar | None = None) -> Samples:
    """Rebuild Samples from labels and choices; check the stored tokens against the grammar."""
    grammar = grammar or grammar_from_attrs(ds.attrs)
    labels = ds["label" + suffix].values
    choices = np.concatenate([ds[f"choice_{d}{suffix}"].values for d in range(grammar.L)], axis=1)
    method = str(ds.attrs.get("sampling_method" + suffix, "index"))
    samples = Samples.from_trees(grammar, labels, choices, method)
    if not np.array_equal(samples.tokens, ds["tokens" + suffix].values):
        raise ParameterError("dataset", "its tokens differ from those its grammar produces "
                             "(written by an incompatible version?)")
    return samples
