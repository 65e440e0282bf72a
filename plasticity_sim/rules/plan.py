"""The engine-neutral plan of a model's network: every variable it holds, where it lives, how
it starts and how it changes, addressed by one typed key.

A variable lives on a projection or on a population:

- projections (the ``owner`` of a synaptic key): ``s{k}`` the forward projection k
  (population k -> k+1), ``d{l}_{pathway}`` the direct projection that brings ``pathway``
  from the output (or the top layer) to hidden population l, ``l{l}_{pathway}`` a lateral
  projection of population l (owned by the pathway that declares its synapses);
- populations: ``p{i}`` (0 the input, 1..depth hidden, depth + 1 the output); the plan
  lists the state variables (running statistics, presynaptic traces), which persist from
  one presentation to the next.

A key prints as the name both engines, the recordings and the model files use
(``s0_w``, ``d1_fb_b``, ``l2_pred_wp``, ``p1_theta``); :meth:`NetworkPlan.key` reads such a
name back by looking it up, never by splitting it (both halves may contain ``_``). The
initial state is drawn here from the seeds (:func:`draw_initial_state`), so that any engine
starts from the same numbers without another engine's help.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import numpy as np

from ..errors import ParameterError
from ..network.architecture import Architecture
from ..network.projections import Conv, Dense, Local, Projection
from ..seeding import generator
from .equations import NUMPY_FUNCTIONS, live_terms_reading, names_in, parse_expression
from .rule import HIDDEN_BUILTINS, PAIR_BUILTINS, PROJECTION_CONSTANTS, Rule

#: how a synaptic variable changes: through the optimizer (scaled by the learning rate), by
#: its update as it is (a running statistic), by taking its new value (an eligibility
#: trace), or not at all (None: fixed feedback weights, constant masks)
CHANGES = ("lr", "direct", "state", None)


@dataclass(frozen=True)
class Key:
    """One variable of a network: ``var`` on ``owner``, a projection (``s0``, ``d1_fb``,
    ``l2_pred``) or a population (``p1``)."""

    owner: str
    var: str

    def __str__(self) -> str:
        return f"{self.owner}_{self.var}"

    @property
    def population(self) -> int | None:
        """The population index of a population's variable; None on a projection."""
        digits = self.owner[1:]
        return int(digits) if self.owner[:1] == "p" and digits.isdigit() else None

    @property
    def route(self) -> str:
        """Where it lives: "forward", "direct", "lateral" or "population"."""
        if self.population is not None:
            return "population"
        return {"s": "forward", "d": "direct", "l": "lateral"}[self.owner[0]]


@dataclass(frozen=True)
class SynapticVariable:
    """A variable on every synapse of ``projection``, starting at ``init`` (an expression in
    ``randn``, ``w``, ``eye``, the projection's constants and the rule's parameters)."""

    key: Key
    projection: Projection
    init: str
    change: str | None


@dataclass(frozen=True)
class StateVariable:
    """A state variable of ``population``, starting at ``init`` on every unit."""

    key: Key
    population: int
    init: float


