"""Running a model on Brian2 over a stimulus stream, presentation by presentation.

Targets: ``numpy`` and ``cython`` (runtime code generation) and ``cpp_standalone`` (one
compiled binary; a long stream runs in chunks through ``device.run(run_args=...)``, each
chunk restarting at t = 0 with the synaptic and state variables the last one ended with).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field

import brian2 as b2
import numpy as np
import xarray as xr

from ...errors import ParameterError, require_int
from ...model import Model
from ...rhm import Grammar, Stream
from ...rules.plan import NetworkPlan, draw_initial_state
from ...rules.rule import ENGINE_RESERVED
from .network import SCHEDULE, Brian2Model

TARGETS = ("numpy", "cython", "cpp_standalone")


@dataclass
class Brian2Run:
    """Per presentation: ``rates[p]`` (presentations, units) of population p (p >= 1), and
    ``synapses[name]`` (presentations, *torch shape) after each presentation's update."""

    rates: dict
    synapses: dict
    schedule: str
    target: str
    #: what a StateMonitor asked for: (variable, population) -> (records, positions, units)
    states: dict = field(default_factory=dict)
    #: the presentations those records are of
    state_presentations: np.ndarray | None = None
    #: the state variables after the last presentation (names -> (1, positions, channels))
    final_states: dict = field(default_factory=dict)

    def state_dataset(self) -> xr.Dataset:
        """The StateMonitor's records as the torch engine writes them (without the seed
        axis): ``state_<var>_p<population>`` (state_step, p<population>_position,
        p<population>_unit); ``state_step`` is the presentation (online: one per step)."""
        ds = xr.Dataset(coords={"state_step": ("state_step", self.state_presentations,
                                               {"long_name": "presentation of the record"})})
        for (var, pop), values in self.states.items():
            ds[f"state_{var}_p{pop}"] = (("state_step", f"p{pop}_position", f"p{pop}_unit"),
                                         values, {"long_name": f"{var} of population {pop}",
                                                  "units": "1"})
        return ds


def stream_arrays(stream: Stream, whiten: bool = False):
    """Inputs (presentations, positions*v, position-major), one-hot targets, pair signs (a
    saccade starts a new tree: a negative pair; every view is a positive one) and the context
    inputs of a views stream (its partners; None for the other kinds)."""
    encode = lambda rows: stream.encoded(rows, whiten).reshape(len(stream), -1)  # noqa: E731
    targets = np.eye(stream.grammar.n_classes)[stream.presented().labels]
    positive = (~stream.saccade).astype(float) if stream.kind == "fixations" \
        else np.ones(len(stream))
    context = encode(stream.partner) if stream.kind == "views" else None
    return encode(stream.order), targets, positive, context


