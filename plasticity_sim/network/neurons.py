"""Rate-neuron models: steady state r = f(a), or Euler-integrated tau dr/dt = -r + f(a)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParameterError, require_int
from .activations import get_activation

TIME_MODELS = ("steady", "euler")


@dataclass(frozen=True)
class NeuronModel:
    """``steady``: r = f(a) once per presentation. ``euler``: rates start at 0 and follow
    tau dr/dt = -r + f(a) for ``n_steps`` steps of ``dt`` (same unit as tau) per presentation,
    every layer's drive a computed from the rates of the step before; learning reads the
    final rates and the drives of the last step (the readout's drive from the final rates)."""

    activation: str = "relu"
    time_model: str = "steady"
    tau: float = 10.0
    dt: float = 1.0
    n_steps: int = 50

    def __post_init__(self):
        get_activation(self.activation)
        if self.time_model not in TIME_MODELS:
            raise ParameterError("time_model", f"must be one of {', '.join(TIME_MODELS)}; "
                                 f"got {self.time_model!r}")
        if not self.tau > 0:
            raise ParameterError("tau", f"must be > 0; got {self.tau}")
        if not 0 < self.dt <= self.tau:
            raise ParameterError("dt", f"must lie in (0, tau={self.tau}]; got {self.dt}")
        require_int("n_steps", self.n_steps, minimum=1)

    @property
    def act(self):
        """The activation function f and its derivative."""
        return get_activation(self.activation)
