"""Speed of the torch engine, as ratios measured in this process against baselines.

1. ``bp`` training step vs. a plain torch.autograd + torch.optim.SGD loop on the same CNN,
   width and batch (ratio > 1: the engine is faster per sample).
2. An ensemble of 16 networks in one vectorized call vs. 16 sequential runs.
3. Achieved FLOP/s of the ``dfa`` step vs. torch.matmul on matrices of the same sizes
   (what these shapes allow).
4. The same steps, one network and an ensemble of 16, as a fraction of torch.matmul at
   2048 x 2048 x 2048 (the machine's roofline).
5. The machine as a sweep fills it: one worker process per core, one thread each, each
   stepping its own packed ensemble of 16, their FLOP/s summed, as a fraction of the same
   roofline (torch.matmul 2048^3 on all the threads of this process).

    python benchmarks/bench_torch_engine.py [--width 128] [--device cpu] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import torch

from plasticity_sim.backends.torch.train import Trainer
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar, sample


def rate(fn, seconds: float, device, windows: int = 3) -> float:
    """Calls per second of ``fn`` (best of ``windows`` timed windows, after a warm-up)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        fn()
    sync()
    best = 0.0
    for _ in range(windows):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / windows:
            fn()
            n += 1
        sync()
        best = max(best, n / (time.perf_counter() - start))
    return best


class AutogradCNN(torch.nn.Module):
    """The same hierarchical CNN written the usual way: Conv1d(kernel = stride = s), ReLU, pool, Linear."""

    def __init__(self, v, width, s, depth, n_classes):
        super().__init__()
        convs, channels = [], v
        for _ in range(depth):
            convs.append(torch.nn.Conv1d(channels, width, kernel_size=s, stride=s, bias=False))
            channels = width
        self.convs = torch.nn.ModuleList(convs)
        self.readout = torch.nn.Linear(width, n_classes, bias=False)

    def forward(self, x):  # x (B, v, positions)
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.readout(x.mean(dim=2))


def bench_bp_vs_autograd(g, width, batch, device, seconds):
    trainer = Trainer(Model.for_rule("bp", width=width, momentum=0.9), g, [0], device=device)
    x, t, y = trainer.encode([sample(g, batch, seed=1)])
    ours = rate(lambda: trainer.step(x, t), seconds, device)

    net = AutogradCNN(g.v, width, g.s, g.L, g.n_classes).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    xb, yb = x[0].transpose(1, 2).contiguous(), y[0]

    def autograd_step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(xb), yb).backward()
        opt.step()

    base = rate(autograd_step, seconds, device)
    return ours * batch, base * batch


def dfa_ensemble(g, width, batch, device, E=16):
    """A dfa ensemble of E members (seeds 0 ... E-1) and one batch for each member."""
    trainer = Trainer(Model.for_rule("dfa", width=width), g, list(range(E)), device=device)
    x, t, _ = trainer.encode([sample(g, batch, seed=s) for s in range(E)])
    return trainer, x, t


def bench_ensemble(g, width, batch, device, seconds, E=16):
    together, x, t = dfa_ensemble(g, width, batch, device, E)
    model = together.model
    alone = [Trainer(model, g, [s], device=device) for s in range(E)]
    ours = rate(lambda: together.step(x, t), seconds, device)
    base = rate(lambda: [a.step(x[i:i + 1], t[i:i + 1]) for i, a in enumerate(alone)], seconds, device)
    return ours, base


def dfa_matmuls(trainer, batch):
    """(M, K, N) of every matrix product in one dfa step, and its FLOPs."""
    shapes = []
    for proj in trainer.net.projections:
        rows = batch * (proj.out_shape[0] if proj.kind in ("conv", "local") else 1)
        k = proj.fan_in
        n = proj.out_shape[1] if proj.kind in ("conv", "local") else proj.n_post
        shapes += [(rows, k, n), (n, rows, k)]  # forward, and the update's outer product
    for proj in trainer.net.direct.values():
        shapes.append((batch, proj.fan_in, proj.n_post))  # B_l e
    return shapes, sum(2 * m * k * n for m, k, n in shapes)


def bench_dfa_flops(g, width, batch, device, seconds):
    trainer = Trainer(Model.for_rule("dfa", width=width), g, [0], device=device)
    x, t, _ = trainer.encode([sample(g, batch, seed=1)])
    shapes, flops = dfa_matmuls(trainer, batch)
    steps = rate(lambda: trainer.step(x, t), seconds, device)
    mats = [(torch.randn(m, k, device=device), torch.randn(k, n, device=device)) for m, k, n in shapes]
    matmul_rate = rate(lambda: [torch.matmul(a, b) for a, b in mats], seconds, device)
    return steps * flops, matmul_rate * flops


