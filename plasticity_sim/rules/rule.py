"""A learning rule as equations: the circuit it adds, its neuron variables, its updates.

Per presentation, after the forward pass (and, for rules that learn from pairs, the
forward pass of the context input):

1. the output population evaluates ``output`` (it knows ``a`` the logits, ``p`` the
   prediction, ``target`` the one-hot label and ``err`` = dLoss/da), then ``broadcast``:
   network-global variables, one value per presentation, that every hidden population and
   the output then know by name;
2. from the top hidden layer down, each hidden population receives its ``transpose`` and
   ``direct`` pathways, then evaluates ``hidden`` and its ``lateral`` pathways in the order
   their dependencies allow. It knows ``a``, ``r``; with pairs, ``a_ctx``, ``r_ctx`` (the
   context's drive and rate) and ``positive`` (1 for a positive pair, 0 for a negative);
   its ``state`` variables; the constants ``positions`` and ``channels`` (its shape) and
   ``negatives`` (negative pairs per positive pair in the stream); ``f(.)``, ``fprime(.)``,
   and the reductions ``batch_mean(.)``, ``layer_sum(.)``, ``layer_mean(.)``,
   ``channel_sum(.)`` (per position) and ``position_mean(.)`` (per channel);
3. every forward projection changes by ``update`` (``readout_update`` for the readout) and
   every plastic pathway by its own ``update``: per-presentation changes in Brian2
   synaptic syntax, averaged over a minibatch, scaled by the learning rate (``rate="lr"``)
   or applied as they are (``rate="direct"``, for running statistics). Write each with the
   sign of the change;
4. ``synapse_state`` variables of the forward projections (eligibility traces) and
   ``state`` variables (per unit, in every hidden population and, for those an update reads
   as ``x_pre``, the input) take their new values, computed from the old ones (averaged over
   the minibatch). ``dx/dt = ...`` lines are one Euler step per presentation.

Pathway routes, in Brian2 terms (a summed variable on a Synapses object):

- ``transpose``: through the forward projection from this layer to the one above, summed
  onto the pre-synaptic side: ``fb_pre = w * delta_post : 1 (summed)`` gives W^T delta.
  Per-synapse variables it needs (``b`` for feedback alignment) live on that projection.
- ``direct``: a new projection from the output population (``source="top"``: the top hidden
  population) to this layer, summed onto the post-synaptic side:
  ``fb_post = b * err_pre : 1 (summed)`` (one B_l per layer).
- ``lateral``: a new projection from a population to itself (channel to channel at each
  position, shared over positions in a CNN): ``pred_post = wp * r_ctx_pre : 1 (summed)``.
- ``lateral_T``: the transpose of the lateral pathway named by ``via``, summed onto its
  pre-synaptic side: ``retro_pre = wp * r_post : 1 (summed)`` gives Wp^T r.
"""

from __future__ import annotations

import ast
from dataclasses import KW_ONLY, dataclass, field, fields
from functools import cached_property

from ..errors import ParameterError
from .equations import FUNCTIONS, POPULATION_CONSTANTS, names_in, parse_equations, parse_expression

ROUTES = ("transpose", "direct", "lateral", "lateral_T")
RATES = ("lr", "direct")
FAMILIES = ("feedback", "self_supervised", "hebbian")
LOSSES = ("cross_entropy", "mse")
#: Variables every hidden population has; with pairs; every output population has.
HIDDEN_BUILTINS = {"a", "r"}
PAIR_BUILTINS = {"a_ctx", "r_ctx", "positive"}
OUTPUT_BUILTINS = {"a", "r", "p", "target", "err"}
#: Rule fields added to the language after rules were first recorded, at their empty value:
#: left out of ``to_dict`` so that recorded models (and the digests of cells) stay the same.
LANGUAGE_ADDITIONS = {"broadcast": "", "synapse_state": ""}
#: Names Brian2 keeps for itself (its constants and every group's built-ins): a rule may not
#: define them, so that both engines accept the same rules.
ENGINE_RESERVED = {"e", "inf", "t", "dt", "i", "j", "N", "xi", "lastspike", "not_refractory",
                   "N_incoming", "N_outgoing", "N_pre", "N_post", "t_in_timesteps",
                   # the Brian2 builder's own: momenta, the presentation's flag, the softmax sum
                   "mom", "learning", "Z"}
