"""Rule cards, derived from a rule's equations: what each synapse must know to change.

For every plastic projection, every variable its update reads (following the neuron
equations and the pathways down to built-in variables) is classified as

- ``pre``: the pre-synaptic neuron (its rate; a context rate is a trace of the previous
  presentation or another view);
- ``post``: the post-synaptic soma (drive, rate, derivative f'(a));
- ``dendritic``: an input arriving through another pathway, with which one: the transposed
  forward weights, a fixed random feedback (along the forward path, or straight from the
  output), learned lateral / predictive weights;
- ``modulatory``: one value per layer (a layer-wide reduction) or per network (the pair's
  sign, broadcast to every unit);
- ``synaptic``: the synapse's own variables (its weight, a momentum);
- ``trace``: a memory in time: a running statistic (a state variable) with its time
  constant, or the context of the previous presentation;
- ``batch``: a statistic over the presentations of one minibatch (``batch_mean``): an
  average over inputs shown together, not a memory of earlier ones.

From that, the card's summary fields (:class:`RuleCard`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..rules.equations import REDUCTIONS, names_in, parse_expression
from ..rules.rule import Rule

BUILTIN = {"a": ("post", "somatic drive a"), "r": ("post", "somatic rate r"),
           "a_ctx": ("trace", "context: the drive at the previous presentation (or the other view)"),
           "r_ctx": ("trace", "context: the rate at the previous presentation (or the other view)"),
           "positive": ("modulatory", "sign of the pair (negative / saccade signal), per network")}
OUTPUT = {"err": "output error p - y*", "target": "label y*", "p": "output prediction p",
          "a": "output drive", "r": "output rate"}


@dataclass
class Read:
    variable: str
    kind: str
    detail: str


@dataclass
class ProjectionCard:
    projection: str
    update: str
    reads: list = field(default_factory=list)


@dataclass
class RuleCard:
    """What a rule's synapses must know, read off its equations (the readout excluded)."""

    rule: str
    family: str
    summary: str
    #: per plastic projection, every variable its update reads and how it arrives
    projections: list
    #: every signal reaches the synapse through its own neurons or synapses onto them:
    #: neither weight nor sign transport
    spatially_local: bool
    #: reads other synapses' weights (through the transposed forward weights)
    weight_transport: bool
    #: reads only the signs of other synapses' weights (sign(w) in a transposed pathway)
    sign_transport: bool
    #: reads the output error (p - y*)
    needs_error: bool
    #: reads the label y* (directly, or inside the output error)
    needs_label: bool
    #: reads the sign of a pair (a negative pair, or a saccade signal)
    needs_negatives: bool
    #: reads a statistic over the inputs of one minibatch (batch_mean), not a memory in time
    batch_statistics: bool
    #: the memories in time it reads: the context of the previous presentation, running
    #: statistics with their time constants
    trace_span: str

    def to_dict(self) -> dict:
        return asdict(self)


def rule_card(rule: Rule) -> RuleCard:
    hidden = ProjectionCard("hidden forward projections", rule.update)
    hidden.reads = _update_reads(rule, rule.update)
    cards = [hidden]
    if rule.readout_update:
        readout = ProjectionCard("readout", rule.readout_update, _update_reads(rule, rule.readout_update,
                                                                               post_is_output=True))
        cards.append(readout)
    for p in rule.pathways:
        if p.update:
            cards.append(ProjectionCard(f"pathway {p.name} ({p.route}, {p.rate})", p.update,
                                        _update_reads(rule, p.update)))
    learning = [r for c in cards if c.projection != "readout" for r in c.reads]
    details = " ".join(r.detail for r in learning)
    dendritic = [r.detail for r in learning if r.kind == "dendritic"]
    transport = any(SIGNS_OF_W not in d and W_TRANSPOSED in d for d in dendritic)
    signs = any(SIGNS_OF_W in d for d in dendritic)
    traces = [r.detail for r in learning if r.kind == "trace"]
    spans = ["1 presentation (the context)" if any("context" in t for t in traces) else None]
    spans += [t.split("time constant ")[-1] for t in traces if "time constant" in t]
    spans = [s for s in spans if s]
    return RuleCard(
        rule=rule.name, family=rule.family, summary=rule.summary, projections=cards,
        spatially_local=not (transport or signs), weight_transport=transport, sign_transport=signs,
        needs_error="output error" in details, needs_label="label" in details or "output error" in details,
        needs_negatives=any(r.variable.startswith("positive") for r in learning),
        batch_statistics=any(r.kind == "batch" for r in learning),
        trace_span="; ".join(sorted(set(spans))) or "none (this presentation only)")


W_TRANSPOSED = "the transposed forward weights"
SIGNS_OF_W = "the signs of the transposed forward weights"


