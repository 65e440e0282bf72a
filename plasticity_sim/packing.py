"""Packing: the cells of a sweep that differ only in seeds and learning rate run as one ensemble.

Cells pack when they share the rule and every other setting of the model, the grammar, P
and the run options: a learning-rate search (factors x seeds) or the cells of an ``lr``
axis. Each member keeps its own data (its seed), its own learning rate and its own
stopping state; a member that stops leaves the computation (``Trainer.drop``). The packed
run is then cut back into one Dataset per cell, equal to the cell's run on its own: on
CPU, bit for bit (``tests/test_packing.py``). Cells that differ in P do not pack: their
epochs have different lengths, so the shorter would wait on the longer.

A pack holds at most ``max_members`` members (whole cells), and no more than a worker's
share of the machine's memory holds by the estimate of :mod:`plasticity_sim.sizing`; when
there are fewer packs than workers, the largest are split, so that packing never leaves a
worker idle that separate cells would have kept busy.
"""

from __future__ import annotations

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
    def lr(self) -> list[float]:
        return [cell.model.training.lr for cell in self.cells for _ in cell.run["seeds"]]

    @property
    def members(self) -> int:
        return len(self.seeds)

    @property
    def key(self) -> str:
        """A name for the pack's task: its first cell's key and how many cells it holds."""
        return f"pack-{len(self.cells)}-{self.cells[0].key}"


def pack_key(cell: Cell) -> str:
    """What cells must share to pack: everything but their learning rate and seeds."""
    model = cell.model.to_dict()
    model["training"] = {k: v for k, v in model["training"].items() if k != "lr"}
    run = {k: v for k, v in cell.run.items() if k != "seeds"}
    return json.dumps({"model": model, "grammar": cell.grammar.params, "P": cell.P, "run": run},
                      sort_keys=True, default=str)


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
                            memory is not None and _bytes(cell, grown) > memory):
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


def _bytes(cell: Cell, members: int) -> int:
    """Estimated memory of a run of ``members`` members of the cell's kind, the process's
    own included."""
    run = cell.run
    return BASE_BYTES + estimate_bytes(cell.model, cell.grammar, cell.P, members,
                                       n_val=run["n_val"], n_test=run["n_test"],
                                       probes=run["probes"], dtype=run["dtype"])


def split(ds: xr.Dataset, pack: Pack) -> list[xr.Dataset]:
    """The packed run's Dataset cut into one per cell, as the cell's own run would have
    recorded it: its members, its epochs (up to its last member's stop), its checkpoints,
    its settings in the attributes."""
    config = json.loads(ds.attrs["config"])
    out, start = [], 0
    for cell in pack.cells:
        n = len(cell.run["seeds"])
        part = ds.isel(seed=slice(start, start + n))
        start += n
        epochs = int(part["epochs_trained"].max())
        part = part.isel(epoch=slice(0, epochs))
        for checkpoint, epoch_of in (("checkpoint", "checkpoint_epoch"),):
            if checkpoint in part.dims:
                part = part.isel({checkpoint: np.flatnonzero(part[epoch_of].values < epochs)})
        own = dict(config, model=cell.model.to_dict(), seeds=list(cell.run["seeds"]),
                   lr=[cell.model.training.lr] * n)
        part.attrs = dict(ds.attrs, config=json.dumps(own, sort_keys=True, default=str),
                          seeds=" ".join(map(str, cell.run["seeds"])),
                          packed_with=len(pack.cells), packed_members=pack.members)
        out.append(part)
    return out
