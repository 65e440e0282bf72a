"""The Random Hierarchy Model: grammar, exact sampling, encodings and stimulus streams."""

from .dataset import grammar_to_dataset, samples_from_dataset, samples_to_dataset
from .encoding import one_hot
from .grammar import Grammar
from .samples import Samples, enumerate_all, resample_below, sample, train_test
from .streams import (KINDS, Stream, epoch_stream, fixation_stream, make_stream, rate_stream,
                      view_stream)

__all__ = [
    "Grammar", "Samples", "Stream", "KINDS", "sample", "train_test", "enumerate_all",
    "resample_below", "one_hot", "epoch_stream", "view_stream", "fixation_stream",
    "make_stream", "rate_stream", "samples_to_dataset", "samples_from_dataset", "grammar_to_dataset",
]
