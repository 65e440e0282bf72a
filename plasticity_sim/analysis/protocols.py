"""Induction protocols in physical units, on one synapse, with the rule's own equations.

A slice experiment drives a pathway at a frequency for a number of pulses and measures the
lasting change of the synapse; the cell's earlier activity sets where depression turns into
potentiation. Here one synapse of a hidden projection does the same in a rate model:

- the pre-synaptic rate is the stimulation frequency (the pulses averaged into a rate);
- the post-synaptic neuron follows r = f(a), a = w x + (drive from the cell's other inputs);
- the weight and the rule's state variables (BCM's threshold) follow the rule's equations
  in time: dw/dt = U / tau_w, with U the rule's per-presentation update, and each state
  equation with its rate ``eps`` = dt / tau_state.

Rates enter the equations in units of ``rate_unit`` (x = nu / rate_unit). Times and
frequencies are Brian2 quantities (``900 * second``, ``10 * Hz``) or numbers in SI units
(s, Hz); a protocol written in ms equals the one written in s. Outputs are xarray Datasets
with ``units`` on every variable. Everything else the update reads (a feedback rule's
error, a context) sits at the reference state of :mod:`plasticity_sim.analysis.virtual`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import ParameterError
from ..network.activations import get_activation
from ..provenance import global_attrs
from ..rules.rule import Rule
from .virtual import _tensor, check_single_synapse, state_update, synapse_update

#: steps per shortest time constant: the protocol's only dynamics are tau_w and tau_state
STEPS_PER_TAU = 50
PULSES = 900            # pulses of a frequency-response induction (Dudek and Bear 1992)
PAIRING_PULSES = 100    # pre-synaptic pulses of a pairing
PAIRING_PRE_RATE = 1.0  # Hz


def si(value, kind: str, name: str, signed: bool = False) -> np.ndarray:
    """``value`` (a Brian2 quantity, or numbers taken in SI units) as floats in Hz or s; a
    quantity of another dimension is one error naming ``name``. Negative values only with
    ``signed`` (a delay before an event)."""
    from brian2 import Hz, second
    from brian2.units.fundamentalunits import Quantity, have_same_dimensions

    unit, unit_name = {"frequency": (Hz, "Hz"), "time": (second, "s")}[kind]
    if isinstance(value, Quantity):
        if not have_same_dimensions(value, unit):
            raise ParameterError(name, f"must be a {kind} (in {unit_name} or a multiple); "
                                 f"got {value!r}")
        value = np.asarray(value / unit, dtype=float)
    out = np.asarray(value, dtype=float)
    if not np.isfinite(out).all():
        raise ParameterError(name, f"must be finite; got {value!r}")
    if not signed and (out < 0).any():
        raise ParameterError(name, f"must be finite and >= 0; got {value!r}")
    return out


@dataclass(frozen=True)
class Synapse:
    """One synapse in physical time. Build it with :meth:`make` to give times and rates
    with units; the fields hold them in s and Hz."""

    rule: Rule
    activation: str = "relu"
    rate_unit: float = 10.0      # Hz: x = nu / rate_unit
    tau_w: float = 36_000.0      # s: dw/dt = U / tau_w (sets the size of a change only)
    tau_state: float = 3_600.0   # s: BCM's threshold follows <r^2> over this time
    w0: float = 1.0              # the weight when an induction starts

    @classmethod
    def make(cls, rule: Rule, *, rate_unit=None, tau_w=None, tau_state=None,
             one_synapse: bool = True, **rest):
        """The synapse of ``rule``; ``one_synapse=False`` takes only the physical settings,
        for a rule the one-synapse slice cannot follow but a network can (traces)."""
        values = {}
        for name, kind, value in (("rate_unit", "frequency", rate_unit), ("tau_w", "time", tau_w),
                                  ("tau_state", "time", tau_state)):
            if value is not None:
                number = float(si(value, kind, name))
                if not number > 0:
                    raise ParameterError(name, f"must be > 0; got {value!r}")
                values[name] = number
        get_activation(rest.get("activation", "relu"))  # a bad name fails now
        if one_synapse:
            check_single_synapse(rule)
        return cls(rule=rule, **values, **rest)

    def initial_state(self) -> dict:
        return {eq.name: float(self.rule.state_init[eq.name]) for eq in self.rule.state_equations}

    def rate(self, a):
        return np.asarray(get_activation(self.activation).f(_tensor(a)))

    def drive_for(self, post_rate: float) -> float:
        """The drive a at which the neuron fires at ``post_rate`` Hz (f is monotonic)."""
        target = post_rate / self.rate_unit
        grid = np.linspace(-10.0, 100.0, 200_001)
        rates = self.rate(grid)
        if not rates.min() <= target <= rates.max():
            raise ParameterError("post_rate", f"{post_rate} Hz is out of reach of the "
                                 f"{self.activation} neuron (rate_unit {self.rate_unit} Hz)")
        i = int(np.argmax(rates >= target))
        if rates[i] == target:
            return float(grid[i])
        from scipy.optimize import brentq  # refine inside the grid cell that holds it

        return float(brentq(lambda a: float(self.rate(a)) - target, grid[i - 1], grid[i],
                            xtol=1e-15, rtol=1e-15))

    def steps(self, duration: float) -> int:
        """Euler steps of a run of ``duration`` (s): at least STEPS_PER_TAU, and as many per
        shortest time constant (tau_w, and tau_state for a rule with state equations)."""
        shortest = min(self.tau_w, self.tau_state) if self.rule.state_equations else self.tau_w
        return max(STEPS_PER_TAU, int(np.ceil(STEPS_PER_TAU * float(duration) / shortest)))

    def run(self, w, state: dict, pre_rate, duration, other_drive=0.0, plastic: bool = True):
        """Drive the pathway at ``pre_rate`` (Hz) for ``duration`` (s), every element of the
        broadcast arrays on its own; returns the weight change and the state at the end (the
        change is summed on its own, so that a small change is not lost to rounding)."""
        pre_rate, duration, other_drive = np.broadcast_arrays(
            *(np.asarray(v, float) for v in (pre_rate, duration, other_drive)))
        steps = self.steps(duration.max())
        dt = duration / steps  # every element in the same number of steps
        x = pre_rate / self.rate_unit
        w0 = np.broadcast_to(np.asarray(w, float), x.shape)
        change = np.zeros(x.shape)
        state = {k: np.broadcast_to(np.asarray(v, float), x.shape).copy() for k, v in state.items()}
        for _ in range(steps):
            w = w0 + change
            a = w * x + other_drive
            dw = synapse_update(self.rule, r_pre=x, a_post=a, w=w, activation=self.activation,
                                state=state) if plastic else 0.0
            # the rule's own state equations, with its rate eps = dt / tau_state
            state = state_update(self.rule, state, a_post=a, activation=self.activation,
                                 eps=dt / self.tau_state)
            change = change + dw * dt / self.tau_w
        return change, state


def frequency_response(synapse: Synapse, frequencies, *, pulses: int = PULSES,
                       history_rate=0.0, history_duration=0.0) -> xr.Dataset:
    """The weight change after ``pulses`` pulses at each frequency (Dudek and Bear 1992:
    900 pulses at 1-50 Hz), each induction on the same synapse after the same history: the
    cell firing at ``history_rate`` for ``history_duration``, driven by its other inputs
    while the tested pathway is silent (so the history moves the rule's state, e.g. BCM's
    threshold, and not the tested weight)."""
    f = frequencies_in_hz(frequencies)
    check_pulses(pulses)
    h_rate = float(si(history_rate, "frequency", "history_rate"))
    h_time = float(si(history_duration, "time", "history_duration"))
    state = synapse.initial_state()
    if h_time > 0:
        state = synapse.run(synapse.w0, state, 0.0, h_time, other_drive=synapse.drive_for(h_rate),
                            plastic=False)[1]
        state = {k: float(v) for k, v in state.items()}
    dw, _ = synapse.run(synapse.w0, state, f, pulses / f)
    ds = xr.Dataset(
        {"dw": (("frequency",), dw, {"long_name": f"weight change after {pulses} pulses",
                                     "units": "1"}),
         "relative_change": (("frequency",), dw / synapse.w0,
                             {"long_name": "weight change relative to the weight before",
                              "units": "1"})},
        coords={"frequency": ("frequency", f, {"long_name": "stimulation frequency",
                                               "units": "Hz"})})
    for name, value in state.items():
        ds[f"{name}_at_induction"] = ((), value, {"long_name": f"the rule's {name} when the "
                                                  "induction starts", "units": "1"})
    ds["crossover"] = ((), crossover(f, dw), {
        "long_name": "frequency where depression turns into potentiation (NaN: none)",
        "units": "Hz"})
    ds.attrs.update(global_attrs(f"{synapse.rule.name}: frequency response", {
        "rule": synapse.rule.name, "pulses": int(pulses), "history_rate_Hz": h_rate,
        "history_duration_s": h_time, "activation": synapse.activation,
        "rate_unit_Hz": synapse.rate_unit, "tau_w_s": synapse.tau_w,
        "tau_state_s": synapse.tau_state, "w0": synapse.w0, "params": dict(synapse.rule.params)}))
    return ds


def history_protocol(synapse: Synapse, frequencies, histories: dict, *, history_duration,
                     pulses: int = PULSES) -> xr.Dataset:
    """The frequency response after each history (name -> the cell's rate), as deprivation
    against normal experience (Kirkwood, Rioult and Bear 1996)."""
    if not histories:
        raise ParameterError("histories", "give at least one history (name -> rate)")
    parts = [frequency_response(synapse, frequencies, pulses=pulses, history_rate=rate,
                                history_duration=history_duration) for rate in histories.values()]
    ds = xr.concat(parts, dim="history", combine_attrs="override")
    ds = ds.assign_coords(history_coords(histories))
    ds.attrs["title"] = f"{synapse.rule.name}: frequency response after rate histories"
    return ds


def pairing(synapse: Synapse, post_rates, *, pre_rate=PAIRING_PRE_RATE,
            pulses: int = PAIRING_PULSES) -> xr.Dataset:
    """Pre-synaptic pulses at ``pre_rate`` paired with the post-synaptic cell held at each
    rate of ``post_rates`` by depolarization (current injection: the drive that alone makes
    it fire at that rate), as in pairing experiments (e.g. Artola, Broecher and Singer 1990:
    depression with moderate depolarization, potentiation with strong); the rule's state
    starts at its initial value."""
    post = np.atleast_1d(si(post_rates, "frequency", "post_rates"))
    if post.ndim != 1 or (np.diff(post) <= 0).any():
        raise ParameterError("post_rates", f"must be increasing; got {post.tolist()}")
    rate = float(si(pre_rate, "frequency", "pre_rate"))
    if not rate > 0:
        raise ParameterError("pre_rate", f"must be > 0 Hz; got {pre_rate!r}")
    check_pulses(pulses)
    drive = np.array([synapse.drive_for(r) for r in post])
    dw, _ = synapse.run(synapse.w0, synapse.initial_state(), rate, pulses / rate,
                        other_drive=drive)
    ds = xr.Dataset(
        {"pairing_change": (("post_rate",), dw / synapse.w0, {
            "long_name": f"weight change relative to the weight before, {pulses} pre-synaptic "
                         f"pulses at {rate:g} Hz paired with depolarization", "units": "1"})},
        coords={"post_rate": ("post_rate", post, {
            "long_name": "post-synaptic rate the depolarization alone gives", "units": "Hz"})})
    ds.attrs.update(global_attrs(f"{synapse.rule.name}: pairing", {
        "rule": synapse.rule.name, "pulses": int(pulses), "pre_rate_Hz": rate,
        "w0": synapse.w0, "rate_unit_Hz": synapse.rate_unit, "tau_w_s": synapse.tau_w}))
    return ds


def with_every_state(parts: list) -> list:
    """A rule's state variable (BCM's theta at the induction) is its own: the rules without
    it get NaN, so that every rule's Dataset has the same variables."""
    names = {n for part in parts for n in part.data_vars}
    out = []
    for part in parts:
        missing = {}
        for name in names - set(part.data_vars):
            like = next(q[name] for q in parts if name in q)
            dims = [d for d in like.dims if d in part.dims]
            missing[name] = xr.full_like(like.isel({d: 0 for d in like.dims if d not in dims}),
                                         float("nan"))
        out.append(part.assign(missing) if missing else part)
    return out


