"""Single training runs as the command line starts them: model resolution, files, summary."""

from __future__ import annotations

import click
import numpy as np

from .errors import DivergenceError, ParameterError
from .io import write_dataset
from .model import Model
from .rhm.grammar import Grammar


def resolve_model(model_file=None, rule=None, **changes) -> Model:
    """A model from a file or a library rule, with the given non-None settings changed."""
    if (model_file is None) == (rule is None):
        raise ParameterError("model", "give exactly one of --model FILE and --rule NAME")
    changes = {k: v for k, v in changes.items() if v is not None}
    if model_file:
        return Model.from_toml(model_file).replace(**changes)
    return Model.for_rule(rule, **changes)


def parse_params(items) -> dict:
    """('retrodiction=0', 'lam1=0.5') -> {'retrodiction': 0.0, 'lam1': 0.5}."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise ParameterError("param", f"must look like NAME=NUMBER; got {item!r}")
    return out


def train_command(*, model_file, rule, changes, grammar, P, seeds, lr, n_test, alignment_every,
                  sensitivity_samples, probes, device, dtype, out, quiet, representation_samples=0,
                  plasticity_every=0, n_val=2000, evaluator="readout", terms=(), terms_every=20):
    from .analysis.alignment import AlignmentMonitor
    from .analysis.plasticity_stats import PlasticityMonitor
    from .backends.torch.train import train

    model = resolve_model(model_file, rule, **changes)
    grammar = Grammar(**grammar)
    monitors = [AlignmentMonitor(alignment_every)] if alignment_every else []
    if plasticity_every:
        monitors.append(PlasticityMonitor(plasticity_every))
    if terms:
        from .analysis.terms import TermMonitor

        monitors.append(TermMonitor(terms, terms_every))
    try:
        rec = train(model, grammar, P, seeds, n_test=n_test, n_val=n_val, evaluator=evaluator,
                    lr=lr, dtype=dtype, device=device, monitors=monitors, quiet=quiet,
                    sensitivity_samples=sensitivity_samples, probes=probes,
                    representation_samples=representation_samples)
    except DivergenceError as err:
        if err.recording is not None:  # keep what was recorded before the divergence
            err.recording.attrs["status"] = str(err)
            write_dataset(err.recording.to_dataset(), out)
            click.echo(f"wrote the recording up to the divergence to {out}", err=True)
        raise
    ds = rec.to_dataset()
    write_dataset(ds, out)
    acc = ds["test_accuracy"].values
    click.echo(f"{model.name}: P={ds.attrs['P']}, lr {ds['lr'].values[0]:g}, seeds {seeds}: test "
               f"accuracy {np.mean(acc):.3f} (sd {np.std(acc):.3f}; per seed "
               f"{np.round(acc, 3).tolist()}; {ds['test_accuracy'].attrs['long_name']}), epochs "
               f"{ds['epochs_trained'].values.tolist()}, stopped by "
               f"{ds['stopped_by'].values.tolist()}")
    if "probe_accuracy" in ds:
        probe = ds["probe_accuracy"].mean("seed").values
        click.echo("probe accuracy by layer (0 = input): " + " ".join(f"{a:.3f}" for a in probe))
    click.echo(f"wrote {out}")
