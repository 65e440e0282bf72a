"""A learning rule as equations: the circuit it adds, its neuron variables, its updates.

Per presentation, after the forward pass:

1. the output population evaluates ``output`` (it knows ``a`` the logits, ``p`` the
   prediction, ``target`` the one-hot label and ``err`` = dLoss/da);
2. from the top hidden layer down, each hidden population receives its ``pathways``
   (summed variables) and evaluates ``hidden`` (it knows ``a``, ``r``, the pathway variables,
   ``f(.)`` and ``fprime(.)`` of its activation, and ``batch_mean(.)``);
3. every forward projection changes by ``update`` (``readout_update`` for the readout):
   the per-presentation change of ``w``, in Brian2 synaptic syntax, averaged over a
   minibatch and scaled by the learning rate. Write it with the sign of the change.

Pathway routes, in Brian2 terms (a summed variable on a Synapses object):

- ``transpose``: through the forward projection from this layer to the one above, summed
  onto the pre-synaptic side: ``fb_pre = w * delta_post : 1 (summed)`` gives W^T delta.
  Per-synapse variables it needs (``b`` for feedback alignment) live on that projection.
- ``direct``: a new projection from the output population to this layer, summed onto the
  post-synaptic side: ``fb_post = b * err_pre : 1 (summed)`` (one B_l per layer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ParameterError
from .equations import FUNCTIONS, parse_equations, parse_expression

ROUTES = ("transpose", "direct")
LOSSES = ("cross_entropy", "mse")
#: Variables every hidden population has, and every output population has.
HIDDEN_BUILTINS = {"a", "r"}
OUTPUT_BUILTINS = {"a", "r", "p", "target", "err"}
#: Constants every synaptic expression and initializer may read.
PROJECTION_CONSTANTS = {"fan_in", "fan_out", "pi"}


@dataclass(frozen=True)
class Pathway:
    """A summed variable ``name`` delivered to every hidden population."""

    name: str
    route: str
    expr: str
    #: per-synapse variables the pathway adds and their initial values, as expressions in
    #: ``randn`` (a standard normal draw per synapse), ``w``, ``fan_in``, ``fan_out``
    synapses: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.route not in ROUTES:
            raise ParameterError("route", f"pathway {self.name!r}: must be one of "
                                 f"{', '.join(ROUTES)}; got {self.route!r}")
        if not self.name.isidentifier():
            raise ParameterError("pathways", f"{self.name!r} is not a variable name")
        parse_expression(self.expr, where=f"pathway {self.name!r}")
        for var, init in self.synapses.items():
            parse_expression(init, where=f"initial value of {var!r} in pathway {self.name!r}")


@dataclass(frozen=True)
class Rule:
    name: str
    summary: str
    hidden: str
    output: str
    update: str
    pathways: tuple = ()
    readout_update: str | None = None
    params: dict = field(default_factory=dict)
    reference: str = ""

    def __post_init__(self):
        object.__setattr__(self, "pathways", tuple(self.pathways))
        self.hidden_equations, self.output_equations  # validate early
        parse_expression(self.update, where=f"rule {self.name!r} update")
        if self.readout_update is not None:
            parse_expression(self.readout_update, where=f"rule {self.name!r} readout_update")
        clash = set(self.params) & (FUNCTIONS | OUTPUT_BUILTINS | PROJECTION_CONSTANTS | {"w"})
        if clash:
            raise ParameterError("params", f"rule {self.name!r}: {sorted(clash)} are reserved names")
        for eq in self.hidden_equations + self.output_equations:
            if eq.name in OUTPUT_BUILTINS or eq.name in self.params:
                raise ParameterError("equations", f"rule {self.name!r}: {eq.name!r} is a built-in "
                                     "variable or parameter and cannot be redefined")

    @property
    def hidden_equations(self):
        return parse_equations(self.hidden, where=f"rule {self.name!r} hidden")

    @property
    def output_equations(self):
        return parse_equations(self.output, where=f"rule {self.name!r} output")

    @property
    def synapse_variables(self) -> dict:
        """Per-synapse variables of the forward projections (besides ``w``), with initializers."""
        out = {}
        for pathway in self.pathways:
            if pathway.route == "transpose":
                out.update(pathway.synapses)
        return out

    def with_params(self, **params) -> "Rule":
        unknown = set(params) - set(self.params)
        if unknown:
            raise ParameterError("params", f"rule {self.name!r} has no parameters {sorted(unknown)}; "
                                 f"it has {sorted(self.params) or 'none'}")
        return Rule(self.name, self.summary, self.hidden, self.output, self.update, self.pathways,
                    self.readout_update, {**self.params, **params}, self.reference)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "summary": self.summary, "hidden": self.hidden,
            "output": self.output, "update": self.update, "readout_update": self.readout_update,
            "params": dict(self.params), "reference": self.reference,
            "pathways": [{"name": p.name, "route": p.route, "expr": p.expr,
                          "synapses": dict(p.synapses)} for p in self.pathways],
        }

    @classmethod
    def from_dict(cls, spec: dict) -> "Rule":
        spec = dict(spec)
        missing = [k for k in ("name", "hidden", "output", "update") if k not in spec]
        if missing:
            raise ParameterError("rule", f"a rule definition needs {missing}")
        known = {"name", "summary", "hidden", "output", "update", "readout_update", "params",
                 "reference", "pathways"}
        if set(spec) - known:
            raise ParameterError("rule", f"unknown fields {sorted(set(spec) - known)}; "
                                 f"allowed: {sorted(known)}")
        pathways = []
        for p in spec.pop("pathways", []):
            if isinstance(p, dict) and "name" not in p:
                raise ParameterError("pathways", f"each pathway needs a name; got {p}")
            pathways.append(Pathway(**p))
        return cls(summary=spec.pop("summary", ""), pathways=tuple(pathways), **spec)
