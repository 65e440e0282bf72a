"""The main job of the README: a small end-to-end comparison of learning rules on the RHM.

It describes a small grammar, trains backprop and direct feedback alignment (the
self-supervised rules join when they exist) at three training-set sizes with two seeds
each, and writes the combined Dataset, the accuracy-vs-P figure and the P* table.
"""

from __future__ import annotations

from pathlib import Path

import click

from .curves import accuracy_curves, p_star_table, plot_curves
from .io import write_dataset
from .model import Model
from .rhm import Grammar

DEMO_RULES = ("bp", "dfa", "bp_nomask")


def run_demo(out: str | Path, quiet: bool = False) -> Path:
    out = Path(out)
    grammar = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    click.echo(grammar.describe().split("\nproductions")[0])
    models = {rule: Model.for_rule(rule, width=128, epochs=100) for rule in DEMO_RULES}
    click.echo(f"\ntraining {', '.join(models)} (CNN width 128, at most 100 epochs) at P = 256, 1024, 4096, seeds 0-1 ...")
    result = accuracy_curves(models, grammar, [256, 1024, 4096], [0, 1], n_test=5000, quiet=quiet)
    path = write_dataset(result, out / "demo.nc")
    figure = plot_curves(result, out / "demo_accuracy", title="RHM v=n_c=m=4, s=2, L=3")
    click.echo("\n" + p_star_table(result))
    click.echo(f"\nwrote {path} and {figure} (and .pdf) in {result.attrs['wall_time_s']} s")
    return path