def _update_reads(rule: Rule, text: str, post_is_output: bool = False) -> list:
    reads: dict = {}
    traces = {eq.name: eq for eq in rule.synapse_state_equations}
    names, followed = list(names_in(parse_expression(text))), set()
    while names:
        name = names.pop()
        if name in followed:
            continue
        followed.add(name)
        if name in traces:  # the synapse's own trace: what it accumulates is read too
            tau = _time_constant(traces[name].expr, rule)
            reads[name] = Read(name, "trace", f"eligibility trace {name} of the synapse" +
                               (f", time constant {tau:g} presentations" if tau else ""))
            names += list(names_in(traces[name].tree))
        elif name.endswith("_pre"):
            _population_reads(rule, name[:-4], "pre", reads, set(), output=False)
        elif name.endswith("_post"):
            _population_reads(rule, name[:-5], "post", reads, set(), output=post_is_output)
        elif name in rule.params:
            continue
        else:
            reads[name] = Read(name, "synaptic", "the synapse's own weight" if name == "w"
                               else "another variable of the synapse itself")
    return list(reads.values())


def _population_reads(rule: Rule, var: str, side: str, reads: dict, seen: set, output: bool):
    """Follow ``var`` of a population on ``side`` down to built-ins, pathways and traces."""
    key = (side, var, output)
    if key in seen:
        return
    seen.add(key)
    label = f"{var}_{side}"
    if output:
        eqs = {eq.name: eq for eq in rule.output_equations}
        if var in eqs:
            for name in names_in(eqs[var].tree):
                _population_reads(rule, name, side, reads, seen, output=True)
        elif var in OUTPUT:
            kind = "post" if side == "post" else "pre"
            reads[f"output {var}"] = Read(f"{var} (output)", kind, OUTPUT[var])
        return
    eqs = {eq.name: eq for eq in rule.hidden_equations}
    states = {eq.name: eq for eq in rule.state_equations}
    pathways = {p.name: p for p in rule.pathways}
    broadcast = {eq.name: eq for eq in rule.broadcast_equations}
    if var in broadcast:
        reads[f"{var} (network)"] = Read(label, "modulatory", f"{var}: one value per network, "
                                         "computed at the output and broadcast to every unit")
        for name in names_in(broadcast[var].tree):
            _population_reads(rule, name, "post", reads, seen, output=True)
            _population_reads(rule, name, side, reads, seen, output=False)
        return
    if var in BUILTIN:
        kind, detail = BUILTIN[var]
        if side == "pre" and kind == "post":
            kind = "pre"
        detail = f"{'pre' if side == 'pre' else 'post'}-synaptic {detail}" if kind == "trace" else detail
        reads[label] = Read(label, kind, detail)
    elif var in states:
        tau = _time_constant(states[var].expr, rule)
        reads[label] = Read(label, "trace", f"running statistic {var}" +
                            (f", time constant {tau:.0f} presentations" if tau else ""))
        for name in names_in(states[var].tree) - {var}:  # what it follows (a broadcast reward)
            _population_reads(rule, name, side, reads, seen, output=False)
    elif var in pathways:
        _pathway_reads(rule, pathways[var], reads, seen)
    elif var in eqs:
        tree = eqs[var].tree
        for node in _calls(tree):
            if node.func.id in ("layer_sum", "layer_mean"):
                reads[f"{var} (layer-wide)"] = Read(f"{var}_{side}", "modulatory",
                                                    f"{var}: one value per layer ({node.func.id})")
            if node.func.id == "channel_sum":
                reads[f"{var} (per position)"] = Read(f"{var}_{side}", "modulatory",
                                                      f"{var}: one value per position, shared by "
                                                      "the units that see the same patch "
                                                      "(channel_sum)")
            if node.func.id == "position_mean":
                reads[f"{var} (pooled)"] = Read(f"{var}_{side}", "modulatory",
                                                f"{var}: one value per channel, averaged over the "
                                                "layer's positions (position_mean)")
            if node.func.id == "batch_mean":
                reads[f"{var} (batch)"] = Read(f"{var}_{side}", "batch", f"{var}: a per-unit average "
                                               "over the presentations of the minibatch")
            if node.func.id == "fprime":
                reads[f"fprime_{side}"] = Read(f"f'(a)_{side}", "post" if side == "post" else "pre",
                                               "somatic derivative f'(a)")
        for name in names_in(tree):
            _population_reads(rule, name, side, reads, seen, output=False)


