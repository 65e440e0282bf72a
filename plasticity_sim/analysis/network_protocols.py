"""The frequency-response induction on a rule's network, on either engine.

The one-synapse protocols (:mod:`.protocols`) hold everything but the synapse at a reference
value. Here the same induction runs through a small network of the rule on an engine (torch
or Brian2), so that every signal the rule reads is the network's own: a feedback rule's
error comes from the network's output and the class it is taught, a pair rule's context is
the presentation before (fixations) or the stimulus itself (views), a batch statistic is
that of a batch of one.

The network: a grammar of two input positions of two channels (s = 2, L = 1, v = 2), one
fully connected hidden layer of ``width`` units and a readout of two classes. The tested
pathway is input channel 0 at position 0, driven at x = nu / rate_unit; every other input is
silent. Each hidden unit's synapse from the tested pathway starts at ``w0``; every other
variable starts from the network seed's draw. An induction of ``pulses`` pulses at nu lasts
pulses / nu and is shown in the Euler steps of the one-synapse protocol
(:meth:`.protocols.Synapse.steps`), one presentation per step of dt = duration / steps, with
plain SGD at lr = dt / tau_w for every projection, the readout included, and the rule's
``eps`` = dt / tau_state. A rule that reads nothing from the rest of the network (Oja, BCM)
therefore gives the one-synapse curve (tested to 1e-9 on both engines).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ParameterError
from ..provenance import global_attrs
from ..rules.rule import Rule
from .protocols import PULSES, Synapse, crossover, si

#: the network's grammar: two positions of two channels, two classes
GRAMMAR = dict(v=2, n_classes=2, m=2, s=2, L=1, seed=0)
TESTED = (0, 0)  # (position, channel) of the tested pathway
ENGINES = ("torch", "brian2")


def engine_named(name: str, brian2_target: str = "numpy"):
    """The engine called ``name`` (torch, float64; brian2, on ``brian2_target``: numpy by
    default, since each frequency's learning rate is new code that a compiled target would
    compile again)."""
    from ..engines import Brian2Engine, TorchEngine

    if name == "torch":
        return TorchEngine()
    if name == "brian2":
        return Brian2Engine(target=brian2_target)
    raise ParameterError("engine", f"must be one of {', '.join(ENGINES)}; got {name!r}")


def network_model(rule: Rule, *, width: int, activation: str, pairs: str | None, lr: float):
    """The rule's network for a protocol: fc, one hidden layer, no biases (a cell is driven by
    its inputs only, as on one synapse), plain SGD at ``lr`` everywhere (the readout too)."""
    from ..model import Model

    settings = dict(arch="fc", width=width, depth=1, bias=False, lr=lr, readout_lr=lr,
                    momentum=0.0, weight_decay=0.0, optimizer="sgd", batch_size=1, activation=activation)
    if rule.needs_pairs:
        settings["pairs"] = pairs or "fixations"
    elif pairs:
        raise ParameterError("pairs", f"rule {rule.name!r} uses no pairs; drop pairs = {pairs!r}")
    return Model.for_rule(rule, **settings)


def network_frequency_response(rule: Rule, frequencies, *, pulses: int = PULSES,
                               engine: str = "torch", width: int = 4, label: int = 0,
                               seed: int = 0, pairs: str | None = None,
                               activation: str = "relu", brian2_target: str = "numpy",
                               **synapse) -> xr.Dataset:
    """The change of every hidden unit's synapse from the tested pathway after ``pulses``
    pulses at each frequency (module docstring), on ``engine``; the network is taught class
    ``label`` throughout. ``synapse``: the physical settings of
    :class:`~.protocols.Synapse` (rate_unit, tau_w, tau_state, w0)."""
    from ..rhm import Grammar
    from ..rules.plan import NetworkPlan, draw_initial_state

    f = np.atleast_1d(si(frequencies, "frequency", "frequencies"))
    if f.ndim != 1 or not (f > 0).all() or (np.diff(f) <= 0).any():
        raise ParameterError("frequencies", f"must be increasing and > 0 Hz; got {f.tolist()}")
    if isinstance(pulses, bool) or not isinstance(pulses, (int, np.integer)) or pulses < 1:
        raise ParameterError("pulses", f"must be an integer >= 1; got {pulses!r}")
    syn = Synapse.make(rule, activation=activation, one_synapse=False, **synapse)
    run_on = engine_named(engine, brian2_target)
    grammar = Grammar(**GRAMMAR)
    if not 0 <= label < grammar.n_classes:
        raise ParameterError("label", f"must lie in [0, {grammar.n_classes}); got {label!r}")
    durations = pulses / f
    steps = syn.steps(durations.max())  # the one-synapse protocol's steps
    dw = np.zeros((len(f), width))
    for i, (nu, duration) in enumerate(zip(f, durations)):
        dt = duration / steps
        step_rule = rule.with_params(eps=dt / syn.tau_state) if "eps" in rule.params else rule
        model = network_model(step_rule, width=width, activation=activation, pairs=pairs,
                              lr=dt / syn.tau_w)
        run_on.check(model, grammar)
        init = draw_initial_state(NetworkPlan.of(model, grammar), seed)
        init["s0_w"] = _with_tested(init["s0_w"], grammar, syn.w0)
        inputs = np.zeros((steps, grammar.n_positions, grammar.v))
        inputs[:, TESTED[0], TESTED[1]] = nu / syn.rate_unit
        stream = model.pairing.rate_stream(grammar, inputs, labels=label)
        run = run_on.run(model, grammar, stream, seed=seed, init=init)
        dw[i] = run.synapses["s0_w"][-1][:, _tested_column(grammar)] - syn.w0
    mean = dw.mean(axis=1)
    ds = xr.Dataset(
        {"dw": (("frequency", "unit"), dw, {
            "long_name": f"change of each hidden unit's synapse from the tested pathway after "
                         f"{pulses} pulses", "units": "1"}),
         "relative_change": (("frequency",), mean / syn.w0, {
             "long_name": "mean change over the hidden units, relative to the weight before",
             "units": "1"})},
        coords={"frequency": ("frequency", f, {"long_name": "stimulation frequency",
                                               "units": "Hz"}),
                "unit": ("unit", np.arange(width), {"long_name": "hidden unit"})})
    ds["w0"] = ((), syn.w0, {"long_name": "the tested synapses' weight when the induction "
                             "starts", "units": "1"})
    ds["crossover"] = ((), crossover(f, mean), {
        "long_name": "frequency where the mean change turns from depression to potentiation "
                     "(NaN: none)", "units": "Hz"})
    ds.attrs.update(global_attrs(f"{rule.name}: frequency response on the network ({engine})", {
        "rule": rule.name, "engine": run_on.label, "pulses": int(pulses), "steps": int(steps),
        "width": int(width), "label": int(label), "seed": int(seed),
        "pairs": model.pairing.scheme, "activation": activation, "rate_unit_Hz": syn.rate_unit,
        "tau_w_s": syn.tau_w, "tau_state_s": syn.tau_state, "w0": syn.w0,
        "params": dict(rule.params)}))
    return ds


def _tested_column(grammar) -> int:
    """The tested pathway's input index in the position-major layout of ``s0_w``."""
    return TESTED[0] * grammar.v + TESTED[1]


