"""Architectures for RHM inputs (v channels x s**L positions).

- ``cnn``: hierarchical CNN, filter size = stride = s, weights shared over positions;
- ``lcn``: the same without sharing (locally connected);
- ``fc``: fully connected hidden layers.

Population tensors are (ensemble, batch, positions, channels). Each has ``depth`` hidden
layers of ``width`` channels and a readout to n_classes that
averages over the positions left (one position when s**depth = s**L).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ParameterError, require_int
from .projections import Conv, Dense, Local, Projection

ARCHITECTURES = ("cnn", "lcn", "fc")


@dataclass(frozen=True)
class Architecture:
    kind: str
    v: int
    n_positions: int
    n_classes: int
    width: int
    depth: int
    s: int
    bias: bool = False

    def __post_init__(self):
        if self.kind not in ARCHITECTURES:
            raise ParameterError("arch", f"must be one of {', '.join(ARCHITECTURES)}; got {self.kind!r}")
        for name in ("v", "n_positions", "n_classes", "width", "depth", "s"):
            require_int(name, getattr(self, name), minimum=1)
        if self.kind in ("cnn", "lcn") and self.s**self.depth != self.n_positions:
            raise ParameterError(
                "depth", f"a {self.kind} with filter = stride = s={self.s} needs s**depth = "
                f"n_positions = {self.n_positions}; got depth={self.depth} (s**depth = "
                f"{self.s**self.depth})")

    @property
    def population_shapes(self) -> list[tuple]:
        """(positions, channels) of the input, each hidden layer, and the output."""
        shapes = [(self.n_positions, self.v)]
        for layer in range(self.depth):
            positions = self.n_positions // self.s ** (layer + 1) if self.kind != "fc" else 1
            shapes.append((positions, self.width))
        return shapes + [(1, self.n_classes)]

    @property
    def projections(self) -> list[Projection]:
        """Forward projections: one per hidden layer, then the readout."""
        shapes = self.population_shapes
        layers = []
        for pre, post in zip(shapes[:-2], shapes[1:-1]):
            if self.kind == "fc":
                layers.append(Dense(pre, post))
            elif self.kind == "lcn":
                layers.append(Local(pre, post, s=self.s))
            else:
                layers.append(Conv(pre, post, s=self.s))
        layers.append(Dense(shapes[-2], shapes[-1], pool=True))
        return layers

    @property
    def n_hidden(self) -> int:
        return self.depth


def build_architecture(kind: str, v: int, s: int, L: int, n_classes: int, width: int,
                       depth: int | None = None, bias: bool = False) -> Architecture:
    """The architecture for an RHM with these parameters (depth L by default)."""
    s, L = require_int("s", s, minimum=2), require_int("L", L, minimum=1)
    depth = L if depth is None else require_int("depth", depth, minimum=1)
    return Architecture(kind=kind, v=v, n_positions=s**L, n_classes=n_classes,
                        width=require_int("width", width, minimum=1), depth=depth, s=s, bias=bias)
