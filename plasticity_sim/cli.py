"""The ``plasticity-sim`` command line."""

from __future__ import annotations

import sys

import click

from .errors import ParameterError, PlasticitySimError


class FriendlyGroup(click.Group):
    """Report a user error (bad parameter, divergence) as one line, without a traceback; exit 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PlasticitySimError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(2)


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plasticity_sim")
def main():
    """Rate-neuron networks learning the Random Hierarchy Model with local plasticity rules."""


def grammar_options(fn):
    """--v --classes --m --s --L --seed, shared by every command that builds a grammar."""
    options = [
        click.option("--v", "v", type=int, required=True, help="vocabulary size per level"),
        click.option("--classes", "n_classes", type=int, required=True, help="number of classes"),
        click.option("--m", "m", type=int, required=True, help="synonyms (productions) per symbol"),
        click.option("--s", "s", type=int, required=True, help="tuple size (patch size)"),
        click.option("--L", "L", type=int, required=True, help="number of levels"),
        click.option("--seed", type=int, default=0, show_default=True, help="seed of the rules"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command()
@grammar_options
@click.option("--describe", is_flag=True, help="print sizes and every production")
@click.option("--n", "n", type=int, help="number of distinct samples to write")
@click.option("--all", "all_inputs", is_flag=True, help="write every input (n_inputs <= 10^7)")
@click.option("--sample-seed", type=int, default=0, show_default=True)
@click.option("--views", "views_k", type=int, default=None,
              help="add *_view variables sharing the latents at levels <= K")
@click.option("--whiten", is_flag=True, help="add the whitened one-hot encoding `x`")
@click.option("--one-hot", "with_one_hot", is_flag=True, help="add the one-hot encoding `x`")
@click.option("--out", type=click.Path(dir_okay=False), help="output .nc or .zarr")
def rhm(v, n_classes, m, s, L, seed, describe, n, all_inputs, sample_seed, views_k, whiten,
        with_one_hot, out):
    """Describe a Random Hierarchy Model grammar, or write samples of it."""
    from .rhm.files import write_samples
    from .rhm.grammar import Grammar

    grammar = Grammar(v=v, n_classes=n_classes, m=m, s=s, L=L, seed=seed)
    if describe or out is None:
        click.echo(grammar.describe())
    if out is None:
        if n is not None or all_inputs or views_k is not None:
            raise ParameterError("out", "is needed with --n, --all or --views")
        return
    path, n_written = write_samples(grammar, out, n=n, all_inputs=all_inputs,
                                    sample_seed=sample_seed, views_k=views_k,
                                    encode=with_one_hot or whiten, whiten=whiten)
    click.echo(f"wrote {n_written} samples to {path}")


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo_out", show_default=True)
def demo(out):
    """The main job: a small end-to-end demonstration."""
    from .demo import run_demo

    run_demo(out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
