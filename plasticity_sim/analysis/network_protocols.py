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

from ..errors import ParameterError, require_int
from ..provenance import global_attrs
from ..rules.rule import Rule
from .protocols import (PULSES, Synapse, check_pulses, crossover, frequencies_in_hz,
                        history_coords, rule_panels, si)

#: the network's grammar: two positions of two channels, two classes
GRAMMAR = dict(v=2, n_classes=2, m=2, s=2, L=1, seed=0)
TESTED = (0, 0)  # (position, channel) of the tested pathway
ENGINES = ("torch", "brian2")
SYNAPSE_SETTINGS = ("rate_unit", "tau_w", "tau_state", "w0")
NETWORK_SETTINGS = ("width", "label", "seed", "pairs", "brian2_target")


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
    its inputs only, as on one synapse), plain SGD at ``lr`` everywhere (the readout too);
    a rule that learns from pairs gets ``pairs`` (default fixations), any other rule none."""
    from ..model import Model

    settings = dict(arch="fc", width=width, depth=1, bias=False, lr=lr, readout_lr=lr,
                    momentum=0.0, weight_decay=0.0, optimizer="sgd", batch_size=1, activation=activation)
    if rule.needs_pairs:  # ``pairs`` is for the rules that learn from pairs
        settings["pairs"] = pairs or "fixations"
    return Model.for_rule(rule, **settings)


def network_frequency_response(rule: Rule, frequencies, *, pulses: int = PULSES,
                               engine: str = "torch", width: int = 4, label: int = 0,
                               seed: int = 0, pairs: str | None = None,
                               activation: str = "relu", brian2_target: str = "numpy",
                               history_rate=0.0, history_duration=0.0,
                               **synapse) -> xr.Dataset:
    """The change of every hidden unit's synapse from the tested pathway after ``pulses``
    pulses at each frequency (module docstring), on ``engine``; the network is taught class
    ``label`` throughout. ``synapse``: the physical settings of
    :class:`~.protocols.Synapse` (rate_unit, tau_w, tau_state, w0).

    A history first (``history_duration`` > 0): the other pathway (input channel 1 at the
    tested position, weight 1 onto every hidden unit) drives the cells at ``history_rate``
    while the tested pathway is silent and the synapses are frozen (``plastic=False``), so
    that the history moves the rule's state variables (BCM's threshold), not its weights;
    each induction starts from the state the history leaves (its state variables and
    eligibility traces).

    Only a rule parameter named ``eps`` is set from ``tau_state``; a rule's other time
    constants (reward_hebb's ``tau_e``, ``tau_r``) are counted in presentations, whose
    physical length dt depends on the run (duration / steps)."""
    from ..rhm import Grammar
    from ..rules.plan import NetworkPlan, draw_initial_state

    f = frequencies_in_hz(frequencies)
    check_pulses(pulses)
    syn = Synapse.make(rule, activation=activation, one_synapse=False, **synapse)
    run_on = engine_named(engine, brian2_target)
    grammar = Grammar(**GRAMMAR)
    label = require_int("label", label, minimum=0)
    if label >= grammar.n_classes:
        raise ParameterError("label", f"must lie in [0, {grammar.n_classes}); got {label!r}")
    h_rate = float(si(history_rate, "frequency", "history_rate"))
    h_time = float(si(history_duration, "time", "history_duration"))

    def model_for(duration, steps):  # one presentation per Euler step of dt
        dt = duration / steps
        step_rule = rule.with_params(eps=dt / syn.tau_state) if "eps" in rule.params else rule
        return network_model(step_rule, width=width, activation=activation, pairs=pairs,
                             lr=dt / syn.tau_w)

    def shown(model, steps, channel, rate):  # one pathway at a constant input rate
        inputs = np.zeros((steps, grammar.n_positions, grammar.v))
        inputs[:, TESTED[0], channel] = rate
        return model.pairing.rate_stream(grammar, inputs, labels=label)

    model = model_for(1.0, 1)
    run_on.check(model, grammar)
    plan = NetworkPlan.of(model, grammar)
    start = draw_initial_state(plan, seed)
    start["s0_w"] = _with_tested(start["s0_w"], grammar, syn.w0)
    if h_time > 0:
        h_steps = syn.steps(h_time)
        h_model = model_for(h_time, h_steps)
        start["s0_w"][:, _tested_column(grammar) + 1] = 1.0  # the other pathway
        history = run_on.run(h_model, grammar, shown(h_model, h_steps, TESTED[1] + 1,
                                                     syn.drive_for(h_rate)),
                             seed=seed, init=start, plastic=False)
        # what the history moved: state variables and eligibility traces (the weights stay)
        start.update({name: history.final[name] for name in _followed(plan)})
    durations = pulses / f
    steps = syn.steps(durations.max())  # the one-synapse protocol's steps
    dw = np.zeros((len(f), width))
    for i, (nu, duration) in enumerate(zip(f, durations)):
        model = model_for(duration, steps)
        run = run_on.run(model, grammar, shown(model, steps, TESTED[1], nu / syn.rate_unit),
                         seed=seed, init=start)
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
    for name in plan.states:  # e.g. BCM's threshold: the mean over units when induction starts
        ds[f"{plan.key(name).var}_at_induction"] = ((), float(np.mean(start[name])), {
            "long_name": f"the rule's {plan.key(name).var} when the induction starts (mean over "
                         "units)", "units": "1"})
    ds["crossover"] = ((), crossover(f, mean), {
        "long_name": "frequency where the mean change turns from depression to potentiation "
                     "(NaN: none)", "units": "Hz"})
    ds.attrs.update(global_attrs(f"{rule.name}: frequency response on the network ({engine})", {
        "rule": rule.name, "engine": run_on.label, "pulses": int(pulses), "steps": int(steps),
        "history_rate_Hz": h_rate, "history_duration_s": h_time,
        "width": int(width), "label": int(label), "seed": int(seed),
        "pairs": model.pairing.scheme, "activation": activation, "rate_unit_Hz": syn.rate_unit,
        "tau_w_s": syn.tau_w, "tau_state_s": syn.tau_state, "w0": syn.w0,
        "params": dict(rule.params)}))
    return ds


def _followed(plan) -> list:
    """The variables a frozen run still moves: state variables and synaptic traces."""
    return [*plan.states, *(name for name, var in plan.synapses.items() if var.change == "state")]


def _tested_column(grammar) -> int:
    """The tested pathway's input index in the position-major layout of ``s0_w``."""
    return TESTED[0] * grammar.v + TESTED[1]


def _with_tested(w: np.ndarray, grammar, w0: float) -> np.ndarray:
    w = np.array(w, dtype=float, copy=True)
    w[:, _tested_column(grammar)] = w0
    return w


def network_protocol(rules: list[Rule], frequencies, *, engines=ENGINES, pulses: int = PULSES,
                     activation: str = "relu", histories: dict | None = None,
                     history_duration=0.0, **settings) -> xr.Dataset:
    """The network frequency response of every rule on every engine (rule x engine x
    frequency x unit; x history with ``histories``, name -> the cells' rate during
    ``history_duration``), next to the one-synapse curve of the same settings
    (``one_synapse``; NaN for a rule the one-synapse slice does not follow, such as one with
    eligibility traces: attribute ``no_one_synapse`` says why) and the largest difference
    between the engines (``engine_difference``)."""
    from .protocols import frequency_response, with_every_state

    engines = list(engines)
    if not engines or set(engines) - set(ENGINES):
        raise ParameterError("engines", f"must be some of {', '.join(ENGINES)}; got {engines}")
    if histories is not None and not histories:
        raise ParameterError("histories", "give at least one history (name -> rate), or none")
    h_time = float(si(history_duration, "time", "history_duration"))
    if bool(histories) != (h_time > 0):
        raise ParameterError("history_duration", "give histories and a history_duration > 0 "
                             f"together, or neither; got {history_duration!r} with histories "
                             f"{histories!r}")
    unknown = set(settings) - set(SYNAPSE_SETTINGS) - set(NETWORK_SETTINGS)
    if unknown:
        raise ParameterError("settings", f"unknown {sorted(unknown)}; allowed: "
                             f"{', '.join(SYNAPSE_SETTINGS + NETWORK_SETTINGS)}")
    synapse = {k: settings.pop(k) for k in SYNAPSE_SETTINGS if k in settings}
    _check_engines(rules, engines, activation, settings)
    f = frequencies_in_hz(frequencies)
    check_pulses(pulses)
    cases = dict(histories) if histories else {None: 0.0}
    timing = dict(history_duration=h_time)
    alone, no_slice = [], {}  # the one-synapse curves first: they are quick
    for rule in rules:
        try:
            one = Synapse.make(rule, activation=activation, **synapse)
        except ParameterError as reason:  # e.g. eligibility traces: only the network follows them
            no_slice[rule.name] = str(reason)
            alone.append(xr.DataArray(np.full((len(cases), len(f)), np.nan),
                                      dims=("history", "frequency")))
            continue
        alone.append(xr.concat([frequency_response(one, f, pulses=pulses, history_rate=rate,
                                                   **timing)["relative_change"]
                                .drop_vars("frequency") for rate in cases.values()], "history"))
    per_rule = []
    for rule in rules:
        runs = [_along("history", [network_frequency_response(
                    rule, f, pulses=pulses, engine=engine, activation=activation,
                    history_rate=rate, **timing, **synapse, **settings)
                    for rate in cases.values()], list(cases))
                for engine in engines]
        per_rule.append(_along("engine", runs, engines))
    ds = _along("rule", with_every_state(per_rule), [rule.name for rule in rules])
    ds["one_synapse"] = xr.concat(alone, dim="rule").assign_coords(rule=ds.rule)
    if histories:
        ds = ds.assign_coords(history_coords(cases))
        ds["one_synapse"] = ds.one_synapse.assign_coords(history=ds.history)
    else:
        ds["one_synapse"] = ds.one_synapse.squeeze("history", drop=True)
        ds = ds.squeeze("history", drop=True)
    ds["one_synapse"].attrs.update(long_name="the one-synapse protocol's relative change, the "
                                   "same settings (NaN: a rule the one-synapse slice does not "
                                   "follow)", units="1")
    ds.attrs["no_one_synapse"] = "; ".join(f"{k}: {v}" for k, v in no_slice.items())
    spread = ds.dw.max("engine") - ds.dw.min("engine")
    ds["engine_difference"] = spread.max([d for d in spread.dims if d != "rule"])
    ds["engine_difference"].attrs.update(long_name="largest difference of a synapse's change "
                                         "between the engines", units="1")
    return ds


def _along(dim: str, parts: list, labels: list) -> xr.Dataset:
    """``parts`` stacked along a new dimension ``dim`` labelled ``labels``."""
    ds = xr.concat(parts, dim=dim, combine_attrs="drop_conflicts")
    return ds.assign_coords({dim: (dim, labels)}) if labels != [None] else ds


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
    hidden units; without histories the spread of the units shaded) and the one-synapse
    curve (thick, pale), a colour per history."""
    import matplotlib.pyplot as plt

    rules = list(ds.rule.values)
    fig, axes = rule_panels(len(rules))
    f = ds.frequency.values
    colours = plt.get_cmap("tab10").colors
    for ax, rule in zip(axes.flat, rules):
        for h, (history, part) in enumerate(_by_history(ds, rule)):
            name = "" if history is None else f"{history} ({float(part.history_rate):g} Hz), "
            colour = colours[h % len(colours)] if history is not None else "grey"
            ax.plot(f, 100 * part.one_synapse.values, color=colour, lw=2.5, alpha=0.35,
                    label=f"{name}one synapse")
            for e, (engine, style) in enumerate(zip(part.engine.values, ("o-", "x--"))):
                one = part.sel(engine=engine)
                line, = ax.plot(f, 100 * one.relative_change.values, style, ms=4,
                                color=colour if history is not None else colours[e],
                                label=f"{name}network, {engine}")
                if history is None:
                    ax.fill_between(f, 100 * (one.dw.min("unit") / one.w0).values,
                                    100 * (one.dw.max("unit") / one.w0).values,
                                    color=line.get_color(), alpha=0.12)
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xscale("log")
        ax.set_title(str(rule), fontsize=9)
        ax.set_xlabel("stimulation frequency (Hz)", fontsize=8)
    axes[0][0].set_ylabel("weight change (% of before)")
    axes[0][0].legend(fontsize=5)
    fig.suptitle("Frequency response on the rule's network (both engines) and on one synapse"
                 + (" after rate histories" if "history" in ds.dims else ""), fontsize=10)
    return fig


def _by_history(ds: xr.Dataset, rule):
    """(history, the rule's part after it) for each history; (None, the rule's part)
    without histories."""
    if "history" not in ds.dims:
        yield None, ds.sel(rule=rule)
        return
    for history in ds.history.values:
        yield history, ds.sel(rule=rule, history=history)


def network_table(ds: xr.Dataset) -> str:
    """Markdown: per rule (and history), the shape of the mean response on each engine's
    network and on one synapse, and how far the engines differ."""
    from .protocols import response_shape

    f = ds.frequency.values
    engines = list(ds.engine.values)
    histories = "history" in ds.dims
    head = "| rule | " + ("history | " if histories else "")
    lines = [head + " | ".join(f"network ({e})" for e in engines) +
             " | one synapse | engines differ by |",
             "|---|" + "---|" * (len(engines) + 2 + histories)]
    for rule in ds.rule.values:
        for history, part in _by_history(ds, rule):
            cells = [] if history is None else [f"{history} ({float(part.history_rate):g} Hz)"]
            cells += [response_shape(f, part.relative_change.sel(engine=e).values)
                      for e in engines]
            one = part.one_synapse.values
            cells.append(response_shape(f, one) if np.isfinite(one).all()
                         else "not followed on one synapse")
            cells.append(f"{float(part.engine_difference):.1e}")
            lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
