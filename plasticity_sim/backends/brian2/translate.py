"""Rule expressions as Brian2 sees them.

The rule's strings are already Brian2 syntax; what remains is what Brian2 has no notion of:

- ``f(x)`` and ``fprime(x)`` become the activation's own expressions with ``a`` := x;
- ``batch_mean(x)`` is x itself: Brian2 runs one presentation at a time (a batch of one);
- ``layer_sum(x)`` and ``layer_mean(x)`` (over the whole population), ``channel_sum(x)``
  (over the channels at one position) and ``position_mean(x)`` (over the positions of one
  channel) are reductions: each becomes a variable summed onto a modulator group (one
  neuron, one per position, one per channel) and broadcast back to the units it came from
  (``Reduction``);
- parameters, projection constants (fan_in, ...) and population constants (positions,
  channels, negatives) are written in as numbers.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from ...errors import ParameterError
from ...rules.equations import parse_expression


#: reduction -> (what it reduces over, whether it is a mean)
REDUCTION_KINDS = {"layer_sum": ("layer", False), "layer_mean": ("layer", True),
                   "channel_sum": ("channels", False), "position_mean": ("positions", True)}


@dataclass(frozen=True)
class Reduction:
    """``name`` (a population variable) = sum (or mean) of ``expr`` over ``over``: the whole
    population (``"layer"``), the channels at each position (``"channels"``: one value per
    position) or the positions of each channel (``"positions"``: one value per channel)."""

    name: str
    expr: str      # in the population's own names
    mean: bool
    over: str = "layer"


class _Rewriter(ast.NodeTransformer):
    def __init__(self, activation, constants: dict, reductions: list | None, prefix: str,
                 text: str = ""):
        self.activation, self.constants = activation, constants
        self.reductions, self.prefix, self.text = reductions, prefix, text

    def visit_Call(self, node):
        node.args = [self.visit(arg) for arg in node.args]
        name = node.func.id
        if name in ("f", "fprime"):
            body = parse_expression(self.activation.f_expr if name == "f" else self.activation.fprime_expr)
            return _Substitute({"a": node.args[0]}).visit(copy.deepcopy(body))
        if name == "batch_mean":
            return node.args[0]
        if name in REDUCTION_KINDS:
            if self.reductions is None:
                raise ParameterError("equations", f"{name}({ast.unparse(node.args[0])}) in "
                                     f"{self.text!r}: the Brian2 engine computes a population "
                                     "reduction only in the equations of a hidden population; "
                                     f"define it there (x = {name}(...) : 1) and read x here")
            over, mean = REDUCTION_KINDS[name]
            red = Reduction(f"{self.prefix}red{len(self.reductions)}", ast.unparse(node.args[0]),
                            mean, over)
            self.reductions.append(red)
            return ast.Name(red.name, ast.Load())
        return node

    def visit_Name(self, node):
        if node.id in self.constants:
            return ast.Constant(float(self.constants[node.id]))
        return node


class _Substitute(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        return copy.deepcopy(self.mapping[node.id]) if node.id in self.mapping else node


def brian_expression(text: str, activation, constants: dict, reductions: list | None = None,
                     prefix: str = "") -> str:
    """``text`` with activations inlined, batch means dropped, constants written in, and
    population reductions replaced by the names of their (appended) Reductions."""
    tree = parse_expression(text)
    tree = _Rewriter(activation, constants, reductions, prefix, text).visit(copy.deepcopy(tree))
    return ast.unparse(ast.fix_missing_locations(tree))


def suffixed(expr: str, suffix: str, names: set) -> str:
    """Every name of ``names`` in ``expr`` with ``suffix`` appended (x -> x_pre)."""
    tree = _Substitute({n: ast.Name(n + suffix, ast.Load()) for n in names}).visit(
        copy.deepcopy(parse_expression(expr)))
    return ast.unparse(tree)
