"""Memory a training run needs, estimated before anything is drawn, and what the machine has.

The estimate adds up the tensors a run holds at its peak: the synaptic variables with their
optimizer state and the copies kept for early stopping; every member's encoded training,
validation and test inputs; one step's population tensors (the context pass and negative
copies of a self-supervised pairing included); the evaluation chunks; and, at the end, the
rates of every layer on the sets the linear probes are fitted on. Each term is an upper
bound up to the handful of temporaries a step makes (``STEP_TEMPORARIES``, measured);
the interpreter, torch and the libraries are not counted (``BASE_BYTES``).
Measured on this project's 2-core machine (peak resident size above the loaded process,
bp, dfa, CLAPP, VICReg-local, 3-15 members, L = 3 and 4): the estimate is 1.0-2.2x the
peak; ``benchmarks/bench_packing.py`` prints it next to the peak of its packed run.
"""

from __future__ import annotations

import os

from .errors import ParameterError, require_int

#: population-sized tensors alive at once in one step (rates, drives, derivatives, errors,
#: updates' factors); measured on bp, dfa and CLAPP (benchmarks/bench_packing.py)
STEP_TEMPORARIES = 16
#: the Python process with torch, numpy and xarray loaded
BASE_BYTES = 400 * 2**20
EVAL_CHUNK = 4096
#: population-sized tensors alive at once when a chunk of a set is evaluated
EVAL_TEMPORARIES = 6


