"""Single training runs as the command line starts them: model resolution, files, summary."""

from __future__ import annotations

import click
import numpy as np

from .errors import DivergenceError, ParameterError, require_int
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
                  plasticity_every=0, n_val=2000, evaluator="readout", terms=(), terms_every=20,
                  record_weights=False, snapshot=None, snapshot_every=600.0):
    # step counts and sample sizes: a negative one was taken for "on" (or "every step")
    for name, value, minimum in (("alignment_every", alignment_every, 0),
                                 ("plasticity_every", plasticity_every, 0),
                                 ("terms_every", terms_every, 1),
                                 ("sensitivity_samples", sensitivity_samples, 0),
                                 ("representation_samples", representation_samples, 0)):
        require_int(name, value, minimum=minimum)
    model = resolve_model(model_file, rule, **changes)
    grammar = Grammar(**grammar)
    monitors = make_monitors(alignment_every=alignment_every, plasticity_every=plasticity_every,
                             terms=terms, terms_every=terms_every)
    ds = run_and_write(model, grammar, P, seeds, out, n_test=n_test, n_val=n_val,
                       evaluator=evaluator, lr=lr, dtype=dtype, device=device, monitors=monitors,
                       quiet=quiet, sensitivity_samples=sensitivity_samples, probes=probes,
                       representation_samples=representation_samples,
                       record_weights=record_weights, snapshot=snapshot,
                       snapshot_every=snapshot_every)
    summarize(ds, model, seeds)
    click.echo(f"wrote {out}")


def make_monitors(alignment_every=0, plasticity_every=0, terms=(), terms_every=20) -> list:
    """The monitors that train's options ask for (their ``settings`` give the options back)."""
    from .analysis.alignment import AlignmentMonitor
    from .analysis.plasticity_stats import PlasticityMonitor

    monitors = [AlignmentMonitor(alignment_every)] if alignment_every else []
    if plasticity_every:
        monitors.append(PlasticityMonitor(plasticity_every))
    if terms:
        from .analysis.terms import TermMonitor

        monitors.append(TermMonitor(terms, terms_every))
    return monitors


def run_and_write(model, grammar, P, seeds, out, **options):
    """train() and write its recording; a diverged run writes what it recorded, then raises."""
    from .backends.torch.train import train

    try:
        rec = train(model, grammar, P, seeds, **options)
    except DivergenceError as err:
        if err.recording is not None:  # keep what was recorded before the divergence
            err.recording.attrs["status"] = str(err)
            write_dataset(err.recording.to_dataset(), out)
            click.echo(f"wrote the recording up to the divergence to {out}", err=True)
        raise
    ds = rec.to_dataset()
    write_dataset(ds, out)
    return ds


def summarize(ds, model, seeds) -> None:
    """The lines a finished run prints: accuracy, epochs, stopping, probes."""
    # --n-test 0 (validation only): say so instead of printing a NaN test accuracy
    tested = int(ds.attrs["n_test"]) > 0
    if tested:
        score = "test " + _accuracies(ds["test_accuracy"])
    elif int(ds.attrs["n_val"]) > 0:
        score = "no test set (--n-test 0); validation " + _accuracies(ds["val_accuracy"])
    else:
        score = "no test set (--n-test 0) and no validation set (--n-val 0)"
    click.echo(f"{model.name}: P={ds.attrs['P']}, lr {ds['lr'].values[0]:g}, seeds {seeds}: "
               f"{score}, epochs {ds['epochs_trained'].values.tolist()}, stopped by "
               f"{ds['stopped_by'].values.tolist()}")
    probe_name = "probe_accuracy" if tested else "probe_val_accuracy"
    if probe_name in ds and (tested or int(ds.attrs["n_val"]) > 0):
        probe = ds[probe_name].mean("seed").values
        click.echo(f"probe {'' if tested else 'validation '}accuracy by layer (0 = input): "
                   + " ".join(f"{a:.3f}" for a in probe))


def _accuracies(acc) -> str:
    """'accuracy 0.812 (sd 0.010; per seed [...]; <long name>)'."""
    values = acc.values
    return (f"accuracy {np.mean(values):.3f} (sd {np.std(values):.3f}; per seed "
            f"{np.round(values, 3).tolist()}; {acc.attrs['long_name']})")