def _pathway_reads(rule: Rule, p, reads: dict, seen: set):
    tree = parse_expression(p.expr)
    syn = set(p.synapses) if p.route != "lateral_T" else \
        set(next(q for q in rule.pathways if q.name == p.via).synapses)
    names = names_in(tree)
    if p.route == "transpose":
        how = (SIGNS_OF_W if _only_signs_of(tree, "w") else W_TRANSPOSED) if "w" in names else \
            "fixed random feedback along the forward path"
        reads[p.name] = Read(p.name, "dendritic", f"{p.name}: from the layer above through {how}")
        for name in names - syn - {"w"} - set(rule.params):
            if name.endswith("_post"):  # the layer above: a hidden layer, or the output
                _population_reads(rule, name[:-5], "post", reads, seen, output=False)
                _population_reads(rule, name[:-5], "post", reads, seen, output=True)
    elif p.route == "direct":
        src = "the output" if p.source == "output" else "the top layer"
        plastic = "learned" if p.update else "fixed random"
        reads[p.name] = Read(p.name, "dendritic", f"{p.name}: straight from {src} through {plastic} "
                             "weights")
        for name in names - syn - set(rule.params):
            if name.endswith("_pre"):
                _population_reads(rule, name[:-4], "pre", reads, seen, output=p.source == "output")
    else:
        owner = p.via or p.name
        learned = any(q.name == owner and q.update for q in rule.pathways)
        rate = next(q.rate for q in rule.pathways if q.name == owner)
        what = "learned lateral / predictive weights" if learned and rate == "lr" else \
            "lateral weights holding a running covariance" if learned else "fixed lateral weights"
        reads[p.name] = Read(p.name, "dendritic", f"{p.name}: within the layer through {what}")
        for name in names - syn - set(rule.params):
            base = name.removesuffix("_pre").removesuffix("_post")
            _population_reads(rule, base, "post", reads, seen, output=False)


def _only_signs_of(tree, name: str) -> bool:
    """Every read of ``name`` in ``tree`` is inside sign(...)."""
    import ast

    inside = {id(n) for call in ast.walk(tree) if isinstance(call, ast.Call)
              and getattr(call.func, "id", None) == "sign" for n in ast.walk(call)}
    reads = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name]
    return bool(reads) and all(id(n) in inside for n in reads)


def _calls(tree):
    import ast

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.func.id in REDUCTIONS | {"fprime"}]


def _time_constant(expr: str, rule: Rule) -> float | None:
    """The time constant, in presentations, of ``x = x + eps * (...)`` (1 / eps) or of
    ``dx/dt = (...) / tau`` (tau): read off the parameter named eps... or tau...."""
    for name in sorted(names_in(parse_expression(expr))):
        if name in rule.params and name.startswith("eps"):
            return 1 / float(rule.params[name])
        if name in rule.params and name.startswith("tau"):
            return float(rule.params[name])
    return None


#: the columns of a card table and what each says
COLUMNS = {
    "local": "every signal reaches the synapse through its own neurons or through synapses "
             "onto them: no weight transport and no sign transport",
    "weight transport": "the update reads other synapses' weights (the transposed forward "
                        "weights carry the error down)",
    "sign transport": "the update reads only the signs of other synapses' weights "
                      "(sign(w) in a transposed pathway)",
    "output error": "the update reads the output error p - y*",
    "label": "the update reads the label y*, directly or inside the output error",
    "pair sign": "the update reads whether a pair is positive or negative (a negative pair, "
                 "a saccade signal)",
    "batch statistics": "the update reads a statistic over the inputs of one minibatch "
                        "(batch_mean): an average over inputs shown together, not a memory",
    "traces in time": "the memories the update reads: the context of the previous "
                      "presentation, running statistics with their time constants",
}


def cards_table(cards: list, fmt: str = "table") -> str:
    """The comparison of several cards: 'table' (plain), 'markdown' or 'json'."""
    if fmt == "json":
        return json.dumps([c.to_dict() for c in cards], indent=2, default=str)
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    head = ["rule", "family", "local", "weight transport", "sign transport", "output error",
            "label", "pair sign", "batch statistics", "traces in time"]
    rows = [[c.rule, c.family, yes(c.spatially_local), yes(c.weight_transport),
             yes(c.sign_transport), yes(c.needs_error), yes(c.needs_label),
             yes(c.needs_negatives), yes(c.batch_statistics), c.trace_span] for c in cards]
    if fmt == "markdown":
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out += ["", "What each column says (the readout's own update is not counted):", ""]
        out += [f"- *{column}*: {meaning}" for column, meaning in COLUMNS.items()]
        out.append("")
        for c in cards:
            out.append(f"**{c.rule}** — {c.summary}")
            for p in c.projections:
                out.append(f"- {p.projection}: `dw = {p.update}`")
                for r in p.reads:
                    out.append(f"  - {r.kind}: `{r.variable}` — {r.detail}")
            out.append("")
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head)] + [line(r) for r in rows])