def crossover(f: np.ndarray, dw: np.ndarray) -> float:
    """The first frequency where dw turns from negative to >= 0, interpolated in log f."""
    for i in range(len(f) - 1):
        if dw[i] < 0 <= dw[i + 1]:
            return _zero_in_log_f(f, dw, i)
    return float("nan")


def _zero_in_log_f(f: np.ndarray, dw: np.ndarray, i: int) -> float:
    """Where dw, linear in log f between f[i] and f[i + 1], crosses zero."""
    t = -dw[i] / (dw[i + 1] - dw[i])
    return float(np.exp(np.log(f[i]) + t * (np.log(f[i + 1]) - np.log(f[i]))))


def history_coords(histories: dict) -> dict:
    """The ``history`` coordinates of rate histories (name -> the cell's rate)."""
    rates = [float(si(rate, "frequency", "histories")) for rate in histories.values()]
    return {"history": ("history", list(histories), {"long_name": "rate history"}),
            "history_rate": ("history", rates, {"long_name": "the cell's rate during the "
                                                "history", "units": "Hz"})}


def frequencies_in_hz(frequencies) -> np.ndarray:
    """Stimulation frequencies in Hz, checked: increasing and > 0."""
    f = np.atleast_1d(si(frequencies, "frequency", "frequencies"))
    if f.ndim != 1 or not (f > 0).all() or (np.diff(f) <= 0).any():
        raise ParameterError("frequencies", f"must be increasing and > 0 Hz; got {f.tolist()}")
    return f