class NetworkPlan:
    """Every variable the network of (architecture, rule) holds, with where it lives and how
    it starts and changes; ``negatives``: the pairing's negatives per positive pair (a
    population constant the equations may read)."""

    def __init__(self, arch: Architecture, rule: Rule, negatives: float = 1.0, pairs: bool = False):
        self.arch, self.rule, self.negatives, self.pairs = arch, rule, float(negatives), pairs
        self.projections: list[Projection] = arch.projections
        self.depth, self.out = arch.depth, arch.depth + 1
        self.direct: dict[tuple, Dense] = {}      # (layer, pathway) -> projection from the output
        self.lateral: dict[int, Projection] = {}  # layer -> channel-to-channel projection
        for pathway in rule.pathways:
            for layer in range(1, self.out):
                shape = arch.population_shapes[layer]
                if pathway.route == "direct":
                    source = self.direct_source(pathway)
                    self.direct[(layer, pathway.name)] = Dense(arch.population_shapes[source], shape)
                elif pathway.route in ("lateral", "lateral_T"):
                    self.lateral[layer] = (Local if arch.kind == "lcn" else Conv)(shape, shape, s=1)
        #: synaptic variables by name, in the order they are drawn
        self.synapses: dict[str, SynapticVariable] = {str(v.key): v for v in self._synapses()}
        #: state variables by name
        self.states: dict[str, StateVariable] = {
            f"p{l}_{eq.name}": StateVariable(Key(f"p{l}", eq.name), l,
                                             float(rule.state_init[eq.name]))
            for l in range(self.out) for eq in rule.state_on(input_population=l == 0)}

    @classmethod
    def of(cls, model, grammar) -> "NetworkPlan":
        """The plan of a model's network for a grammar."""
        model = model.at(grammar)
        return cls(model.architecture(grammar), model.rule, model.pairing.negative_ratio,
                   model.pairing.scheme is not None)

    def direct_source(self, pathway) -> int:
        """The population a direct route starts from: the output, or the top hidden layer."""
        return self.out if pathway.source == "output" else self.depth

    def synapse_state(self, k: int) -> list:
        """The synaptic state (eligibility traces) of forward projection k: what its update reads."""
        return self.rule.synapse_state_on(readout=k == self.depth)

    def _synapses(self):
        for k, proj in enumerate(self.projections):
            yield SynapticVariable(Key(f"s{k}", "w"), proj, "randn / sqrt(fan_in)", "lr")
            if self.arch.bias:
                yield SynapticVariable(Key(f"s{k}", "bias"), proj, "0", "lr")
            if k > 0:  # projections above a hidden layer carry the transposed pathways' synapses
                for var, init in self.rule.synapse_variables.items():
                    yield SynapticVariable(Key(f"s{k}", var), proj, init, None)
            for eq in self.synapse_state(k):
                yield SynapticVariable(Key(f"s{k}", eq.name), proj,
                                       repr(float(self.rule.state_init[eq.name])), "state")
        for pathway in self.rule.pathways:
            for layer in range(1, self.out):
                if pathway.route == "direct":
                    proj, owner = self.direct[(layer, pathway.name)], f"d{layer}_{pathway.name}"
                elif pathway.route == "lateral":
                    proj, owner = self.lateral[layer], f"l{layer}_{pathway.name}"
                else:
                    continue
                for var, init in pathway.synapses.items():
                    change = pathway.rate if var == pathway.plastic_variable else None
                    yield SynapticVariable(Key(owner, var), proj, init, change)

    def hidden_inputs(self) -> set:
        """What a hidden population has before its own equations: its rate and drive, the
        pair's (with pairs), the pathways that arrive from other populations, its state and
        the broadcast variables."""
        names = set(HIDDEN_BUILTINS) | (PAIR_BUILTINS if self.pairs else set())
        names |= {p.name for p in self.rule.pathways if p.route in ("transpose", "direct")}
        names |= {eq.name for eq in self.rule.state_equations + self.rule.broadcast_equations}
        return names

    def hidden_order(self, layer: int) -> list[tuple[str, object]]:
        """The hidden equations (``("equation", Equation)``) and lateral pathways
        (``("lateral", Pathway)``) of hidden population ``layer`` in an order their
        dependencies allow: each the first of the rule's order whose inputs are known."""
        known = self.hidden_inputs()
        pending = [("equation", eq) for eq in self.rule.hidden_equations]
        pending += [("lateral", p) for p in self.rule.pathways if p.route in ("lateral", "lateral_T")]
        order = []
        while pending:
            item = next((it for it in pending if self._reads(layer, it) <= known), None)
            if item is None:
                missing = set().union(*(self._reads(layer, it) for it in pending)) - known
                raise ParameterError("equations", f"rule {self.rule.name!r} hidden: cannot "
                                     f"compute {[it[1].name for it in pending]} in layer "
                                     f"{layer}; unknown or circular: {sorted(missing)}")
            pending.remove(item)
            order.append(item)
            known.add(item[1].name)
        return order

    def _reads(self, layer: int, item) -> set:
        kind, thing = item
        if kind == "equation":
            return names_in(thing.tree) - set(self.population_constants(layer))
        owner = next(p for p in self.rule.pathways if p.name == (thing.via or thing.name))
        read = names_in(parse_expression(thing.expr)) - set(owner.synapses) - set(self.rule.params)
        return {n.removesuffix("_pre").removesuffix("_post") for n in read} - PROJECTION_CONSTANTS

    def key(self, name: str) -> Key:
        """The key of a variable's name (``s0_w``, ``d1_fb_b``, ``p1_theta``), looked up."""
        variable = self.synapses.get(name) or self.states.get(name)
        if variable is None:
            raise ParameterError("variable", f"this network has no variable {name!r}; it has "
                                 f"{', '.join([*self.synapses, *self.states])}")
        return variable.key

    def names(self, change: str | None) -> list[str]:
        """Names of the synaptic variables that change as ``change`` says (CHANGES)."""
        return [name for name, v in self.synapses.items() if v.change == change]

    def check_sibling_context(self) -> None:
        """Siblings hold the context fixed (the same presentation at another position): a
        forward update with a live term through the context's inputs (``x_ctx_pre``) is
        undefined; one error naming the terms (both engines refuse it here)."""
        for k, proj in enumerate(self.projections):
            live = live_terms_reading(self.rule.update_of(k == self.depth), "_ctx_pre",
                                      self.constants(proj))
            if live:
                raise ParameterError("pairs", f"rule {self.rule.name!r} update of projection "
                                     f"{k}: the sibling scheme holds the context fixed (it is the "
                                     "same presentation at another position), so a term through "
                                     f"the context's inputs ({'; '.join(live)}) is undefined; "
                                     "switch it off (e.g. retrodiction = 0)")

    def constants(self, proj: Projection) -> dict:
        """What a synaptic expression of ``proj`` may read besides variables."""
        return {**self.rule.params, "fan_in": proj.fan_in, "fan_out": proj.fan_out, "pi": math.pi}

    def population_constants(self, pop: int) -> dict:
        """What a population's own equations may read besides its variables."""
        return {**self.rule.population_constants(self.arch.population_shapes[pop], self.negatives),
                "pi": math.pi}