def run_brian2(model: Model, grammar: Grammar, stream: Stream, init: dict | None = None,
               states: dict | None = None, target: str = "cython", chunk: int | None = None,
               monitor=None, seed: int = 0, plastic: bool = True) -> Brian2Run:
    """Run ``stream`` through the Brian2 network of ``model`` and record rates and synaptic
    variables per presentation. It starts from the network seed ``seed``'s draw
    (:func:`~plasticity_sim.rules.plan.draw_initial_state`: the numbers the torch engine's
    member of that seed starts from in float64; float32 rounds them), with the variables of
    ``init`` and ``states`` (names -> arrays of one network; synaptic or state variables,
    either dict) set instead where given.

    ``plastic=False``: the synapses keep their weights (every lr-scaled and direct update
    off) while eligibility traces and state variables follow their equations (a rate history
    that moves a rule's state, not its weights).

    ``monitor``: a :class:`~plasticity_sim.analysis.StateMonitor` (variables, populations,
    every N presentations), recorded as the torch engine records it at batch 1: the values of
    presentations 0, N, 2N, ... (``Brian2Run.states``, ``Brian2Run.state_dataset()``)."""
    if target not in TARGETS:
        raise ParameterError("target", f"must be one of {', '.join(TARGETS)}; got {target!r}")
    model.pairing.check_stream(stream, grammar)
    inputs, targets, positive, context = stream_arrays(stream, model.training.whiten)
    plan = NetworkPlan.of(model, grammar)
    drawn = draw_initial_state(plan, require_int("seed", seed, minimum=0))
    given = {**(init or {}), **(states or {})}
    unknown = sorted(set(given) - set(drawn))
    if unknown:
        raise ParameterError("init", f"this network has no variable {unknown}; it has "
                             f"{', '.join(drawn)}")
    drawn.update(given)
    init = {name: drawn[name] for name in plan.synapses}
    states = {name: drawn[name] for name in plan.states}
    if target == "cpp_standalone":
        if monitor is not None:
            raise ParameterError("monitor", "a StateMonitor runs on the runtime targets (numpy, "
                                 "cython); the cpp_standalone binary records rates and synapses")
        return _run_standalone(model, grammar, inputs, targets, positive, context, init, states,
                               chunk or len(inputs), plastic)
    b2.set_device("runtime")
    b2.prefs.codegen.target = target
    b2.start_scope()
    net = Brian2Model(model, grammar, inputs, targets, positive, context, plastic=plastic)
    net.set_synapses(init)
    if states:
        net.set_states(states)
    monitors = _monitors(net, init)
    watched = _state_monitors(net, monitor)
    net.net.add(*monitors.values(), *watched.values())
    net.net.run((len(inputs) + 1) * net.duration, namespace={})
    run = _collect(net, monitors, init, target)
    run.final_states = _state_shapes(net, _read_states(net))
    if monitor is not None:
        every = monitor.every
        for (var, pop), mon in watched.items():
            values = np.asarray(getattr(mon, var)).T[1:net.n_presentations + 1:every]
            run.states[var, pop] = values.reshape(len(values), *net.arch.population_shapes[pop])
        run.state_presentations = np.arange(0, net.n_presentations, every)
    return run


def _state_monitors(net: Brian2Model, monitor) -> dict:
    """A Brian2 StateMonitor per (variable, population) the monitor asks for, recording each
    presentation's values before its updates (as the torch engine observes a step)."""
    if monitor is None:
        return {}
    chosen = range(net.out + 1) if monitor.populations is None else monitor.populations
    bad = [p for p in chosen if p > net.out]
    if bad:
        raise ParameterError("populations", f"the network has populations 0-{net.out} (0 the "
                             f"input, {net.out} the output); got {bad}")
    if monitor.reduce != "first":
        raise ParameterError("reduce", "Brian2 runs one presentation at a time: a minibatch "
                             "mean is the presentation itself; use reduce='first'")
    out = {}
    for var in monitor.variables:
        for pop in chosen:
            if var in net.groups[pop].variables:
                out[var, pop] = b2.StateMonitor(
                    net.groups[pop], var, record=True, dt=net.duration, when="start",
                    order=SCHEDULE["observe"], name=f"watch_{var}_p{pop}")
    missing = [var for var in monitor.variables if all(k[0] != var for k in out)]
    if missing:
        known = sorted({v for g in net.groups for v in g.variables if not v.startswith("_")
                        and v not in ENGINE_RESERVED})
        raise ParameterError("variables", f"no population of this network has {missing}; "
                             f"it has {known}")
    return out


def _monitors(net: Brian2Model, init: dict) -> dict:
    mons = {}
    for l in range(1, net.out + 1):
        mons[f"p{l}"] = b2.StateMonitor(net.groups[l], "r", record=True, dt=net.duration,
                                        when="start", order=SCHEDULE["monitor"], name=f"mon_p{l}")
    for name in init:
        split = net.synaptic_name(name)
        if split is not None:
            key, var = split
            mons[name] = b2.StateMonitor(net.synapses[key], var, record=np.arange(len(net.plans[key].i)),
                                         dt=net.duration, when="start", order=SCHEDULE["monitor"],
                                         name=f"mon_{name}")
    return mons


def _collect(net: Brian2Model, monitors: dict, init: dict, target: str) -> Brian2Run:
    rates, synapses = {}, {}
    for key, mon in monitors.items():
        population = key.startswith("p") and key[1:].isdigit()
        skey, var = ("", "r") if population else net.synaptic_name(key)
        values = np.asarray(getattr(mon, var)).T
        values = values[1:net.n_presentations + 1]  # the sample at t = 0 precedes everything
        if population:
            rates[int(key[1:])] = values
        else:
            full = np.full((len(values), *net.plans[skey].proj.weight_shape()), np.nan)
            idx = net.weight_index(skey)
            full[(slice(None), *idx)] = values
            synapses[key] = full
    return Brian2Run(rates, synapses, net.schedule(), target)


