"""Equations in Brian2 syntax: parsing, checking, and splitting into separable terms.

Neuron equations are lines ``name = expression [: unit]`` (Brian2 subexpressions; only
dimensionless ``1`` units are used). Synaptic expressions use Brian2's suffixes: ``x_pre``
and ``x_post`` for neuron variables of the pre- and post-synaptic populations, bare names
for per-synapse variables (``w``, feedback weights) and for parameters.

A synaptic expression is split into a sum of terms, each a product of factors that depend
on one side only: (scalar) x (post) x (pre) x (synaptic). Summed over a batch, each group
of terms with the same pre and synaptic factors is one outer product.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import ParameterError

#: Functions an expression may call (Brian2's names, plus the population-level ones).
FUNCTIONS = {"exp", "log", "sqrt", "abs", "sign", "tanh", "sin", "cos", "int", "clip",
             "floor", "ceil", "f", "fprime", "batch_mean", "layer_sum", "layer_mean",
             "channel_sum", "position_mean"}
#: The element-wise functions, as numpy computes them: every evaluator outside the engines
#: (virtual slices, protocols) reads this one table; the engines' tables are tested against it.
NUMPY_FUNCTIONS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign,
    "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "floor": np.floor, "ceil": np.ceil,
    "clip": np.clip, "int": lambda x: np.trunc(np.asarray(x, dtype=float)),  # as Brian2's int()
}
#: Reductions: batch_mean over the presentations of a minibatch (per unit); layer_sum and
#: layer_mean over the units of a population (per presentation: a layer-wide signal);
#: channel_sum over the channels at one position (per presentation and position: a local
#: signal of the units that see the same patch); position_mean over the positions of one
#: channel (per presentation and channel: average pooling).
REDUCTIONS = {"batch_mean", "layer_sum", "layer_mean", "channel_sum", "position_mean"}
#: Constants of a hidden population that its equations may read: its number of positions and
#: of channels, and the stream's negative pairs per positive pair (``negatives``).
POPULATION_CONSTANTS = {"positions", "channels", "negatives"}

_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Name,
            ast.Constant, ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub,
            ast.UAdd, ast.Gt, ast.GtE, ast.Lt, ast.LtE, ast.Eq, ast.NotEq)


@dataclass(frozen=True)
class Equation:
    name: str
    expr: str
    unit: str = "1"

    @cached_property  # parsed once: the engines and the one-synapse experiments read it often
    def tree(self) -> ast.expr:
        return parse_expression(self.expr, where=f"equation for {self.name!r}")


def parse_expression(text: str, where: str = "expression") -> ast.expr:
    """Parse a Brian2 expression into a Python AST, allowing arithmetic, comparisons and FUNCTIONS."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ParameterError("equations", f"{where}: cannot parse {text!r} ({err.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ParameterError("equations", f"{where}: {type(node).__name__} is not allowed "
                                 f"in {text!r}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                name = getattr(node.func, "id", ast.unparse(node.func))
                raise ParameterError("equations", f"{where}: unknown function {name!r} in "
                                     f"{text!r}; known: {', '.join(sorted(FUNCTIONS))}")
            if node.keywords:
                raise ParameterError("equations", f"{where}: keyword arguments are not allowed")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float)):
            raise ParameterError("equations", f"{where}: constant {node.value!r} is not a number")
    return tree.body


def parse_equations(text: str, where: str = "equations", dynamics: bool = False) -> list[Equation]:
    """``name = expr [: unit]`` per line; ``#`` starts a comment; blank lines are skipped.

    With ``dynamics`` (state variables), ``dname/dt = expr`` is also allowed: an Euler step of
    one presentation, time counted in presentations (``name = name + (expr)``)."""
    equations = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise ParameterError("equations", f"{where}: expected 'name = expression : unit', "
                                 f"got {raw.strip()!r}")
        name, rest = (part.strip() for part in line.split("=", 1))
        derivative = re.fullmatch(r"d\s*(\w+)\s*/\s*dt", name) if dynamics else None
        if derivative:
            expr, _, unit = rest.partition(":")
            name, rest = derivative.group(1), f"{derivative.group(1)} + ({expr.strip()}) : {unit or '1'}"
        if "/" in name:
            raise ParameterError("equations", f"{where}: {name!r}: rule equations are "
                                 "subexpressions; rate dynamics belong to the neuron model")
        expr, _, unit = rest.partition(":")
        if not name.isidentifier():
            raise ParameterError("equations", f"{where}: {name!r} is not a variable name")
        eq = Equation(name, expr.strip(), unit.strip() or "1")
        eq.tree  # validate now, so that errors name the equation
        equations.append(eq)
    return equations


def names_in(tree: ast.AST) -> set[str]:
    """Variable names read by an expression (function names excluded)."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def function_names(tree: ast.AST) -> set[str]:
    """Functions an expression calls."""
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def live_terms_reading(text: str, suffix: str, constants: dict) -> list[str]:
    """The terms of an update (a sum of products; ``constants`` written in as numbers) that
    read a name ending in ``suffix`` and whose coefficient is not zero: a switched-off term
    (``retrodiction = 0``) is not live."""
    tree = parse_expression(text)
    side = lambda name: "scalar" if name in constants else (  # noqa: E731
        "pre" if name.endswith("_pre") else "post" if name.endswith("_post") else "syn")
    namespace = {**NUMPY_FUNCTIONS, **{k: float(v) for k, v in constants.items()}}
    live = []
    for term in separate(tree, side, where=text):
        coef = term.coef
        for factor in term.factors["scalar"]:
            coef *= float(eval(compile(ast.Expression(factor), "<const>", "eval"),
                               {"__builtins__": {}}, namespace))
        read = [ast.unparse(f) for side in ("pre", "post", "syn") for f in term.factors[side]]
        if coef and any(name.endswith(suffix) for f in term.factors["pre"] + term.factors["post"]
                        for name in names_in(f)):
            live.append(" * ".join([repr(coef)] + read))
    return live


# --- separable terms ------------------------------------------------------------------------
SIDES = ("scalar", "post", "pre", "syn")


@dataclass
class Term:
    """coef * prod(factors[side] for every side); factors are ASTs."""

    coef: float = 1.0
    factors: dict = field(default_factory=lambda: {side: [] for side in SIDES})

    def times(self, other: "Term") -> "Term":
        return Term(self.coef * other.coef,
                    {s: self.factors[s] + other.factors[s] for s in SIDES})

    def key(self, *sides: str) -> str:
        return "|".join(";".join(sorted(ast.dump(f) for f in self.factors[s])) for s in sides)


def separate(tree: ast.expr, side_of, where: str) -> list[Term]:
    """Expand ``tree`` into a sum of Terms; ``side_of(name)`` returns one of SIDES.

    Products distribute over sums; any other sub-expression is an atom that must read
    variables of one side only, or the expression is not separable.
    """
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, (ast.Add, ast.Sub)):
        right = separate(tree.right, side_of, where)
        if isinstance(tree.op, ast.Sub):
            right = [Term(-t.coef, t.factors) for t in right]
        return separate(tree.left, side_of, where) + right
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Mult):
        return [a.times(b) for a in separate(tree.left, side_of, where)
                for b in separate(tree.right, side_of, where)]
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Div):
        inverse = ast.fix_missing_locations(
            ast.copy_location(ast.BinOp(ast.Constant(1.0), ast.Div(), tree.right), tree.right))
        return [t.times(_atom(inverse, side_of, where)) for t in separate(tree.left, side_of, where)]
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, (ast.USub, ast.UAdd)):
        sign = -1.0 if isinstance(tree.op, ast.USub) else 1.0
        return [Term(sign * t.coef, t.factors) for t in separate(tree.operand, side_of, where)]
    if isinstance(tree, ast.Constant):
        return [Term(float(tree.value))]
    return [_atom(tree, side_of, where)]


def _atom(tree: ast.expr, side_of, where: str) -> Term:
    sides = {side_of(name) for name in names_in(tree)} - {"scalar"}
    if len(sides) > 1:
        raise ParameterError("equations", f"{where}: {ast.unparse(tree)!r} mixes "
                             f"{' and '.join(sorted(sides))} variables inside one factor; write it "
                             "as a sum of products of one-sided factors")
    term = Term()
    term.factors[sides.pop() if sides else "scalar"].append(tree)
    return term