def check_pulses(pulses) -> None:
    if isinstance(pulses, bool) or not isinstance(pulses, (int, np.integer)) or pulses < 1:
        raise ParameterError("pulses", f"must be an integer >= 1; got {pulses!r}")


#: the defaults of `plasticity-sim protocols` (choices of this library, not fitted to data)
FREQUENCIES = (0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100)    # Hz
HISTORIES = {"deprived": 3.0, "normal": 10.0}            # Hz: the cell's rate before
HISTORY_DURATION = 48 * 3600.0                           # s
POST_RATES = (0.5, 1, 2, 5, 10, 20, 50)                   # Hz: pairing's depolarization levels


def protocols(rules: list[Rule], *, frequencies=FREQUENCIES, histories=None,
              history_duration=HISTORY_DURATION, pulses: int = PULSES, post_rates=POST_RATES,
              **synapse) -> xr.Dataset:
    """The history protocol (rule x history x frequency) and the pairing protocol (rule x
    post_rate) for every rule, on one Dataset."""
    histories = dict(HISTORIES if histories is None else histories)
    synapses = [Synapse.make(rule, **synapse) for rule in rules]
    parts = [history_protocol(syn, frequencies, histories, history_duration=history_duration,
                              pulses=pulses) for syn in synapses]
    paired = xr.concat([pairing(syn, post_rates)["pairing_change"] for syn in synapses],
                       dim="rule")
    # a state variable (BCM's theta) is the rule's own: NaN for the rules without it
    states = sorted({n for part in parts for n in part.data_vars if n.endswith("_at_induction")})
    kept = {}
    for name in states:
        values = np.stack([part[name].values if name in part else np.full(part.sizes["history"], np.nan)
                           for part in parts])
        attrs = next(part[name].attrs for part in parts if name in part)
        kept[name] = (("rule", "history"), values, attrs)
    parts = [part.drop_vars([n for n in states if n in part]) for part in parts]
    ds = xr.concat(parts, dim="rule", combine_attrs="override")
    ds = ds.assign_coords(rule=("rule", [rule.name for rule in rules])).assign(kept)
    ds["pairing_change"] = paired.assign_coords(rule=ds.rule)
    config = {k: v for k, v in json.loads(parts[0].attrs["config"]).items()
              if k not in ("rule", "params", "history_rate_Hz")}
    ds.attrs = global_attrs(
        "Frequency response after rate histories, and pairing, every rule on one synapse",
        {**config, "rules": [rule.name for rule in rules],
         "params": {rule.name: dict(rule.params) for rule in rules},
         "histories_Hz": {name: float(si(rate, "frequency", "histories"))
                          for name, rate in histories.items()},
         "pairing": {"pulses": PAIRING_PULSES, "pre_rate_Hz": PAIRING_PRE_RATE}})
    return ds