def _with_tested(w: np.ndarray, grammar, w0: float) -> np.ndarray:
    w = np.array(w, dtype=float, copy=True)
    w[:, _tested_column(grammar)] = w0
    return w


def network_protocol(rules: list[Rule], frequencies, *, engines=ENGINES, pulses: int = PULSES,
                     activation: str = "relu", **settings) -> xr.Dataset:
    """The network frequency response of every rule on every engine (rule x engine x
    frequency x unit), next to the one-synapse curve of the same settings (``one_synapse``;
    NaN for a rule the one-synapse slice does not follow, such as one with eligibility
    traces: attribute ``no_one_synapse`` says why) and the largest difference between the
    engines (``engine_difference``)."""
    from .protocols import frequency_response

    engines = list(engines)
    if not engines or set(engines) - set(ENGINES):
        raise ParameterError("engines", f"must be some of {', '.join(ENGINES)}; got {engines}")
    synapse = {k: settings.pop(k) for k in ("rate_unit", "tau_w", "tau_state", "w0")
               if k in settings}
    _check_engines(rules, engines, activation, settings)
    f = np.atleast_1d(si(frequencies, "frequency", "frequencies"))
    alone, no_slice = [], {}  # the one-synapse curves first: they are quick
    for rule in rules:
        try:
            one = Synapse.make(rule, activation=activation, **synapse)
        except ParameterError as reason:  # e.g. eligibility traces: only the network follows them
            no_slice[rule.name] = str(reason)
            alone.append(xr.DataArray(np.full(len(f), np.nan), dims="frequency"))
            continue
        alone.append(frequency_response(one, f, pulses=pulses)["relative_change"].drop_vars(
            "frequency"))
    per_rule = []
    for rule in rules:
        runs = [network_frequency_response(rule, f, pulses=pulses, engine=engine,
                                           activation=activation, **synapse, **settings)
                for engine in engines]
        part = xr.concat(runs, dim="engine", combine_attrs="drop_conflicts")
        per_rule.append(part.assign_coords(engine=("engine", engines)))
    ds = xr.concat(per_rule, dim="rule", combine_attrs="drop_conflicts")
    ds = ds.assign_coords(rule=("rule", [rule.name for rule in rules]))
    ds["one_synapse"] = xr.concat(alone, dim="rule").assign_coords(rule=ds.rule)
    ds["one_synapse"].attrs.update(long_name="the one-synapse protocol's relative change, the "
                                   "same settings (NaN: a rule the one-synapse slice does not "
                                   "follow)", units="1")
    ds.attrs["no_one_synapse"] = "; ".join(f"{k}: {v}" for k, v in no_slice.items())
    spread = ds.dw.max("engine") - ds.dw.min("engine")
    ds["engine_difference"] = spread.max(("frequency", "unit"))
    ds["engine_difference"].attrs.update(long_name="largest difference of a synapse's change "
                                         "between the engines", units="1")
    return ds


