"""Compile (architecture, rule, neuron model, loss) into straight-line batched torch code.

Like Brian2's code generation, the rule's equation strings become Python source once per
model; the source is readable (``CompiledNetwork.source``) and runs without interpreting
anything per step. Names in the generated code: ``p{i}_{var}`` is variable ``var`` of
population i (0 input, 1..depth hidden, depth+1 output), ``s{k}_{var}`` a synaptic variable
of forward projection k (population k -> k+1), ``d{l}_{pathway}_{var}`` one of the direct
projection that brings ``pathway`` to hidden population l. Every population tensor is
(E ensemble, B batch, C channels, P positions).
"""

from __future__ import annotations

import ast
import copy
import math
from dataclasses import dataclass, field

import torch

from ...errors import ParameterError
from ...network.architecture import Architecture
from ...network.neurons import NeuronModel
from ...network.projections import Dense, Projection
from ...rules.equations import REDUCTIONS, names_in, parse_expression, separate
from ...rules.rule import HIDDEN_BUILTINS, LOSSES, OUTPUT_BUILTINS, Rule

FUNC_SOURCE = {"exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt", "abs": "torch.abs",
               "sign": "torch.sign", "tanh": "torch.tanh", "sin": "torch.sin", "cos": "torch.cos",
               "int": "_int", "clip": "torch.clip", "floor": "torch.floor", "ceil": "torch.ceil",
               "f": "_f", "fprime": "_fp", "batch_mean": "_bmean"}
MATH = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": abs, "tanh": math.tanh,
        "sin": math.sin, "cos": math.cos, "floor": math.floor, "ceil": math.ceil,
        "sign": lambda x: float((x > 0) - (x < 0)), "int": int, "pi": math.pi}


def _int(x, dtype):
    return x.to(dtype) if x.dtype == torch.bool else torch.trunc(x)


def _bmean(x):
    return x.mean(dim=1, keepdim=True)


@dataclass
class _Scope:
    """Resolves the names of one expression to generated-code names, and classifies them."""

    where: str
    pre: tuple | None = None       # (population index, set of known variables)
    post: tuple | None = None
    own: tuple | None = None       # neuron context: (population index, known variables)
    syn: dict = field(default_factory=dict)       # synaptic name -> generated name
    constants: dict = field(default_factory=dict)  # name -> number

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
            return f"p{self.pre[0]}_{name[:-4]}"
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


def _product(scope: _Scope, factors: list) -> str | None:
    return " * ".join(f"({scope.render(f)})" for f in factors) if factors else None


def _grouped(terms, scope: _Scope, by: tuple, inner: str, full) -> list[tuple]:
    """Group terms by the factors of the sides in ``by``; sum the ``inner`` side within a group.

    Returns [(rendered factors of each side in ``by``, rendered inner sum or None, coefficient,
    whether the inner sum has the full population shape, one term of the group)]: a group of one term keeps its
    coefficient apart so that it can be folded with others. ``full(tree)`` tells whether a
    factor has the population's full shape.
    """
    groups: dict[str, list] = {}
    for term in terms:
        groups.setdefault(term.key(*by), []).append(term)
    out = []
    for members in groups.values():
        coefs = [t.coef * math.prod(scope.fold(f) for f in t.factors["scalar"]) for t in members]
        prods = [_product(scope, t.factors[inner]) for t in members]
        sides = [_product(scope, members[0].factors[s]) for s in by]
        is_full = any(full(f) for t in members for f in t.factors[inner])
        if len(members) == 1:
            out.append((sides, prods[0], coefs[0], is_full, members[0]))
        else:
            total = " + ".join(f"{c!r}" if p is None else f"{c!r} * {p}" for c, p in zip(coefs, prods))
            out.append((sides, total, 1.0, is_full, members[0]))
    return out


def _scaled(source: str, coef: float) -> str:
    if coef == 1.0:
        return source
    if coef == -1.0:
        return f"-{source}"
    return f"{source} * {coef!r}"