def rule_panels(count: int):
    """A figure of ``count`` panels, four to a row (the unused ones hidden): (fig, axes)."""
    import matplotlib.pyplot as plt

    cols = min(4, count)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.7 * rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    return fig, axes


def frequency_response_figure(ds: xr.Dataset):
    """Relative weight change against stimulation frequency, a panel per rule, a line per
    history, crossovers marked."""
    rules = list(ds.rule.values) if "rule" in ds.dims else [None]
    fig, axes = rule_panels(len(rules))
    for ax, rule in zip(axes.flat, rules):
        part = ds.sel(rule=rule) if rule is not None else ds
        for history in part.history.values if "history" in part.dims else [None]:
            h = part.sel(history=history) if history is not None else part
            line, = ax.plot(h.frequency.values, 100 * h.relative_change.values, "o-", ms=3,
                            label=f"{history} ({float(h.history_rate):g} Hz)"
                            if history is not None else None)
            if np.isfinite(float(h.crossover)):
                ax.axvline(float(h.crossover), color=line.get_color(), lw=0.8, ls=":")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_xscale("log")
        ax.set_title(str(rule) if rule is not None else ds.attrs.get("title", ""), fontsize=9)
        ax.set_xlabel("stimulation frequency (Hz)", fontsize=8)
    axes[0][0].set_ylabel("weight change (% of before)")
    config = json.loads(ds.attrs.get("config", "{}"))
    if "history" in ds.dims:
        axes[0][0].legend(fontsize=6, title="history", title_fontsize=6)
        hours = config.get("history_duration_s", 0) / 3600
        fig.suptitle(f"Frequency response: {config.get('pulses', '?')} pulses after {hours:g} "
                     "h of a rate history", fontsize=10)
    else:
        fig.suptitle(f"Frequency response: {config.get('pulses', '?')} pulses", fontsize=10)
    return fig


