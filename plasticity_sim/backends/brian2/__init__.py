"""The Brian2 engine: the same rule equations as NeuronGroups and Synapses, and the
cross-check against the torch engine."""

from .crosscheck import CrossCheck, crosscheck
from .network import SCHEDULE, Brian2Model
from .runner import TARGETS, Brian2Run, run_brian2

__all__ = ["Brian2Model", "SCHEDULE", "run_brian2", "Brian2Run", "TARGETS", "crosscheck", "CrossCheck"]
