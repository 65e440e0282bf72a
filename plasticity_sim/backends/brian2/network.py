"""The Brian2 engine: the rule's own equations as NeuronGroups and Synapses.

One NeuronGroup per population (neuron i = position * channels + channel), one Synapses
per projection with the forward drive as a summed variable (``a_post = w * r_pre``), every
pathway as its own summed variable (a transposed pathway targets the pre-synaptic side of
the projection above: ``fb_pre = w * delta_post``), population reductions through modulator
groups (``mod{l}``: one neuron for a layer-wide one; ``mod{l}_positions``: one neuron per
position for ``channel_sum``; ``mod{l}_channels``: one per channel for ``position_mean``),
gathered by a summed variable and broadcast back to the units they came from, and the rule's
updates as per-synapse code. A population's equations read its constants ``positions``,
``channels`` and ``negatives`` as numbers.

Order of operations in a time step, fixed once with explicit ``order`` values (``SCHEDULE``;
``Brian2Model.schedule()`` returns Brian2's own ``scheduling_summary()``):

- ``start``: (1) the updates of the presentation that just ended (synapses: SGD with
  momentum and weight decay, or a trace; then state variables), (2) monitors, (3) the next
  presentation is latched: input rates and target, the pair's context and sign; Euler rates
  reset to 0;
- ``groups``: forward drives layer by layer (a_l = sum w r_{l-1}), the context's drives,
  the Euler rate update (tau dr/dt = -r + f(a)), the sibling contexts (a copy of the
  sibling position), the readout's drive and softmax, then the
  learning signals from the top layer down in the order their dependencies allow.

A presentation lasts one step (steady state: r = f(a) is a subexpression) or ``n_steps``
steps (Euler); its updates happen at the start of the next step, so a run lasts one more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import brian2 as b2
import numpy as np

from ...errors import ParameterError
from ...model import Model
from ...network.projections import Conv, Local, Projection
from ...rules.plan import NetworkPlan
from ...rules.rule import HIDDEN_BUILTINS, OUTPUT_BUILTINS, PAIR_BUILTINS
from .translate import Reduction, brian_expression, suffixed

SCHEDULE = {"observe": -2, "traces": -1, "learn": 0, "state": 5, "monitor": 50, "latch": 60,
            "drive": 10, "context": 20, "integrate": 30, "readout": 40, "broadcast": 45,
            "signals": 100}


@dataclass
class _SynapsePlan:
    source: int | str          # population index, or a modulator's name
    target: int | str
    proj: Projection | None
    lines: list = field(default_factory=list)
    orders: dict = field(default_factory=dict)  # summed variable -> order
    i: np.ndarray | None = None                  # pre- and post-synaptic index of each synapse
    j: np.ndarray | None = None


class Brian2Model:
    """A model's network in Brian2 for one stream: ``inputs`` (presentations, input units)
    and ``targets`` (presentations, classes) in the torch layout (position-major units),
    ``positive`` (presentations,): the sign of each pair, ``context`` (like ``inputs``): the
    partner view of each presentation (views only; fixations take the previous presentation,
    siblings the sibling positions)."""

    def __init__(self, model: Model, grammar, inputs: np.ndarray, targets: np.ndarray,
                 positive: np.ndarray | None = None, context: np.ndarray | None = None,
                 learn: np.ndarray | None = None, plastic: bool = True):
        model = model.at(grammar)  # the rule's default learning rate for this depth
        self.model, self.grammar, self.rule = model, grammar, model.rule
        self.arch = model.architecture(grammar)
        #: the engine-neutral plan: every variable, where it lives, how it starts and changes
        self.plan = NetworkPlan.of(model, grammar)
        check_brian2_model(model, self.plan)
        self.neuron, self.act = model.neuron, model.neuron.act
        self.euler = self.neuron.time_model == "euler"
        self.n_steps = self.neuron.n_steps if self.euler else 1
        self.step = self.neuron.dt * b2.ms
        self.duration = self.n_steps * self.step  # of one presentation
        self.scheme = model.pairing.scheme
        self.pairs = self.scheme is not None
        #: the context is a second input run through the forward synapses (not siblings)
        self.context_input = self.scheme in ("views", "fixations")
        self.projections = self.arch.projections
        self.depth, self.out = self.arch.depth, self.arch.depth + 1
        self.n_presentations = len(inputs)
        positive = np.ones(len(inputs)) if positive is None else np.asarray(positive, dtype=float)
        if self.scheme == "views" and (context is None or np.shape(context) != np.shape(inputs)):
            raise ParameterError("context", "views need the context input of every presentation "
                                 "(its partner view), shaped like the inputs")
        self.namespace = {"stim": b2.TimedArray(np.asarray(inputs, dtype=float), dt=self.duration),
                          "tgt": b2.TimedArray(np.asarray(targets, dtype=float), dt=self.duration),
                          "ctx": b2.TimedArray(np.zeros_like(inputs, dtype=float) if context is None
                                               else np.asarray(context, dtype=float), dt=self.duration),
                          "pos": b2.TimedArray(positive, dt=self.duration),
                          "lrn": b2.TimedArray(np.ones(len(inputs)) if learn is None
                                               else np.asarray(learn, dtype=float), dt=self.duration),
                          "tau": self.neuron.tau * b2.ms}
        #: 0.0: the synapses keep their weights while states follow their equations (a
        #: literal in the code, so that no rule variable can shadow it)
        self.plastic = 1.0 if plastic else 0.0
        self._order = SCHEDULE["signals"]
        self.plans: dict[str, _SynapsePlan] = {}
        self.eq_reductions: dict[int, dict] = {}
        self._modulator_specs: dict[str, tuple] = {}  # modulator name -> (population, over)
        self._translate_broadcast()
        self.groups = [self._input_group()] + [self._hidden_group(l) for l in range(1, self.out)]
        self.groups.append(self._output_group())
        self.modulators: dict[str, b2.NeuronGroup] = {}
        self._plan()
        self.synapses = {key: self._make(key, plan) for key, plan in self.plans.items()}
        self._updates()
        self._latch()
        self.objects = [*self.groups, *self.modulators.values(), *self.synapses.values()]
        self.net = b2.Network(*self.objects)

    def _next(self) -> int:
        self._order += 1
        return self._order

    def _constants(self, proj) -> dict:
        return self.plan.constants(proj)

    def _population_constants(self, pop: int) -> dict:
        """What a population's own equations may read besides its variables (as in torch)."""
        return self.plan.population_constants(pop)

    # --- groups ------------------------------------------------------------------------------------
    def _size(self, pop: int) -> int:
        shape = self.arch.population_shapes[pop]
        return shape[0] * shape[1]

    def _input_group(self):
        lines = ["r : 1", "r_ctx : 1", "learning : 1 (shared)"]
        lines += [f"{eq.name} : 1" for eq in self.rule.input_state_equations]  # presynaptic traces
        g = b2.NeuronGroup(self._size(0), "\n".join(lines), name="pop0",
                           namespace=self.namespace, dt=self.step)
        for eq in self.rule.input_state_equations:
            setattr(g, eq.name, self.rule.state_init[eq.name])
        return g

    def _hidden_group(self, l: int):
        lines = ["a : 1", "learning : 1 (shared)"]
        for var in ("", "_ctx") if self.context_input else ("",):
            f = brian_expression(f"f(a{var})", self.act, {})
            lines.append(f"dr{var}/dt = (-r{var} + {f}) / tau : 1" if self.euler
                         else f"r{var} = {f} : 1")
        if self.scheme == "siblings":  # copied from the sibling position (_plan_siblings)
            lines.append("r_ctx : 1")
        if self.pairs:
            lines += ["a_ctx : 1", "positive : 1 (shared)"]
        lines += [f"{p.name} : 1" for p in self.rule.pathways]
        lines += [f"{eq.name} : 1" for eq in self.rule.state_equations]
        lines += self.broadcast_lines
        reductions: list[Reduction] = []
        self.eq_reductions[l] = {}
        for eq in self.rule.hidden_equations:
            before = len(reductions)
            expr = brian_expression(eq.expr, self.act, self._population_constants(l), reductions,
                                    prefix=f"l{l}_")
            self.eq_reductions[l][eq.name] = reductions[before:]
            lines.append(f"{eq.name} = {expr} : 1")
        lines += [f"{red.name} : 1" for red in reductions]
        g = b2.NeuronGroup(self._size(l), "\n".join(lines), method="euler", name=f"pop{l}",
                           namespace=self.namespace, dt=self.step)
        if self.euler:
            g.state_updater.order = SCHEDULE["integrate"]
        for eq in self.rule.state_equations:
            setattr(g, eq.name, self.rule.state_init[eq.name])
        return g

    def _output_group(self):
        p = "exp(a) / Z" if self.model.loss == "cross_entropy" else "a"
        lines = ["a : 1", "Z : 1", f"p = {p} : 1", "r = p : 1", "target : 1",
                 "err = p - target : 1", "learning : 1 (shared)"]
        constants = self._population_constants(self.out)
        for eq in self.rule.output_equations:
            lines.append(f"{eq.name} = {brian_expression(eq.expr, self.act, constants)} : 1")
        lines += self.broadcast_lines
        g = b2.NeuronGroup(self._size(self.out), "\n".join(lines), name=f"pop{self.out}",
                           namespace=self.namespace, dt=self.step)
        g.Z = 1
        return g

    # --- the plan of every Synapses, in the order of the learning signals --------------------------
    def _plan(self):
        for k, proj in enumerate(self.projections):
            syn_vars = sorted({"w", *self.rule.synapse_variables}) if k else ["w"]
            traces = [eq.name for eq in self.rule.synapse_state_on(readout=k == self.depth)]
            plan = _SynapsePlan(k, k + 1, proj, [f"{v} : 1" for v in syn_vars] + ["mom : 1"]
                                + [f"{v} : 1" for v in traces] + [f"{v}_new : 1" for v in traces])
            plan.lines.append("a_post = w * r_pre : 1 (summed)")
            plan.orders["a_post"] = SCHEDULE["readout"] if k == self.depth else SCHEDULE["drive"] + k
            if self.context_input and k < self.depth:
                plan.lines.append("a_ctx_post = w * r_ctx_pre : 1 (summed)")
                plan.orders["a_ctx_post"] = SCHEDULE["context"] + k
            self.plans[f"s{k}"] = plan
        if self.model.loss == "cross_entropy":
            self.plans["softmax"] = _SynapsePlan(self.out, self.out, None,
                                                 ["Z_post = exp(a_pre) : 1 (summed)"],
                                                 {"Z_post": SCHEDULE["readout"] + 1})
        self._plan_broadcast()
        if self.scheme == "siblings":
            self._plan_siblings()
        for l in range(self.depth, 0, -1):
            self._plan_pathways_into(l)
            self._plan_population(l)

    def _plan_siblings(self):
        """A unit's context is the unit of its channel at the sibling position (the next
        child of the same parent), copied once the layer's rates are final (after the Euler
        step); a population of fewer positions than siblings has none (zeros), as in torch."""
        s = self.arch.s
        for l in range(1, self.out):
            P, C = self.arch.population_shapes[l]
            if P < s:
                continue
            units = np.arange(P * C)
            position, channel = units // C, units % C
            sibling = position // s * s + (position + 1) % s
            order = SCHEDULE["integrate"] + l
            self.plans[f"siblings{l}"] = _SynapsePlan(
                l, l, None, ["a_ctx_post = a_pre : 1 (summed)", "r_ctx_post = r_pre : 1 (summed)"],
                {"a_ctx_post": order, "r_ctx_post": order}, i=sibling * C + channel, j=units)

    def _translate_broadcast(self):
        """A broadcast variable is a subexpression of every hidden population and the output
        in its layer reductions, which are gathered from the output onto one modulator
        neuron (``mod_broadcast``) and sent back to every population."""
        constants = self._population_constants(self.out)
        self.broadcast_reductions: list[Reduction] = []
        self.broadcast_lines = []
        for eq in self.rule.broadcast_equations:
            expr = brian_expression(eq.expr, self.act, constants, self.broadcast_reductions,
                                    prefix="broadcast_")
            self.broadcast_lines.append(f"{eq.name} = {expr} : 1")
        self.broadcast_lines += [f"{red.name} : 1" for red in self.broadcast_reductions]

    def _plan_broadcast(self):
        if not self.broadcast_reductions:
            return
        names = set(OUTPUT_BUILTINS) | {eq.name for eq in self.rule.output_equations}
        units = np.arange(self._size(self.out))
        self.modulators["mod_broadcast"] = b2.NeuronGroup(
            1, "\n".join(f"{red.name} : 1" for red in self.broadcast_reductions),
            name="mod_broadcast", dt=self.step)
        gather = _SynapsePlan(self.out, "mod_broadcast", None, i=units, j=np.zeros_like(units))
        for red in self.broadcast_reductions:
            scale = f" / {len(units)}" if red.mean else ""
            gather.lines.append(f"{red.name}_post = ({suffixed(red.expr, '_pre', names)}){scale} "
                                ": 1 (summed)")
            gather.orders[f"{red.name}_post"] = SCHEDULE["broadcast"]
        self.plans["broadcast_gather"] = gather
        for pop in range(1, self.out + 1):
            to = np.arange(self._size(pop))
            plan = _SynapsePlan("mod_broadcast", pop, None, i=np.zeros_like(to), j=to)
            for red in self.broadcast_reductions:
                plan.lines.append(f"{red.name}_post = {red.name}_pre : 1 (summed)")
                plan.orders[f"{red.name}_post"] = SCHEDULE["broadcast"] + 1
            self.plans[f"broadcast_to{pop}"] = plan

    def _add(self, key: str, line: str, var: str):
        self.plans[key].lines.append(line)
        self.plans[key].orders[var] = self._next()

    def _plan_pathways_into(self, l: int):
        for p in self.rule.pathways:
            if p.route == "transpose":
                expr = brian_expression(p.expr, self.act, self._constants(self.projections[l]))
                self._add(f"s{l}", f"{p.name}_pre = {expr} : 1 (summed)", f"{p.name}_pre")
            elif p.route == "direct":
                proj = self.plan.direct[(l, p.name)]
                key = f"d{l}_{p.name}"
                self.plans[key] = _SynapsePlan(self.out, l, proj,
                                               [f"{v} : 1" for v in p.synapses] + ["mom : 1"])
                expr = brian_expression(p.expr, self.act, self._constants(proj))
                self._add(key, f"{p.name}_post = {expr} : 1 (summed)", f"{p.name}_post")

    def _plan_population(self, l: int):
        """Lateral pathways and reductions of population l, in the plan's order."""
        for kind, thing in self.plan.hidden_order(l):
            if kind == "equation":
                for red in self.eq_reductions[l][thing.name]:
                    self._plan_reduction(l, red)
            else:
                self._plan_lateral(l, thing)

    def _owner(self, p):
        return next(q for q in self.rule.pathways if q.name == (p.via or p.name))

    #: a reduction's modulator group, per what it reduces over, for a population of P
    #: positions x C channels: name suffix, the modulator neuron of unit i (position * C +
    #: channel), the group's size, and the number of units a mean divides by
    MODULATORS = {"layer": ("", lambda i, P, C: np.zeros_like(i), lambda P, C: 1,
                            lambda P, C: P * C),
                  "channels": ("_positions", lambda i, P, C: i // C, lambda P, C: P,
                               lambda P, C: C),
                  "positions": ("_channels", lambda i, P, C: i % C, lambda P, C: C,
                                lambda P, C: P)}

    def _plan_reduction(self, l: int, red: Reduction):
        """Gather ``red.expr`` from the units of population l onto its modulator group (summed,
        divided by the number of units reduced for a mean) and broadcast it back."""
        names = self._hidden_names() | {r.name for reds in self.eq_reductions[l].values()
                                        for r in reds}
        expr = suffixed(red.expr, "_pre", names)
        P, C = self.arch.population_shapes[l]
        suffix, modulator_of, _, count = self.MODULATORS[red.over]
        scale = f" / {count(P, C)}" if red.mean else ""
        mod = f"mod{l}{suffix}"
        self._modulator_specs[mod] = (l, red.over)
        units = np.arange(P * C)
        to = modulator_of(units, P, C)
        self.plans[f"{red.name}_gather"] = _SynapsePlan(l, mod, None, i=units, j=to)
        self._add(f"{red.name}_gather", f"{red.name}_post = ({expr}){scale} : 1 (summed)",
                  f"{red.name}_post")
        self.plans[f"{red.name}_broadcast"] = _SynapsePlan(mod, l, None, i=to, j=units)
        self._add(f"{red.name}_broadcast", f"{red.name}_post = {red.name}_pre : 1 (summed)",
                  f"{red.name}_post")

    def _hidden_names(self) -> set:
        names = set(HIDDEN_BUILTINS) | {eq.name for eq in self.rule.hidden_equations}
        names |= {p.name for p in self.rule.pathways} | {eq.name for eq in self.rule.state_equations}
        names |= {eq.name for eq in self.rule.broadcast_equations}
        names |= {red.name for red in self.broadcast_reductions}
        return names | (PAIR_BUILTINS if self.pairs else set())

    def _plan_lateral(self, l: int, p):
        owner = self._owner(p)
        key = f"l{l}_{owner.name}"
        if key not in self.plans:  # as in the torch engine (a CNN's is shared: not built here)
            proj = self.plan.lateral[l]
            self.plans[key] = _SynapsePlan(l, l, proj,
                                           [f"{v} : 1" for v in owner.synapses] + ["mom : 1"])
        expr = brian_expression(p.expr, self.act, self._constants(self.plans[key].proj))
        target = f"{p.name}_post" if p.route == "lateral" else f"{p.name}_pre"
        self._add(key, f"{target} = {expr} : 1 (summed)", target)

    # --- making the Synapses -------------------------------------------------------------------------
    def _group(self, ref):
        if isinstance(ref, str):  # a modulator
            if ref not in self.modulators:
                l, over = self._modulator_specs[ref]
                P, C = self.arch.population_shapes[l]
                names = [red.name for reds in self.eq_reductions[l].values() for red in reds
                         if red.over == over]
                size = self.MODULATORS[over][2](P, C)
                self.modulators[ref] = b2.NeuronGroup(size, "\n".join(f"{n} : 1" for n in names),
                                                      name=ref, dt=self.step)
            return self.modulators[ref]
        return self.groups[ref]

    def _make(self, key: str, plan: _SynapsePlan):
        syn = b2.Synapses(self._group(plan.source), self._group(plan.target), "\n".join(plan.lines),
                          name=key, namespace=self.namespace, dt=self.step)
        if plan.i is None:  # (a reduction's are set when it is planned)
            plan.i, plan.j = self._pairs(plan)
        syn.connect(i=plan.i, j=plan.j)  # explicit: the order is known before a standalone run
        for var, order in plan.orders.items():
            syn.summed_updaters[var].order = order
        return syn

    def _pairs(self, plan: _SynapsePlan) -> tuple:
        """(pre, post) index of every synapse: all to all, or a patch of s positions to one."""
        n_pre = self._group(plan.source).N
        n_post = self._group(plan.target).N
        proj = plan.proj
        if isinstance(proj, (Local, Conv)):
            C_in, C_out, s = proj.in_shape[1], proj.out_shape[1], proj.s
            post = np.arange(n_post)
            offsets = np.arange(s * C_in)  # k = offset * C_in + channel
            i = ((post // C_out) * s * C_in)[:, None] + offsets[None, :]
            return i.ravel(), np.repeat(post, s * C_in)
        return np.repeat(np.arange(n_pre), n_post), np.tile(np.arange(n_post), n_pre)

    def weight_index(self, key: str) -> tuple:
        """For every Brian2 synapse of ``key``, its index into the torch tensor (without E)."""
        plan = self.plans[key]
        proj, i, j = plan.proj, plan.i, plan.j
        if isinstance(proj, Local):
            C_in, C_out = proj.in_shape[1], proj.out_shape[1]
            q, o = j // C_out, j % C_out
            return (q, o, (i // C_in - q * proj.s) * C_in + i % C_in)
        return (j, i)

    # --- updates (at the start of the next presentation) ----------------------------------------------
    def _updates(self):
        train = self.model.training
        for k, proj in enumerate(self.projections):
            readout = k == self.depth
            text = self.rule.update_of(readout)
            lr = train.readout_lr if readout and train.readout_lr else train.lr
            expr = brian_expression(text, self.act, self._constants(proj))
            self._sgd(self.synapses[f"s{k}"], "w", expr, lr)
            self._synapse_state(self.synapses[f"s{k}"], proj, readout)
        for p in self.rule.pathways:
            if p.update is None:
                continue
            for l in range(1, self.out):
                key = f"l{l}_{p.name}" if p.route == "lateral" else f"d{l}_{p.name}"
                expr = brian_expression(p.update, self.act, self._constants(self.plans[key].proj))
                if p.rate == "direct":
                    self.synapses[key].run_regularly(
                        f"{p.plastic_variable} += learning_post * {self.plastic!r} * ({expr})",
                        dt=self.duration,
                        when="start", order=SCHEDULE["learn"])
                else:
                    self._sgd(self.synapses[key], p.plastic_variable, expr, train.lr)
        for l in range(self.out):  # every new value from the old ones, then all assigned
            constants = self._population_constants(l)
            equations = self.rule.state_on(input_population=l == 0)
            code = [f"_new_{eq.name} = learning * ({brian_expression(eq.expr, self.act, constants)})"
                    f" + (1 - learning) * {eq.name}" for eq in equations]
            code += [f"{eq.name} = _new_{eq.name}" for eq in equations]
            if code:
                self.groups[l].run_regularly("\n".join(code), dt=self.duration, when="start",
                                             order=SCHEDULE["state"])

    def _synapse_state(self, syn, proj, readout: bool):
        """Eligibility traces: every new value from the old ones (before the weights change),
        assigned after the weights changed."""
        equations = self.rule.synapse_state_on(readout)
        if not equations:
            return
        constants = self._constants(proj)
        syn.run_regularly("\n".join(
            f"{eq.name}_new = learning_post * ({brian_expression(eq.expr, self.act, constants)})"
            f" + (1 - learning_post) * {eq.name}" for eq in equations),
            dt=self.duration, when="start", order=SCHEDULE["traces"])
        syn.run_regularly("\n".join(f"{eq.name} = {eq.name}_new" for eq in equations),
                          dt=self.duration, when="start", order=SCHEDULE["learn"] + 1)

    def _sgd(self, syn, var: str, expr: str, lr: float):
        train = self.model.training
        # float(): a numpy scalar's repr ("np.float64(...)") is not Brian2 code
        code = [f"_g = {expr} - {float(train.weight_decay)!r} * {var}",
                f"mom = learning_post * ({float(train.momentum)!r} * mom + _g) + "
                "(1 - learning_post) * mom",
                f"{var} += learning_post * {self.plastic!r} * {float(lr)!r} * mom"]
        syn.run_regularly("\n".join(code), dt=self.duration, when="start", order=SCHEDULE["learn"])

    def _latch(self):
        """The next presentation; ``learning`` becomes its flag (0 for padding), read by the
        updates at the start of the step after it."""
        context = {"fixations": "r_ctx = r\n", "views": "r_ctx = ctx(t, i)\n"}.get(self.scheme, "")
        self.groups[0].run_regularly(f"learning = lrn(t)\n{context}r = stim(t, i)",
                                     dt=self.duration, when="start", order=SCHEDULE["latch"])
        self.groups[self.out].run_regularly("learning = lrn(t)\ntarget = tgt(t, i)",
                                            dt=self.duration, when="start", order=SCHEDULE["latch"])
        for l in range(1, self.out):
            code = ["learning = lrn(t)"]
            if self.pairs:
                code.append("positive = pos(t)")
            if self.euler:
                code += ["r = 0"] + (["r_ctx = 0"] if self.context_input else [])
            self.groups[l].run_regularly("\n".join(code), dt=self.duration, when="start",
                                         order=SCHEDULE["latch"])

    # --- state in and out -------------------------------------------------------------------------------
    def synaptic_name(self, name: str) -> tuple[str, str] | None:
        """A synaptic variable's name (``d1_fb_b``) as (projection, variable), looked up in the
        plan; None when no projection of this network has it."""
        variable = self.plan.synapses.get(name)
        if variable is None or variable.key.owner not in self.synapses:
            return None
        return variable.key.owner, variable.key.var

    def set_synapses(self, tensors: dict):
        """Synaptic variables from torch names and arrays (one member: no ensemble axis)."""
        for name, values in tensors.items():
            split = self.synaptic_name(name)
            if split is not None:
                key, var = split
                setattr(self.synapses[key], var, np.asarray(values, dtype=float)[self.weight_index(key)])

    def get_synapses(self, names) -> dict:
        out = {}
        for name in names:
            key, var = self.synaptic_name(name)
            values = np.full(self.plans[key].proj.weight_shape(), np.nan)
            values[self.weight_index(key)] = np.asarray(getattr(self.synapses[key], var)[:])
            out[name] = values
        return out

    def set_states(self, states: dict):
        """State variables by name (p{l}_{name}) from (1, P, C) arrays."""
        for name, values in states.items():
            key = self.plan.key(name)
            setattr(self.groups[key.population], key.var, np.asarray(values, dtype=float).ravel())

    def schedule(self) -> str:
        return str(b2.scheduling_summary(self.net))


def check_brian2_model(model: Model, plan: NetworkPlan) -> None:
    """Refuse, before anything is built or run, what the Brian2 engine cannot run (``plan``:
    the model's, :meth:`NetworkPlan.of`): one error naming the parameter."""
    arch, rule = plan.arch, plan.rule
    if arch.kind == "cnn":
        raise ParameterError("arch", "shared convolution weights are not a Brian2 notion (each "
                             "synapse has its own weight); use arch = 'lcn' or 'fc'")
    if arch.population_shapes[-2][0] != 1:
        raise ParameterError("depth", "the Brian2 engine needs a top layer of one position "
                             "(no pooling readout): depth = L")
    if arch.bias:
        raise ParameterError("bias", "the Brian2 engine runs networks without biases")
    if model.training.optimizer != "sgd":
        raise ParameterError("optimizer", "the Brian2 engine runs SGD (with momentum)")
    if model.training.lr_schedule != "constant":
        raise ParameterError("lr_schedule", "the Brian2 engine runs one constant learning "
                             "rate: use lr_schedule = 'constant'")
    check_brian2_pairing(model.pairing)
    for p in rule.pathways:
        if p.route == "direct" and p.source == "top":
            raise ParameterError("rule", f"{rule.name}: a pathway from the top layer's "
                                 "context is not built in the Brian2 engine")
    if model.pairing.scheme == "siblings":  # the context is held fixed, as in torch
        plan.check_sibling_context()


def check_brian2_pairing(pairing) -> None:
    """What Brian2 runs of a model's pairing: fixations, views of one level, siblings; one
    presentation at a time, so no in-batch negatives."""
    if pairing.scheme == "views" and pairing.per_layer:
        raise ParameterError("k", "the Brian2 engine presents one view at a time: give the model "
                             "one k (views of one level per layer are torch-only)")
    if pairing.scheme in ("views", "siblings") and pairing.negatives:
        raise ParameterError("negatives", "in-batch negatives pair a presentation with the "
                             "context of another presentation of its minibatch; the Brian2 "
                             "engine runs one presentation at a time: use negatives = 0, or "
                             "fixations (whose negatives are the saccades)")
