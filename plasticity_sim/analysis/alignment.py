"""Alignment of a rule's learning signals with backprop's, on the same input and weights."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import require_int
from ..recording import LAYER_DOC, PROJECTION_DOC
from ..rules.feedback import BP


def cosine_per_member(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between a[e] and b[e] flattened, per ensemble member (E,)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)


class AlignmentMonitor:
    """Every ``every`` steps, compares the rule with backprop on the same batch and weights.

    Records, per member, checkpoint and layer (NaN once a member has stopped):
    ``update_alignment``: cosine between the rule's weight update and backprop's
    (the negative gradient), per forward projection;
    ``signal_alignment``: cosine between the rule's delta_l and backprop's delta_l for the
    same input, averaged over the batch, per hidden layer (when the rule names its
    learning signal ``delta``).
    """

    #: observes the live members only (train drops stopped ones from the computation)
    follows_members = True
    #: what it accumulates while training (kept in a run's snapshot)
    resumable = ("presentations", "updates", "signals")

    def __init__(self, every: int = 20):
        self.every = require_int("alignment_every", every, minimum=1)  # not silently every step

    @property
    def settings(self) -> dict:
        """The train options that make this monitor (recorded in a result's config)."""
        return {"alignment_every": self.every}

    def start(self, trainer, epochs: int, per_epoch):
        """Called once before training: the trainer, the epoch cap and presentations per epoch."""
        from ..backends.torch.codegen import CompiledNetwork

        # presentations per epoch (P, or fewer trees with pairs); an array (E,) of one per
        # member when their P differ
        self.per_epoch = per_epoch

        net = trainer.net
        self.bp = CompiledNetwork(net.arch, BP, net.neuron, net.loss)
        self.names = [f"s{k}_w" for k in range(len(net.projections))]
        self.layers = list(range(1, net.out))
        self.has_delta = all("delta" in net.variables(l) for l in self.layers)
        self.presentations, self.updates, self.signals = [], [], []

    def wants(self, step: int) -> bool:
        """Whether the monitor observes training step ``step`` (the engine then keeps the
        step's state)."""
        return step % self.every == 0

    def observe(self, trainer, step, presentation, x, t, U, state):
        """One observation: the step's batch, its updates ``U`` and the generated code's state,
        before the update."""
        U_bp, _, state_bp = self.bp.compute(trainer.S, x, t, True)
        frozen = ~trainer.active.bool().cpu().numpy()  # a stopped network has nothing to align
        full = trainer.full  # one value per member, NaN for those out of the computation
        self.presentations.append(presentation)
        self.updates.append([full(np.where(frozen, np.nan, cosine_per_member(U[n], U_bp[n]).cpu().numpy()))
                             for n in self.names])
        if self.has_delta:
            per_layer = []
            for l in self.layers:
                a, b = state[f"p{l}_delta"], state_bp[f"p{l}_delta"]
                a, b = a.flatten(2).double(), b.flatten(2).double()
                cos = (a * b).sum(2) / (a.norm(dim=2) * b.norm(dim=2)).clamp_min(1e-300)
                defined = (a.norm(dim=2) > 0) & (b.norm(dim=2) > 0)  # a silent layer has no direction
                mean = (cos * defined).sum(1) / defined.sum(1).clamp_min(1)
                mean = torch.where(defined.any(1), mean, torch.nan).cpu().numpy()
                per_layer.append(full(np.where(frozen, np.nan, mean)))
            self.signals.append(per_layer)

    def record(self, rec):
        """Add what was observed to the Recording."""
        if not self.presentations:
            return
        rec.coord("checkpoint", np.arange(len(self.presentations)), "checkpoint")
        rec.add("checkpoint_presentation", ("checkpoint",), np.asarray(self.presentations),
                "presentations seen before the checkpoint's update")
        seen = np.asarray(self.presentations)
        per_epoch = np.asarray(self.per_epoch)  # one per member when their P differ
        rec.add("checkpoint_epoch", ("checkpoint",) if per_epoch.ndim == 0 else ("seed", "checkpoint"),
                seen // per_epoch if per_epoch.ndim == 0 else seen[None, :] // per_epoch[:, None],
                "epoch of the checkpoint")
        rec.coord("projection", np.arange(len(self.names)), PROJECTION_DOC)
        rec.add("update_alignment", ("seed", "checkpoint", "projection"),
                np.transpose(np.asarray(self.updates), (2, 0, 1)),
                "cosine between the rule's weight update and backprop's on the same batch")
        if self.has_delta:
            rec.coord("layer", np.asarray(self.layers), LAYER_DOC)
            rec.add("signal_alignment", ("seed", "checkpoint", "layer"),
                    np.transpose(np.asarray(self.signals), (2, 0, 1)),
                    "cosine between the rule's delta and backprop's for the same input, "
                    "mean over the batch")
