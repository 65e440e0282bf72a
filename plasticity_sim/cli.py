"""The ``plasticity-sim`` command line."""

from __future__ import annotations

import json
import os
import sys
import warnings

import click

from .cli_support import writable_output
from .errors import ParameterError, PlasticitySimError, require_int
from .sizing import MAX_MEMBERS, check_members_cap


class FriendlyGroup(click.Group):
    """Report a user error (bad parameter, divergence) as one line, without a traceback; exit 2."""

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning(warnings.showwarning)
                return super().invoke(ctx)
        except PlasticitySimError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted: what had finished is kept (a sweep's cell files: the same "
                       "command resumes from them)", err=True)
            ctx.exit(130)


def _one_line_warning(show):
    """Our warnings (an adjusted setting) as one line, like an error; others as ``show`` does."""
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if f"{os.sep}plasticity_sim{os.sep}" in str(filename):
            click.echo(f"warning: {message}", err=True)
        else:
            show(message, category, filename, lineno, file, line)
    return showwarning


# the activations' names without importing torch (a test keeps them equal to the library's)
ACTIVATION_NAMES = ("relu", "leaky_relu", "tanh", "sigmoid", "linear", "softplus")
DEVICE_HELP = "cpu, cuda or cuda:N"


class RuleChoice(click.Choice):
    """The library's rules, listed in help; an unknown name gets the library's own error
    (``error: rule: must be one of ...``), like every other bad setting."""

    def convert(self, value, param, ctx):
        from .rules.registry import get_rule

        return get_rule(value).name


def _rule_choice() -> RuleChoice:
    from .rules.registry import RULES

    return RuleChoice(list(RULES))


def _members_cap(value: str):
    """--max-members: a positive integer or 'auto'."""
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise ParameterError("max_members", f"must be a positive integer or 'auto'; got "
                             f"{value!r}") from None
    return check_members_cap(number)


def _view_level(value):
    """--k: an integer, 'layer', or comma-separated integers (one per hidden layer)."""
    if value is None or value == "layer":
        return value
    try:
        levels = [int(part) for part in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"an integer, 'layer' or integers separated by commas; got "
                                 f"{value!r}", param_hint="--k") from None
    return levels[0] if len(levels) == 1 and "," not in value else levels

@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plasticity_sim")
def main():
    """Rate-neuron networks learning the Random Hierarchy Model with local plasticity rules."""


