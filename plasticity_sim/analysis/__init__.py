"""Analyses of Recordings: sample complexity, alignment with backprop."""

from .alignment import AlignmentMonitor, cosine_per_member
from .sample_complexity import SampleComplexity, sample_complexity

__all__ = ["AlignmentMonitor", "cosine_per_member", "SampleComplexity", "sample_complexity"]
