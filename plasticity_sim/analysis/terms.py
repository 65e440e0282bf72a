"""Which term of a rule drives its updates: a monitor that splits each update into the parts
scaled by chosen rule parameters.

A rule's update is often a sum of terms, each scaled by a parameter (LPL's ``pull``,
``push``, ``decorr_coeff``; VICReg's ``inv_coeff``, ``var_coeff``, ``cov_coeff``). Every
``every`` steps, for each such parameter, the monitor computes the update again with that
parameter at 0 on the same batch and weights: the difference is the term's part of the
update (exactly, for a term linear in its parameter). It records, per hidden projection and
member, the norm of each part, of the whole update, and the cosine between each part and the
whole: which term dominates, in which layer, from when in training.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ParameterError, require_int
from ..backends.torch.codegen import CompiledNetwork


class TermMonitor:
    #: what it accumulates while training (kept in a run's snapshot)
    resumable = ("presentations", "parts", "totals")

    def __init__(self, params, every: int = 20):
        self.params = list(params)
        if not self.params:
            raise ParameterError("terms", "name at least one rule parameter")
        self.every = require_int("terms_every", every, minimum=1)  # not silently every step

    @property
    def settings(self) -> dict:
        """The train options that make this monitor (recorded in a result's config)."""
        return {"terms": self.params, "terms_every": self.every}

    def start(self, trainer, epochs: int, P: int):
        net, rule = trainer.net, trainer.net.rule
        unknown = [p for p in self.params if p not in rule.params]
        if unknown:
            raise ParameterError("terms", f"rule {rule.name!r} has no parameters {unknown}; it "
                                 f"has {sorted(rule.params)}")
        self.without = [CompiledNetwork(net.arch, rule.with_params(**{p: 0.0}), net.neuron,
                                        net.loss, net.context, net.negatives, net.context_levels)
                        for p in self.params]
        self.names = [f"s{k}_w" for k in range(net.depth)]  # the hidden projections
        self.presentations, self.parts, self.totals = [], [], []

    def wants(self, step: int) -> bool:
        return step % self.every == 0

    def observe(self, trainer, step, presentation, x, t, U, state):
        batch = getattr(trainer, "batch", None)  # set by train() before every observation
        if batch is None:
            return
        parts = []
        for net in self.without:
            U0, _, _ = net.compute(trainer.S, batch.x, batch.t, xc=batch.xc,
                                   positive=batch.positive, ST=trainer.ST, copies=batch.copies)
            parts.append([(U[n] - U0[n]).double().flatten(1) for n in self.names])
        whole = [U[n].double().flatten(1) for n in self.names]
        norm = lambda v: v.norm(dim=1)  # noqa: E731
        self.totals.append(torch.stack([norm(w) for w in whole], 1).cpu().numpy())
        cos = lambda a, b: (a * b).sum(1) / (norm(a) * norm(b)).clamp_min(1e-300)  # noqa: E731
        self.parts.append(np.stack([
            np.stack([[norm(p).cpu().numpy(), cos(p, w).cpu().numpy()] for p, w in zip(term, whole)], 0)
            for term in parts], 0))  # (term, projection, 2, E)
        self.presentations.append(presentation)

    def record(self, rec):
        if not self.parts:
            return
        parts = np.stack(self.parts, 0)                 # (checkpoint, term, projection, 2, E)
        parts = parts.transpose(4, 0, 2, 1, 3)          # (E, checkpoint, projection, term, 2)
        rec.coord("terms_checkpoint", np.arange(len(self.parts)), "term-attribution checkpoint")
        rec.coord("hidden_projection", np.arange(len(self.names)),
                  "forward projection into hidden layer hidden_projection + 1")
        rec.coord("term", np.asarray(self.params), "rule parameter scaling the term")
        rec.add("terms_presentation", ("terms_checkpoint",), np.asarray(self.presentations),
                "presentations seen before the checkpoint")
        dims = ("seed", "terms_checkpoint", "hidden_projection")
        rec.add("update_norm", dims, np.stack(self.totals, 1),
                "norm of the rule's update of the projection (before the learning rate)")
        rec.add("term_norm", dims + ("term",), parts[..., 0],
                "norm of the part of the update scaled by the term's parameter")
        rec.add("term_cosine", dims + ("term",), parts[..., 1],
                "cosine between the term's part and the whole update")