def slice_options(fn):
    """--out (a folder), --rule (repeatable; default all) and --activation, shared by the
    one-synapse experiments (virtual, protocols)."""
    options = [
        click.option("--out", type=click.Path(file_okay=False), required=True),
        click.option("--rule", "rule_names", type=_rule_choice(), multiple=True,
                     help="rules to test (repeatable; default: all)"),
        click.option("--activation", type=click.Choice(ACTIVATION_NAMES), default="relu",
                     show_default=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _chosen_rules(rule_names) -> list:
    from .rules.registry import RULES, get_rule

    return [get_rule(n) for n in rule_names] if rule_names else list(RULES.values())


def grammar_options(fn):
    """--v --n-classes --m --s --L --grammar-seed, shared by every command that builds a
    grammar (--classes and --seed stay as the older names)."""
    options = [
        click.option("--v", "v", type=int, required=True, help="vocabulary size per level"),
        click.option("--n-classes", "--classes", "n_classes", type=int, required=True,
                     help="number of classes"),
        click.option("--m", "m", type=int, required=True, help="synonyms (productions) per symbol"),
        click.option("--s", "s", type=int, required=True, help="tuple size (patch size)"),
        click.option("--L", "L", type=int, required=True, help="number of levels"),
        click.option("--grammar-seed", "--seed", "seed", type=int, default=0, show_default=True,
                     help="seed of the grammar's production rules"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def pairing_options(fn):
    """--pairs --k --T --negatives --param: how a self-supervised rule gets its pairs, and
    the rule's parameters (train, crosscheck)."""
    options = [
        click.option("--pairs", type=click.Choice(["views", "fixations", "siblings"]),
                     help="pairing scheme of a self-supervised rule"),
        click.option("--k", "k", callback=lambda ctx, param, value: _view_level(value),
                     help="pairs share the latents at levels <= k (default 2, at most L - 1); "
                     "'layer': each layer at the level its units cover; or one level per "
                     "layer, comma-separated (views)"),
        click.option("--T", "T", type=int, help="presentations per fixation"),
        click.option("--negatives", type=int, help="negative pairs per positive one"),
        click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
                     help="a rule parameter, e.g. --param retrodiction=0 (repeatable)"),
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

    if out is not None:
        writable_output(out)
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


def parse_seeds(text: str) -> list[int]:
    """'0-3' -> [0, 1, 2, 3]; '1,4,9' -> [1, 4, 9]; '5' -> [5]."""
    from .cli_support import parse_seed_list

    return parse_seed_list(text)


@main.command()
@click.option("--model", "model_file", type=click.Path(dir_okay=False), help="model file (TOML)")
@click.option("--rule", type=_rule_choice(), help="a library rule (instead of --model)")
@click.option("--arch", type=click.Choice(["cnn", "lcn", "fc"]), help="architecture")
@click.option("--width", type=int, help="channels per hidden layer")
@click.option("--activation", type=click.Choice(ACTIVATION_NAMES),
              help="activation of the hidden units (default: the model's)")
@click.option("--time-model", type=click.Choice(["steady", "euler"]),
              help="neuron time model (default: the model's)")
@click.option("--momentum", type=float, help="SGD momentum (default: the model's)")
@grammar_options
@click.option("--P", "P", type=int, required=True, help="training-set size")
@click.option("--seeds", default="0", show_default=True, help="seeds, e.g. 0-3 or 1,4,9")
@click.option("--epochs", type=int, help="epoch cap (default: the model's)")
@click.option("--lr", type=float, help="learning rate (default: the model's)")
@click.option("--batch-size", type=int, help="minibatch size (default: the model's)")
@click.option("--lr-schedule", type=click.Choice(["constant", "warmup_cosine"]),
              help="learning rate over the epochs: constant, or a linear warm-up then a half "
              "cosine down to the epoch cap (default: the model's)")
@click.option("--warmup-epochs", type=int, help="epochs of warm-up of warmup_cosine "
              "(default: the model's)")
@click.option("--n-val", type=int, default=2000, show_default=True,
              help="validation-set size (stopping and the probes' penalty read it)")
@click.option("--n-test", type=int, default=20_000, show_default=True,
              help="test-set size (read once, at the end)")
@click.option("--evaluator", type=click.Choice(["readout", "probe"]), default="readout",
              show_default=True, help="what test_accuracy measures: the network's own readout "
              "or a linear probe of the top hidden layer")
@click.option("--patience", type=int, help="epochs without a better validation accuracy "
              "before stopping (default: the model's)")
@click.option("--alignment-every", type=int, default=0,
              help="record alignment with backprop every N steps (0: off)")
@click.option("--sensitivity-samples", type=int, default=0,
              help="synonymic sensitivity on N test inputs after training (0: off)")
@pairing_options
@click.option("--probes/--no-probes", default=True, show_default=True,
              help="linear probes of every layer")
@click.option("--representation-samples", type=int, default=0,
              help="representational comparison with every level on N test inputs (0: off)")
@click.option("--plasticity-every", type=int, default=0,
              help="plasticity statistics every N steps (0: off)")
@click.option("--record-weights", is_flag=True,
              help="record the first hidden layer's trained weights (receptive fields)")
@click.option("--terms", default="", metavar="NAME,...",
              help="rule parameters whose terms' share of every update is recorded, e.g. "
              "pull,push,decorr_coeff for lpl")
@click.option("--terms-every", type=int, default=20, show_default=True,
              help="steps between two term attributions")
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP)
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="output .nc or .zarr")
@click.option("--snapshot", type=click.Path(dir_okay=False), help="file for the run's snapshots: "
              "a run stopped on its way, started again with the same options, goes on from it")
@click.option("--snapshot-every", type=float, default=600.0, show_default=True,
              help="seconds between two snapshots (written after an epoch)")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(model_file, rule, arch, width, activation, time_model, momentum, v, n_classes, m, s, L,
          seed, P, seeds, epochs, lr, batch_size, lr_schedule, warmup_epochs, n_val, n_test,
          evaluator, patience, alignment_every, sensitivity_samples, pairs, k, T, negatives, params, probes, representation_samples, plasticity_every,
          record_weights, terms, terms_every, device, dtype, out, snapshot, snapshot_every, quiet):
    """Train an ensemble (one network per seed) and write its Recording."""
    from .runs import parse_params, train_command

    writable_output(out)
    train_command(model_file=model_file, rule=rule,
                  changes=dict(arch=arch, width=width, activation=activation,
                               time_model=time_model, momentum=momentum,
                               epochs=epochs, batch_size=batch_size, lr_schedule=lr_schedule,
                               warmup_epochs=warmup_epochs, patience=patience, pairs=pairs, k=k, T=T, negatives=negatives,
                               **parse_params(params)),
                  grammar=dict(v=v, n_classes=n_classes, m=m, s=s, L=L, seed=seed), P=P,
                  seeds=parse_seeds(seeds), lr=lr, n_val=n_val, n_test=n_test, evaluator=evaluator,
                  alignment_every=alignment_every,
                  sensitivity_samples=sensitivity_samples, probes=probes,
                  representation_samples=representation_samples, plasticity_every=plasticity_every,
                  record_weights=record_weights, terms=[name.strip() for name in terms.split(",") if name.strip()],
                  terms_every=terms_every, device=device, dtype=dtype, out=out, quiet=quiet,
                  snapshot=snapshot, snapshot_every=snapshot_every)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True)
@click.option("--model", "model_file", type=click.Path(dir_okay=False),
              help="only this model file's rule (a user's rule gets its card)")
def rules(fmt, model_file):
    """Rule cards derived from the equations: what each synapse must know to change."""
    from .analysis.cards import cards_table, rule_card
    from .model import Model
    from .rules.registry import RULES

    chosen = [Model.from_toml(model_file).rule] if model_file else list(RULES.values())
    click.echo(cards_table([rule_card(r) for r in chosen], fmt))


@main.command()
@slice_options
def virtual(out, rule_names, activation):
    """Virtual slice experiments on one synapse of every rule; signatures table."""
    from pathlib import Path

    from .analysis.virtual import plot_virtual, signature_table, signatures, virtual_experiments
    from .io import write_dataset

    writable_output(out, folder=True)
    chosen = _chosen_rules(rule_names)
    ds = virtual_experiments(chosen, activation)
    write_dataset(ds, Path(out) / "virtual.nc")
    for path in plot_virtual(ds, out):
        click.echo(f"wrote {path}")
    click.echo(signature_table(signatures(ds)))


@main.command()
@click.argument("protocol_file", required=False, type=click.Path(dir_okay=False))
@slice_options
@click.option("--pulses", type=int, default=900, show_default=True,
              help="pulses of every frequency-response induction (pairing: 100)")
@click.option("--history-hours", type=float, default=48.0, show_default=True,
              help="duration of each rate history (h)")
@click.option("--tau-state", type=float, default=3600.0, show_default=True,
              help="time constant of the rule's state, e.g. BCM's threshold (s)")
@click.option("--tau-w", type=float, default=36000.0, show_default=True,
              help="time constant of the weight: sets the size of a change (s)")
@click.option("--rate-unit", type=float, default=10.0, show_default=True,
              help="the rate that counts as 1 in the rule's equations (Hz)")
@click.option("--w0", type=float, default=1.0, show_default=True,
              help="the weight when an induction starts")
@click.pass_context
def protocols(ctx, protocol_file, out, rule_names, activation, pulses, history_hours, tau_state,
              tau_w, rate_unit, w0):
    """Induction protocols in physical units on one synapse of every rule: the frequency
    response (900 pulses at 0.5-100 Hz) after a deprived and a normal rate history, and
    pairing with post-synaptic depolarization; with PROTOCOL_FILE (experiments/protocols/),
    the one protocol that file describes, in its units."""
    from pathlib import Path

    if protocol_file:
        from click.core import ParameterSource

        from .analysis.protocol_files import run_protocol_file

        given = [param.opts[0] for param in ctx.command.params
                 if param.name not in ("protocol_file", "out")
                 and ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE]
        if given:
            raise ParameterError(given[0], "a protocol file sets the rules and every setting: "
                                 "write them in the file, or drop the file")
        writable_output(out, folder=True)
        run_protocol_file(protocol_file, out, echo=click.echo)
        return

    from .analysis import protocols as p
    from .analysis.predictions import predictions_table
    from .analysis.virtual import virtual_experiments
    from .io import write_dataset
    from .plots import save_figure

    writable_output(out, folder=True)
    chosen = _chosen_rules(rule_names)
    ds = p.protocols(chosen, pulses=pulses, history_duration=history_hours * 3600.0,
                     activation=activation, tau_state=tau_state, tau_w=tau_w,
                     rate_unit=rate_unit, w0=w0)
    write_dataset(ds, Path(out) / "protocols.nc")
    click.echo(f"wrote {Path(out) / 'protocols.nc'}")
    click.echo(f"wrote {save_figure(p.frequency_response_figure(ds), Path(out) / 'frequency_response')}")
    click.echo(f"wrote {save_figure(p.pairing_figure(ds), Path(out) / 'pairing')}")
    click.echo(p.crossover_table(ds))
    table = predictions_table(chosen, virtual_experiments(chosen, activation), ds)
    (Path(out) / "predictions.md").write_text(table + "\n")
    click.echo(f"wrote {Path(out) / 'predictions.md'}")


@main.command()
@click.option("--model", "model_file", type=click.Path(dir_okay=False), help="model file (TOML)")
@click.option("--rule", type=_rule_choice(), help="a library rule (instead of --model)")
@click.option("--arch", type=click.Choice(["lcn", "fc"]), help="architecture (Brian2: no cnn)")
@click.option("--width", type=int, help="channels per hidden layer")
@click.option("--time-model", type=click.Choice(["steady", "euler"]), help="neuron time model")
@click.option("--optimizer", type=click.Choice(["sgd"]),
              help="Brian2 runs SGD: set it for a rule whose default is Adam")
@pairing_options
@grammar_options
@click.option("--presentations", type=int, default=200, show_default=True)
@click.option("--target", type=click.Choice(["numpy", "cython", "cpp_standalone"]), default="cython",
              show_default=True, help="Brian2 code-generation target")
@click.option("--chunk", type=int, help="cpp_standalone: presentations per run of the binary")
@click.option("--tolerance", type=float, default=1e-9, show_default=True,
              help="largest relative difference allowed")
@click.option("--stream-seed", "net_seed", type=int, default=0, show_default=True,
              help="seed of the stream and of the initial weights")
def crosscheck(model_file, rule, arch, width, time_model, optimizer, pairs, k, T, negatives,
               params, v, n_classes, m, s, L, seed, presentations, target, chunk, tolerance,
               net_seed):
    """Run one stream on Brian2 and on torch (float64, online) and compare every presentation."""
    from .cross_check import crosscheck as run_crosscheck
    from .rhm.grammar import Grammar
    from .runs import parse_params, resolve_model

    model = resolve_model(model_file, rule, arch=arch, width=width, time_model=time_model,
                          optimizer=optimizer, pairs=pairs, k=k, T=T, negatives=negatives,
                          **parse_params(params))
    grammar = Grammar(v=v, n_classes=n_classes, m=m, s=s, L=L, seed=seed)
    result = run_crosscheck(model, grammar, presentations=presentations, seed=net_seed,
                            target=target, tolerance=tolerance, chunk=chunk,
                            echo=lambda line: click.echo(line, err=True))
    click.echo(result.table())
    if not result.passed:
        raise SystemExit(1)


@main.command()
@click.argument("experiment_file", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True,
              help="folder for the cell files and the combined result")
@click.option("--scheduler", help="address of a running dask scheduler (default: a LocalCluster)")
@click.option("--workers", type=int, help="LocalCluster workers (default: one per core)")
@click.option("--plot/--no-plot", default=True, show_default=True, help="write the figures too")
@click.option("--format", "fmt", type=click.Choice(["netcdf", "zarr"]), default="netcdf",
              show_default=True, help="format of the combined result")
@click.option("--max-P", "max_P", type=int, help="run only the cells with P <= this (the rest "
              "stay for a bigger machine; the combined result has NaN there)")
@click.option("--where", "where", multiple=True, metavar="AXIS=VALUE",
              help="run only the cells with this axis value (repeatable: values of one axis "
              "are alternatives, different axes must all hold)")
@click.option("--max-extensions", type=int, default=3, show_default=True,
              help="a search (grid over lr_factor or lr) whose choice is at an edge of the "
              "values tried runs again past it, at most this many times")
@click.option("--pack/--no-pack", default=True, show_default=True,
              help="run the cells that differ only in seeds, learning rate and P as one ensemble "
              "(the cell files are the same either way)")
@click.option("--max-members", default=str(MAX_MEMBERS), show_default=True,
              callback=lambda ctx, param, value: _members_cap(value),
              help="members (seeds x cells) per packed ensemble, or 'auto': as many as a "
              "throughput curve measured on this machine says are worth it")
@click.option("--device", help="run every cell on this device (cpu, cuda, cuda:N) instead of "
              "the file's [run] device; the cells are other cells (their numbers differ)")
@click.option("--dry-run", is_flag=True, help="say what would run, how it packs and what it "
              "would cost (presentations, hours here), without running it")
@click.option("--quiet", is_flag=True, help="no progress bar, no reports of the packs training")
def sweep(experiment_file, out, scheduler, workers, plot, fmt, max_P, where, max_extensions,
          pack, max_members, device, dry_run, quiet):
    """Run an experiment file's cells on dask; rerunning skips the finished cells."""
    from .experiment import load_experiment, select_cells
    from .sweep import run_sweep
    from .tuning import run_search, search_axis

    if workers is not None:
        require_int("workers", workers, minimum=1)
    require_int("max_extensions", max_extensions, minimum=0)
    check_members_cap(max_members, scheduler)
    experiment = load_experiment(experiment_file, **({"device": device} if device else {}))
    writable_output(out, folder=True)
    # --max-P 0 is a selection (of no cell), not "no selection"
    cells = select_cells(experiment, max_P=max_P, where=where) \
        if (max_P is not None or where) else None
    if dry_run:
        from .sweep import dry_run as plan

        plan(experiment, out, cells=cells, n_workers=workers, pack=pack,
             max_members=max_members, echo=click.echo)
        return
    name = f"{experiment.path.stem}.{'zarr' if fmt == 'zarr' else 'nc'}"
    args = dict(scheduler=scheduler, n_workers=workers, quiet=quiet, echo=click.echo,
                result_name=name, cells=cells, pack=pack, max_members=max_members)
    if search_axis(experiment.axes) and cells is None:
        result, _ = run_search(experiment, out, max_extensions=max_extensions, **args)
    else:
        result = run_sweep(experiment, out, **args)
    report_result(result, out if plot else None)


@main.command()
@click.argument("result", type=click.Path(exists=True))
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--threshold", type=float, default=0.9, show_default=True, help="accuracy for P*")
@click.option("--format", "formats", type=click.Choice(["png", "pdf", "svg"]), multiple=True,
              help="file formats (repeatable; default: png and pdf)")
@click.option("--dpi", type=int, default=300, show_default=True, help="resolution of PNGs")
def plot(result, out, threshold, formats, dpi):
    """Figures and the P* table of a sweep's combined result, or the figures of one train
    result (learning curves, probes, sensitivity, alignment, representation)."""
    from .io import open_dataset
    from .plots import figure_output
    from .plots_run import is_run, plot_run

    ds = open_dataset(result)
    with figure_output(formats or ("png", "pdf"), dpi):
        writable_output(out, folder=True)
        if is_run(ds):
            for path in plot_run(ds, out):
                click.echo(f"wrote {path}")
        else:
            report_result(ds, out, threshold)


def report_result(ds, out=None, threshold: float = 0.9):
    """Print a sweep result's table and, with ``out``, write its figures."""
    from .plots import p_star_table, plot_result

    from .tuning import search_axis

    if search_axis(ds):  # a search: the value to use per rule and setting
        from .tuning import edge_warnings, learning_rate_overrides, plot_search, search_choice, search_table

        rows = search_choice(ds)
        click.echo("\n" + search_table(rows))
        for line in edge_warnings(rows):
            click.echo(line, err=True)
        click.echo("\nas sections of an experiment file:\n\n" + learning_rate_overrides(rows))
        paths = plot_search(rows, out) if out else []
    elif "L" in ds.dims and "P_scale" in ds.dims:  # a scan over depth: P* against L
        from .scaling import plot_scaling, scaling_summary, scaling_table

        rows = scaling_summary(ds, threshold)
        click.echo("\n" + scaling_table(rows, ds))
        paths = plot_scaling(ds, rows, out) if out else []
    else:
        click.echo("\n" + p_star_table(ds, threshold))
        paths = plot_result(ds, out, threshold) if out else []
    for path in paths:
        click.echo(f"wrote {path}")


@main.command()
@click.argument("result", type=click.Path(exists=True))
@click.option("--out", type=click.Path(), required=True,
              help="new result: a file (.nc or .zarr) for a train result, a folder for a sweep")
@click.option("--device", help="train results: run on this device instead of the recorded one "
              f"({DEVICE_HELP})")
@click.option("--scheduler", help="sweep results: address of a running dask scheduler")
@click.option("--workers", type=int, help="sweep results: LocalCluster workers")
@click.option("--quiet", is_flag=True, help="no progress bar")
def rerun(result, out, device, scheduler, workers, quiet):
    """Compute a train or sweep result again from its own file, and say if it is identical."""
    from .io import open_dataset
    from .rerun import rerun as rerun_result
    from .rerun import result_kind

    if workers is not None:
        require_int("workers", workers, minimum=1)
    original = open_dataset(result)
    kind = result_kind(original)  # before anything is written
    writable_output(out, folder=kind == "sweep")
    new = rerun_result(original, out, quiet=quiet, echo=click.echo, device=device,
                       scheduler=scheduler, n_workers=workers)
    if kind == "train":
        from .model import Model
        from .runs import summarize

        config = json.loads(new.attrs["config"])
        summarize(new, Model.from_dict(config["model"]), config["seeds"])
        click.echo(f"wrote {out}")
    else:
        report_result(new)


@main.command()
@click.option("--out", type=click.Path(file_okay=False), default="demo_out", show_default=True)
@click.option("--quiet", is_flag=True, help="no progress bar")
def demo(out, quiet):
    """The main job: compare learning rules on a small RHM, end to end."""
    from .demo import run_demo

    run_demo(out, quiet=quiet)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
