"""Samples/s for RHM sampling + one-hot encoding, and its ratio to the memory-bound floor.

The floor writes the same one-hot array from tokens made beforehand; the ratio
floor_time / sampling_time says how close sampling comes to just writing its output
(1.0 = sampling is free). Times are the best of --repeats runs, measured in this process.

    python benchmarks/bench_rhm_sampling.py [--n 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from plasticity_sim.rhm import Grammar, one_hot, sample


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    grammar = Grammar(v=8, n_classes=8, m=8, s=2, L=3, seed=0)
    tokens = np.ascontiguousarray(sample(grammar, args.n, seed=0).tokens)

    def sample_and_encode():
        one_hot(sample(grammar, args.n, seed=1).tokens, grammar.v)

    def floor():
        one_hot(tokens, grammar.v)

    floor(), sample_and_encode()  # warm up allocator and caches
    t_floor = best_time(floor, args.repeats)
    t_full = best_time(sample_and_encode, args.repeats)
    size_mb = args.n * grammar.v * grammar.n_positions * 4 / 1e6
    print(f"RHM v=m=n_classes=8 s=2 L=3, {args.n} samples, one-hot float32 ({size_mb:.0f} MB)")
    print(f"sampling + one-hot : {args.n / t_full:14,.0f} samples/s  ({t_full:.3f} s)")
    print(f"one-hot floor      : {args.n / t_floor:14,.0f} samples/s  ({t_floor:.3f} s)")
    print(f"ratio to floor     : {t_floor / t_full:.2f}  (aim >= 0.3)")


if __name__ == "__main__":
    main()
