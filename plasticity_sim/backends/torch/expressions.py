"""Rendering rule expressions as torch source: name resolution, constant folding, and the
grouping of separable terms into outer products."""

from __future__ import annotations

import ast
import copy
import math
from dataclasses import dataclass, field

import torch

from ...errors import ParameterError
from ...rules.equations import names_in

FUNC_SOURCE = {"exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt", "abs": "torch.abs",
               "sign": "torch.sign", "tanh": "torch.tanh", "sin": "torch.sin", "cos": "torch.cos",
               "int": "_int", "clip": "torch.clip", "floor": "torch.floor", "ceil": "torch.ceil",
               "f": "_f", "fprime": "_fp", "batch_mean": "_bmean", "layer_sum": "_lsum",
               "layer_mean": "_lmean", "channel_sum": "_csum", "position_mean": "_pmean"}
MATH = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": abs, "tanh": math.tanh,
        "sin": math.sin, "cos": math.cos, "floor": math.floor, "ceil": math.ceil,
        "sign": lambda x: float((x > 0) - (x < 0)), "int": int, "pi": math.pi}


def _int(x, dtype):
    return x.to(dtype) if x.dtype == torch.bool else torch.trunc(x)


def _bmean(x):
    return x.mean(dim=1, keepdim=True)


def _lsum(x):
    return x.sum(dim=(2, 3), keepdim=True)


def _lmean(x):
    return x.mean(dim=(2, 3), keepdim=True)


def _csum(x):
    return x.sum(dim=3, keepdim=True)


def _pmean(x):
    return x.mean(dim=2, keepdim=True)