class CompiledNetwork:
    """Generated torch code for one model: ``compute`` (learning signals) and ``predict``."""

    def __init__(self, arch: Architecture, rule: Rule, neuron: NeuronModel, loss: str = "cross_entropy"):
        if loss not in LOSSES:
            raise ParameterError("loss", f"must be one of {', '.join(LOSSES)}; got {loss!r}")
        self.arch, self.rule, self.neuron, self.loss = arch, rule, neuron, loss
        self.projections: list[Projection] = arch.projections
        self.depth = arch.depth
        self.out = arch.depth + 1
        self.direct: dict[tuple, Dense] = {}   # (layer, pathway) -> projection from the output
        for pathway in rule.pathways:
            if pathway.route == "direct":
                for layer in range(1, self.out):
                    self.direct[(layer, pathway.name)] = Dense(
                        arch.population_shapes[-1], arch.population_shapes[layer])
        self.synapse_specs = self._synapse_specs()
        self._lines: list[str] = []
        self._known: dict[int, set] = {}
        self._full_vars: dict[int, set] = {}
        self.source = self._generate()
        namespace = {"torch": torch, "_int": _int, "_bmean": _bmean, "_f": neuron.act.f,
                     "_fp": neuron.act.fprime,
                     **{f"_proj{k}": p for k, p in enumerate(self.projections)},
                     **{f"_dproj{l}_{n}": p for (l, n), p in self.direct.items()}}
        exec(compile(self.source, f"<plasticity_sim {rule.name} {arch.kind}>", "exec"), namespace)
        self.compute = namespace["compute"]
        self.predict = namespace["predict"]
        self.represent = namespace["represent"]  # rates of every hidden layer, (E,B,P,C) each

    # --- synaptic variables ------------------------------------------------------------------
    def _synapse_specs(self) -> dict:
        """Generated name -> (projection, init expression, plastic?)."""
        specs = {}
        for k, proj in enumerate(self.projections):
            specs[f"s{k}_w"] = (proj, "randn / sqrt(fan_in)", True)
            if self.arch.bias:
                specs[f"s{k}_bias"] = (proj, "0", True)
            if k > 0:  # projections above a hidden layer carry the transposed pathways' synapses
                for var, init in self.rule.synapse_variables.items():
                    specs[f"s{k}_{var}"] = (proj, init, False)
        for (layer, name), proj in self.direct.items():
            pathway = next(p for p in self.rule.pathways if p.name == name)
            for var, init in pathway.synapses.items():
                specs[f"d{layer}_{name}_{var}"] = (proj, init, False)
        return specs

    def variables(self, population: int) -> set:
        """Names of the variables population ``population`` has in the generated code."""
        return set(self._known[population])

    @property
    def plastic(self) -> list[str]:
        return [name for name, (_, _, plastic) in self.synapse_specs.items() if plastic]

    def constants(self, proj: Projection) -> dict:
        return {**self.rule.params, "fan_in": proj.fan_in, "fan_out": proj.fan_out, "pi": math.pi}

    def _fwd_syn(self, k: int) -> dict:
        names = {"w": f"s{k}_w", **{v: f"s{k}_{v}" for v in self.rule.synapse_variables}}
        return names if k > 0 else {"w": "s0_w"}

    # --- generation -----------------------------------------------------------------------------
    def _emit(self, line: str, indent: int = 1):
        self._lines.append("    " * indent + line)

    def _generate(self) -> str:
        self._lines = ["def compute(S, x, target, want_state=False):"]
        self._emit("B = x.shape[1]")
        self._forward()
        self._output()
        for layer in range(self.depth, 0, -1):
            self._pathways_into(layer)
            self._equations(layer, self.rule.hidden_equations, f"rule {self.rule.name!r} hidden")
        self._updates()
        compute = "\n".join(self._lines)
        self._lines = ["def predict(S, x):"]
        self._forward()
        self._emit(f"return p{self.out}_a")
        predict = "\n".join(self._lines)
        self._lines = ["def represent(S, x):"]
        self._forward()
        self._emit("return [" + ", ".join(f"p{l}_r" for l in range(1, self.out)) + "]")
        return "\n\n\n".join([compute, predict, "\n".join(self._lines)]) + "\n"

    def _load_synapses(self, names):
        for name in names:
            self._emit(f"{name} = S[{name!r}]")

    def _drive(self, k: int) -> str:
        bias = f" + s{k}_bias.unsqueeze(1)" if self.arch.bias else ""
        return f"_proj{k}.forward(s{k}_w, p{k}_r){bias}"

    def _forward(self):
        self._load_synapses(self.synapse_specs)
        self._emit("_dt = x.dtype")
        self._emit("p0_r = x")
        hidden = range(1, self.out)
        if self.neuron.time_model == "euler":
            rate = self.neuron.dt / self.neuron.tau
            for l in hidden:
                shape = ", ".join(map(str, self.arch.population_shapes[l]))
                self._emit(f"p{l}_r = x.new_zeros(x.shape[0], x.shape[1], {shape})")
            self._emit(f"for _ in range({self.neuron.n_steps}):")
            for l in hidden:  # every drive from the current rates, then every rate moves
                self._emit(f"p{l}_a = {self._drive(l - 1)}", 2)
            for l in hidden:
                self._emit(f"p{l}_r = p{l}_r + {rate!r} * (_f(p{l}_a) - p{l}_r)", 2)
            for l in hidden:  # drives seen by learning: from the final rates
                self._emit(f"p{l}_a = {self._drive(l - 1)}")
        else:
            for l in hidden:
                self._emit(f"p{l}_a = {self._drive(l - 1)}")
                self._emit(f"p{l}_r = _f(p{l}_a)")
        self._emit(f"p{self.out}_a = {self._drive(self.depth)}")
        for l in range(self.out):
            self._known.setdefault(l, set(HIDDEN_BUILTINS) if l else {"r"})
            self._full_vars.setdefault(l, set(self._known[l]))

    def _output(self):
        o = self.out
        if self.loss == "cross_entropy":
            self._emit(f"p{o}_p = torch.softmax(p{o}_a, dim=3)")
        else:
            self._emit(f"p{o}_p = p{o}_a")
        self._emit(f"p{o}_r = p{o}_p")
        self._emit(f"p{o}_target = target")
        self._emit(f"p{o}_err = p{o}_p - target")  # dLoss/da for softmax-CE and for 0.5*MSE
        self._known[o] = set(OUTPUT_BUILTINS)
        self._full_vars[o] = set(OUTPUT_BUILTINS)
        self._equations(o, self.rule.output_equations, f"rule {self.rule.name!r} output")

    def _equations(self, pop: int, equations, where: str):
        for eq in equations:
            scope = _Scope(where=f"{where}, {eq.name}", own=(pop, self._known[pop]),
                           constants={**self.rule.params, "pi": math.pi})
            source = scope.render(eq.tree)
            if not names_in(eq.tree) - set(scope.constants):  # a constant: broadcast like `a`
                source = f"torch.full_like(p{pop}_a, {source})"
            self._emit(f"p{pop}_{eq.name} = {source}")
            self._known[pop].add(eq.name)
            if self._fullness(scope, "own", pop)(eq.tree) or source.startswith("torch.full_like"):
                self._full_vars[pop].add(eq.name)

    def _pathways_into(self, layer: int):
        for pathway in self.rule.pathways:
            where = f"rule {self.rule.name!r} pathway {pathway.name!r} into layer {layer}"
            tree = parse_expression(pathway.expr, where=where)
            if pathway.route == "transpose":
                k, proj = layer, f"_proj{layer}"
                scope = _Scope(where, pre=(layer, self._known[layer]),
                               post=(layer + 1, self._known[layer + 1]), syn=self._fwd_syn(k),
                               constants=self.constants(self.projections[k]))
                terms = separate(tree, scope.side, where)
                parts = []
                full = self._fullness(scope, "post", layer + 1)
                for (syn, pre), post, coef, whole, _ in _grouped(terms, scope, ("syn", "pre"), "post",
                                                                    full):
                    syn = syn or f"torch.ones_like(s{k}_w)"
                    post = self._full(post, layer + 1, coef, whole)
                    part = f"{proj}.transpose({syn}, {post})"
                    parts.append(part if pre is None else f"{part} * {pre}")
            else:
                name = f"_dproj{layer}_{pathway.name}"
                syn = {v: f"d{layer}_{pathway.name}_{v}" for v in pathway.synapses}
                scope = _Scope(where, pre=(self.out, self._known[self.out]),
                               post=(layer, self._known[layer]), syn=syn,
                               constants=self.constants(self.direct[(layer, pathway.name)]))
                terms = separate(tree, scope.side, where)
                parts = []
                full = self._fullness(scope, "pre", self.out)
                for (syn_src, post), pre, coef, whole, _ in _grouped(terms, scope, ("syn", "post"),
                                                                      "pre", full):
                    if syn_src is None:
                        raise ParameterError("equations", f"{where}: a direct pathway needs its "
                                             "own synaptic weights (declare them in `synapses`)")
                    part = f"{name}.forward({syn_src}, {self._full(pre, self.out, coef, whole)})"
                    parts.append(part if post is None else f"{part} * {post}")
            self._emit(f"p{layer}_{pathway.name} = " + " + ".join(parts))
            self._known[layer].add(pathway.name)
            self._full_vars[layer].add(pathway.name)

    def _updates(self):
        self._emit("U = {}")
        for k, proj in enumerate(self.projections):
            text = self.rule.update if k < self.depth or self.rule.readout_update is None \
                else self.rule.readout_update
            where = f"rule {self.rule.name!r} update of projection {k}"
            scope = _Scope(where, pre=(k, self._known[k]), post=(k + 1, self._known[k + 1]),
                           syn=self._fwd_syn(k), constants=self.constants(proj))
            terms = separate(parse_expression(text, where=where), scope.side, where)
            parts = []
            post_full = self._fullness(scope, "post", k + 1)
            pre_full = self._fullness(scope, "pre", k)
            for (syn, pre), post, coef, whole, term in _grouped(terms, scope, ("syn", "pre"),
                                                                "post", post_full):
                pre_whole = any(pre_full(f) for f in term.factors["pre"])
                post, pre = self._full(post, k + 1, 1.0, whole), self._full(pre, k, 1.0, pre_whole)
                if syn is None:
                    parts.append(f"_proj{k}.outer({post}, {pre}, {coef!r} / B)")
                else:
                    parts.append(f"_proj{k}.outer({post}, {pre}, {coef!r} / B) * {syn}")
            self._emit(f"U['s{k}_w'] = {' + '.join(parts)}")
            if self.arch.bias:
                self._emit(f"U['s{k}_bias'] = {self._bias_update(k, terms, scope, where)}")
        self._emit(f"return U, p{self.out}_a, (locals() if want_state else None)")

    def _full(self, source: str | None, pop: int, coef: float, whole: bool) -> str:
        """``source`` (a product over population ``pop``) times ``coef``, at the population's shape."""
        if source is None:
            return f"torch.full_like(p{pop}_r, {coef!r})"
        source = _scaled(source, coef)
        return source if whole else f"({source}).expand_as(p{pop}_r)"

    def _fullness(self, scope: _Scope, side: str, pop: int):
        """A test: does a factor read a variable with the population's full shape, outside a
        reduction? (A factor that reads only batch means or layer-wide values does not.)"""
        suffix = {"pre": "_pre", "post": "_post", "own": ""}[side]

        def full(tree) -> bool:
            stack = [tree]
            while stack:
                node = stack.pop()
                if isinstance(node, ast.Call) and node.func.id in REDUCTIONS:
                    continue
                if isinstance(node, ast.Name) and scope.side(node.id) == side:
                    name = node.id[:len(node.id) - len(suffix)] if suffix else node.id
                    if name in self._full_vars[pop]:
                        return True
                if isinstance(node, ast.Call):
                    stack.extend(node.args)
                else:
                    stack.extend(ast.iter_child_nodes(node))
            return False

        return full

    def _bias_update(self, k, terms, scope, where) -> str:
        """The bias is a synapse from a unit firing at rate 1: r_pre -> 1."""
        parts = []
        for term in terms:
            pre = [ast.unparse(f) for f in term.factors["pre"]]
            if term.factors["syn"] or any(p != "r_pre" for p in pre):
                raise ParameterError("bias", f"{where}: a term reads {pre or 'synaptic variables'}"
                                     "; a bias is a synapse from a unit of rate 1 and can only "
                                     "follow terms in r_pre (use bias = false for this rule)")
            coef = term.coef * math.prod(scope.fold(f) for f in term.factors["scalar"])
            post = _product(scope, term.factors["post"]) or "1.0"
            parts.append(f"{coef!r} * ({post}).expand_as(p{k + 1}_a)")
        return f"_proj{k}.bias_outer({' + '.join(parts)}) * (1.0 / B)"


def compile_network(arch: Architecture, rule: Rule, neuron: NeuronModel | None = None,
                    loss: str = "cross_entropy") -> CompiledNetwork:
    return CompiledNetwork(arch, rule, neuron or NeuronModel(), loss)
