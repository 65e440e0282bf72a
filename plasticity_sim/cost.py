"""What a sweep will cost, said before it starts: presentations, and time on this machine.

Presentations (every input shown to every member, epoch after epoch) are machine-free:
at most members x P x the epoch cap, when no run stops early; and, when cells of the same
rule and pairing are already on disk, about members x P x the median number of epochs
those cells trained, since the stopping rule ends most runs long before the cap. A dry run
(``plasticity-sim sweep --dry-run``) turns them into hours with the presentations/s
measured here for each kind of cell (:func:`plasticity_sim.sizing.throughput_curve`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr


@dataclass
class Cost:
    """Presentations of the cells to run, by kind (rule, pairing)."""

    at_cap: dict = field(default_factory=dict)
    typical: dict = field(default_factory=dict)   # kinds with finished cells to go by
    epochs: dict = field(default_factory=dict)    # the median epochs those cells trained

    @property
    def total_at_cap(self) -> float:
        return float(sum(self.at_cap.values()))

    def total_typical(self) -> float:
        """Typical presentations, the cap standing in for kinds with no finished cell."""
        return float(sum(self.typical.get(k, v) for k, v in self.at_cap.items()))


def presentations(cell, epochs: float) -> float:
    """Inputs shown to all of a cell's members over ``epochs`` epochs."""
    return len(cell.run["seeds"]) * cell.P * epochs


def kind(cell) -> tuple:
    return cell.model.rule.name, cell.model.pairing.scheme or ""


def finished_epochs(paths) -> dict:
    """Median epochs trained per kind (rule, pairing) over finished cell files."""
    seen: dict[tuple, list] = {}
    for path in paths:
        try:
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                key = (str(ds.attrs.get("rule", "")), str(ds.attrs.get("pairs", "")))
                seen.setdefault(key, []).extend(np.asarray(ds.epochs_trained.values).ravel())
        except (OSError, ValueError, KeyError, AttributeError, RuntimeError):
            continue  # a damaged file says nothing about the cost
    return {key: float(np.median(values)) for key, values in seen.items() if values}


def estimate(cells, finished_paths=()) -> Cost:
    """The cost of running ``cells``, with the finished cell files as the typical case."""
    epochs = finished_epochs(finished_paths)
    cost = Cost()
    for cell in cells:
        k = kind(cell)
        cost.at_cap[k] = cost.at_cap.get(k, 0) + presentations(cell, cell.model.training.epochs)
        if k in epochs:
            cost.typical[k] = cost.typical.get(k, 0) + presentations(cell, epochs[k])
            cost.epochs[k] = epochs[k]
    return cost


def cost_line(cost: Cost) -> str:
    """One line: presentations at the cap, and typically where finished cells say so."""
    line = f"cost: at most {cost.total_at_cap:.3g} presentations (every run to its epoch cap)"
    if cost.typical:
        kinds = ", ".join(f"{r}{'/' + p if p else ''} {e:.0f}" for (r, p), e in cost.epochs.items())
        line += (f"; about {cost.total_typical():.3g} if runs stop as the finished cells of "
                 f"the same rules did (median epochs: {kinds})")
    return line