def _run_standalone(model, grammar, inputs, targets, positive, context, init, states,
                    chunk, plastic=True) -> Brian2Run:
    """One compiled binary; chunks of ``chunk`` presentations, the state carried between them."""
    n = len(inputs)
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n
    pad_rows = lambda a: np.concatenate([a, np.zeros((pad, *a.shape[1:]))]) if pad else a  # noqa: E731
    inputs, targets, positive = pad_rows(inputs), pad_rows(targets), pad_rows(positive)
    context = pad_rows(context) if context is not None else None
    learn = np.concatenate([np.ones(n), np.zeros(pad)])
    directory = tempfile.mkdtemp(prefix="plasticity_sim_cpp_")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    try:
        b2.device.reinit()
        b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
        net = Brian2Model(model, grammar, inputs[:chunk], targets[:chunk], positive[:chunk],
                          None if context is None else context[:chunk], learn[:chunk],
                          plastic=plastic)
        monitors = _monitors(net, init)
        net.net.add(*monitors.values())
        net.net.run((chunk + 1) * net.duration, namespace={})
        b2.device.build(run=False, directory=directory)
        carried = {**init, **(states or {})}
        parts = []
        for c in range(n_chunks):
            sl = slice(c * chunk, (c + 1) * chunk)
            run_args = {net.namespace["stim"]: inputs[sl], net.namespace["tgt"]: targets[sl],
                        net.namespace["lrn"]: learn[sl]}
            if net.pairs:  # (a TimedArray no code reads is not in the binary)
                run_args[net.namespace["pos"]] = positive[sl]
            if context is not None:
                run_args[net.namespace["ctx"]] = context[sl]
            run_args.update(_variable_args(net, carried))
            if c:  # the context of the chunk's first presentation is the last one shown
                run_args[net.groups[0].r] = inputs[c * chunk - 1]
            b2.device.run(run_args=run_args)
            part = _collect(net, monitors, init, "cpp_standalone")
            parts.append(part)
            carried = {name: values[-1] for name, values in part.synapses.items()}
            carried.update(_read_states(net))
            carried.update(_read_momenta(net))
        rates = {p: np.concatenate([part.rates[p] for part in parts])[:n] for p in parts[0].rates}
        syns = {k: np.concatenate([part.synapses[k] for part in parts])[:n] for k in parts[0].synapses}
        return Brian2Run(rates, syns, parts[0].schedule, "cpp_standalone",
                         final_states=_state_shapes(net, {k: v for k, v in carried.items()
                                                          if k in net.plan.states}))
    finally:
        b2.device.reinit()
        b2.set_device("runtime")


def _variable_args(net: Brian2Model, values: dict) -> dict:
    """run_args for synaptic variables (torch names, arrays in the torch layout) and states."""
    out = {}
    for name, array in values.items():
        if name.startswith("mom:"):
            key = name[4:]
            out[net.synapses[key].mom] = array
            continue
        split = net.synaptic_name(name)
        if split is not None:
            key, var = split
            out[getattr(net.synapses[key], var)] = np.asarray(array, dtype=float)[net.weight_index(key)]
        elif name in net.plan.states:
            key = net.plan.key(name)
            out[getattr(net.groups[key.population], key.var)] = np.asarray(array, dtype=float).ravel()
    return out


def _state_shapes(net: Brian2Model, states: dict) -> dict:
    """State variables in the torch layout, (1, positions, channels)."""
    return {name: np.asarray(values).reshape(1, *net.arch.population_shapes[net.plan.states[name].population])
            for name, values in states.items()}


def _read_states(net: Brian2Model) -> dict:
    return {name: np.asarray(getattr(net.groups[v.population], v.key.var)[:])
            for name, v in net.plan.states.items()}


def _read_momenta(net: Brian2Model) -> dict:
    return {f"mom:{key}": np.asarray(syn.mom[:]) for key, syn in net.synapses.items()
            if "mom" in syn.variables}