#: Constants every synaptic expression and initializer may read.
PROJECTION_CONSTANTS = {"fan_in", "fan_out", "pi"}


@dataclass(frozen=True)
class Pathway:
    """A summed variable ``name`` delivered to every hidden population."""

    name: str
    route: str
    expr: str
    #: per-synapse variables the pathway adds and their initial values, as expressions in
    #: ``randn`` (a standard normal draw per synapse), ``w``, ``eye`` (1 from a unit to
    #: itself, lateral routes), ``fan_in``, ``fan_out`` and the rule's parameters
    synapses: dict = field(default_factory=dict)
    #: the lateral pathway whose synapses a ``lateral_T`` route reads
    via: str | None = None
    #: where a ``direct`` route starts: the output population, or the top hidden one
    source: str = "output"
    #: per-presentation change of the pathway's first synaptic variable (it is fixed if None)
    update: str | None = None
    rate: str = "lr"

    def __post_init__(self):
        if self.route not in ROUTES:
            raise ParameterError("route", f"pathway {self.name!r}: must be one of "
                                 f"{', '.join(ROUTES)}; got {self.route!r}")
        if not self.name.isidentifier():
            raise ParameterError("pathways", f"{self.name!r} is not a variable name")
        if self.rate not in RATES:
            raise ParameterError("rate", f"pathway {self.name!r}: must be one of "
                                 f"{', '.join(RATES)}; got {self.rate!r}")
        if (self.route == "lateral_T") != (self.via is not None):
            raise ParameterError("via", f"pathway {self.name!r}: a lateral_T route needs `via` "
                                 "(the lateral pathway it transposes), and only it")
        if self.update is not None and (not self.synapses or self.route not in ("lateral", "direct")):
            raise ParameterError("update", f"pathway {self.name!r}: only a lateral or direct "
                                 "pathway with its own synapses can be plastic")
        if self.source not in ("output", "top") or (self.source == "top" and self.route != "direct"):
            raise ParameterError("source", f"pathway {self.name!r}: a direct route starts at "
                                 f"'output' or 'top'; got {self.source!r} on a {self.route} route")
        parse_expression(self.expr, where=f"pathway {self.name!r}")
        if self.update is not None:
            parse_expression(self.update, where=f"update of pathway {self.name!r}")
        for var, init in self.synapses.items():
            parse_expression(init, where=f"initial value of {var!r} in pathway {self.name!r}")

    @property
    def plastic_variable(self) -> str | None:
        """The synaptic variable the pathway's ``update`` changes (its first), or None if it is
        fixed."""
        return next(iter(self.synapses)) if self.update is not None else None


