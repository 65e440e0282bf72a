"""plasticity_sim: rate-neuron networks learning the Random Hierarchy Model with local rules."""

__version__ = "0.2.0"

from .errors import DivergenceError, ParameterError, PlasticitySimError  # noqa: E402

__all__ = ["ParameterError", "DivergenceError", "PlasticitySimError", "__version__"]
