"""The main job of the README: experiments/demo.toml through the sweep runner.

It compares learning rules on a small RHM end to end: cells on a dask LocalCluster, the
combined Dataset, the figures and the P* table, all in the folder it names.
"""

from __future__ import annotations

from pathlib import Path

import click

from .errors import ParameterError
from .experiment import load_experiment
from .plots import p_star_table, plot_result
from .sweep import run_sweep

DEMO_FILE = Path(__file__).resolve().parents[1] / "experiments" / "demo.toml"


def run_demo(out: str | Path, quiet: bool = False, experiment_file: Path = DEMO_FILE) -> Path:
    if not experiment_file.exists():
        raise ParameterError("demo", f"{experiment_file} is missing: the demo runs from a "
                             "checkout of the repository")
    out = Path(out)
    experiment = load_experiment(experiment_file)
    first = experiment.cells[0].grammar
    click.echo(first.describe().split("\nproductions")[0] + "\n")
    result = run_sweep(experiment, out, quiet=quiet, echo=click.echo, result_name="demo.nc")
    click.echo("\n" + p_star_table(result))
    for path in plot_result(result, out):
        click.echo(f"wrote {path}")
    return out / "demo.nc"