def _block0(x, copies: int):
    """The first of ``copies`` blocks of a batch (E, B * copies, ...)."""
    return x if copies == 1 else x[:, :x.shape[1] // copies]


def _blocks(t, copies: int, roll: bool):
    """``copies`` blocks from the first: repeated, or block j rolled by j presentations."""
    if copies == 1:
        return t
    if not roll:
        return t.repeat(1, copies, *([1] * (t.dim() - 2)))
    return torch.cat([t] + [t.roll(j, dims=1) for j in range(1, copies)], dim=1)


def _breduce(x):
    """A state's new value: averaged over the minibatch if it still has a batch axis."""
    return x if x.shape[1] == 1 else x.mean(dim=1, keepdim=True)


def _sibctx(t, copies: int, s: int):
    """Sibling contexts for a batch made of ``copies`` blocks of the same B presentations:
    block 0 holds each unit's sibling (the next position under the same parent), block j
    the sibling of presentation b - j (a negative). A single position has no sibling: 0."""
    E, B, P, C = t.shape
    base = t[:, :B // copies]
    if P < s:
        swapped = torch.zeros_like(base)
    else:
        pos = torch.arange(P, device=t.device)
        swapped = base[:, :, pos // s * s + (pos + 1) % s]
    return _blocks(swapped, copies, roll=True)


HELPERS = {"torch": torch, "_int": _int, "_bmean": _bmean, "_lsum": _lsum, "_lmean": _lmean,
           "_csum": _csum, "_pmean": _pmean, "_breduce": _breduce, "_sibctx": _sibctx,
           "_block0": _block0, "_blocks": _blocks}


@dataclass
class Scope:
    """Resolves the names of one expression to generated-code names, and classifies them."""

    where: str
    pre: tuple | None = None       # (population index, set of known variables)
    post: tuple | None = None
    own: tuple | None = None       # neuron context: (population index, known variables)
    syn: dict = field(default_factory=dict)       # synaptic name -> generated name
    constants: dict = field(default_factory=dict)  # name -> number
    aliases: dict = field(default_factory=dict)    # generated name -> the one to read instead

    def side(self, name: str) -> str:
        for suffix, ctx, side in (("_pre", self.pre, "pre"), ("_post", self.post, "post")):
            if ctx is not None and name.endswith(suffix) and name[:-len(suffix)] in ctx[1]:
                return side
        if self.own is not None and name in self.own[1]:
            return "own"
        if name in self.syn:
            return "syn"
        if name in self.constants:
            return "scalar"
        raise ParameterError("equations", f"{self.where}: unknown variable {name!r}; known here: "
                             f"{', '.join(sorted(self.known()))}")

    def known(self) -> set:
        out = set(self.syn) | set(self.constants)
        for suffix, ctx in (("_pre", self.pre), ("_post", self.post)):
            if ctx is not None:
                out |= {v + suffix for v in ctx[1]}
        if self.own is not None:
            out |= set(self.own[1])
        return out

    def source(self, name: str) -> str:
        side = self.side(name)
        if side == "pre":
            generated = f"p{self.pre[0]}_{name[:-4]}"
            return self.aliases.get(generated, generated)
        if side == "post":
            return f"p{self.post[0]}_{name[:-5]}"
        if side == "own":
            return f"p{self.own[0]}_{name}"
        if side == "syn":
            return self.syn[name]
        return repr(float(self.constants[name]))

    def render(self, tree: ast.expr) -> str:
        """Python source of ``tree`` with names resolved; constant sub-expressions folded."""
        scope = self

        class Renamer(ast.NodeTransformer):
            def visit_Call(self, node):
                node.args = [self.visit(arg) for arg in node.args]
                if node.func.id == "int":  # booleans become the dtype of the computation
                    node.args.append(ast.Name("_dt", ast.Load()))
                node.func = ast.Name(FUNC_SOURCE[node.func.id], ast.Load())
                return node

            def visit_Name(self, node):
                return ast.parse(scope.source(node.id), mode="eval").body

        if all(self.side(n) == "scalar" for n in names_in(tree)):
            return repr(self.fold(tree))
        return ast.unparse(Renamer().visit(copy.deepcopy(tree)))

    def fold(self, tree: ast.expr) -> float:
        namespace = {**MATH, **{k: float(v) for k, v in self.constants.items()}}
        try:
            return float(eval(compile(ast.Expression(tree), "<const>", "eval"), {"__builtins__": {}},
                              namespace))
        except (ArithmeticError, ValueError) as err:
            raise ParameterError("equations", f"{self.where}: {ast.unparse(tree)!r} "
                                 f"cannot be evaluated ({err})") from None


def product(scope: Scope, factors: list) -> str | None:
    return " * ".join(f"({scope.render(f)})" for f in factors) if factors else None


def grouped(terms, scope: Scope, by: tuple, inner: str, full) -> list[tuple]:
    """Group terms by the factors of the sides in ``by``; sum the ``inner`` side within a group.

    Returns [(rendered factors of each side in ``by``, rendered inner sum or None, coefficient,
    whether the inner sum has the full population shape, one term of the group)]: a group of one term keeps its
    coefficient apart so that it can be folded with others. ``full(tree)`` tells whether a
    factor has the population's full shape.
    """
    groups: dict[str, list] = {}
    for term in terms:
        if term.coef * math.prod(scope.fold(f) for f in term.factors["scalar"]) == 0.0:
            continue  # a term switched off by a parameter (e.g. retrodiction = 0) costs nothing
        groups.setdefault(term.key(*by), []).append(term)
    out = []
    for members in groups.values():
        coefs = [t.coef * math.prod(scope.fold(f) for f in t.factors["scalar"]) for t in members]
        prods = [product(scope, t.factors[inner]) for t in members]
        sides = [product(scope, members[0].factors[s]) for s in by]
        is_full = any(full(f) for t in members for f in t.factors[inner])
        if len(members) == 1:
            out.append((sides, prods[0], coefs[0], is_full, members[0]))
        else:
            total = " + ".join(f"{c!r}" if p is None else f"{c!r} * {p}" for c, p in zip(coefs, prods))
            out.append((sides, total, 1.0, is_full, members[0]))
    return out


def scaled(source: str, coef: float) -> str:
    if coef == 1.0:
        return source
    if coef == -1.0:
        return f"-{source}"
    return f"{source} * {coef!r}"
