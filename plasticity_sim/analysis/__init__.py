"""Analyses: sample complexity, alignment with backprop, synonymic sensitivity."""

from .alignment import AlignmentMonitor, cosine_per_member
from .sample_complexity import SampleComplexity, sample_complexity
from .sensitivity import synonymic_sensitivity

__all__ = ["AlignmentMonitor", "cosine_per_member", "SampleComplexity", "sample_complexity",
           "synonymic_sensitivity"]
