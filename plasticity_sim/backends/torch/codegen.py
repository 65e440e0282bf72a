"""Compile (architecture, rule, neuron model, loss, pairing) into straight-line torch code.

Like Brian2's code generation, the rule's equation strings become Python source once per
model; the source is readable (``CompiledNetwork.source``) and runs without interpreting
anything per step. Names in the generated code: ``p{i}_{var}`` is variable ``var`` of
population i (0 input, 1..depth hidden, depth+1 output), ``s{k}_{var}`` a synaptic variable
of forward projection k (population k -> k+1), ``d{l}_{pathway}_{var}`` one of the direct
projection that brings ``pathway`` to hidden population l, ``l{l}_{pathway}_{var}`` one of
a lateral projection of population l. Every population tensor is (E ensemble, B batch,
P positions, C channels); state variables are (E, 1, P, C).

With pairs, every hidden population also has ``a_ctx``, ``r_ctx`` (the context's drive and
rate: a second forward pass on the context input, or, for siblings, each unit's sibling
position) and ``positive``.
"""

from __future__ import annotations

import ast
import math

from ...errors import ParameterError
from ...network.architecture import Architecture
from ...network.neurons import NeuronModel
from ...network.projections import Projection
from ...rules.equations import REDUCTIONS, names_in, parse_expression, separate
from ...rules.plan import NetworkPlan
from ...rules.rule import HIDDEN_BUILTINS, LOSSES, OUTPUT_BUILTINS, PAIR_BUILTINS, Rule
from .expressions import HELPERS, Scope, grouped, product, scaled

CONTEXTS = (None, "input", "siblings")


