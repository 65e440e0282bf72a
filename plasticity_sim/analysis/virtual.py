"""Virtual plasticity experiments: one synapse of a hidden projection, clamped as in a slice.

The rule's own update expression is evaluated for clamped pre- and post-synaptic
variables: the pre-synaptic rate, the post-synaptic drive (the rate follows r = f(a)), the
third factor (the rule's ``third_factor``: the dendritic error for the feedback family,
CLAPP's gamma, the pair sign of LPL) set on (+1), off (0) or reversed (-1), and the weight.
Everything else sits at a reference value (``REFERENCE``): a context rate of 0.5, running
mean 0.5, variance 1, BCM threshold 1, and so on. The change is per presentation, before
the learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from ..errors import ParameterError
from ..network.activations import get_activation
from ..provenance import global_attrs
from ..rules.equations import NUMPY_FUNCTIONS, REDUCTIONS, names_in, parse_expression
from ..rules.rule import Rule

REFERENCE = {"r_pre": 1.0, "a_post": 1.5, "w": 0.1, "a_ctx": 0.25, "positive": 1.0,
             "mu": 0.5, "var": 0.5, "theta": 1.0, "dendritic": 1.0, "context_pre": 0.5}
MODULATOR = {"on": 1.0, "off": 0.0, "reversed": -1.0}


def third_factor(rule: Rule) -> str | None:
    """The variable clamped as the third factor: the rule's ``third_factor``, else its first
    pathway (a dendritic signal), else its first broadcast variable (a neuromodulator)."""
    if rule.third_factor:
        return rule.third_factor
    return next((p.name for p in rule.pathways),
                next((eq.name for eq in rule.broadcast_equations), None))


def synapse_update(rule: Rule, *, r_pre, a_post, w, modulator=1.0, activation: str = "relu",
                   state: dict | None = None, traces: dict | None = None,
                   context_pre=REFERENCE["context_pre"]):
    """The per-presentation change of one synapse of a hidden projection (broadcasts);
    ``state``: values of the rule's state variables (default: the reference state);
    ``traces``: values of its synaptic state (eligibility traces; default 0);
    ``context_pre``: the pre-synaptic rate in the pair's context (the other view, the
    previous presentation)."""
    check_single_synapse(rule, traces)
    tree = parse_expression(rule.update)
    values = _synapse_namespace(rule, tree, r_pre=r_pre, a_post=a_post, w=w,
                                modulator=modulator, activation=activation, state=state,
                                traces=traces, context_pre=context_pre)
    shape = np.broadcast_shapes(np.shape(r_pre), np.shape(a_post), np.shape(w))
    return np.broadcast_to(_eval(tree, values), shape).astype(float)


def traces_update(rule: Rule, traces: dict, *, r_pre, a_post, w, modulator=1.0,
                  activation: str = "relu", state: dict | None = None) -> dict:
    """The new values of the synapse's traces (its ``synapse_state``), from the old ones."""
    out = {}
    for eq in rule.synapse_state_equations:
        values = _synapse_namespace(rule, eq.tree, r_pre=r_pre, a_post=a_post, w=w,
                                    modulator=modulator, activation=activation, state=state,
                                    traces=traces)
        out[eq.name] = np.asarray(_eval(eq.tree, values), dtype=float)
    return out


