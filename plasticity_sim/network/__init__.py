"""Populations, projections, architectures and neuron models."""

from .activations import ACTIVATIONS, Activation, get_activation
from .architecture import ARCHITECTURES, Architecture, build_architecture
from .neurons import NeuronModel
from .projections import Conv, Dense, Local, Projection

__all__ = ["ACTIVATIONS", "Activation", "get_activation", "ARCHITECTURES", "Architecture",
           "build_architecture", "NeuronModel", "Conv", "Dense", "Local", "Projection"]
