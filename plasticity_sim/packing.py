"""Packing: the cells of a sweep that differ only in seeds, learning rate and P run as one ensemble.

Cells pack when they share the rule and every other setting of the model, the grammar and
the run options: a learning-rate search (factors x seeds), the cells of an ``lr`` axis, or
the cells of one rule at several P. Each member keeps its own data (its seed and P), its
own learning rate and its own stopping state; a member that stops leaves the computation
(``Trainer.drop``). Members of different P step together, each group of one P counting its
own epochs (:mod:`plasticity_sim.backends.torch.clocks`), so a member is checked after its
own epochs as on its own. The packed run is then cut back into one Dataset per cell, equal
to the cell's run on its own: on CPU, bit for bit (``tests/test_packing.py``).

Cells of different P pack only when every epoch is a whole number of batches (its
presentations: P without pairs, the trees with views, trees x T with fixations), the
learning rate is constant (a schedule counts epochs, which members of different P do not
share) and the grammar leaves room for the requested validation and test sets at every P;
other cells pack only with cells of their own P.

A pack holds at most ``max_members`` members (whole cells), and no more than a worker's
share of the machine's memory holds by the estimate of :mod:`plasticity_sim.sizing`; when
there are fewer packs than workers, the largest are split, so that packing never leaves a
worker idle that separate cells would have kept busy.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from .experiment import Cell
from .sizing import BASE_BYTES, MAX_MEMBERS, estimate_bytes


@dataclass(frozen=True)
class Pack:
    """Cells run as one ensemble: their seeds one after the other, each with its rate."""

    cells: tuple

    @property
    def seeds(self) -> list[int]:
        return [s for cell in self.cells for s in cell.run["seeds"]]

    @property
    def P(self):
        """Every member's P: one int when the cells share it, else a list of one per member."""
        values = [cell.P for cell in self.cells for _ in cell.run["seeds"]]
        return values[0] if len(set(values)) == 1 else values

    @property
    def lr(self) -> list[float]:
        return [cell.model.training.lr for cell in self.cells for _ in cell.run["seeds"]]

    @property
    def members(self) -> int:
        return len(self.seeds)

    @property
    def key(self) -> str:
        """A name for the pack's task: its first cell's key and how many cells it holds."""
        return f"pack-{len(self.cells)}-{self.cells[0].key}"

    @property
    def digest(self) -> str:
        """The hash of its cells' digests, in order: the same cells, the same pack."""
        joined = " ".join(cell.digest for cell in self.cells)
        return hashlib.sha1(joined.encode()).hexdigest()[:12]


def pack_key(cell: Cell) -> str:
    """What cells must share to pack: everything but their learning rate and seeds, and P
    where the cell's P can step with others (:func:`packs_across_P`)."""
    model = cell.model.to_dict()
    model["training"] = {k: v for k, v in model["training"].items() if k != "lr"}
    run = {k: v for k, v in cell.run.items() if k != "seeds"}
    key = {"model": model, "grammar": cell.grammar.params, "run": run}
    if not packs_across_P(cell):
        key["P"] = cell.P
    return json.dumps(key, sort_keys=True, default=str)


def packs_across_P(cell: Cell) -> bool:
    """Whether the cell can share an ensemble with cells of other P: its epochs are whole
    batches, its learning rate constant, and its held-out sets are not cut short by P."""
    from .backends.torch.data import held_out_sizes

    model, grammar, run = cell.model.at(cell.grammar), cell.grammar, cell.run
    training, pairing = model.training, model.pairing
    per_epoch = pairing.presentations_per_epoch(
        cell.P // pairing.inputs_per_tree(grammar, model.architecture(grammar)))
    held_out = (run["n_val"], run["n_test"])
    return (training.lr_schedule == "constant" and per_epoch % training.batch_size == 0
            and held_out_sizes(grammar.n_inputs, cell.P, *held_out) == held_out)


def group_cells(cells) -> dict[str, list[Cell]]:
    """The cells that can share an ensemble, by their :func:`pack_key`, in grid order."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(pack_key(cell), []).append(cell)
    return groups


def pack_cells(cells, max_members=MAX_MEMBERS, workers: int = 1,
               memory: int | None = None) -> list[Pack]:
    """Group the cells that can share an ensemble into packs of at most ``max_members``
    members (a cell with more seeds than that is a pack of its own; a callable gives the
    cap of a group from its first cell, e.g. from a measured throughput curve) whose
    estimated memory (:mod:`plasticity_sim.sizing`) stays within ``memory`` bytes (None: no
    limit); then, while there are fewer packs than ``workers``, split the largest in two.
    Order: first cell first."""
    packs: list[list[Cell]] = []
    for group in group_cells(cells).values():
        cap = max_members(group[0]) if callable(max_members) else max_members
        current: list[Cell] = []
        for cell in group:
            grown = _members(current) + len(cell.run["seeds"])
            if current and (grown > cap or
                            memory is not None and _bytes([*current, cell], grown) > memory):
                packs.append(current)
                current = []
            current.append(cell)
        packs.append(current)
    while len(packs) < workers:
        largest = max(packs, key=len)
        if len(largest) < 2:
            break
        packs.remove(largest)
        half = math.ceil(len(largest) / 2)
        packs += [largest[:half], largest[half:]]
    first = {cell.key: i for i, cell in enumerate(cells)}
    return sorted((Pack(tuple(p)) for p in packs), key=lambda p: first[p.cells[0].key])


def _members(cells) -> int:
    return sum(len(c.run["seeds"]) for c in cells)


def _bytes(cells, members: int) -> int:
    """Estimated memory of a run of ``members`` members of the cells' kind (their pools
    padded to the largest P), the process's own included."""
    cell = max(cells, key=lambda c: c.P)
    run = cell.run
    return BASE_BYTES + estimate_bytes(cell.model, cell.grammar, cell.P, members,
                                       n_val=run["n_val"], n_test=run["n_test"],
                                       probes=run["probes"], dtype=run["dtype"])


def split(ds: xr.Dataset, pack: Pack) -> list[xr.Dataset]:
    """The packed run's Dataset cut into one per cell, as the cell's own run would have
    recorded it: its members, its P, its epochs (up to its last member's stop), its
    checkpoints, its settings in the attributes."""
    config = json.loads(ds.attrs["config"])
    used = np.broadcast_to(np.atleast_1d(ds.attrs["P"]), (pack.members,))  # P each member used
    out, start = [], 0
    for cell in pack.cells:
        n = len(cell.run["seeds"])
        part = ds.isel(seed=slice(start, start + n))
        P = int(used[start])
        start += n
        epochs = int(part["epochs_trained"].max())
        part = part.isel(epoch=slice(0, epochs))
        if "checkpoint_epoch" in part and "seed" in part["checkpoint_epoch"].dims:
            part["checkpoint_epoch"] = part["checkpoint_epoch"].isel(seed=0, drop=True)
        if "checkpoint" in part.dims:
            part = part.isel(checkpoint=np.flatnonzero(part["checkpoint_epoch"].values < epochs))
        requested = dict(config.get("requested", {}))
        if "P" in requested:
            requested["P"] = cell.P
        own = dict(config, model=cell.model.to_dict(), seeds=list(cell.run["seeds"]),
                   lr=[cell.model.training.lr] * n, P=P, requested=requested)
        part.attrs = dict(ds.attrs, config=json.dumps(own, sort_keys=True, default=str),
                          seeds=" ".join(map(str, cell.run["seeds"])), P=P,
                          packed_with=len(pack.cells), packed_members=pack.members)
        out.append(part)
    return out
