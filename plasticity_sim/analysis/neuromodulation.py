"""Neuromodulator timing: a pairing, then a neuromodulator pulse at a delay, on one synapse.

Yagishita et al. 2014 paired pre- and post-synaptic activity in striatal slices and gave
dopamine at a delay: dopamine promoted potentiation only when it arrived within a window
after the pairing (0.3 to 2 s), not before it. A rule can bridge such a delay only if its
synapse keeps a memory of the pairing: an eligibility trace (``synapse_state``) read by the
update together with a third factor.

Here one synapse of a hidden projection steps through time one presentation at a time
(``presentation`` seconds each; the rule's equations are per presentation, so its time
constants are in presentations and this setting gives them physical time):

- the run starts at the earliest delay (or at the pairing, if no delay is negative), with
  the rule's traces and state at their initial values;
- during the pairing the pre-synaptic rate is ``pre_rate`` and the post-synaptic cell is
  held at ``post_rate`` by depolarization; otherwise both are silent (a state such as BCM's
  threshold relaxes in the silence before the pairing);
- the rule's third factor (its ``third_factor``: the broadcast neuromodulator of a
  three-factor rule, the dendritic error of a feedback rule) is 1 during the pulse
  (``pulse_duration`` long, starting ``delay`` after the pairing's onset) and 0 otherwise;
- the weight changes by dw = U x presentation / tau_w per presentation, U the rule's update
  with the traces as they were before the presentation; then the traces and the state
  variables take their new values.

Times are Brian2 quantities or numbers in SI units; the Dataset has ``units``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ParameterError
from ..provenance import global_attrs
from ..rules.rule import Rule
from .protocols import si
from .virtual import state_update, synapse_update, third_factor, traces_update

#: the defaults (choices of this library, not fitted to data)
DELAYS = (-2.0, -1.0, -0.5, 0.0, 0.3, 0.6, 1.0, 2.0, 3.0, 5.0)    # s, modulator onset - pairing onset
PRESENTATION = 0.1      # s per presentation
PAIRING_DURATION = 0.1  # s
PULSE_DURATION = 0.3    # s
REPORTED_WINDOW = (0.3, 2.0)  # s after the pairing: Yagishita et al. 2014


def neuromodulator_timing(rule: Rule, delays=DELAYS, *, presentation=PRESENTATION,
                          pairing_duration=PAIRING_DURATION, pulse_duration=PULSE_DURATION,
                          pre_rate=10.0, post_rate=10.0, rate_unit=10.0, tau_w=100.0,
                          w0: float = 1.0, activation: str = "relu") -> xr.Dataset:
    """The weight change (relative to ``w0``) for every delay of the neuromodulator pulse
    after the pairing's onset (negative: before it)."""
    delays = np.array([float(si(d, "time", "delays", signed=True)) for d in np.atleast_1d(delays)])
    if delays.ndim != 1 or (np.diff(delays) <= 0).any():
        raise ParameterError("delays", f"must be increasing; got {delays.tolist()}")
    step = float(si(presentation, "time", "presentation"))
    pairing_t = float(si(pairing_duration, "time", "pairing_duration"))
    pulse_t = float(si(pulse_duration, "time", "pulse_duration"))
    for name, value in (("presentation", step), ("pairing_duration", pairing_t),
                        ("pulse_duration", pulse_t)):
        if not value > 0:
            raise ParameterError(name, f"must be > 0 s; got {value!r}")
    x = float(si(pre_rate, "frequency", "pre_rate")) / float(si(rate_unit, "frequency", "rate_unit"))
    held = float(si(post_rate, "frequency", "post_rate")) / float(si(rate_unit, "frequency", "rate_unit"))
    tau = float(si(tau_w, "time", "tau_w"))
    third = third_factor(rule)
    start = min(0.0, delays.min())
    end = max(pairing_t, delays.max() + pulse_t) + step
    times = start + step * np.arange(int(np.ceil((end - start) / step - 1e-9)))
    pairing = (times >= -1e-12) & (times < pairing_t - 1e-12)
    drive = _drive_for(rule, held, activation)
    change = np.zeros(len(delays))
    for i, delay in enumerate(delays):
        pulse = (times >= delay - 1e-12) & (times < delay + pulse_t - 1e-12)
        change[i] = _run(rule, pairing, pulse if third is not None else np.zeros_like(pulse),
                         x, drive, w0, activation) * step / tau / w0
    ds = xr.Dataset(
        {"relative_change": (("delay",), change, {
            "long_name": "weight change relative to the weight before the pairing",
            "units": "1"})},
        coords={"delay": ("delay", delays, {"long_name": "neuromodulator onset after the "
                                                         "pairing's onset", "units": "s"})})
    ds.attrs.update(global_attrs(f"{rule.name}: neuromodulator timing", {
        "rule": rule.name, "third_factor": third or "", "presentation_s": step,
        "pairing_duration_s": pairing_t, "pulse_duration_s": pulse_t, "pre_rate": x,
        "post_rate": held, "tau_w_s": tau, "w0": w0, "activation": activation,
        "params": dict(rule.params)}))
    ds.attrs["third_factor"] = third or ""
    return ds


def _run(rule: Rule, pairing: np.ndarray, pulse: np.ndarray, x: float, drive: float, w0: float,
         activation: str) -> float:
    """The summed update U over the presentations (the weight moves too slowly, tau_w, to
    change the rates within the protocol)."""
    state = {eq.name: float(rule.state_init[eq.name]) for eq in rule.state_equations}
    traces = {eq.name: float(rule.state_init[eq.name]) for eq in rule.synapse_state_equations}
    total, w = 0.0, w0
    for paired, modulated in zip(pairing, pulse):
        r_pre = x if paired else 0.0
        a_post = drive if paired else 0.0
        kw = dict(r_pre=r_pre, a_post=a_post, w=w, modulator=float(modulated),
                  activation=activation, state=state)
        total += float(synapse_update(rule, traces=traces, **kw))
        traces = {k: float(v) for k, v in traces_update(rule, traces, **kw).items()}
        state = {k: float(v) for k, v in state_update(
            rule, state, a_post=a_post, modulator=float(modulated), activation=activation).items()}
    return total


def _drive_for(rule: Rule, rate: float, activation: str) -> float:
    """The drive at which the unit fires at ``rate`` (in rate units)."""
    from .protocols import Synapse

    return Synapse(rule=rule, activation=activation, rate_unit=1.0).drive_for(rate)


def timing_figure(ds: xr.Dataset):
    """Weight change against the neuromodulator's delay, one line per rule (each scaled to
    its largest change, so that shapes compare), the window Yagishita et al. 2014 report
    shaded."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.6, 4.2))
    ax.axvspan(*REPORTED_WINDOW, color="0.9", zorder=0,
               label="dopamine effective (Yagishita et al. 2014)")
    rules = ds.rule.values if "rule" in ds.dims else [None]
    for rule in rules:
        change = (ds.sel(rule=rule) if rule is not None else ds).relative_change.values
        scale = np.abs(change).max()
        ax.plot(ds.delay.values, change / scale if scale else change, "o-", ms=3,
                label=str(rule) if rule is not None else ds.attrs.get("title", ""))
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("neuromodulator onset after the pairing's onset (s)")
    ax.set_ylabel("weight change (scaled to each rule's largest)")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("Neuromodulator timing: a pairing, then a pulse of the third factor",
                 fontsize=10)
    fig.tight_layout()
    return fig
