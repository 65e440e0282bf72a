"""What an experiment would see that tells rules apart, read off three measurements of each
rule: its card (which signals its synapses receive), the virtual slice (the change with its
third factor withheld) and the induction protocols (the frequency response, and whether a
rate history moves it)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from ..rules.rule import Rule
from .cards import rule_card
from .protocols import response_shape
from .virtual import signatures

HEAD = ["rule", "what a synapse must receive", "third factor withheld",
        "frequency response after the normal history", "moved by the rate history"]


def predictions_table(rules: list[Rule], virtual: xr.Dataset, protocols: xr.Dataset) -> str:
    """Markdown, one row per rule; ``virtual`` from :func:`virtual.virtual_experiments`,
    ``protocols`` from :func:`protocols.protocols` (histories "deprived" and "normal")."""
    third = json.loads(virtual.attrs["config"])["third_factor"]
    gated = {s.rule: s.gated for s in signatures(virtual)}
    rows = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    f = protocols.frequency.values
    for rule in rules:
        name = rule.name
        change = protocols.relative_change.sel(rule=name)
        moved = not np.allclose(change.sel(history="normal"), change.sel(history="deprived"),
                                rtol=1e-9, atol=0)
        rows.append("| " + " | ".join([
            name, _needs(rule),
            "no third factor" if third[name] is None else
            (f"no change (`{third[name]}`)" if gated[name] else f"still changes (`{third[name]}`)"),
            response_shape(f, change.sel(history="normal").values),
            ("yes; after deprivation: " + response_shape(f, change.sel(history="deprived").values))
            if moved else "no"]) + " |")
    return "\n".join(rows)


def _needs(rule: Rule) -> str:
    card = rule_card(rule)
    needs = ["the forward weights (transport)"] if card.weight_transport else []
    needs += ["the forward weights' signs"] if card.sign_transport else []
    needs += ["the output error"] if card.needs_error else ["the label"] if card.needs_label else []
    needs += ["the pair sign"] if card.needs_negatives else []
    needs += ["minibatch averages"] if card.batch_statistics else []
    if card.trace_span != "none (this presentation only)":
        needs.append("a memory of " + card.trace_span)
    return ", ".join(needs) or "the pre- and post-synaptic rates only"