def post_variables(rule: Rule, *, a_post, modulator=1.0, activation: str = "relu",
                   state: dict | None = None) -> dict:
    """The post-synaptic unit's variables: built-ins, hidden equations, pathways and
    broadcast variables at the reference state, the third factor clamped to ``modulator``
    (times its reference value)."""
    namespace = _functions(rule, activation)
    f = namespace["f"]
    a_post = np.asarray(a_post, dtype=float)
    post = {"a": a_post, "r": f(a_post), "a_ctx": np.asarray(REFERENCE["a_ctx"]),
            "r_ctx": f(np.asarray(REFERENCE["a_ctx"])), "positive": np.asarray(REFERENCE["positive"])}
    post.update({eq.name: np.asarray(REFERENCE.get(eq.name, 0.0)) for eq in rule.state_equations})
    post.update({eq.name: np.asarray(0.0) for eq in rule.broadcast_equations})
    post.update({name: np.asarray(value) for name, value in (state or {}).items()})
    for p in rule.pathways:  # a running statistic (decorrelation) starts uncorrelated
        post[p.name] = np.asarray(0.0 if p.rate == "direct" or _reads_statistic(rule, p)
                                  else REFERENCE["dendritic"])
    third = third_factor(rule)
    clamped = {}
    if third is not None:
        base = post.get(third, 1.0)
        # a broadcast neuromodulator is clamped to the value itself (its reference is 0)
        if third in {eq.name for eq in rule.broadcast_equations}:
            base = 1.0
        clamped[third] = np.asarray(base) * modulator
        post[third] = clamped[third]
    for eq in rule.hidden_equations:
        if eq.name in clamped:
            continue
        post[eq.name] = _eval(eq.tree, {**namespace, **post})
    return post


def state_update(rule: Rule, state: dict, *, a_post, modulator=1.0, activation: str = "relu",
                 **constants) -> dict:
    """The unit's state variables' new values from the old ones (``state``); ``constants``
    replace names the equations read (a rate ``eps``)."""
    namespace = {**_functions(rule, activation),
                 **post_variables(rule, a_post=a_post, modulator=modulator,
                                  activation=activation, state=state), **constants, **state}
    return {eq.name: np.asarray(_eval(eq.tree, namespace), float)
            for eq in rule.state_equations}


def _functions(rule: Rule, activation: str) -> dict:
    """Functions and constants of one unit: every reduction is the value itself, on one
    position of a layer of two channels (a covariance needs two), one negative pair per
    positive one; the rule's parameters."""
    act = get_activation(activation)
    f = lambda x: np.asarray(act.f(_tensor(x)))  # noqa: E731
    fp = lambda x: np.asarray(act.fprime(_tensor(x)))  # noqa: E731
    return {**NUMPY_FUNCTIONS, "f": f, "fprime": fp, "pi": math.pi,
            **{name: (lambda x: x) for name in REDUCTIONS},
            **{k: float(v) for k, v in rule.population_constants((1, 2), negatives=1).items()}}


def _synapse_namespace(rule: Rule, tree, *, r_pre, a_post, w, modulator, activation, state,
                       traces, context_pre=REFERENCE["context_pre"]) -> dict:
    """Every name a synaptic expression reads, for one synapse."""
    post = post_variables(rule, a_post=a_post, modulator=modulator, activation=activation,
                          state=state)
    pre = {"r": np.asarray(r_pre, dtype=float), "r_ctx": np.asarray(context_pre, dtype=float),
           "a": np.asarray(r_pre, dtype=float)}
    # a presynaptic trace sits where the post-synaptic unit's state does (reference or given)
    pre.update({eq.name: post[eq.name] for eq in rule.input_state_equations})
    syn = {"w": np.asarray(w, dtype=float), "fan_in": 1.0, "fan_out": 1.0}
    syn.update({eq.name: np.asarray(0.0) for eq in rule.synapse_state_equations})
    syn.update({name: np.asarray(value, dtype=float) for name, value in (traces or {}).items()})
    values = _functions(rule, activation)
    for name in names_in(tree):
        if name.endswith("_post"):
            values[name] = post.get(name[:-5], 0.0)
        elif name.endswith("_pre"):
            values[name] = pre.get(name[:-4], 0.0)
        elif name in syn:
            values[name] = syn[name]
        elif name not in values:
            values[name] = 0.0  # another synaptic variable (fixed feedback weight, ...)
    return values


def check_single_synapse(rule: Rule, traces: dict | None = None) -> None:
    """One synapse at a reference state has no network around it: a rule with synaptic
    traces is refused unless a protocol follows them (``traces`` given), not given made-up
    values."""
    if traces is None and rule.synapse_state_equations:
        raise ParameterError("rule", f"{rule.name}: its synapses keep eligibility traces, which "
                             "the virtual slice and the frequency and pairing protocols do not "
                             "follow; the neuromodulator-timing protocol does "
                             "(plasticity_sim.analysis.neuromodulation), or train its network")


