"""The main job of the README: a small end-to-end demonstration.

Until the learning rules exist, it describes a small RHM, writes a training stream and a
disjoint test set, and replays the stream from disk to show that it is exact.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from .io import open_dataset, write_dataset
from .rhm import Grammar, Stream, epoch_stream, train_test


def run_demo(out: str | Path) -> None:
    out = Path(out)
    grammar = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    click.echo(grammar.describe())
    stream = epoch_stream(grammar, P=512, epochs=2, sample_seed=0, stream_seed=0)
    path = write_dataset(stream.to_dataset(), out / "stream.nc")
    replayed = Stream.from_dataset(open_dataset(path))
    train, test = train_test(grammar, P=512, n_test=2048, seed=0)
    overlap = np.intersect1d(train.index, test.index).size
    click.echo(f"\nwrote {len(stream)} presentations ({stream.params['P']} training trees x "
               f"{stream.params['epochs']} epochs) to {path}")
    click.echo(f"replayed from disk identically: {replayed.equals(stream)}")
    click.echo(f"test set: {len(test)} trees, overlap with the training set: {overlap}")