def roofline(device, seconds, n: int = 2048) -> float:
    """FLOP/s of torch.matmul on two n x n float32 matrices."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return rate(lambda: torch.matmul(a, b), seconds, device) * 2 * n ** 3


def _worker_steps(width, batch, seconds, start, result):
    """One sweep worker: one thread, a packed ensemble of 16 dfa networks; its steps/s in one
    window that every worker times at once (or the error that stopped it)."""
    try:
        torch.set_num_threads(1)
        cpu = torch.device("cpu")
        trainer, x, t = dfa_ensemble(Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0), width,
                                     batch, cpu)
        start.wait(timeout=600)  # every worker steps at once, as in a sweep
        result.put(rate(lambda: trainer.step(x, t), seconds, cpu, windows=1))
    except BaseException as error:  # the others must not wait for this one at the barrier
        start.abort()
        result.put(f"{type(error).__name__}: {error}")


def bench_workers(width, batch, seconds, workers):
    """Summed steps/s of ``workers`` processes, each stepping an ensemble of 16."""
    context = multiprocessing.get_context("spawn")
    start, result = context.Barrier(workers), context.Queue()
    procs = [context.Process(target=_worker_steps, args=(width, batch, seconds, start, result))
             for _ in range(workers)]
    for p in procs:
        p.start()
    rates = [result.get(timeout=600 + 10 * seconds) for _ in procs]
    for p in procs:
        p.join()
    failed = [r for r in rates if isinstance(r, str)]
    if failed:
        raise RuntimeError(f"a benchmark worker failed: {failed[0]}")
    return sum(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=1.5)
    args = parser.parse_args()
    device = torch.device(args.device)
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    print(f"RHM v=n_classes=m=4 s=2 L=3, CNN width {args.width}, device {device}, "
          f"{torch.get_num_threads()} threads, float32")
    print("\n1. bp step vs torch.autograd + torch.optim.SGD (momentum 0.9), samples/s")
    for batch in (1, 8, 32, 128):
        ours, base = bench_bp_vs_autograd(g, args.width, batch, device, args.seconds)
        print(f"   batch {batch:4d}: engine {ours:10,.0f}  autograd {base:10,.0f}  ratio {ours / base:5.2f}")
    print("\n2. ensemble of 16 dfa networks in one call vs 16 sequential runs, batch 32, steps/s")
    for width in sorted({32, args.width}):
        ours, base = bench_ensemble(g, width, 32, device, args.seconds)
        print(f"   width {width:4d}: ensemble {ours:8.1f}  sequential {base:8.1f}  ratio {ours / base:5.2f}")
    print("\n3. dfa step FLOP/s vs torch.matmul on the same matrix sizes")
    for batch in (32, 256):
        ours, roof = bench_dfa_flops(g, args.width, batch, device, args.seconds)
        print(f"   batch {batch:4d}: dfa {ours / 1e9:7.2f} GFLOP/s  matmul {roof / 1e9:7.2f} GFLOP/s  "
              f"fraction {ours / roof:5.2f}")
    print("\n4. dfa steps as a fraction of torch.matmul at 2048^3 (the roofline)")
    peak = roofline(device, args.seconds)
    print(f"   matmul 2048^3: {peak / 1e9:7.2f} GFLOP/s")
    for batch in (32, 256):
        ours, _ = bench_dfa_flops(g, args.width, batch, device, args.seconds)
        print(f"   one network, batch {batch:4d}: {ours / 1e9:7.2f} GFLOP/s  fraction {ours / peak:5.3f}")
    flops = dfa_matmuls(Trainer(Model.for_rule("dfa", width=args.width), g, [0], device=device), 32)[1]
    steps, _ = bench_ensemble(g, args.width, 32, device, args.seconds)
    print(f"   ensemble of 16, batch   32: {steps * 16 * flops / 1e9:7.2f} GFLOP/s  "
          f"fraction {steps * 16 * flops / peak:5.3f}")
    if args.device == "cpu":
        workers = os.cpu_count() or 1  # as many as a sweep starts by default
        print(f"\n5. {workers} sweep workers (one thread each), each an ensemble of 16, batch 32, "
              "against the same roofline")
        steps = bench_workers(args.width, 32, args.seconds, workers)
        print(f"   together: {steps * 16 * flops / 1e9:7.2f} GFLOP/s  "
              f"fraction {steps * 16 * flops / peak:5.3f}")


if __name__ == "__main__":
    main()