def pairing_figure(ds: xr.Dataset):
    """Relative weight change against the post-synaptic rate held by depolarization, one
    line per rule (each scaled to its largest change, so that signs compare)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.6, 4.2))
    colours = plt.get_cmap("tab20").colors  # one colour per rule for up to 20 rules
    for i, rule in enumerate(ds.rule.values):
        change = ds.pairing_change.sel(rule=rule).values
        scale = np.abs(change).max()
        ax.plot(ds.post_rate.values, change / scale if scale > 0 else change, marker="o", ms=3,
                color=colours[i % len(colours)], ls=("-", "--", ":")[i // len(colours) % 3],
                label=str(rule))
    ax.axhline(0, color="grey", lw=0.6)
    ax.set(xscale="log", xlabel="post-synaptic rate held by depolarization (Hz)",
           ylabel="weight change (scaled to its largest)",
           title="Pairing: pre-synaptic pulses with post-synaptic depolarization")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def response_shape(f: np.ndarray, dw: np.ndarray) -> str:
    """The sign of the change along the frequencies, in words, with every sign change
    interpolated in log f: "depression below 10 Hz, potentiation above"."""
    signs = np.sign(np.where(np.abs(dw) > 1e-12 * max(np.abs(dw).max(), 1e-300), dw, 0.0))
    if not signs.any():
        return "no change"
    names = {1.0: "potentiation", -1.0: "depression", 0.0: "no change"}
    parts, edges, current = [], [], signs[0]
    for i in range(1, len(f)):
        if signs[i] != current and signs[i] != 0:
            edges.append(_zero_in_log_f(f, dw, i - 1) if current != 0 else float(f[i - 1]))
            parts.append(names[current])
            current = signs[i]
    parts.append(names[current])
    if len(parts) == 1:
        return f"{parts[0]} at every frequency"
    words = [f"{parts[0]} below {edges[0]:.2g} Hz"]
    words += [f"{part} from {lo:.2g} to {hi:.2g} Hz" for part, lo, hi in
              zip(parts[1:-1], edges[:-1], edges[1:])]
    words.append(f"{parts[-1]} above {edges[-1]:.2g} Hz")
    return ", ".join(words)


def crossover_table(ds: xr.Dataset) -> str:
    """Markdown: per rule, the shape of the frequency response after each history."""
    histories = [f"{h} ({float(r):g} Hz)" for h, r in zip(ds.history.values, ds.history_rate.values)]
    lines = ["| rule | " + " | ".join(f"after {h}" for h in histories) + " |",
             "|---|" + "---|" * len(histories)]
    for rule in ds.rule.values:
        cells = [response_shape(ds.frequency.values,
                                ds.relative_change.sel(rule=rule, history=history).values)
                 for history in ds.history.values]
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