@dataclass(frozen=True)
class Rule:
    """A learning rule as equations: ``Rule(name, hidden=..., output=..., update=...)``.
    Everything after the name is a keyword; only ``hidden``, ``output`` and ``update`` are
    required. What each field means and when it is evaluated: the docstring of
    :mod:`plasticity_sim.rules.rule` and docs/rules.md. The equations are parsed once, when
    the rule is made (``*_equations``: tuples of :class:`~.equations.Equation`)."""

    name: str
    _: KW_ONLY
    hidden: str
    output: str
    update: str
    #: one line on what the rule is (rule cards and listings show it)
    summary: str = ""
    pathways: tuple = ()
    readout_update: str | None = None
    params: dict = field(default_factory=dict)
    reference: str = ""
    #: persistent per-unit variables: ``name = new value`` lines, evaluated after the updates
    state: str = ""
    state_init: dict = field(default_factory=dict)
    #: "feedback" (trained by the output error), "self_supervised" or "hebbian": the latter two
    #: are evaluated by linear probes of their hidden layers
    family: str = "feedback"
    #: the variable a slice experiment clamps as the third factor (default: the first
    #: dendritic pathway variable)
    third_factor: str | None = None
    #: network-global variables: ``name = expression`` lines evaluated at the output after its
    #: equations, one value per presentation (the output's variables only inside
    #: ``layer_sum``/``layer_mean``), then broadcast to every hidden population and the output,
    #: where equations read ``name`` and updates ``name_post`` (a reward, a neuromodulator)
    broadcast: str = ""
    #: per-synapse state of every forward projection (eligibility traces): ``name = new value``
    #: lines in synaptic syntax, evaluated after the updates from the old values; the new value
    #: is the minibatch mean (terms without pre- or post-synaptic factors are the synapse's
    #: own); initial values in ``state_init``; ``update`` reads them by name
    synapse_state: str = ""

    def __post_init__(self):
        object.__setattr__(self, "pathways", tuple(self.pathways))
        self.hidden_equations, self.output_equations, self.state_equations  # validate early
        parse_expression(self.update, where=f"rule {self.name!r} update")
        if self.readout_update is not None:
            parse_expression(self.readout_update, where=f"rule {self.name!r} readout_update")
        reserved = (FUNCTIONS | OUTPUT_BUILTINS | PAIR_BUILTINS | PROJECTION_CONSTANTS
                    | POPULATION_CONSTANTS | {"w", "eye"})
        clash = set(self.params) & reserved
        if clash:
            raise ParameterError("params", f"rule {self.name!r}: {sorted(clash)} are reserved names")
        for eq in self.hidden_equations + self.output_equations:
            if eq.name in OUTPUT_BUILTINS | PAIR_BUILTINS or eq.name in self.params:
                raise ParameterError("equations", f"rule {self.name!r}: {eq.name!r} is a built-in "
                                     "variable or parameter and cannot be redefined")
        names = {p.name for p in self.pathways}
        for p in self.pathways:
            if p.via is not None and p.via not in names:
                raise ParameterError("via", f"rule {self.name!r}: pathway {p.name!r} transposes "
                                     f"{p.via!r}, which the rule does not define")
        if self.family not in FAMILIES:
            raise ParameterError("family", f"rule {self.name!r}: must be one of {', '.join(FAMILIES)}")
        self._check_broadcast(reserved)
        defined = {eq.name for eq in self.hidden_equations + self.output_equations
                   + self.state_equations + self.synapse_state_equations
                   + self.broadcast_equations}
        defined |= set(self.params) | {p.name for p in self.pathways}
        defined |= {v for p in self.pathways for v in p.synapses}
        clash = defined & ENGINE_RESERVED
        # Brian2 keeps a trace's next value as <name>_new on the same synapses
        clash |= {f"{eq.name}_new" for eq in self.synapse_state_equations} & defined
        if clash:
            raise ParameterError("equations", f"rule {self.name!r}: {sorted(clash)} are "
                                 "reserved by Brian2 (its constants, every group's built-ins, "
                                 "the builder's own variables); rename them")
        own = {eq.name for eq in self.synapse_state_equations}
        clash = own & (reserved | set(self.params) | set(self.synapse_variables)
                       | {p.name for p in self.pathways})
        if clash:
            raise ParameterError("synapse_state", f"rule {self.name!r}: {sorted(clash)} are "
                                 "already variables, parameters or built-ins")
        unknown = {eq.name for eq in self.state_equations + self.synapse_state_equations} \
            - set(self.state_init)
        if unknown:
            raise ParameterError("state_init", f"rule {self.name!r}: give initial values for "
                                 f"{sorted(unknown)}")

    @cached_property
    def hidden_equations(self) -> tuple:
        """The ``hidden`` lines, parsed."""
        return tuple(parse_equations(self.hidden, where=f"rule {self.name!r} hidden"))

    @cached_property
    def output_equations(self) -> tuple:
        """The ``output`` lines, parsed."""
        return tuple(parse_equations(self.output, where=f"rule {self.name!r} output"))

    @cached_property
    def broadcast_equations(self) -> tuple:
        """The ``broadcast`` lines, parsed."""
        return tuple(parse_equations(self.broadcast, where=f"rule {self.name!r} broadcast"))

    @cached_property
    def synapse_state_equations(self) -> tuple:
        """The ``synapse_state`` lines, parsed."""
        return tuple(parse_equations(self.synapse_state,
                                     where=f"rule {self.name!r} synapse_state", dynamics=True))

    def update_of(self, readout: bool) -> str:
        """The update of a forward projection: the readout's is ``readout_update`` when
        given, every other one ``update``."""
        return self.readout_update if readout and self.readout_update else self.update

    def synapse_state_on(self, readout: bool) -> list:
        """The synaptic state a forward projection has: what its update reads, with the
        synaptic state that reads."""
        return _read_closure(self.synapse_state_equations,
                             names_in(parse_expression(self.update_of(readout))))

    def state_on(self, input_population: bool) -> list:
        """The state variables a population has: every one in a hidden population, in the
        input those an update reads from it (:attr:`input_state_equations`)."""
        return self.input_state_equations if input_population else self.state_equations

    @cached_property
    def input_state_equations(self) -> tuple:
        """The state equations the input population has too: those whose variable a forward
        update or synaptic state reads pre-synaptically (``x_pre``: a presynaptic trace), and
        the state they read."""
        texts = [self.update] + [eq.expr for eq in self.synapse_state_equations]
        read = set().union(*(names_in(parse_expression(t)) for t in texts))
        return tuple(_read_closure(self.state_equations,
                                   {n[:-4] for n in read if n.endswith("_pre")}))

    @cached_property
    def state_equations(self) -> tuple:
        """The ``state`` lines, parsed."""
        return tuple(parse_equations(self.state, where=f"rule {self.name!r} state",
                                     dynamics=True))

    def _check_broadcast(self, reserved: set):
        """A broadcast variable is one value per presentation: outside a layer-wide reduction it
        reads only parameters, constants and the broadcast variables defined above it."""
        output = OUTPUT_BUILTINS | {eq.name for eq in self.output_equations}
        taken = output | reserved | HIDDEN_BUILTINS | {eq.name for eq in self.hidden_equations}
        taken |= {p.name for p in self.pathways} | {eq.name for eq in self.state_equations}
        defined: set = set()
        for eq in self.broadcast_equations:
            where = f"rule {self.name!r} broadcast {eq.name!r}"
            if eq.name in taken | set(self.params) | defined:
                raise ParameterError("broadcast", f"{where}: the name is already a variable, "
                                     "parameter or built-in")
            loose = _outside_layer_reductions(eq.tree) - set(self.params) - defined
            loose -= POPULATION_CONSTANTS | {"pi"}
            if loose:
                raise ParameterError("broadcast", f"{where}: reads {sorted(loose)} outside "
                                     "layer_sum/layer_mean; a broadcast variable is one value per "
                                     "presentation: reduce the output's variables over the layer")
            # what is reduced is the output's own (a broadcast variable arrives after it)
            inside = _inside_layer_reductions(eq.tree) - set(self.params) \
                - POPULATION_CONSTANTS - {"pi"}
            if inside - output:
                raise ParameterError("broadcast", f"{where}: reads {sorted(inside - output)}, "
                                     f"which the output population does not have; it has "
                                     f"{sorted(output)}")
            defined.add(eq.name)

    @property
    def synapse_variables(self) -> dict:
        """Per-synapse variables of the forward projections (besides ``w``), with initializers."""
        out = {}
        for pathway in self.pathways:
            if pathway.route == "transpose":
                out.update(pathway.synapses)
        return out

    @property
    def needs_pairs(self) -> bool:
        """Whether the rule reads the context (``r_ctx``, ``a_ctx``) or the pair's sign."""
        texts = [eq.expr for eq in self.hidden_equations + self.state_equations]
        texts += [p.expr for p in self.pathways] + [p.update for p in self.pathways if p.update]
        texts += [self.update] + [eq.expr for eq in self.synapse_state_equations]
        read = set().union(*(names_in(parse_expression(t)) for t in texts))
        pair_names = PAIR_BUILTINS | {n + suffix for n in PAIR_BUILTINS for suffix in ("_pre", "_post")}
        return bool(read & pair_names)

    def population_constants(self, shape: tuple, negatives: float) -> dict:
        """What the equations of a population of shape (positions, channels) may read
        besides its variables: the rule's parameters and the population constants."""
        positions, channels = shape
        return {**self.params, "positions": positions, "channels": channels,
                "negatives": float(negatives)}

    def reads_constant(self, name: str) -> bool:
        """Whether a hidden or state equation reads the population constant ``name``."""
        return any(name in names_in(eq.tree) for eq in self.hidden_equations + self.state_equations)

    def with_params(self, **params) -> "Rule":
        """The same rule with some parameters changed (only parameters it has)."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ParameterError("params", f"rule {self.name!r} has no parameters {sorted(unknown)}; "
                                 f"it has {sorted(self.params) or 'none'}")
        return Rule(**{**self.to_kwargs(), "params": {**self.params, **params}})

    def to_kwargs(self) -> dict:
        """The keyword arguments that rebuild the rule: ``Rule(**rule.to_kwargs()) == rule``."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**out, "params": dict(self.params), "state_init": dict(self.state_init)}

    def to_dict(self) -> dict:
        """The rule as plain data (a model file's ``[rule]`` table), pathways at their defaults
        left out."""
        out = self.to_kwargs()
        for name, empty in LANGUAGE_ADDITIONS.items():  # absent as before they existed
            if out[name] == empty:
                del out[name]
        defaults = {"via": None, "update": None, "rate": "lr", "source": "output", "synapses": {}}
        out["pathways"] = [{k: v for k, v in p.__dict__.items() if defaults.get(k, 0) != v}
                           for p in self.pathways]
        return out

    @classmethod
    def from_dict(cls, spec: dict) -> "Rule":
        """A rule from :meth:`to_dict`'s form or a model file's ``[rule]`` table; unknown
        fields are refused."""
        spec = dict(spec)
        missing = [k for k in ("name", "hidden", "output", "update") if k not in spec]
        if missing:
            raise ParameterError("rule", f"a rule definition needs {missing}")
        known = {f.name for f in fields(cls)}
        if set(spec) - known:
            raise ParameterError("rule", f"unknown fields {sorted(set(spec) - known)}; "
                                 f"allowed: {sorted(known)}")
        pathways = []
        for p in spec.pop("pathways", []):
            if isinstance(p, dict) and "name" not in p:
                raise ParameterError("pathways", f"each pathway needs a name; got {p}")
            try:
                pathways.append(Pathway(**p))
            except TypeError as err:
                raise ParameterError("pathways", f"{p.get('name')}: {err}") from None
        return cls(summary=spec.pop("summary", ""), pathways=tuple(pathways), **spec)


def _outside_layer_reductions(tree) -> set:
    """Names an expression reads outside ``layer_sum``/``layer_mean``."""
    if isinstance(tree, ast.Call) and tree.func.id in ("layer_sum", "layer_mean"):
        return set()
    if isinstance(tree, ast.Name):
        return {tree.id}
    children = tree.args if isinstance(tree, ast.Call) else list(ast.iter_child_nodes(tree))
    return set().union(set(), *(_outside_layer_reductions(c) for c in children))


def _read_closure(equations: list, read: set) -> list:
    """The equations whose variable is in ``read``, with those they read in turn, in order."""
    by_name = {eq.name: eq for eq in equations}
    chosen, stack = set(), [n for n in read if n in by_name]
    while stack:
        name = stack.pop()
        if name not in chosen:
            chosen.add(name)
            stack += [n for n in names_in(by_name[name].tree) if n in by_name]
    return [eq for eq in equations if eq.name in chosen]


def _inside_layer_reductions(tree) -> set:
    """Names an expression reads inside ``layer_sum``/``layer_mean``."""
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and n.func.id in ("layer_sum", "layer_mean")]
    return set().union(set(), *(names_in(c) for c in calls))

