"""Initial synaptic tensors of an ensemble: member e starts from the plan's draw for seed e
(:func:`plasticity_sim.rules.plan.draw_initial_state`: numpy generators, so weights are
bit-identical on CPU and GPU and equal to what any other engine starts from)."""

from __future__ import annotations

import numpy as np
import torch

from ...rules.plan import draw_initial_state


def init_synapses(net, seeds, dtype=torch.float32, device="cpu") -> dict:
    """{name: tensor (E, *shape)} for every synaptic variable of ``net`` (a CompiledNetwork)."""
    rounding = torch.empty((), dtype=dtype).numpy().dtype  # what a later `w` reads
    members = [draw_initial_state(net.plan, seed, rounding) for seed in seeds]
    return {name: torch.as_tensor(np.stack([m[name] for m in members]), dtype=dtype, device=device)
            for name in net.plan.synapses}
