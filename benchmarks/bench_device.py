"""A packed slice of the scaling grid on an accelerator and on this machine's CPU, as ratios.

The slice: for each rule (bp, dfa, clapp with views), L = 3 at v = n_c = m = 4, P = 16
n_c m^L = 4096, one packed ensemble of 5 learning-rate factors (0.1, 0.3, 1, 3, 10) x 3
seeds, epoch cap ``--epochs``, training only (no probes, no test set), what a sweep's
learning-rate search runs. Each ensemble runs on ``--device`` and on the CPU (all its
threads); the script prints seconds, presentations/s (every presentation of every member
until it stopped), the ratio, and how far the members' validation accuracies on the device
are from the CPU's (float32 kernels round differently, and training amplifies it). Then the
throughput curve on the device: presentations/s of the dfa ensemble against its number of
members, which is what sizing an ensemble reads.

    python benchmarks/bench_device.py [--device cuda] [--epochs 5] [--members 15,60,240]

TF32: the engine leaves torch's float32 matmul precision as it is ("highest" by default,
no TF32); the script prints it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from plasticity_sim.backends.torch.train import train
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar

FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
SEEDS = [100, 101, 102]
RULES = {"bp": {}, "dfa": {}, "clapp": {"pairs": "views"}}


def run(model, grammar, P, seeds, rates, device):
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    ds = train(model, grammar, P, seeds, lr=rates, n_test=0, quiet=True, probes=False,
               on_divergence="mask", device=device).to_dataset()
    sync()
    seconds = time.perf_counter() - start
    return ds, seconds, int(ds.epochs_trained.sum()) * ds.attrs["P"] / seconds


def packed(rule: str, grammar: Grammar, epochs: int, repeats: int = 1):
    """The rule's model and its ensemble: 5 rates x 3 seeds, ``repeats`` times (more seeds)."""
    model = Model.for_rule(rule, epochs=epochs, **RULES.get(rule, {})).at(grammar)
    seeds = [s + 3 * r for r in range(repeats) for s in SEEDS]
    rates = [model.training.lr * f for f in FACTORS for _ in seeds]
    return model, seeds * len(FACTORS), rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", help="cuda, cuda:N, ... (default: cuda if there is one)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--P", type=int, default=4096)
    parser.add_argument("--members", default="15,60,240",
                        help="ensemble sizes of the throughput curve (multiples of 15)")
    parser.add_argument("--no-cpu", action="store_true", help="skip the CPU runs (no ratios)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.members.split(",")]
    if any(n % 15 for n in sizes):
        raise SystemExit(f"--members: multiples of 15 (5 rates x 3 seeds); got {args.members}")
    if args.device is None:
        if not torch.cuda.is_available():
            print("no CUDA device here: nothing to compare with the CPU (give --device to run "
                  "the slice anyway)")
            return
        args.device = "cuda"
    grammar = Grammar(v=4, n_classes=4, m=4, s=2, L=3)
    print(f"device {args.device}"
          + (f" ({torch.cuda.get_device_name(args.device)})" if args.device.startswith("cuda") else "")
          + f"; CPU threads {torch.get_num_threads()}; float32 matmul precision "
            f"{torch.get_float32_matmul_precision()!r}; L = 3, P = {args.P}, "
            f"{len(FACTORS)} rates x {len(SEEDS)} seeds packed, epoch cap {args.epochs}")
    model, seeds, rates = packed("bp", grammar, 2)
    run(model, grammar, 64, seeds[:2], rates[:2], args.device)  # warm-up: kernels, allocator

    print(f"{'rule':6s} {'device s':>9s} {'pres/s':>9s} {'CPU s':>7s} {'pres/s':>9s} "
          f"{'ratio':>6s} {'max |dval|':>10s}")
    for rule in RULES:
        model, seeds, rates = packed(rule, grammar, args.epochs)
        dev, dev_s, dev_rate = run(model, grammar, args.P, seeds, rates, args.device)
        if args.no_cpu:
            print(f"{rule:6s} {dev_s:9.1f} {dev_rate:9.0f}")
            continue
        cpu, cpu_s, cpu_rate = run(model, grammar, args.P, seeds, rates, "cpu")
        gap = np.nanmax(np.abs(dev.val_accuracy.values - cpu.val_accuracy.values))
        print(f"{rule:6s} {dev_s:9.1f} {dev_rate:9.0f} {cpu_s:7.1f} {cpu_rate:9.0f} "
              f"{dev_rate / cpu_rate:6.2f} {gap:10.3f}")

    print(f"throughput curve on {args.device} (dfa, presentations/s of the whole ensemble):")
    for n in sizes:
        model, seeds, rates = packed("dfa", grammar, args.epochs, repeats=n // 15)
        _, seconds, presentations = run(model, grammar, args.P, seeds, rates, args.device)
        print(f"  {n:4d} members: {seconds:6.1f} s, {presentations:9.0f} pres/s, "
              f"{presentations / n:7.0f} per member")


if __name__ == "__main__":
    main()
