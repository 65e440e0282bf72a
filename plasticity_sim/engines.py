"""One interface for the engines: run a stream online from a seed's initial state and say,
presentation by presentation, what the network did.

An engine has a ``name``, ``check(model, grammar)`` (refuse, before anything runs, what it cannot
run: one clear error naming the parameter) and ``run(model, grammar, stream, seed, init,
plastic)``, which starts from the plan's draw for ``seed`` (:func:`~plasticity_sim.rules.plan.draw_initial_state`)
with the variables of ``init`` (names -> arrays: synaptic or state variables) set instead,
and returns a :class:`Trajectory` under the plan's names (``final``: the state it ends in,
which another run can start from; ``plastic=False``: the weights stay, the rule's states
follow a stream). The cross-check
(:mod:`plasticity_sim.cross_check`) compares any two. Two are built: :class:`TorchEngine`
(float64, a batch of one) and :class:`Brian2Engine` (a code-generation target).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .errors import ParameterError
from .model import Model
from .rhm import Grammar, Stream
from .rules.plan import NetworkPlan


@dataclass
class Trajectory:
    """What an engine did with a stream: ``rates[p]`` (presentations, units) of population
    p >= 1 and ``synapses[name]`` (presentations, *shape) after each presentation's update
    (units in the torch layout: position-major)."""

    engine: str
    rates: dict
    synapses: dict
    #: the state variables after the last presentation (names -> arrays, (1, positions, channels))
    states: dict
    #: anything the engine wants to say about how it ran (Brian2: its schedule)
    note: str = ""

    @property
    def final(self) -> dict:
        """Every variable after the last presentation (names -> arrays): what another run
        continues from (``init=``)."""
        return {**{name: values[-1] for name, values in self.synapses.items()}, **self.states}


class Engine(Protocol):
    """What the cross-check needs from an engine."""

    name: str
    #: what it is, in words (e.g. "Brian2 (cython)")
    label: str

    def check(self, model: Model, grammar: Grammar) -> None:
        """Raise a ParameterError for what this engine cannot run."""

    def run(self, model: Model, grammar: Grammar, stream: Stream, seed: int = 0,
            init: dict | None = None, plastic: bool = True) -> Trajectory:
        """Run ``stream`` online from network seed ``seed``'s initial state, with ``init``'s
        variables set instead; ``plastic=False`` keeps every synaptic weight (lr-scaled and
        direct updates off) while traces and state variables follow their equations."""


@dataclass
class TorchEngine:
    """The vectorized engine, one network (the member of ``seed``) at a batch of one."""

    dtype: str = "float64"
    device: str = "cpu"
    name: str = "torch"

    @property
    def label(self) -> str:
        """The engine in words."""
        return f"torch ({self.dtype}, {self.device}, online)"

    def check(self, model: Model, grammar: Grammar) -> None:
        """Refuse what a batch of one cannot run (in-batch negatives need a minibatch)."""
        model.replace(batch_size=1)

    def run(self, model: Model, grammar: Grammar, stream: Stream, seed: int = 0,
            init: dict | None = None, plastic: bool = True) -> Trajectory:
        """Train member ``seed`` online on ``stream`` (see :class:`Engine`)."""
        import torch

        from .backends.torch.data import TrainingData
        from .backends.torch.train import Trainer

        trainer = Trainer(model.replace(batch_size=1), grammar, [seed], dtype=self.dtype,
                          device=self.device)
        variables = {**trainer.S, **trainer.ST}
        for name, values in (init or {}).items():
            if name not in variables:
                raise ParameterError("init", f"this network has no variable {name!r}; it has "
                                     f"{', '.join(variables)}")
            variables[name][0] = torch.as_tensor(np.asarray(values), dtype=variables[name].dtype)
        data = TrainingData(trainer, None, n_test=0, stream=stream)
        rates = {l: [] for l in range(1, trainer.net.out + 1)}
        synapses = {name: [] for name in trainer.S}
        for batch in (b for epoch in range(data.epochs) for b in data.batches(epoch, 1)):
            U, _, state = trainer.signals(batch, want_state=True)
            for l in rates:
                rates[l].append(state[f"p{l}_r"][0, 0].flatten().cpu().numpy().copy())
            if plastic:
                trainer.apply(U)
            else:
                _apply_frozen(trainer, U)
            for name in synapses:
                synapses[name].append(trainer.S[name][0].cpu().numpy().copy())
        return Trajectory(self.name, {l: np.array(v) for l, v in rates.items()},
                          {n: np.array(v) for n, v in synapses.items()},
                          {n: t[0].cpu().numpy().copy() for n, t in trainer.ST.items()})


@dataclass
class Brian2Engine:
    """The Brian2 network on a code-generation target (``numpy``, ``cython``,
    ``cpp_standalone`` with ``chunk`` presentations per run of the binary)."""

    target: str = "cython"
    chunk: int | None = None
    name: str = "Brian2"

    @property
    def label(self) -> str:
        """The engine in words."""
        return f"Brian2 ({self.target})"

    def check(self, model: Model, grammar: Grammar) -> None:
        """Refuse what Brian2 cannot run (a CNN, biases, Adam, in-batch negatives, ...)."""
        from .backends.brian2.network import check_brian2_model

        check_brian2_model(model, NetworkPlan.of(model, grammar))

    def run(self, model: Model, grammar: Grammar, stream: Stream, seed: int = 0,
            init: dict | None = None, plastic: bool = True) -> Trajectory:
        """Run ``stream`` through the Brian2 network (see :class:`Engine`)."""
        from .backends.brian2.runner import run_brian2

        run = run_brian2(model, grammar, stream, target=self.target, chunk=self.chunk, seed=seed,
                         init=init, plastic=plastic)
        return Trajectory(self.name, run.rates, run.synapses, run.final_states, run.schedule)


def _apply_frozen(trainer, U: dict) -> None:
    """Apply ``U`` but keep every lr-scaled and direct synaptic weight as it was (whatever
    momentum or weight decay would do): eligibility traces and state variables take their
    new values."""
    kept = {name: trainer.S[name].clone()
            for name in (*trainer.plastic, *trainer.net.direct_rate)}
    trainer.apply(U)
    for name, values in kept.items():
        trainer.S[name].copy_(values)