def estimate_bytes(model, grammar, P: int, members: int, *, n_val: int = 2000,
                   n_test: int = 20_000, probes: bool = True, dtype: str = "float32") -> int:
    """Bytes a run of ``members`` members of ``model`` at P needs at its peak (not counting
    ``BASE_BYTES``)."""
    model = model.at(grammar)
    arch = model.architecture(grammar)
    item = 8 if str(dtype).endswith("64") else 4
    shapes = arch.population_shapes
    units = [p * c for p, c in shapes]                  # input, hidden layers, output
    weights = sum(int(_prod(proj.weight_shape())) for proj in arch.projections)
    direct = sum(units[1:-1]) * units[-1] * max(len(model.rule.pathways), 1)
    # weights and direct synapses; the update, momentum or Adam's two moments, the copy kept
    # at the best validation epoch and the one kept when a member stops
    state = (weights + direct) * 6
    # eligibility traces: each the size of its weights, with its new value, the temporaries
    # of its assignment and the two kept copies
    traces = len(model.rule.synapse_state_equations)
    state += weights * traces * 6
    inputs = (P + n_val + n_test) * (units[0] + units[-1]) * 2  # encodings, then a copy
    pairs = model.pairing.scheme is not None
    copies = (1 + model.pairing.negatives) if pairs and model.pairing.scheme != "fixations" else 1
    batch = model.training.batch_size * copies
    step = batch * sum(units) * STEP_TEMPORARIES * (2 if pairs else 1)
    evaluation = min(EVAL_CHUNK, max(P, n_val, n_test)) * sum(units) * EVAL_TEMPORARIES
    # every layer's rates on the probes' training, validation and test sets; the freed
    # memory of training and evaluation stays with the process (allocator.py), so they add
    probe_rates = (P + n_val // 2 + n_test) * sum(units[:-1]) if probes else 0
    # then one member at a time: its largest layer standardized in float64, three sets
    per_member_probe = (P + n_val // 2 + n_test) * max(units[:-1]) * 8 * 3 if probes else 0
    return int(members * (state + inputs + step + evaluation + probe_rates) * item
               + per_member_probe)


def available_bytes(device="cpu") -> int:
    """Memory free for a new run: the device's free memory on CUDA, otherwise the memory
    the operating system reports available (a cgroup limit, when lower, counts)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    free = psutil.virtual_memory().available
    limit = _cgroup_limit()
    return int(min(free, limit)) if limit else int(free)


def check_fits(needed: int, device="cpu", what: str = "this run") -> None:
    """Refuse, with the estimate, a run that cannot fit: it would die mid-way otherwise."""
    if os.environ.get("PLASTICITY_SIM_NO_MEMORY_CHECK"):
        return
    free = available_bytes(device)
    if needed + BASE_BYTES > free:
        raise ParameterError("seeds", f"{what} needs about {_gib(needed + BASE_BYTES)} "
                             f"(estimated) but {device} has {_gib(free)} free: run fewer seeds "
                             "or cells at once (a sweep's --max-members), a smaller P or test "
                             "set, or probes = false; PLASTICITY_SIM_NO_MEMORY_CHECK=1 skips "
                             "this check")


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _prod(shape) -> int:
    out = 1
    for n in shape:
        out *= int(n)
    return out


def _cgroup_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            return int(text)
    return None


#: members per packed ensemble by default: on CPU the gain levels off there
#: (benchmarks/bench_torch_engine.py, bench_packing.py); a sweep's ``"auto"`` measures it
MAX_MEMBERS = 16
def check_members_cap(max_members, scheduler=None):
    """A sweep's member cap: a positive integer, or "auto" (measured here: not with a
    cluster's scheduler, whose workers are elsewhere)."""
    if max_members != "auto":
        return require_int("max_members", max_members, minimum=1)
    if scheduler:
        raise ParameterError("max_members", "'auto' measures this machine, not a cluster's "
                             "workers: with --scheduler give a number")
    return max_members


#: ensemble sizes a throughput curve tries (members)
CURVE_SIZES = (1, 2, 4, 8, 16, 32, 64)
#: a larger ensemble is worth it when it raises presentations/s by at least this factor
WORTH = 1.15


def throughput_curve(model, grammar, sizes=CURVE_SIZES, *, device="cpu", dtype="float32",
                     seconds: float = 0.25, worth: float = WORTH,
                     P: int | None = None) -> dict[int, float]:
    """Presentations/s of training steps of ``model`` as an ensemble of each size, measured
    here on the device (real batches of the model's pairing, for about ``seconds`` each,
    after a warm-up step); what :func:`members_for` reads. The curve stops at the first size
    that does not raise the throughput by ``worth`` over the one before (it has levelled
    off) or does not fit the memory."""
    import time

    import torch

    from .backends.torch.data import TrainingData
    from .backends.torch.train import Trainer

    where = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(where)) if where.type == "cuda" else (lambda: None)
    batch = model.training.batch_size
    P = P or min(2 * batch * model.pairing.inputs_per_tree(grammar, model.architecture(grammar)),
                 grammar.n_inputs // 2)
    curve: dict[int, float] = {}
    for size in sizes:
        if estimate_bytes(model, grammar, P, size, n_val=0, n_test=0, probes=False,
                          dtype=dtype) + BASE_BYTES > available_bytes(device):
            break
        trainer = Trainer(model, grammar, list(range(size)), dtype=dtype, device=device)
        batches = list(TrainingData(trainer, P, n_test=0).batches(0, batch))
        trainer.apply(trainer.signals(batches[0])[0])  # warm-up: allocations, kernels
        sync()
        start = time.perf_counter()  # one step, waited for, says how many fill `seconds`
        trainer.apply(trainer.signals(batches[0])[0])
        sync()
        steps = max(2, int(seconds / max(time.perf_counter() - start, 1e-6)))
        start, shown = time.perf_counter(), 0
        for step in range(steps):  # queued as training queues them: one wait, at the end
            b = batches[step % len(batches)]
            trainer.apply(trainer.signals(b)[0])
            shown += b.n * size
        sync()
        curve[size] = shown / (time.perf_counter() - start)
        if len(curve) > 1 and curve[size] < worth * max(v for k, v in curve.items() if k < size):
            break
    return curve


def members_for(curve: dict[int, float], worth: float = WORTH) -> int:
    """The ensemble size to pack: the smallest size of the curve past which the next size
    raises presentations/s by less than ``worth`` (the throughput has levelled off)."""
    if not curve:
        raise ParameterError("curve", "an empty throughput curve (nothing fitted the memory)")
    sizes = sorted(curve)
    for size, bigger in zip(sizes, sizes[1:]):
        if curve[bigger] < worth * curve[size]:
            return size
    return sizes[-1]
