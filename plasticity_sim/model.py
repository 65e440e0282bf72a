"""Models: architecture + rule + neuron model + training hyperparameters, from code or TOML.

A model file (``models/*.toml``) names a library rule or defines its own under ``[rule]``::

    [model]
    rule = "dfa"          # or the name given under [rule]
    arch = "cnn"          # cnn | lcn | fc
    width = 128
    [neuron]
    activation = "relu"
    time_model = "steady" # or "euler" with tau, dt, n_steps
    [training]
    lr = 0.05
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ParameterError, require_int
from .network.architecture import ARCHITECTURES, Architecture, build_architecture
from .network.neurons import NeuronModel
from .rhm.grammar import Grammar
from .rhm.streams import Stream, epoch_stream, fixation_stream, rate_stream, view_stream
from .rules.registry import get_rule, is_library_rule
from .rules.rule import LOSSES, Rule


@dataclass(frozen=True)
class Training:
    """Optimizer hyperparameters and the stopping rule. The update of every plastic variable
    is averaged over the minibatch and scaled by ``lr``; momentum and weight decay as in
    torch.optim.SGD, or Adam's per-synapse normalization of the update (torch.optim.Adam
    with L2 decay).

    ``lr_schedule``: "constant", or "warmup_cosine" as in LPL's public code (pl_bolts'
    LinearWarmupCosineAnnealingLR, stepped once per epoch): the rate rises linearly from
    ``start_lr`` to ``lr`` over the first ``warmup_epochs`` epochs, then falls along a half
    cosine to ``final_lr`` at the epoch cap ``epochs`` (a run that stops earlier stops on
    its way down). ``decay_biases = false`` exempts biases from ``weight_decay``, as LPL's
    public code does.

    One stopping rule for every rule (docs/training.md, "The protocol"): after every epoch a member
    stops when its epoch's mean training loss is below ``loss_threshold`` ("converged"),
    when its validation accuracy has not beaten its best by more than ``min_delta`` for
    ``patience`` epochs ("plateau"), when its training loss exceeds ``divergence_factor``
    times the loss of the untrained network on its training inputs, or is NaN or inf
    ("diverged"), or after ``epochs`` epochs ("cap"). The network evaluated is the one after
    its best validation epoch.
    """

    #: None: the rule's default for the grammar's depth (:func:`default_lr`)
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    #: "sgd" (with ``momentum``) or "adam" (betas 0.9, 0.999; ``momentum`` unused)
    optimizer: str = "sgd"
    #: learning rate of the readout projection (default: ``lr``), e.g. for a local readout
    #: that learns faster than a slow Hebbian rule below it
    readout_lr: float | None = None
    batch_size: int = 32
    epochs: int = 1000
    loss_threshold: float = 1e-3
    patience: int = 100
    min_delta: float = 0.0
    divergence_factor: float = 100.0
    whiten: bool = False
    lr_schedule: str = "constant"
    warmup_epochs: int = 10
    start_lr: float = 0.0
    final_lr: float = 1e-6
    decay_biases: bool = True

    def __post_init__(self):
        if self.lr is not None and not self.lr > 0:
            raise ParameterError("lr", f"must be > 0; got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ParameterError("momentum", f"must lie in [0, 1); got {self.momentum}")
        if self.readout_lr is not None and not self.readout_lr > 0:
            raise ParameterError("readout_lr", f"must be > 0; got {self.readout_lr}")
        if self.optimizer not in ("sgd", "adam"):
            raise ParameterError("optimizer", f"must be 'sgd' or 'adam'; got {self.optimizer!r}")
        if not self.weight_decay >= 0:
            raise ParameterError("weight_decay", f"must be >= 0; got {self.weight_decay}")
        require_int("batch_size", self.batch_size, minimum=1)
        require_int("epochs", self.epochs, minimum=1)
        require_int("patience", self.patience, minimum=1)
        if not self.loss_threshold >= 0:
            raise ParameterError("loss_threshold", f"must be >= 0; got {self.loss_threshold}")
        if not self.min_delta >= 0:
            raise ParameterError("min_delta", f"must be >= 0; got {self.min_delta}")
        if not self.divergence_factor > 1:
            raise ParameterError("divergence_factor", f"must be > 1; got {self.divergence_factor}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ParameterError("lr_schedule", f"must be one of {', '.join(LR_SCHEDULES)}; "
                                 f"got {self.lr_schedule!r}")
        require_int("warmup_epochs", self.warmup_epochs, minimum=0)
        if self.lr_schedule == "warmup_cosine" and self.warmup_epochs >= self.epochs:
            raise ParameterError("warmup_epochs", f"must be < epochs ({self.epochs}) for a "
                                 f"warm-up followed by a decay; got {self.warmup_epochs}")
        for name in ("start_lr", "final_lr"):
            if not getattr(self, name) >= 0:
                raise ParameterError(name, f"must be >= 0; got {getattr(self, name)}")

    def lr_at(self, epoch: int) -> tuple[float, float]:
        """(a, b) such that the learning rate of epoch ``epoch`` (from 0) is a * lr + b."""
        if self.lr_schedule == "constant":
            return 1.0, 0.0
        W = self.warmup_epochs
        if epoch < W:
            a = epoch / max(1, W - 1)
            return a, (1 - a) * self.start_lr
        c = 0.5 * (1 + math.cos(math.pi * (epoch - W) / (self.epochs - W)))
        return c, (1 - c) * self.final_lr


#: learning-rate schedules (Training.lr_schedule)
LR_SCHEDULES = ("constant", "warmup_cosine")


#: Learning rates per rule and depth L, chosen by the protocol's searches on validation
#: accuracy with seeds that no reported result uses (experiments/learning_rates.toml and
#: learning_rates_more.toml; docs/training.md, "Defaults"): CNN width 128, batch 32, momentum 0.9;
#: L = 2 at v = n_c = m = 8, L = 3 and 4 at v = n_c = m = 4. A depth outside the table
#: takes the nearest one. clapp, lpl and vicreg_local as published were searched at L = 3
#: with their pairing (experiments/ssl_published_search.toml); clapp's other depths keep
#: the layer-wide CLAPP's rates (not searched for it); clapp_nce and clapp_top take the
#: layer-wide CLAPP's rates and oja and bcm keep their earlier ones: no search has been run
#: for them.
DEFAULT_LR: dict[str, dict[int, float]] = {
    "bp": {2: 0.1, 3: 0.1, 4: 0.1},
    "bp_nomask": {2: 0.1, 3: 0.1, 4: 0.03},
    "fa": {2: 0.3, 3: 0.03, 4: 0.009},
    "sign_symmetry": {2: 1.0, 3: 0.3, 4: 0.1},
    "dfa": {2: 0.015, 3: 0.005, 4: 0.0005},
    "drtp": {2: 0.03, 3: 0.01, 4: 0.003},
    "clapp": {2: 0.1, 3: 0.1, 4: 0.1},
    "clapp_layer": {2: 0.1, 3: 0.1, 4: 0.1},
    "clapp_nce": {2: 0.1, 3: 0.1, 4: 0.1},
    "clapp_top": {2: 0.1, 3: 0.1, 4: 0.1},
    "lpl": {3: 0.0001},
    "vicreg_local": {3: 0.001},
    "oja": {3: 0.0001},
    "bcm": {3: 0.00001},
}
#: the learning rate of a rule with no entry in DEFAULT_LR (a rule written in a model file)
FALLBACK_LR = 0.05


def default_lr(rule: str, L: int) -> float:
    """The default learning rate of a library rule at depth L (DEFAULT_LR; the nearest depth
    searched, the deeper one on a tie), or FALLBACK_LR for a rule not in the table."""
    table = DEFAULT_LR.get(rule)
    if not table:
        return FALLBACK_LR
    return table[min(table, key=lambda depth: (abs(depth - L), -depth))]


#: Per-rule defaults besides the learning rate (docs/training.md, "Defaults"). DRTP's hidden updates
#: never vanish (the target does not go to zero as the error does), so ReLU units grow
#: without bound under it; it gets saturating tanh units by default. CLAPP contrasts 16
#: negatives (its public code's default). LPL learns with Adam, biases and weight decay (not
#: on the biases) as its public code does; VICReg-local with Adam (the paper's LARS is not built). LPL and
#: VICReg-local pair views at k = 1, CLAPP at k = 2: each the pairing chosen on validation
#: (experiments/ssl_published_search.toml).
RULE_DEFAULTS: dict[str, dict] = {
    "drtp": dict(activation="tanh"),
    "clapp": dict(negatives=16),
    "lpl": dict(optimizer="adam", negatives=0, bias=True, weight_decay=1.5e-6, decay_biases=False,
                k=1),
    "vicreg_local": dict(optimizer="adam", negatives=0, k=1),
    "oja": dict(readout_lr=0.05),
    "bcm": dict(readout_lr=0.05),
}


SCHEMES = ("views", "fixations", "siblings")


@dataclass(frozen=True)
class Pairing:
    """How a self-supervised rule gets its pairs; every input it sees counts toward P.

    - ``views``: P/2 training trees, each with one view that keeps its latents at levels
      <= k and redraws everything below (drawn once, reused every epoch); a pair is (tree,
      its view), a negative pairs a tree with another tree's view;
    - ``fixations``: P/T trees, each fixated for T presentations (itself, then T-1 redraws
      below level k, drawn once); consecutive presentations are a pair, positive within a
      fixation, negative across the saccade to the next tree;
    - ``siblings``: P trees; a unit's context is its sibling position (the next child of the
      same parent), a negative takes the sibling from another tree. The context is held fixed.

    ``negatives``: negative pairs per positive one (views, siblings): negative j pairs each
    presentation with the context of the presentation j slots back in the minibatch (another
    tree), the same tree for every position and layer. ``k`` defaults to 2, at most L - 1
    (:meth:`level`). With views, ``k`` may also be per layer: ``"layer"`` (each layer's pairs
    share the latents of the level its units cover, :meth:`levels`) or a list with one level
    per hidden layer; every tree then has one view per distinct level.
    """

    scheme: str | None = None
    k: int | str | tuple | None = None
    T: int = 4
    negatives: int = 1

    def __post_init__(self):
        if self.scheme not in (None, *SCHEMES):
            raise ParameterError("pairs", f"must be one of {', '.join(SCHEMES)}; got {self.scheme!r}")
        if isinstance(self.k, (list, tuple)):
            if not self.k:
                raise ParameterError("k", "a per-layer k needs one level per hidden layer; got []")
            object.__setattr__(self, "k", tuple(require_int("k", k, minimum=0) for k in self.k))
        elif isinstance(self.k, str):
            if self.k != "layer":
                raise ParameterError("k", f"must be an integer, a list of integers (one per "
                                     f"hidden layer) or 'layer'; got {self.k!r}")
        elif self.k is not None:
            require_int("k", self.k, minimum=0)
        if self.per_layer and self.scheme not in (None, "views"):
            raise ParameterError("k", f"per-layer levels need views (one view per level); the "
                                 f"{self.scheme} scheme pairs whole presentations: give one k")
        require_int("T", self.T, minimum=2)
        require_int("negatives", self.negatives, minimum=0)

    @property
    def per_layer(self) -> bool:
        """Whether each hidden layer has its own view level (``k`` a list or ``"layer"``)."""
        return isinstance(self.k, tuple) or self.k == "layer"

    @property
    def context(self) -> str | None:
        """How the compiled network gets the context: a second input, or sibling positions."""
        return None if self.scheme is None else ("siblings" if self.scheme == "siblings" else "input")

    def stream(self, grammar: Grammar, n_trees: int, seed: int, epochs: int = 1,
               k: int | None = None, tag: str = "") -> Stream:
        """The stream of ``n_trees`` training trees this pairing shows a learner of network
        seed ``seed`` (trees, order, views or redraws all drawn from it; the views and
        redraws of the first epoch come back every epoch). ``k``: the view level (default
        :meth:`level`); ``tag``: independent views of the same trees."""
        k = self.level(grammar) if k is None and self.scheme is not None else k
        if self.scheme == "views":
            return view_stream(grammar, n_trees, k, epochs, seed, seed, fresh=False, tag=tag)
        if self.scheme == "fixations":
            return fixation_stream(grammar, n_trees, k, self.T, epochs, seed, seed, fresh=False)
        return epoch_stream(grammar, n_trees, epochs, seed, seed)

    @property
    def stream_kind(self) -> str:
        """The kind of stream this pairing takes (siblings pair positions of one input)."""
        return {None: "epochs", "siblings": "epochs"}.get(self.scheme, self.scheme)

    def rate_stream(self, grammar: Grammar, inputs, labels=None, saccade=None) -> Stream:
        """A stream of the input rates ``inputs`` (presentations, positions, v) that fits this
        pairing (:func:`~plasticity_sim.rhm.streams.rate_stream`: views pair a presentation
        with itself, fixations with the one before)."""
        kind = self.stream_kind
        k = self.level(grammar) if kind != "epochs" else None
        return rate_stream(grammar, inputs, kind=kind, labels=labels, saccade=saccade, k=k,
                           T=self.T if kind == "fixations" else None)

    def check_stream(self, stream: Stream, grammar: Grammar) -> None:
        """Refuse a stream that does not fit this pairing: its kind, level and fixation
        length must be the pairing's (one error naming what differs)."""
        if not isinstance(stream, Stream):
            raise ParameterError("stream", f"must be a Stream (plasticity_sim.rhm); got "
                                 f"{type(stream).__name__}")
        kind = self.stream_kind
        if stream.kind != kind:
            raise ParameterError("stream", f"the model's pairs = {self.scheme!r} takes a {kind!r} "
                                 f"stream; got a {stream.kind!r} stream")
        if self.scheme == "views" and self.per_layer:
            raise ParameterError("stream", "views of one level per layer need one stream per "
                                 "level: train from the grammar and P, or give the model one k")
        if self.scheme in ("views", "fixations") and stream.params["k"] != self.level(grammar):
            raise ParameterError("k", f"the stream's views keep levels <= {stream.params['k']}, "
                                 f"the model's pairing k = {self.level(grammar)}: make them equal")
        if self.scheme == "fixations" and stream.params["T"] != self.T:
            raise ParameterError("T", f"the stream fixates each tree {stream.params['T']} times, "
                                 f"the model's pairing T = {self.T}: make them equal")

    def inputs_per_tree(self, grammar: Grammar | None = None, arch: Architecture | None = None) -> int:
        """Inputs a learner sees per training tree (the tree and its views or redraws)."""
        if self.scheme == "views" and self.per_layer:
            return 1 + len(set(self.levels(grammar, arch)))
        return {None: 1, "views": 2, "fixations": self.T, "siblings": 1}[self.scheme]

    def presentations_per_epoch(self, n_trees: int) -> int:
        """Presentations in an epoch of ``n_trees`` training trees: each of a fixation's T,
        else one per tree (with views, the tree paired with its view)."""
        return n_trees * (self.T if self.scheme == "fixations" else 1)

    @property
    def negative_ratio(self) -> float:
        """Negative pairs per positive pair in the stream (1/(T-1) with fixations)."""
        if self.scheme == "fixations":
            return 1.0 / (self.T - 1)
        return float(self.negatives)

    def level(self, grammar: Grammar) -> int:
        """k: the given one, or 2 (class and latents of levels 1 and 2 kept), at most L - 1 (a
        pair always differs). Chosen on validation for CLAPP with views among k = 0, 1, 2 at
        L = 3 and k = 1, 2, 3 at L = 4 (experiments/views_k.toml, views_k_deep.toml)."""
        if self.per_layer:
            raise ParameterError("k", "this pairing has one level per layer: use levels()")
        k = max(min(2, grammar.L - 1), 0) if self.k is None else self.k
        if k > grammar.L:
            raise ParameterError("k", f"must lie in [0, L={grammar.L}]; got {k}")
        return k

    def levels(self, grammar: Grammar, arch: Architecture) -> tuple:
        """k of every hidden layer. ``"layer"``: a unit of layer l of a CNN or LCN covers
        s**l tokens, the expansion of one symbol of level L - l, so its pairs share the latents
        of levels <= L - l and redraw everything below; the top layer's level is raised to 1,
        so that no pair shares only the class (a pair sharing level 0 alone is a same-label
        pair, supervised contrast in disguise). Every positive pair shares the class."""
        if not self.per_layer:
            return (self.level(grammar),) * arch.depth
        if self.k == "layer":
            if arch.kind == "fc":
                raise ParameterError("k", "k = 'layer' follows receptive fields, and an fc "
                                     "layer's units see the whole input: give one k per layer")
            ks = tuple(max(grammar.L - l, 1) for l in range(1, arch.depth + 1))
        else:
            ks = self.k
        if len(ks) != arch.depth:
            raise ParameterError("k", f"needs one level per hidden layer ({arch.depth}); got "
                                 f"{list(ks)}")
        if max(ks) > grammar.L:
            raise ParameterError("k", f"levels must lie in [0, L={grammar.L}]; got {list(ks)}")
        return tuple(ks)


