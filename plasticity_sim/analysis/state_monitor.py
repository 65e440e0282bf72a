"""StateMonitor: any neuron variable of the network, recorded every N steps of training.

Brian2's StateMonitor for the torch engine: a variable of the rule or the neuron model
(``r`` the rates, ``a`` the drive, ``delta``, ``fb``, a rule's own hidden variable) of the
chosen populations, every ``every`` training steps, on the presentation the step learns
from (``reduce="first"``: the first of its minibatch, which at batch 1 is Brian2's
semantics) or averaged over the minibatch (``reduce="mean"``)::

    rec = train(model, grammar, P=1024, seeds=[0], monitors=[StateMonitor("r", every=50)])
    rec.to_dataset().state_r_p1      # (seed, state_step, p1_position, p1_unit)

Populations are counted as the engine names them: 0 the input, 1 ... L the hidden layers
(hidden layer l is population l), L + 1 the output.
"""

from __future__ import annotations

import numpy as np

from ..errors import ParameterError, require_int

REDUCTIONS = ("first", "mean")


class StateMonitor:
    """Records ``variables`` (a name or a list) of ``populations`` (default: every one that
    has them) every ``every`` training steps; ``reduce`` is ``"first"`` (the step's first
    presentation) or ``"mean"`` (the minibatch mean). Pass it to ``train(monitors=[...])``."""

    follows_members = True  # stopped members leaving the computation keep their rows (NaN)
    #: what it accumulates while training (kept in a run's snapshot)
    resumable = ("steps", "presentations", "rows", "keys", "_checked")

    def __init__(self, variables="r", every: int = 100, populations=None, reduce: str = "first"):
        self.variables = (variables,) if isinstance(variables, str) else tuple(variables)
        if not self.variables or not all(isinstance(v, str) and v for v in self.variables):
            raise ParameterError("variables", f"give variable names such as 'r'; got {variables!r}")
        self.every = require_int("every", every, minimum=1)
        self.populations = None if populations is None else \
            tuple(require_int("populations", p, minimum=0) for p in populations)
        if reduce not in REDUCTIONS:
            raise ParameterError("reduce", f"must be one of {', '.join(REDUCTIONS)}; got {reduce!r}")
        self.reduce = reduce

    def start(self, trainer, epochs: int, per_epoch):
        """Called once before training: checks the populations against the network."""
        shapes = trainer.net.arch.population_shapes
        chosen = range(len(shapes)) if self.populations is None else self.populations
        bad = [p for p in chosen if p >= len(shapes)]
        if bad:
            raise ParameterError("populations", f"the network has populations 0-{len(shapes) - 1} "
                                 f"(0 the input, {len(shapes) - 1} the output); got {bad}")
        self._chosen, self._shapes = tuple(chosen), shapes
        self.steps, self.presentations, self.rows = [], [], []
        self._checked = False

    def wants(self, step: int) -> bool:
        """Whether the monitor records training step ``step``."""
        return step % self.every == 0

    def observe(self, trainer, step, presentation, x, t, U, state):
        """Record the chosen variables of the step's first presentation (or the minibatch mean)."""
        if state is None:
            return
        if not self._checked:  # the first observation says which names exist
            self.keys = [(var, p) for var in self.variables for p in self._chosen
                         if f"p{p}_{var}" in state]
            missing = [var for var in self.variables if all(k[0] != var for k in self.keys)]
            if missing:
                known = sorted({k.split("_", 1)[1] for k in state if k[:1] == "p"
                                and k.split("_", 1)[0][1:].isdigit()})
                raise ParameterError("variables", f"no population of this network has "
                                     f"{missing}; it has {known}")
            self._checked = True
        n = trainer.batch.n if getattr(trainer, "batch", None) is not None else x.shape[1]
        # a stopped member still in the computation (frozen) is not learning: NaN, as if left
        frozen = trainer.full(trainer.active.detach().cpu().numpy(), fill=0.0) == 0
        row = {}
        for var, p in self.keys:
            value = state[f"p{p}_{var}"]
            value = value[:, 0] if self.reduce == "first" else value[:, :n].mean(1)
            row[var, p] = trainer.full(value.detach().double().cpu().numpy())
            row[var, p][frozen] = np.nan
        self.steps.append(step)
        self.presentations.append(presentation)
        self.rows.append(row)

    def record(self, rec):
        """Add the records to the Recording: ``state_<var>_p<population>`` (seed, state_step,
        position, unit)."""
        if not self.rows:
            return
        rec.coord("state_step", np.asarray(self.steps), "training step of a StateMonitor record")
        rec.variables["state_presentation"] = (
            ("state_step",), np.asarray(self.presentations),
            {"long_name": "presentations shown before the recorded step", "units": "1"})
        how = "first presentation of the step's minibatch" if self.reduce == "first" else \
            "mean over the step's minibatch"
        for var, p in self.keys:
            positions, units = self._shapes[p]
            values = np.stack([row[var, p] for row in self.rows], 1)
            values = values.reshape(values.shape[0], len(self.rows), positions, units)
            rec.add(f"state_{var}_p{p}", ("seed", "state_step", f"p{p}_position", f"p{p}_unit"),
                    values, f"{var} of population {p} ({how})", every=self.every)
