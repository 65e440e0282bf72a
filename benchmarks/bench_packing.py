"""A learning-rate search (or a P sweep) run three ways in this process, as ratios against the first.

The search: one rule, 5 learning-rate factors (0.1, 0.3, 1, 3, 10) x 3 seeds, L = 3,
P = 2048, every member under the protocol's stopping rule (epoch cap ``--epochs``). With
several ``--P``, the cells are those P instead, 3 seeds each at the rule's rate (times
``--lr-scale``): a sample-complexity sweep, whose pack steps members of different P together.

1. baseline: the 5 cells one after another (3 seeds each), stopped members kept in the
   ensemble and frozen (how cells ran before members could leave);
2. the 5 cells one after another, stopped members leaving the computation;
3. one packed ensemble of 15 members, stopped members leaving (what a sweep does).

Training only (``probes=False``, no test set), one thread; presentations/s counts every
presentation of every member until it stopped. Then, for the same 15 trained members, the
time the linear probes of every layer take (they are fitted at the end of every cell), and
the memory estimate of :mod:`plasticity_sim.sizing` next to the measured peak.

    python benchmarks/bench_packing.py [--rule dfa] [--P 2048] [--epochs 20] [--threads 1]

Online learning (one presentation per update, plain SGD) packs the same way:

    python benchmarks/bench_packing.py --batch-size 1 --momentum 0 --lr-scale 0.03 --P 512

A sweep over P packs too:

    python benchmarks/bench_packing.py --P 256 512 1024 2048 4096
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from plasticity_sim.backends.torch.train import train
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar
from plasticity_sim.sizing import BASE_BYTES, estimate_bytes

FACTORS = (0.1, 0.3, 1.0, 3.0, 10.0)
SEEDS = [100, 101, 102]


class Frozen:
    """A monitor that cannot follow members leaving: stopped members stay in, frozen."""

    def start(self, *args):
        pass

    def wants(self, step):
        return False

    def record(self, rec):
        pass


def run(model, grammar, P, seeds, lr, frozen=False, probes=False):
    start = time.perf_counter()
    ds = train(model, grammar, P, seeds, n_test=0, quiet=True, lr=lr, on_divergence="mask",
               probes=probes, monitors=[Frozen()] if frozen else []).to_dataset()
    return ds, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rule", default="dfa")
    parser.add_argument("--P", type=int, nargs="+", default=[2048],
                        help="one P: a learning-rate search at it; several: a sweep over them")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: the rule's (32); 1 is online learning")
    parser.add_argument("--momentum", type=float, default=None, help="default: the rule's")
    parser.add_argument("--lr-scale", type=float, default=1.0,
                        help="every rate of the search times this (online: about 1/32)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    grammar = Grammar(v=4, n_classes=4, m=4, s=2, L=3)
    changes = {k: v for k, v in (("batch_size", args.batch_size), ("momentum", args.momentum))
               if v is not None}
    model = Model.for_rule(args.rule, epochs=args.epochs, **changes).at(grammar)
    rate = model.training.lr * args.lr_scale
    # the cells: (P, rate) of each, 3 seeds each
    cells = [(args.P[0], rate * f) for f in FACTORS] if len(args.P) == 1 else \
        [(P, rate) for P in args.P]
    run(model, grammar, 64, SEEDS, rate)  # warm-up: code generation, allocator

    arms = {}
    for name, frozen in (("cells one by one, stopped members frozen (baseline)", True),
                         ("cells one by one, stopped members leave", False)):
        results = [run(model, grammar, P, SEEDS, lr, frozen) for P, lr in cells]
        arms[name] = ([ds for ds, _ in results], sum(t for _, t in results))
    packed, seconds = run(model, grammar, [P for P, _ in cells for _ in SEEDS], SEEDS * len(cells),
                          [lr for _, lr in cells for _ in SEEDS])
    arms[f"one packed ensemble of {3 * len(cells)}, stopped members leave"] = ([packed], seconds)

    alone = arms["cells one by one, stopped members leave"][0]
    same = all(np.array_equal(ds.val_accuracy.values, packed.val_accuracy.values[3 * i:3 * i + 3],
                              equal_nan=True)
               for i, ds in enumerate(alone))
    shown = sum(int(ds.epochs_trained.sum()) * P for ds, (P, _) in zip(alone, cells))
    base = None
    what = f"P = {args.P[0]}, {len(FACTORS)} rates" if len(args.P) == 1 else f"P = {args.P}"
    print(f"{args.rule}, L = 3, {what} x {len(SEEDS)} seeds, epoch cap "
          f"{args.epochs}, batch {model.training.batch_size}, momentum {model.training.momentum}, "
          f"{args.threads} thread(s); epochs per member: "
          f"{[ds.epochs_trained.values.tolist() for ds in alone]}")
    print(f"{'':58s} {'seconds':>8s} {'pres/s':>9s} {'ratio':>6s}")
    for name, (_, seconds) in arms.items():
        base = base or seconds
        print(f"{name:58s} {seconds:8.1f} {shown / seconds:9.0f} {base / seconds:6.2f}")
    print(f"packed members equal the cells' own runs (validation accuracy, bit for bit): {same}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    estimate = BASE_BYTES + estimate_bytes(model, grammar, max(args.P), len(SEEDS) * len(cells),
                                           n_test=0, probes=False)
    print(f"memory of the packed run: estimated {estimate / 2**30:.2f} GiB (the process "
          f"included), peak resident size of this process {peak / 2**30:.2f} GiB")

    P, lr = cells[len(cells) // 2]
    start = time.perf_counter()
    run(model, grammar, P, SEEDS, lr, probes=True)
    with_probes = time.perf_counter() - start
    _, trained = run(model, grammar, P, SEEDS, lr)
    print(f"one cell (P = {P}, 3 seeds) with its linear probes: {with_probes:.1f} s, of which the "
          f"probes about {with_probes - trained:.1f} s (every cell fits them at the end)")


if __name__ == "__main__":
    main()
