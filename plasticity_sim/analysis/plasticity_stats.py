"""Plasticity statistics during learning: what the synapses of each projection do.

Every ``every`` steps, per forward projection and member: the distribution of the rule's
weight change (lr x the update, before momentum: mean, standard deviation, quantiles), the
fractions of synapses potentiated and depressed, the mean magnitude of every neuron
variable the update reads (its factors, e.g. delta_post and r_pre), and the distribution of
the weights.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import require_int
from ..recording import PROJECTION_DOC
from ..rules.equations import names_in, parse_expression

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class PlasticityMonitor:
    #: what it accumulates while training (kept in a run's snapshot)
    resumable = ("presentations", "rows")

    def __init__(self, every: int = 20):
        self.every = require_int("plasticity_every", every, minimum=1)  # not silently every step

    @property
    def settings(self) -> dict:
        """The train options that make this monitor (recorded in a result's config)."""
        return {"plasticity_every": self.every}

    def start(self, trainer, epochs: int, P: int):
        net = trainer.net
        self.names = [f"s{k}_w" for k in range(len(net.projections))]
        rule = net.rule
        self.factors = []
        for k in range(len(net.projections)):
            reads = sorted(n for n in names_in(parse_expression(rule.update_of(k == net.depth)))
                           if n.endswith(("_pre", "_post")))
            self.factors.append(reads)
        self.factor_names = sorted({n for reads in self.factors for n in reads})
        self.presentations, self.rows = [], []

    def wants(self, step: int) -> bool:
        return step % self.every == 0

    def observe(self, trainer, step, presentation, x, t, U, state):
        if state is None:
            return
        lr = torch.as_tensor(trainer.lr, dtype=torch.float64)
        row = []
        for k, name in enumerate(self.names):
            change = U[name].double().flatten(1) * lr[:, None]       # (E, synapses)
            w = trainer.S[name].double().flatten(1)
            scale = change.abs().amax(1, keepdim=True).clamp_min(1e-300)
            q = torch.tensor(QUANTILES, dtype=torch.float64)
            factors = []
            for f in self.factor_names:
                if f in self.factors[k]:
                    pop = k if f.endswith("_pre") else k + 1
                    var = f.rsplit("_", 1)[0]
                    value = state.get(f"p{pop}_{var}")
                    factors.append(value.double().abs().flatten(1).mean(1) if value is not None
                                   else torch.full((change.shape[0],), float("nan")))
                else:
                    factors.append(torch.full((change.shape[0],), float("nan")))
            row.append(dict(
                mean=change.mean(1), sd=change.std(1), quantiles=torch.quantile(change, q, dim=1).T,
                potentiated=(change > 1e-9 * scale).double().mean(1),
                depressed=(change < -1e-9 * scale).double().mean(1),
                factors=torch.stack(factors, 1),
                w_mean=w.mean(1), w_sd=w.std(1), w_quantiles=torch.quantile(w, q, dim=1).T))
        self.presentations.append(presentation)
        self.rows.append(row)

    def record(self, rec):
        if not self.rows:
            return
        stack = lambda key: np.stack([np.stack([r[key].numpy() for r in row], 1)  # noqa: E731
                                      for row in self.rows], 1)  # (E, checkpoint, projection, ...)
        rec.coord("stats_checkpoint", np.arange(len(self.rows)), "plasticity statistics checkpoint")
        rec.coord("projection", np.arange(len(self.names)), PROJECTION_DOC)
        rec.coord("quantile", np.asarray(QUANTILES), "quantile")
        rec.coord("factor", np.asarray(self.factor_names), "variable read by the update")
        rec.add("stats_presentation", ("stats_checkpoint",), np.asarray(self.presentations),
                "presentations seen before the checkpoint")
        dims = ("seed", "stats_checkpoint", "projection")
        rec.add("dw_mean", dims, stack("mean"), "mean weight change per step (lr x update)")
        rec.add("dw_sd", dims, stack("sd"), "standard deviation of the weight changes")
        rec.add("dw_quantiles", dims + ("quantile",), stack("quantiles"), "quantiles of the weight changes")
        rec.add("fraction_potentiated", dims, stack("potentiated"), "fraction of synapses potentiated")
        rec.add("fraction_depressed", dims, stack("depressed"), "fraction of synapses depressed")
        rec.add("factor_magnitude", dims + ("factor",), stack("factors"),
                "mean |value| of each variable the update reads (NaN: not read by this projection)")
        rec.add("w_mean", dims, stack("w_mean"), "mean weight")
        rec.add("w_sd", dims, stack("w_sd"), "standard deviation of the weights")
        rec.add("w_quantiles", dims + ("quantile",), stack("w_quantiles"), "quantiles of the weights")