@dataclass(frozen=True)
class Model:
    """What to train: a rule on an architecture (``arch`` cnn, lcn or fc; ``width`` channels
    per hidden layer; ``depth`` hidden layers, default L), its neurons, training settings
    and pairing. ``Model.for_rule("dfa", width=64, lr=0.01)`` takes any setting by name;
    ``Model.from_toml(path)`` reads a model file (docs/training.md)."""

    rule: Rule
    arch: str = "cnn"
    width: int = 128
    depth: int | None = None
    bias: bool = False
    loss: str = "cross_entropy"
    neuron: NeuronModel = field(default_factory=NeuronModel)
    training: Training = field(default_factory=Training)
    pairing: Pairing = field(default_factory=Pairing)
    name: str = ""

    def __post_init__(self):
        if self.arch not in ARCHITECTURES:
            raise ParameterError("arch", f"must be one of {', '.join(ARCHITECTURES)}; got {self.arch!r}")
        if self.loss not in LOSSES:
            raise ParameterError("loss", f"must be one of {', '.join(LOSSES)}; got {self.loss!r}")
        require_int("width", self.width, minimum=1)
        if self.rule.needs_pairs and self.pairing.scheme is None:
            raise ParameterError("pairs", f"rule {self.rule.name!r} learns from pairs: choose "
                                 f"{', '.join(SCHEMES)} (--pairs, or [pairs] scheme in a model file)")
        if self.pairing.scheme is not None and not self.rule.needs_pairs:
            raise ParameterError("pairs", f"rule {self.rule.name!r} uses no pairs; drop "
                                 f"pairs = {self.pairing.scheme!r}")
        if self.pairing.negatives and self.pairing.scheme in ("views", "siblings") \
                and self.training.batch_size < 2:
            raise ParameterError("batch_size", "negatives come from other presentations of the "
                                 "minibatch: use batch_size >= 2 (or negatives = 0)")
        if self.pairing.scheme is not None and not self.pairing.negative_ratio \
                and self.rule.reads_constant("negatives"):
            raise ParameterError("negatives", f"rule {self.rule.name!r} contrasts positive with "
                                 "negative pairs: use negatives >= 1")
        if not self.name:
            object.__setattr__(self, "name", f"{self.rule.name}_{self.arch}")

    def at(self, grammar: Grammar) -> "Model":
        """This model with its defaults that depend on the grammar resolved: the learning rate
        (the rule's default at the grammar's depth) and, for pairs, the view level k."""
        changes = {}
        if self.training.lr is None:
            changes["lr"] = default_lr(self.rule.name, grammar.L) \
                if is_library_rule(self.rule) else FALLBACK_LR
        if self.pairing.scheme is not None and self.pairing.k is None:
            changes["k"] = self.pairing.level(grammar)
        elif self.pairing.k == "layer":
            changes["k"] = self.pairing.levels(grammar, self.architecture(grammar))
        return self.replace(**changes) if changes else self

    def architecture(self, grammar: Grammar) -> Architecture:
        """The network's populations and projections for ``grammar``'s inputs and classes."""
        return build_architecture(self.arch, grammar.v, grammar.s, grammar.L, grammar.n_classes,
                                  self.width, self.depth, self.bias)

    def replace(self, **changes) -> "Model":
        """A copy with model fields, or training fields (lr, epochs, ...), changed."""
        changes = dict(changes)
        if "pairs" in changes:  # the scheme's name, as on the command line
            changes["scheme"] = changes.pop("pairs")
        train_fields = {f.name for f in dataclasses.fields(Training)}
        neuron_fields = {f.name for f in dataclasses.fields(NeuronModel)}
        pair_fields = {f.name for f in dataclasses.fields(Pairing)}
        model_fields = {f.name for f in dataclasses.fields(Model)}
        params = {k: v for k, v in changes.items() if k in self.rule.params}
        unknown = set(changes) - train_fields - neuron_fields - pair_fields - model_fields - set(params)
        if unknown:
            raise ParameterError("model", f"unknown settings {sorted(unknown)}")
        pick = lambda names: {k: v for k, v in changes.items() if k in names}  # noqa: E731
        own = pick(model_fields)
        rule = own.pop("rule", self.rule)
        pairing = dataclasses.replace(self.pairing, **pick(pair_fields))
        if pairing.scheme == "siblings" and "scheme" in changes:
            # siblings hold the context fixed (another position of the same presentation):
            # no term learns through the context's own pass
            for switch in ("retrodiction", "both_branches"):
                if switch in rule.params and switch not in params:
                    params[switch] = 0.0
        return dataclasses.replace(
            self, rule=rule.with_params(**params) if params else rule,
            training=dataclasses.replace(self.training, **pick(train_fields)),
            neuron=dataclasses.replace(self.neuron, **pick(neuron_fields)), pairing=pairing, **own)

    @classmethod
    def for_rule(cls, rule: str | Rule, **changes) -> "Model":
        """The default model of a rule (its RULE_DEFAULTS), with ``changes`` applied."""
        rule = get_rule(rule) if isinstance(rule, str) else rule
        own = RULE_DEFAULTS.get(rule.name, {}) if is_library_rule(rule) else {}
        settings = {**own, **changes}
        if rule.needs_pairs and "pairs" not in settings and "scheme" not in settings:
            settings["pairs"] = "views"  # a pair rule needs some scheme; views is the default
        scheme = settings.pop("pairs", settings.pop("scheme", None))
        return cls(rule=rule, pairing=Pairing(scheme=scheme)).replace(scheme=scheme, **settings)

    def to_dict(self) -> dict:
        """The model as plain data (what a model file and a recording's ``config`` hold)."""
        return {"name": self.name, "model": {"rule": self.rule.name, "arch": self.arch,
                                             "width": self.width, "depth": self.depth,
                                             "bias": self.bias, "loss": self.loss},
                "neuron": dataclasses.asdict(self.neuron),
                "training": dataclasses.asdict(self.training),
                "pairs": dataclasses.asdict(self.pairing), "rule": self.rule.to_dict()}

    @classmethod
    def from_dict(cls, spec: dict) -> "Model":
        """A model from :meth:`to_dict`'s form or a model file's tables; unknown sections are
        refused."""
        sections = {"name", "model", "neuron", "training", "pairs", "rule"}
        if set(spec) - sections:
            raise ParameterError("model file", f"unknown sections {sorted(set(spec) - sections)}; "
                                 f"allowed: {sorted(sections)}")
        model = dict(spec.get("model", {}))
        if "rule" not in model:
            raise ParameterError("model file", "[model] needs `rule`")
        rule_name = model.pop("rule")
        rule = Rule.from_dict(spec["rule"]) if "rule" in spec else get_rule(rule_name)
        if rule.name != rule_name:
            raise ParameterError("model file", f"[model] rule = {rule_name!r} but [rule] defines "
                                 f"{rule.name!r}")
        allowed = {"arch", "width", "depth", "bias", "loss"}
        if set(model) - allowed:
            raise ParameterError("model file", f"unknown [model] keys {sorted(set(model) - allowed)}")
        changes = {**model, **_section(spec, "neuron", NeuronModel),
                   **_section(spec, "training", Training), **_section(spec, "pairs", Pairing)}
        if "name" in spec:
            changes["name"] = spec["name"]
        return cls.for_rule(rule, **changes)

    @classmethod
    def from_toml(cls, path: str | Path) -> "Model":
        """A model from a TOML model file (``models/*.toml``)."""
        from .io import read_toml

        return cls.from_dict(read_toml(path, "model"))


def _section(spec: dict, name: str, kind) -> dict:
    section = spec.get(name, {})
    allowed = {f.name for f in dataclasses.fields(kind)}
    if set(section) - allowed:
        raise ParameterError("model file", f"unknown [{name}] keys {sorted(set(section) - allowed)}; "
                             f"allowed: {sorted(allowed)}")
    return section
