"""Induction protocols as experiment files: one TOML file per protocol, in physical units.

A file names the protocol (``kind``), the rules, the synapse and the stimulus; quantities
are written with their unit ("900 ms", "0.5 kHz", "48 h", "10 Hz") or as numbers in SI units
(s, Hz)::

    title = "Frequency response after a deprived and a normal rate history"
    kind = "rate_history"          # frequency_response | rate_history | pairing |
                                   # neuromodulator_timing | network_frequency_response
    rules = ["bcm", "oja"]          # default: every library rule
    activation = "relu"

    [synapse]                      # Synapse.make: rate_unit, tau_w, tau_state, w0
    rate_unit = "10 Hz"
    tau_state = "1 h"

    [stimulus]                     # the kind's own settings (STIMULUS below)
    frequencies = ["0.5 Hz", "1 Hz", "10 Hz", "100 Hz"]
    pulses = 900
    histories = { deprived = "3 Hz", normal = "10 Hz" }
    history_duration = "48 h"

A ``network_frequency_response`` file runs the frequency response on each rule's network
on the engines instead of one synapse (:mod:`.network_protocols`), set by a ``[network]``
table: ``engines`` (torch, brian2), ``width``, ``label``, ``seed``, ``pairs``,
``brian2_target``.

``plasticity-sim protocols FILE --out DIR`` runs it (:func:`run_protocol_file`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from ..errors import ParameterError
from ..io import read_toml
from ..provenance import global_attrs
from . import protocols as p
from .network_protocols import NETWORK_SETTINGS

KINDS = ("frequency_response", "rate_history", "pairing", "neuromodulator_timing",
         "network_frequency_response")
#: the stimulus settings each kind takes, with their kind of quantity (None: a plain number)
STIMULUS = {
    "frequency_response": {"frequencies": "frequency", "pulses": None},
    "rate_history": {"frequencies": "frequency", "pulses": None, "histories": "frequency",
                     "history_duration": "time"},
    "pairing": {"post_rates": "frequency", "pre_rate": "frequency", "pulses": None},
    "neuromodulator_timing": {"delays": "time", "presentation": "time",
                              "pairing_duration": "time", "pulse_duration": "time",
                              "pre_rate": "frequency", "post_rate": "frequency"},
    "network_frequency_response": {"frequencies": "frequency", "pulses": None,
                                   "histories": "frequency", "history_duration": "time"},
}
#: the settings of a network protocol's [network] table (plain values)
NETWORK = ("engines", *NETWORK_SETTINGS)
SYNAPSE = {"rate_unit": "frequency", "tau_w": "time", "tau_state": "time", "w0": None}
#: the synapse settings each kind takes (the timing protocol's state steps per presentation)
SYNAPSE_OF = {**{kind: SYNAPSE for kind in KINDS},
              "neuromodulator_timing": {k: v for k, v in SYNAPSE.items() if k != "tau_state"}}
TOP = {"title", "kind", "rules", "model_files", "activation", "synapse", "stimulus", "network"}
#: units a file may write, in SI (s, Hz)
UNITS = {"Hz": 1.0, "kHz": 1e3, "s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0}
_DIMENSION = {"Hz": "frequency", "kHz": "frequency"}


@dataclass(frozen=True)
class ProtocolFile:
    title: str
    kind: str
    rules: tuple = ()
    #: rules written in model files (paths as found, relative to the protocol file)
    model_files: tuple = ()
    activation: str = "relu"
    synapse: dict = field(default_factory=dict)
    stimulus: dict = field(default_factory=dict)
    network: dict = field(default_factory=dict)
    path: str = ""


def quantity(value, kind: str | None, name: str):
    """A file's value in SI units (floats; lists and tables element by element): "10 Hz",
    "900 ms", "48 h", or a number already in s or Hz. A unit of the wrong kind, or an
    unknown one, is one error naming ``name``."""
    if isinstance(value, dict):
        return {k: quantity(v, kind, f"{name}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [quantity(v, kind, name) for v in value]
    if isinstance(value, bool):
        raise ParameterError(name, f"must be a number; got {value!r}")
    if kind is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*([-+0-9.eE]+)\s*([A-Za-z]+)\s*", str(value))
    if not match or match.group(2) not in UNITS:
        raise ParameterError(name, f"must be a number with a unit ({', '.join(UNITS)}) or a "
                             f"number in SI units; got {value!r}")
    number, unit = match.groups()
    if _DIMENSION.get(unit, "time") != kind:
        raise ParameterError(name, f"must be a {kind}; got {value!r}")
    try:
        return float(number) * UNITS[unit]
    except ValueError:
        raise ParameterError(name, f"not a number: {value!r}") from None


def load_protocol(path: str | Path) -> ProtocolFile:
    """A protocol file, checked: its kind, its keys, its units."""
    spec = read_toml(path, "protocol")
    unknown = set(spec) - TOP
    if unknown:
        raise ParameterError("protocol file", f"unknown keys {sorted(unknown)}; allowed: "
                             f"{sorted(TOP)}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ParameterError("kind", f"must be one of {', '.join(KINDS)}; got {kind!r}")
    sections = {}
    for section, allowed in (("synapse", SYNAPSE_OF[kind]), ("stimulus", STIMULUS[kind])):
        given = spec.get(section, {})
        if set(given) - set(allowed):
            raise ParameterError(section, f"unknown keys {sorted(set(given) - set(allowed))} for "
                                 f"kind = {kind!r}; allowed: {sorted(allowed)}")
        sections[section] = {k: quantity(v, allowed[k], k) for k, v in given.items()}
    network = spec.get("network", {})
    if network and kind != "network_frequency_response":
        raise ParameterError("network", f"only kind = 'network_frequency_response' runs on a "
                             f"network; kind = {kind!r} runs on one synapse")
    if set(network) - set(NETWORK):
        raise ParameterError("network", f"unknown keys {sorted(set(network) - set(NETWORK))}; "
                             f"allowed: {sorted(NETWORK)}")
    models = spec.get("model_files", [])
    if not isinstance(models, list):
        raise ParameterError("model_files", f"must be a list of model files; got {models!r}")
    found = [Path(path).parent / m for m in models]
    for given, file in zip(models, found):
        if not file.exists():
            raise ParameterError("model_files", f"{given!r}: no such model file; looked for "
                                 f"{file.resolve()} (paths are relative to the protocol file)")
    return ProtocolFile(title=spec.get("title", Path(path).stem), kind=kind,
                        rules=tuple(spec.get("rules", ())),
                        model_files=tuple(str(f) for f in found),
                        activation=spec.get("activation", "relu"), network=dict(network),
                        path=str(path), **sections)


def run_protocol(spec: ProtocolFile) -> xr.Dataset:
    """The protocol on one synapse of every rule the file names (default: all), one Dataset
    with ``units`` on every variable, the file's settings in its attributes."""
    from ..model import Model
    from ..rules.registry import RULES, get_rule

    rules = [get_rule(name) for name in spec.rules]
    rules += [Model.from_toml(path).rule for path in spec.model_files]
    rules = rules or list(RULES.values())
    stim, shown = dict(spec.stimulus), {}  # shown: what the figures read
    if spec.kind == "network_frequency_response":
        from .network_protocols import network_protocol

        stim.setdefault("frequencies", p.FREQUENCIES)
        if "histories" in stim:  # as the one-synapse rate_history kind
            stim.setdefault("history_duration", p.HISTORY_DURATION)
        ds = network_protocol(rules, activation=spec.activation, **spec.synapse, **spec.network,
                              **stim)
        ds.attrs = global_attrs(spec.title, {
            "no_one_synapse": ds.attrs.get("no_one_synapse", ""),
            "protocol_file": spec.path, "kind": spec.kind, "rules": [r.name for r in rules],
            "activation": spec.activation, "synapse_SI": spec.synapse, "network": spec.network,
            "stimulus_SI": {k: list(v) if isinstance(v, tuple) else v for k, v in stim.items()},
            "pulses": stim.get("pulses", p.PULSES),
            "params": {rule.name: dict(rule.params) for rule in rules}})
        return ds
    if spec.kind == "neuromodulator_timing":
        from .neuromodulation import neuromodulator_timing

        parts = [neuromodulator_timing(rule, activation=spec.activation, **spec.synapse, **stim)
                 for rule in rules]
    else:
        synapses = [p.Synapse.make(rule, activation=spec.activation, **spec.synapse)
                    for rule in rules]
        if spec.kind == "pairing":
            stim.setdefault("post_rates", p.POST_RATES)
            parts = [p.pairing(syn, **stim) for syn in synapses]
        else:
            stim.setdefault("frequencies", p.FREQUENCIES)
            if spec.kind == "rate_history":
                stim.setdefault("histories", p.HISTORIES)
                stim.setdefault("history_duration", p.HISTORY_DURATION)
                parts = [p.history_protocol(syn, **stim) for syn in synapses]
            else:
                parts = [p.frequency_response(syn, **stim) for syn in synapses]
        shown = {"pulses": stim.get("pulses", p.PAIRING_PULSES if spec.kind == "pairing"
                                    else p.PULSES),
                 "history_duration_s": stim.get("history_duration", 0.0)}
    ds = xr.concat(p.with_every_state(parts), dim="rule", combine_attrs="drop_conflicts")
    ds = ds.assign_coords(rule=("rule", [rule.name for rule in rules]))
    ds.attrs = global_attrs(spec.title, {
        "protocol_file": spec.path, "kind": spec.kind, "rules": [rule.name for rule in rules],
        "activation": spec.activation, "synapse_SI": spec.synapse,
        "stimulus_SI": {k: list(v) if isinstance(v, tuple) else v for k, v in stim.items()},
        **shown, "params": {rule.name: dict(rule.params) for rule in rules}})
    return ds


def protocol_figure(ds: xr.Dataset):
    """The figure of a protocol's Dataset: the frequency response (a line per history, if
    any) or the pairing curve."""
    if "post_rate" in ds.dims:
        return p.pairing_figure(ds)
    if "engine" in ds.dims:
        from .network_protocols import network_figure

        return network_figure(ds)
    if "delay" in ds.dims:
        from .neuromodulation import timing_figure

        return timing_figure(ds)
    return p.frequency_response_figure(ds)


def run_protocol_file(path: str | Path, out: str | Path, echo=print) -> xr.Dataset:
    """Run the protocol file; write ``<stem>.nc`` and its figure into ``out``."""
    from ..io import write_dataset
    from ..plots import save_figure

    spec = load_protocol(path)
    ds = run_protocol(spec)
    out, stem = Path(out), Path(path).stem
    echo(f"wrote {write_dataset(ds, out / f'{stem}.nc')}")
    echo(f"wrote {save_figure(protocol_figure(ds), out / stem)}")
    if "engine" in ds.dims:
        from .network_protocols import network_table

        echo(network_table(ds))
    elif "history" in ds.dims:
        echo(p.crossover_table(ds))
    return ds