class CompiledNetwork:
    """Generated torch code for one model: ``compute`` (learning signals), ``predict``
    (logits) and ``represent`` (hidden rates).

    ``context``: None (no pairs), ``"input"`` (the context is a second input, ``xc``) or
    ``"siblings"`` (each unit's context is its sibling position in the same presentation).
    ``context_levels``: with per-layer pairs, the index into the list ``xc`` of every hidden
    layer's context input; each is run through the layers up to the highest that reads it,
    and a projection's update reads the pre-synaptic context rates of its post-synaptic
    layer's context input. ``negatives``: negative pairs per positive pair (a constant the
    equations may read).
    """

    def __init__(self, arch: Architecture, rule: Rule, neuron: NeuronModel,
                 loss: str = "cross_entropy", context: str | None = None,
                 negatives: float = 1.0, context_levels: tuple | None = None):
        if loss not in LOSSES:
            raise ParameterError("loss", f"must be one of {', '.join(LOSSES)}; got {loss!r}")
        if context not in CONTEXTS:
            raise ParameterError("pairs", f"context must be one of {CONTEXTS}; got {context!r}")
        if rule.needs_pairs and context is None:
            raise ParameterError("pairs", f"rule {rule.name!r} learns from pairs (it reads the "
                                 "context or the pair's sign): choose views, fixations or siblings")
        self.arch, self.rule, self.neuron, self.loss, self.context = arch, rule, neuron, loss, context
        self.negatives = float(negatives)
        if context_levels is not None and (context != "input" or len(context_levels) != arch.depth):
            raise ParameterError("k", f"per-layer contexts need a context input and one index per "
                                 f"hidden layer ({arch.depth}); got {context_levels!r}")
        #: per hidden layer, which context input (``xc[i]``) its pairs read; None: one input
        self.context_levels = tuple(context_levels) if context_levels is not None else None
        #: the engine-neutral plan: every variable, where it lives, how it starts and changes
        self.plan = NetworkPlan(arch, rule, negatives, pairs=context is not None)
        self.projections: list[Projection] = arch.projections
        self.depth = arch.depth
        self.out = arch.depth + 1
        self.direct, self.lateral = self.plan.direct, self.plan.lateral
        if context == "siblings":
            self.plan.check_sibling_context()
        self._lines: list[str] = []
        self._known: dict[int, set] = {}
        self._full_vars: dict[int, set] = {}
        self.source = self._generate()
        namespace = {**HELPERS, "_f": neuron.act.f, "_fp": neuron.act.fprime,
                     **{f"_proj{k}": p for k, p in enumerate(self.projections)},
                     **{f"_dproj{l}_{n}": p for (l, n), p in self.direct.items()},
                     **{f"_lproj{l}": p for l, p in self.lateral.items()}}
        exec(compile(self.source, f"<plasticity_sim {rule.name} {arch.kind}>", "exec"), namespace)
        self.compute = namespace["compute"]
        self.predict = namespace["predict"]
        self.represent = namespace["represent"]  # rates of every hidden layer, (E,B,P,C) each

    # --- synaptic and state variables (the plan's) ------------------------------------------------
    @property
    def synapse_specs(self) -> dict:
        """Name -> (projection, init expression, how it changes: "lr", "direct", "state", None)."""
        return {name: (v.projection, v.init, v.change) for name, v in self.plan.synapses.items()}

    def variables(self, population: int) -> set:
        """Names of the variables population ``population`` has in the generated code."""
        return set(self._known[population])

    @property
    def plastic(self) -> list[str]:
        """Synaptic variables changed through the optimizer (scaled by the learning rate)."""
        return self.plan.names("lr")

    @property
    def direct_rate(self) -> list[str]:
        """Synaptic variables changed by their update as it is (running statistics)."""
        return self.plan.names("direct")

    @property
    def synapse_states(self) -> list[str]:
        """Synaptic variables that take their new value (eligibility traces)."""
        return self.plan.names("state")

    @property
    def states(self) -> dict:
        """Generated state name -> (population, initial value)."""
        return {name: (v.population, v.init) for name, v in self.plan.states.items()}

    def constants(self, proj: Projection) -> dict:
        return self.plan.constants(proj)

    def population_constants(self, pop: int) -> dict:
        """What a population's own equations may read besides its variables."""
        return self.plan.population_constants(pop)

    def _fwd_syn(self, k: int) -> dict:
        names = {"w": f"s{k}_w", **{eq.name: f"s{k}_{eq.name}" for eq in self.plan.synapse_state(k)}}
        if k > 0:
            names.update({v: f"s{k}_{v}" for v in self.rule.synapse_variables})
        return names

    def _pathway(self, name: str):
        return next(p for p in self.rule.pathways if p.name == name)

    # --- generation -----------------------------------------------------------------------------
    def _emit(self, line: str, indent: int = 1):
        self._lines.append("    " * indent + line)

    def _generate(self) -> str:
        # With copies > 1 the batch is the B presentations, then copies - 1 blocks of negatives:
        # x repeats the first block and the contexts' block j rolls it by j presentations.
        self._lines = ["def compute(S, x, target, want_state=False, xc=None, positive=None, "
                       "ST=None, copies=1):"]
        self._emit("B = x.shape[1]")
        self._forward(blocks="repeat")
        if self.context_levels is not None:
            for i in sorted(set(self.context_levels)):
                top = max(l + 1 for l, j in enumerate(self.context_levels) if j == i)
                self._forward(f"_ctx{i}", load=False, source=f"xc[{i}]", upto=top, blocks="roll")
            for l, i in enumerate(self.context_levels, start=1):
                for var in ("a", "r"):
                    self._emit(f"p{l}_{var}_ctx = p{l}_{var}_ctx{i}")
        elif self.context == "input":
            self._forward("_ctx", load=False, blocks="roll")
        self._pairs_and_state()
        self._output()
        for layer in range(self.depth, 0, -1):
            self._pathways_into(layer)
            self._population(layer)
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

    def _drive(self, k: int, suffix: str = "") -> str:
        bias = f" + s{k}_bias.unsqueeze(1)" if self.arch.bias else ""
        return f"_proj{k}.forward(s{k}_w, p{k}_r{suffix}){bias}"

    def _forward(self, suffix: str = "", load: bool = True, source: str | None = None,
                 upto: int | None = None, blocks: str | None = None):
        """The forward pass of the input ``x`` (or, with a suffix, of ``xc`` or ``source``)
        through the hidden layers up to ``upto``. With ``blocks`` (in ``compute``, whose batch
        is ``copies`` blocks of the same presentations) only the first block is run; the
        others are its copies (``"repeat"``: the main input) or its rolls by j presentations
        (``"roll"``: the contexts of the negatives)."""
        if load:
            for name in self.synapse_specs:
                self._emit(f"{name} = S[{name!r}]")
            self._emit("_dt = x.dtype")
        whole = source = source or ("xc" if suffix else "x")
        if blocks:  # the forward pass runs on the first block; p0_r is the whole input after
            source = f"p0_r{suffix}"
            self._emit(f"{source} = _block0({whole}, copies)")
        else:
            self._emit(f"p0_r{suffix} = {source}")
        hidden = range(1, (upto or self.depth) + 1)
        if self.neuron.time_model == "euler":
            rate = self.neuron.dt / self.neuron.tau
            for l in hidden:
                shape = ", ".join(map(str, self.arch.population_shapes[l]))
                self._emit(f"p{l}_r{suffix} = {source}.new_zeros({source}.shape[0], "
                           f"{source}.shape[1], {shape})")
            self._emit(f"for _ in range({self.neuron.n_steps}):")
            for l in hidden:  # every drive from the current rates, then every rate moves
                self._emit(f"p{l}_a{suffix} = {self._drive(l - 1, suffix)}", 2)
            for l in hidden:  # learning reads the final rates and the last step's drives
                self._emit(f"p{l}_r{suffix} = p{l}_r{suffix} + {rate!r} * (_f(p{l}_a{suffix}) - "
                           f"p{l}_r{suffix})", 2)
        else:
            for l in hidden:
                self._emit(f"p{l}_a{suffix} = {self._drive(l - 1, suffix)}")
                self._emit(f"p{l}_r{suffix} = _f(p{l}_a{suffix})")
        if blocks:
            self._emit(f"p0_r{suffix} = {whole}")
            for l in hidden:
                for var in ("a", "r"):
                    self._emit(f"p{l}_{var}{suffix} = _blocks(p{l}_{var}{suffix}, copies, "
                               f"{blocks == 'roll'})")
        if not suffix:
            self._emit(f"p{self.out}_a = {self._drive(self.depth)}")
        for l in range(self.out):
            self._known.setdefault(l, set(HIDDEN_BUILTINS) if l else {"r"})
            self._full_vars.setdefault(l, set(self._known[l]))

    def _pairs_and_state(self):
        """The pair's built-ins and the state variables, in every hidden population."""
        if self.context is not None:  # (siblings: known only so that a switched-off term
            self._known[0].add("r_ctx")  # reading it parses; a live one is refused)
        for eq in self.rule.input_state_equations:  # presynaptic traces
            self._emit(f"p0_{eq.name} = ST['p0_{eq.name}']")
            self._known[0].add(eq.name)
        for l in range(1, self.out):
            if self.context is not None:
                if self.context == "siblings":
                    for var in ("a", "r"):
                        self._emit(f"p{l}_{var}_ctx = _sibctx(p{l}_{var}, copies, {self.arch.s})")
                self._emit(f"p{l}_positive = positive")
                self._known[l] |= PAIR_BUILTINS
                self._full_vars[l] |= {"a_ctx", "r_ctx"}
            for eq in self.rule.state_equations:
                self._emit(f"p{l}_{eq.name} = ST['p{l}_{eq.name}']")
                self._known[l].add(eq.name)

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
        for eq in self.rule.output_equations:
            self._equation(o, eq, f"rule {self.rule.name!r} output")
        for eq in self.rule.broadcast_equations:  # one value per presentation, to every layer
            scope = Scope(where=f"rule {self.rule.name!r} broadcast {eq.name}",
                          own=(o, self._known[o]), constants=self.population_constants(o))
            self._emit(f"p{o}_{eq.name} = ({scope.render(eq.tree)}) + "
                       f"torch.zeros_like(p{o}_a[:, :, :1, :1])")
            for pop in range(1, o + 1):
                if pop < o:
                    self._emit(f"p{pop}_{eq.name} = p{o}_{eq.name}")
                self._known[pop].add(eq.name)

    def _equation(self, pop: int, eq, where: str):
        scope = Scope(where=f"{where}, {eq.name}", own=(pop, self._known[pop]),
                      constants=self.population_constants(pop))
        source = scope.render(eq.tree)
        if not names_in(eq.tree) - set(scope.constants):  # a constant: broadcast like `a`
            source = f"torch.full_like(p{pop}_a, {source})"
        self._emit(f"p{pop}_{eq.name} = {source}")
        self._known[pop].add(eq.name)
        if self._fullness(scope, "own", pop)(eq.tree) or source.startswith("torch.full_like"):
            self._full_vars[pop].add(eq.name)

    def _population(self, layer: int):
        """Hidden equations and lateral pathways of one population, in the plan's order."""
        for kind, thing in self.plan.hidden_order(layer):
            if kind == "equation":
                self._equation(layer, thing, f"rule {self.rule.name!r} hidden")
            else:
                self._lateral(layer, thing)

    def _lateral(self, layer: int, pathway):
        where = f"rule {self.rule.name!r} pathway {pathway.name!r} in layer {layer}"
        owner = pathway.via or pathway.name
        syn = {v: f"l{layer}_{owner}_{v}" for v in self._pathway(owner).synapses}
        scope = Scope(where, pre=(layer, self._known[layer]), post=(layer, self._known[layer]),
                      syn=syn, constants=self.constants(self.lateral[layer]))
        terms = separate(parse_expression(pathway.expr, where=where), scope.side, where)
        forward = pathway.route == "lateral"
        inner, outer_side = ("pre", "post") if forward else ("post", "pre")
        full = self._fullness(scope, inner, layer)
        parts = []
        for (syn_src, other), source, coef, whole, _ in grouped(terms, scope, ("syn", outer_side),
                                                                 inner, full):
            if syn_src is None:
                raise ParameterError("equations", f"{where}: a lateral pathway needs its synapses")
            op = "forward" if forward else "transpose"
            part = f"_lproj{layer}.{op}({syn_src}, {self._full(source, layer, coef, whole)})"
            parts.append(part if other is None else f"{part} * {other}")
        self._emit(f"p{layer}_{pathway.name} = " + (" + ".join(parts) or f"torch.zeros_like(p{layer}_r)"))
        self._known[layer].add(pathway.name)
        self._full_vars[layer].add(pathway.name)

    def _pathways_into(self, layer: int):
        for pathway in self.rule.pathways:
            if pathway.route not in ("transpose", "direct"):
                continue
            where = f"rule {self.rule.name!r} pathway {pathway.name!r} into layer {layer}"
            tree = parse_expression(pathway.expr, where=where)
            parts = []
            if pathway.route == "transpose":
                k, proj = layer, f"_proj{layer}"
                scope = Scope(where, pre=(layer, self._known[layer]),
                              post=(layer + 1, self._known[layer + 1]), syn=self._fwd_syn(k),
                              constants=self.constants(self.projections[k]))
                terms = separate(tree, scope.side, where)
                full = self._fullness(scope, "post", layer + 1)
                for (syn, pre), post, coef, whole, _ in grouped(terms, scope, ("syn", "pre"), "post",
                                                                full):
                    syn = syn or f"torch.ones_like(s{k}_w)"
                    post = self._full(post, layer + 1, coef, whole)
                    part = f"{proj}.transpose({syn}, {post})"
                    parts.append(part if pre is None else f"{part} * {pre}")
            else:
                name = f"_dproj{layer}_{pathway.name}"
                syn = {v: f"d{layer}_{pathway.name}_{v}" for v in pathway.synapses}
                src = self.plan.direct_source(pathway)
                scope = Scope(where, pre=(src, self._known[src]),
                              post=(layer, self._known[layer]), syn=syn,
                              constants=self.constants(self.direct[(layer, pathway.name)]))
                terms = separate(tree, scope.side, where)
                full = self._fullness(scope, "pre", src)
                for (syn_src, post), pre, coef, whole, _ in grouped(terms, scope, ("syn", "post"),
                                                                    "pre", full):
                    if syn_src is None:
                        raise ParameterError("equations", f"{where}: a direct pathway needs its "
                                             "own synaptic weights (declare them in `synapses`)")
                    part = f"{name}.forward({syn_src}, {self._full(pre, src, coef, whole)})"
                    parts.append(part if post is None else f"{part} * {post}")
            self._emit(f"p{layer}_{pathway.name} = " + (" + ".join(parts) or f"torch.zeros_like(p{layer}_r)"))
            self._known[layer].add(pathway.name)
            self._full_vars[layer].add(pathway.name)

    def _updates(self):
        self._emit("U = {}")
        for k, proj in enumerate(self.projections):
            readout = k == self.depth
            text = self.rule.update_of(readout)
            where = f"rule {self.rule.name!r} update of projection {k}"
            scope = Scope(where, pre=(k, self._known[k]), post=(k + 1, self._known[k + 1]),
                          syn=self._fwd_syn(k), constants=self.constants(proj))
            if self.context_levels is not None and not readout:  # the post layer's context input
                i = self.context_levels[k]
                scope.aliases = {f"p{k}_{v}_ctx": f"p{k}_{v}_ctx{i}" for v in ("a", "r")}
            terms = separate(parse_expression(text, where=where), scope.side, where)
            self._emit(f"U['s{k}_w'] = {self._outer_sum(f'_proj{k}', terms, scope, k, k + 1)}")
            if self.arch.bias:
                self._emit(f"U['s{k}_bias'] = {self._bias_update(k, terms, scope, where)}")
        for k, proj in enumerate(self.projections):
            for eq in self.plan.synapse_state(k):
                where = f"rule {self.rule.name!r} synapse_state {eq.name!r} of projection {k}"
                scope = Scope(where, pre=(k, self._known[k]), post=(k + 1, self._known[k + 1]),
                              syn=self._fwd_syn(k), constants=self.constants(proj))
                terms = separate(eq.tree, scope.side, where)
                own = [t for t in terms if not t.factors["pre"] and not t.factors["post"]]
                rest = [t for t in terms if t.factors["pre"] or t.factors["post"]]
                shared = proj.shares_positions and self.arch.population_shapes[k + 1][0] > 1
                one_sided = [t for t in rest if not (t.factors["pre"] and t.factors["post"])]
                if shared and one_sided:  # summed over positions it would scale with them
                    raise ParameterError("synapse_state", f"{where}: a CNN shares this synapse "
                                         "over positions, so a trace term needs both a pre- and "
                                         "a post-synaptic factor (summed over the positions) or "
                                         "neither (the synapse's own value); a term with one "
                                         "side only would grow with the number of positions. "
                                         "Write it with both sides, or use arch lcn or fc")
                parts = [self._outer_sum(f"_proj{k}", rest, scope, k, k + 1)] if rest else []
                for t in own:  # the synapse's own value: not a mean over presentations
                    coef = t.coef * math.prod(scope.fold(f) for f in t.factors["scalar"])
                    syn = product(scope, t.factors["syn"])
                    parts.append(f"{coef!r} * torch.ones_like(s{k}_w)" if syn is None
                                 else scaled(syn, coef))
                self._emit(f"U['s{k}_{eq.name}'] = " + (" + ".join(parts) or f"torch.zeros_like(s{k}_w)"))
        for pathway in self.rule.pathways:
            if pathway.update is None:
                continue
            for layer in range(1, self.out):
                where = f"rule {self.rule.name!r} update of pathway {pathway.name!r} in layer {layer}"
                if pathway.route == "lateral":
                    prefix, proj, src = f"l{layer}_{pathway.name}", f"_lproj{layer}", layer
                    constants = self.constants(self.lateral[layer])
                else:
                    prefix, proj = f"d{layer}_{pathway.name}", f"_dproj{layer}_{pathway.name}"
                    src, constants = self.plan.direct_source(pathway), self.constants(self.direct[(layer, pathway.name)])
                syn = {v: f"{prefix}_{v}" for v in pathway.synapses}
                scope = Scope(where, pre=(src, self._known[src]), post=(layer, self._known[layer]),
                              syn=syn, constants=constants)
                terms = separate(parse_expression(pathway.update, where=where), scope.side, where)
                total = self._outer_sum(proj, terms, scope, src, layer)
                lateral = self.lateral.get(layer) if pathway.route == "lateral" else None
                positions = self.arch.population_shapes[layer][0]
                if pathway.rate == "direct" and lateral is not None and lateral.shares_positions \
                        and positions > 1:  # a running statistic averages positions, not sums
                    total = f"({total}) * {1 / positions!r}"
                self._emit(f"U['{prefix}_{pathway.plastic_variable}'] = {total}")
        on_input = self.rule.state_on(input_population=True)
        for eq in self.rule.state_equations:
            for l in range(0 if eq in on_input else 1, self.out):
                scope = Scope(where=f"rule {self.rule.name!r} state {eq.name}", own=(l, self._known[l]),
                              constants=self.population_constants(l))
                self._emit(f"U['ST:p{l}_{eq.name}'] = _breduce({scope.render(eq.tree)} + "
                           f"torch.zeros_like(p{l}_{eq.name}))")
        self._emit(f"return U, p{self.out}_a, (locals() if want_state else None)")

    def _outer_sum(self, proj: str, terms, scope, pre_pop: int, post_pop: int) -> str:
        """Mean over the batch of a sum of separable terms: one outer product per group."""
        post_full = self._fullness(scope, "post", post_pop)
        pre_full = self._fullness(scope, "pre", pre_pop)
        parts = []
        for (syn, pre), post, coef, whole, term in grouped(terms, scope, ("syn", "pre"), "post",
                                                            post_full):
            pre_whole = any(pre_full(f) for f in term.factors["pre"])
            post, pre = self._full(post, post_pop, 1.0, whole), self._full(pre, pre_pop, 1.0, pre_whole)
            part = f"{proj}.outer({post}, {pre}, {coef!r} / B)"
            parts.append(part if syn is None else f"{part} * {syn}")
        weight = f"S[{next(iter(scope.syn.values()))!r}]"
        return " + ".join(parts) if parts else f"torch.zeros_like({weight})"

    def _full(self, source: str | None, pop: int, coef: float, whole: bool) -> str:
        """``source`` (a product over population ``pop``) times ``coef``, at the population's shape."""
        if source is None:
            return f"torch.full_like(p{pop}_r, {coef!r})"
        source = scaled(source, coef)
        return source if whole else f"({source}).expand_as(p{pop}_r)"

    def _fullness(self, scope: Scope, side: str, pop: int):
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
            post = product(scope, term.factors["post"]) or "1.0"
            parts.append(f"{coef!r} * ({post}).expand_as(p{k + 1}_a)")
        return f"_proj{k}.bias_outer({' + '.join(parts)}) * (1.0 / B)"


def compile_network(arch: Architecture, rule: Rule, neuron: NeuronModel | None = None,
                    loss: str = "cross_entropy", context: str | None = None,
                    negatives: float = 1.0, context_levels: tuple | None = None) -> CompiledNetwork:
    return CompiledNetwork(arch, rule, neuron or NeuronModel(), loss, context, negatives,
                           context_levels)
