"""Recordings: what a run measured, convertible to a self-describing xarray Dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .provenance import global_attrs

# The three layer indices and how they count (the same in every result):
LAYER_DOC = "hidden layer (1 = next to the input)"
PROBE_LAYER_DOC = "layer probed (0 = the input itself, then hidden layers 1, 2, ...)"
PROJECTION_DOC = ("forward projection k, from population k to k + 1 (0 = input -> hidden "
                  "layer 1; last = into the readout)")


@dataclass
class Recording:
    """Variables as name -> (dims, values, attrs); coordinates as name -> (dims, values, attrs)."""

    title: str
    config: dict
    variables: dict = field(default_factory=dict)
    coords: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    #: the trained network: every synaptic and state variable by its engine name
    #: (``s{k}_w`` the weights of forward projection k, ``s{k}_bias``, a pathway's ``{name}_...``,
    #: ``ST:`` a population's state), as (seed, ...) arrays; what :meth:`state_dataset` writes
    state: dict = field(default_factory=dict)

    def add(self, name: str, dims: tuple, values, long_name: str, units: str = "1", **attrs):
        self.variables[name] = (dims, np.asarray(values), {"long_name": long_name, "units": units,
                                                           **attrs})

    def coord(self, name: str, values, long_name: str, units: str = "1"):
        self.coords[name] = ((name,), np.asarray(values), {"long_name": long_name, "units": units})

    def to_dataset(self) -> xr.Dataset:
        ds = xr.Dataset({k: xr.Variable(*v) for k, v in self.variables.items()},
                        coords={k: xr.Variable(*v) for k, v in self.coords.items()})
        ds.attrs.update(global_attrs(self.title, self.config, **self.attrs))
        return ds

    def state_dataset(self) -> xr.Dataset:
        """The trained network as a Dataset: one variable per synaptic or state variable,
        dims (seed, <name>_0, <name>_1, ...), with the run's global attributes."""
        out = {}
        for name, values in self.state.items():
            key = name.replace(":", "_")
            dims = ("seed", *(f"{key}_{i}" for i in range(values.ndim - 1)))
            out[key] = xr.Variable(dims, values, {"long_name": f"{name} after training (the "
                                                  "network evaluated: its best validation epoch)",
                                                  "units": "1"})
        ds = xr.Dataset(out, coords={"seed": self.coords["seed"][1]} if "seed" in self.coords else None)
        ds.attrs.update(global_attrs(f"{self.title}: trained state", self.config, **self.attrs))
        return ds
