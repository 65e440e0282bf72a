"""The Brian2 engine: the same rule equations as NeuronGroups and Synapses. The cross-check
against the torch engine lives outside both (:mod:`plasticity_sim.cross_check`) and is
re-exported here."""

from ...cross_check import CrossCheck, crosscheck
from .network import SCHEDULE, Brian2Model
from .runner import TARGETS, Brian2Run, run_brian2

__all__ = ["Brian2Model", "SCHEDULE", "run_brian2", "Brian2Run", "TARGETS", "crosscheck", "CrossCheck"]