def _reads_statistic(rule: Rule, p) -> bool:
    return any(q.name == p.name and q.rate == "direct" for q in rule.pathways)


def _tensor(x):
    import torch

    return torch.as_tensor(np.asarray(x, dtype=float))


def _eval(tree, namespace):
    import ast

    return eval(compile(ast.Expression(tree), "<virtual>", "eval"), {"__builtins__": {}}, namespace)


@dataclass
class Signature:
    rule: str
    bcm_switch: bool        # depression then potentiation as post-synaptic activity rises
    gated: bool             # no change with the third factor off (and some with it on)
    follows_modulator: bool  # reversing the third factor reverses the change
    weight_dependent: bool
    hebbian: bool           # the change is proportional to the pre-synaptic rate
    #: what a silent synapse (no pre-synaptic activity, now or in the context) does while
    #: its cell is driven by its other inputs: "depression", "potentiation", "none", "mixed"
    heterosynaptic: str = "none"


def virtual_experiments(rules: list[Rule], activation: str = "relu") -> xr.Dataset:
    """Four protocols per rule: dw vs post-synaptic rate, vs pre-synaptic rate (both for
    each modulator setting), vs the initial weight, and the change of a silent synapse
    (pre-synaptic rate 0, in the context too) vs the post-synaptic rate its cell's other
    inputs drive (heterosynaptic plasticity)."""
    post_a = np.linspace(-0.5, 3.0, 36)
    pre_r = np.linspace(0.0, 2.0, 21)
    weights = np.linspace(-1.0, 1.0, 21)
    mods = list(MODULATOR)
    vs_post = np.zeros((len(rules), len(mods), len(post_a)))
    vs_pre = np.zeros((len(rules), len(mods), len(pre_r)))
    vs_w = np.zeros((len(rules), len(weights)))
    silent = np.zeros((len(rules), len(post_a)))
    for i, rule in enumerate(rules):
        silent[i] = synapse_update(rule, r_pre=0.0, context_pre=0.0, a_post=post_a,
                                   w=REFERENCE["w"], activation=activation)
        for j, mod in enumerate(mods):
            m = MODULATOR[mod]
            vs_post[i, j] = synapse_update(rule, r_pre=REFERENCE["r_pre"], a_post=post_a,
                                           w=REFERENCE["w"], modulator=m, activation=activation)
            vs_pre[i, j] = synapse_update(rule, r_pre=pre_r, a_post=REFERENCE["a_post"],
                                          w=REFERENCE["w"], modulator=m, activation=activation)
        vs_w[i] = synapse_update(rule, r_pre=REFERENCE["r_pre"], a_post=REFERENCE["a_post"],
                                 w=weights, activation=activation)
    rate = np.asarray(get_activation(activation).f(_tensor(post_a)))
    ds = xr.Dataset(
        {"dw_vs_post": (("rule", "modulator", "post_drive"), vs_post,
                        {"long_name": "weight change per presentation vs post-synaptic activity",
                         "units": "1"}),
         "dw_vs_pre": (("rule", "modulator", "pre_rate"), vs_pre,
                       {"long_name": "weight change per presentation vs pre-synaptic rate", "units": "1"}),
         "dw_vs_weight": (("rule", "weight"), vs_w,
                          {"long_name": "weight change per presentation vs the initial weight",
                           "units": "1"}),
         "dw_silent": (("rule", "post_drive"), silent,
                       {"long_name": "weight change per presentation of a silent synapse (no "
                                     "pre-synaptic activity) vs its cell's activity", "units": "1"}),
         "post_rate": (("post_drive",), rate, {"long_name": "post-synaptic rate f(a)", "units": "1"})},
        coords={"rule": [r.name for r in rules], "modulator": mods,
                "post_drive": ("post_drive", post_a, {"long_name": "post-synaptic drive a", "units": "1"}),
                "pre_rate": ("pre_rate", pre_r, {"long_name": "pre-synaptic rate", "units": "1"}),
                "weight": ("weight", weights, {"long_name": "initial weight", "units": "1"})})
    ds.attrs.update(global_attrs("Virtual plasticity experiments on one synapse",
                                 {"reference": REFERENCE, "activation": activation,
                                  "third_factor": {r.name: third_factor(r) for r in rules}}))
    return ds


