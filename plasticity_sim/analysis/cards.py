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
- ``trace``: a running statistic (a state variable), with its time constant.

From that: whether the rule is spatially local (every signal reaches the synapse through
its own neurons or through synapses onto them, never by reading other synapses' weights),
whether it needs weight transport, the output error, the label, the sign of pairs
(negatives or a saccade), and the longest time span of the traces it reads.
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
    rule: str
    family: str
    summary: str
    projections: list
    spatially_local: bool
    weight_transport: bool
    needs_error: bool
    needs_label: bool
    needs_negatives: bool
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
    transport = any(r.kind == "dendritic" and "transposed forward weights" in r.detail for r in learning)
    traces = [r.detail for r in learning if r.kind == "trace"]
    spans = ["1 presentation (the context)" if any("context" in r.detail for r in learning) else None,
             "the minibatch" if any("minibatch" in r.detail for r in learning) else None]
    spans += [t.split("time constant ")[-1] for t in traces if "time constant" in t]
    spans = [s for s in spans if s]
    return RuleCard(
        rule=rule.name, family=rule.family, summary=rule.summary, projections=cards,
        spatially_local=not transport, weight_transport=transport,
        needs_error="output error" in details, needs_label="label" in details or "output error" in details,
        needs_negatives=any(r.variable.startswith("positive") for r in learning),
        trace_span="; ".join(sorted(set(spans))) or "none (this presentation only)")


def _update_reads(rule: Rule, text: str, post_is_output: bool = False) -> list:
    reads: dict = {}
    for name in names_in(parse_expression(text)):
        if name.endswith("_pre"):
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
    if var in BUILTIN:
        kind, detail = BUILTIN[var]
        if side == "pre" and kind == "post":
            kind = "pre"
        detail = f"{'pre' if side == 'pre' else 'post'}-synaptic {detail}" if kind == "trace" else detail
        reads[label] = Read(label, kind, detail)
    elif var in states:
        eps = _rate(states[var].expr, rule)
        reads[label] = Read(label, "trace", f"running statistic {var}" +
                            (f", time constant {1 / eps:.0f} presentations" if eps else ""))
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
                reads[f"{var} (batch)"] = Read(f"{var}_{side}", "trace", f"{var}: a per-unit average "
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
        how = "the transposed forward weights" if "w" in names else \
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


def _calls(tree):
    import ast

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.func.id in REDUCTIONS | {"fprime"}]


def _rate(expr: str, rule: Rule) -> float | None:
    """The EMA rate of ``x = x + eps * (...)``: the value of the parameter multiplying it."""
    for name in names_in(parse_expression(expr)):
        if name in rule.params and name.startswith("eps"):
            return float(rule.params[name])
    return None


def cards_table(cards: list, fmt: str = "table") -> str:
    """The comparison of several cards: 'table' (plain), 'markdown' or 'json'."""
    if fmt == "json":
        return json.dumps([c.to_dict() for c in cards], indent=2, default=str)
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    head = ["rule", "family", "local", "weight transport", "output error", "label",
            "pair sign", "traces"]
    rows = [[c.rule, c.family, yes(c.spatially_local), yes(c.weight_transport),
             yes(c.needs_error), yes(c.needs_label), yes(c.needs_negatives), c.trace_span]
            for c in cards]
    if fmt == "markdown":
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in rows]
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
