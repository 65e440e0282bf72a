"""Presentations per second of every Brian2 target and of the torch engine at batch 1, on
the same network (bp on a locally connected network of depth 3), as ratios.

Compilation is excluded (a warm-up run first; cpp_standalone is timed on the binary's run),
so the figures compare steady-state simulation speed.

    python benchmarks/bench_brian2.py [--presentations 300] [--widths 64 256]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import brian2 as b2
import numpy as np
import torch

from plasticity_sim.backends.brian2 import Brian2Model
from plasticity_sim.backends.brian2.runner import stream_arrays
from plasticity_sim.backends.torch.data import TrainingData
from plasticity_sim.backends.torch.train import Trainer
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar, epoch_stream


def brian2_rate(model, g, stream, target: str) -> float:
    inputs, targets, positive = stream_arrays(stream)
    n = len(inputs)
    if target == "cpp_standalone":
        directory = tempfile.mkdtemp(prefix="bench_cpp_")
        b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
        b2.device.reinit()
        b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
        net = Brian2Model(model, g, inputs, targets, positive)
        net.net.run((n + 1) * net.duration, namespace={})
        b2.device.build(run=False, directory=directory)
        start = time.perf_counter()
        b2.device.run()
        elapsed = time.perf_counter() - start
        b2.device.reinit()
        b2.set_device("runtime")
        return n / elapsed
    b2.set_device("runtime")
    b2.prefs.codegen.target = target
    b2.start_scope()
    net = Brian2Model(model, g, inputs, targets, positive)
    net.net.run(5 * net.duration, namespace={})  # compile and warm up
    start = time.perf_counter()
    net.net.run(n * net.duration, namespace={})
    return n / (time.perf_counter() - start)


def torch_rate(model, g, n: int, dtype: str) -> float:
    trainer = Trainer(model, g, [0], dtype=dtype)
    data = TrainingData(trainer, n, n_test=0)
    batches = list(data.batches(0, 1))
    for batch in batches[:5]:
        trainer.apply(trainer.signals(batch)[0])
    start = time.perf_counter()
    for batch in batches:
        trainer.apply(trainer.signals(batch)[0])
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presentations", type=int, default=300)
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--targets", nargs="+", default=["numpy", "cython", "cpp_standalone"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    print(f"bp, LCN depth 3, batch 1, float64, {args.presentations} presentations, one thread")
    for width in args.widths:
        model = Model.for_rule("bp", arch="lcn", width=width, momentum=0.0)
        stream = epoch_stream(g, args.presentations)
        reference = torch_rate(model, g, args.presentations, "float64")
        print(f"\nwidth {width}: torch float64 {reference:10.1f} presentations/s (= 1)")
        fast = torch_rate(model, g, args.presentations, "float32")
        print(f"{'':10}torch float32 {fast:10.1f} presentations/s   ratio to torch float64: "
              f"{fast / reference:6.2f}")
        for target in args.targets:
            rate = brian2_rate(model, g, stream, target)
            print(f"{'':10}brian2 {target:<14} {rate:10.1f} presentations/s   ratio to torch "
                  f"float64: {rate / reference:6.2f}")


if __name__ == "__main__":
    main()