def signatures(ds: xr.Dataset) -> list[Signature]:
    out = []
    for rule in ds.rule.values:
        on = ds.dw_vs_post.sel(rule=rule, modulator="on").values
        off = ds.dw_vs_post.sel(rule=rule, modulator="off").values
        rev = ds.dw_vs_post.sel(rule=rule, modulator="reversed").values
        active = ds.post_rate.values > 1e-9
        low, high = on[active][: active.sum() // 4], on[active][-(active.sum() // 4):]
        scale = np.abs(on).max() + 1e-12
        out.append(Signature(
            rule=str(rule),
            bcm_switch=bool(np.all(low < -1e-9 * scale) and np.all(high > 1e-9 * scale)),
            gated=bool(np.abs(off).max() <= 1e-12 * scale and np.abs(on).max() > 0),
            follows_modulator=bool(np.allclose(rev, -on) and np.abs(on).max() > 0),
            weight_dependent=bool(np.ptp(ds.dw_vs_weight.sel(rule=rule).values) > 1e-9 * scale),
            hebbian=_proportional(ds.pre_rate.values, ds.dw_vs_pre.sel(rule=rule, modulator="on").values),
            heterosynaptic=_sign_pattern(ds.dw_silent.sel(rule=rule).values[active], scale)))
    return out


def _sign_pattern(dw, scale: float) -> str:
    """"depression", "potentiation", "none" or "mixed": the sign of every change."""
    tiny = 1e-9 * scale
    if np.all(np.abs(dw) <= tiny):
        return "none"
    if np.all(dw < -tiny):
        return "depression"
    if np.all(dw > tiny):
        return "potentiation"
    return "mixed"


def _proportional(x, y) -> bool:
    """y = c x with c != 0 (the first point is x = 0)."""
    c = y[-1] / x[-1]
    return bool(abs(c) > 1e-12 and np.allclose(y, c * x, atol=1e-12 * abs(c)))


def signature_table(sigs: list[Signature], fmt: str = "markdown") -> str:
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    head = ["rule", "BCM-like switch", "gated by third factor", "sign follows it",
            "weight-dependent", "proportional to pre rate", "silent synapse, active cell"]
    rows = [[s.rule, yes(s.bcm_switch), yes(s.gated), yes(s.follows_modulator),
             yes(s.weight_dependent), yes(s.hebbian), s.heterosynaptic] for s in sigs]
    if fmt == "markdown":
        return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] +
                         ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in [head] + rows)


def plot_virtual(ds: xr.Dataset, path) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rules = list(ds.rule.values)
    cols = 4
    rows = -(-len(rules) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for ax, rule in zip(axes.ravel(), rules):
        for mod, style in zip(ds.modulator.values, ("-", ":", "--")):
            ax.plot(ds.post_rate.values, ds.dw_vs_post.sel(rule=rule, modulator=mod).values,
                    style, label=f"third factor {mod}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(rule, fontsize=9)
        ax.set_xlabel("post-synaptic rate", fontsize=8)
    for ax in axes.ravel()[len(rules):]:
        ax.axis("off")
    axes[0][0].set_ylabel("dw per presentation")
    axes[0][0].legend(fontsize=6)
    fig.suptitle("Virtual slice: weight change vs post-synaptic rate (pre-synaptic rate 1)", fontsize=10)
    fig.tight_layout()
    out = []
    for ext in (".png", ".pdf"):
        fig.savefig(path / f"virtual_vs_post{ext}", dpi=120)
    out.append(path / "virtual_vs_post.png")
    plt.close(fig)
    return out