def _check_engines(rules, engines, activation, settings) -> None:
    """Every rule on every engine, checked before anything runs: one error listing what an
    engine cannot run."""
    from ..rhm import Grammar

    grammar, refused = Grammar(**GRAMMAR), []
    for rule in rules:
        model = network_model(rule, width=settings.get("width", 4), activation=activation,
                              pairs=settings.get("pairs"), lr=1e-3)
        for engine in engines:
            try:
                engine_named(engine, settings.get("brian2_target", "numpy")).check(model, grammar)
            except ParameterError as error:
                refused.append(f"{rule.name} on {engine}: {error}")
    if refused:
        raise ParameterError("rules", "these rules cannot run on the engines asked for (drop "
                             "them, or the engine): " + "; ".join(refused))


def network_figure(ds: xr.Dataset):
    """Relative change against frequency, a panel per rule: each engine's network (mean over
    hidden units, the spread of the units shaded) and the one-synapse curve."""
    import matplotlib.pyplot as plt

    rules = list(ds.rule.values)
    cols = min(4, len(rules))
    rows = -(-len(rules) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.flat[len(rules):]:
        ax.axis("off")
    f = ds.frequency.values
    for ax, rule in zip(axes.flat, rules):
        part = ds.sel(rule=rule)
        ax.plot(f, 100 * part.one_synapse.values, color="grey", lw=2.5, alpha=0.5,
                label="one synapse")
        for engine, style in zip(part.engine.values, ("o-", "x--")):
            e = part.sel(engine=engine)
            ax.plot(f, 100 * e.relative_change.values, style, ms=4, label=f"network, {engine}")
            ax.fill_between(f, 100 * (e.dw.min("unit") / e.w0).values,
                            100 * (e.dw.max("unit") / e.w0).values, alpha=0.12)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xscale("log")
        ax.set_title(str(rule), fontsize=9)
        ax.set_xlabel("stimulation frequency (Hz)", fontsize=8)
    axes[0][0].set_ylabel("weight change (% of before)")
    axes[0][0].legend(fontsize=6)
    fig.suptitle("Frequency response on the rule's network (both engines) and on one synapse",
                 fontsize=10)
    return fig


def network_table(ds: xr.Dataset) -> str:
    """Markdown: per rule, the shape of the mean response on each engine's network and on
    one synapse, and how far the engines differ."""
    from .protocols import response_shape

    f = ds.frequency.values
    engines = list(ds.engine.values)
    lines = ["| rule | " + " | ".join(f"network ({e})" for e in engines) +
             " | one synapse | engines differ by |",
             "|---|" + "---|" * (len(engines) + 2)]
    for rule in ds.rule.values:
        part = ds.sel(rule=rule)
        cells = [response_shape(f, part.relative_change.sel(engine=e).values) for e in engines]
        one = part.one_synapse.values
        cells.append(response_shape(f, one) if np.isfinite(one).all()
                     else "not followed on one synapse")
        cells.append(f"{float(part.engine_difference):.1e}")
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
