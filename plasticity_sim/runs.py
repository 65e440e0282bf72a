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
    model = Model.from_toml(model_file) if model_file else Model.for_rule(rule)
    return model.replace(**{k: v for k, v in changes.items() if v is not None})


def train_command(*, model_file, rule, arch, width, grammar, P, seeds, epochs, lr, batch_size,
                  n_test, alignment_every, sensitivity_samples, device, dtype, out, quiet):
    from .analysis.alignment import AlignmentMonitor
    from .backends.torch.train import train

    model = resolve_model(model_file, rule, arch=arch, width=width, epochs=epochs,
                          batch_size=batch_size)
    grammar = Grammar(**grammar)
    monitors = [AlignmentMonitor(alignment_every)] if alignment_every else []
    try:
        rec = train(model, grammar, P, seeds, n_test=n_test, lr=lr, dtype=dtype, device=device,
                    monitors=monitors, quiet=quiet, sensitivity_samples=sensitivity_samples)
    except DivergenceError as err:
        if err.recording is not None:  # keep what was recorded before the divergence
            err.recording.attrs["status"] = str(err)
            write_dataset(err.recording.to_dataset(), out)
            click.echo(f"wrote the recording up to the divergence to {out}", err=True)
        raise
    ds = rec.to_dataset()
    write_dataset(ds, out)
    acc = ds["test_accuracy"].values
    click.echo(f"{model.name}: P={P}, seeds {seeds}: test accuracy {np.mean(acc):.3f} "
               f"(sd {np.std(acc):.3f}; per seed {np.round(acc, 3).tolist()}), epochs "
               f"{ds['epochs_trained'].values.tolist()}")
    click.echo(f"wrote {out}")