def draw_initial_state(plan: NetworkPlan, seed: int, dtype=np.float64) -> dict[str, np.ndarray]:
    """Every synaptic variable's initial value for one network seed, as float64 arrays exactly
    representable in ``dtype`` (each is rounded to it before a later initializer reads it as
    ``w``), and every state variable's, (1, positions, channels). Draws come from numpy
    generators keyed by (seed, variable): any engine, CPU or GPU, starts from these numbers,
    and member e of an ensemble from the draw of its seed."""
    out = {}
    for name, variable in plan.synapses.items():
        value = _draw(plan, variable, seed, out)
        out[name] = value.astype(dtype).astype(np.float64)
    for name, state in plan.states.items():
        out[name] = np.full((1, *plan.arch.population_shapes[state.population]), state.init)
    return out


def _draw(plan: NetworkPlan, variable: SynapticVariable, seed: int, drawn: dict) -> np.ndarray:
    name, proj = str(variable.key), variable.projection
    shape = proj.bias_shape() if variable.key.var == "bias" and variable.key.route == "forward" \
        else proj.weight_shape()
    tree = parse_expression(variable.init, where=f"initial value of {name}")
    namespace = {**NUMPY_FUNCTIONS, **plan.constants(proj)}
    read = names_in(tree)
    if "randn" in read:
        namespace["randn"] = generator(seed, f"net.init.{name}").standard_normal(shape)
    if "eye" in read:
        if variable.key.route != "lateral":
            raise ParameterError("synapses", f"{name}: `eye` is only defined on lateral projections")
        namespace["eye"] = np.broadcast_to(np.eye(shape[-1]), shape)
    if "w" in read:
        forward = f"{variable.key.owner}_w"
        if variable.key.route != "forward" or forward not in drawn:
            raise ParameterError("synapses", f"{name}: `w` is only defined on forward projections")
        namespace["w"] = drawn[forward]
    try:
        value = eval(compile(ast.Expression(tree), name, "eval"), {"__builtins__": {}}, namespace)
    except NameError as err:
        raise ParameterError("synapses", f"initial value of {name}: {err}") from None
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
