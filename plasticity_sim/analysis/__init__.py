"""Analyses: sample complexity, alignment with backprop, synonymic sensitivity, probes."""

from .alignment import AlignmentMonitor, cosine_per_member
from .probes import fit_probe, probe_layers
from .sample_complexity import SampleComplexity, sample_complexity
from .sensitivity import synonymic_sensitivity
from .state_monitor import StateMonitor

__all__ = ["AlignmentMonitor", "StateMonitor", "cosine_per_member", "SampleComplexity", "sample_complexity",
           "synonymic_sensitivity", "fit_probe", "probe_layers"]
