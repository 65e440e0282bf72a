"""Projections between populations, batched over an ensemble (E) and a minibatch (B).

Every population tensor has shape (E, B, P, C): positions x channels, channels last (P = 1
for dense populations). With filter size = stride = s, a patch of s consecutive positions
is then a plain view (E, B, P/s, s*C), so the hierarchical layers never copy to unfold.
A projection knows three linear maps with a given synaptic tensor ``w``:

- ``forward(w, x)``  : sum over pre-synaptic units,  post[i] = sum_j w_ij x_j
- ``transpose(w, y)``: sum over post-synaptic units, pre[j]  = sum_i w_ij y_i
- ``outer(y, x, scale)``: scale * sum over the batch (and shared positions) of y_i x_j,
  shaped like w (the scale rides in the GEMM's alpha, so it costs no extra pass)

so that any separable synaptic update sum_b post_b[i] pre_b[j] is one ``outer`` call and a
batch x post x pre tensor is never materialized.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def _scaled_bmm(a, b, scale: float):
    """scale * (a @ b) batched, with the scale fused into the matrix product."""
    if scale == 1.0:
        return torch.bmm(a, b)
    zero = a.new_zeros(()).expand(a.shape[0], a.shape[1], b.shape[2])
    return torch.baddbmm(zero, a, b, beta=0.0, alpha=scale)


@dataclass(frozen=True)
class Projection:
    """Common interface. ``in_shape``/``out_shape`` are (positions, channels)."""

    in_shape: tuple
    out_shape: tuple

    kind = "abstract"
    shares_positions = False  # conv: one weight for every position

    @property
    def n_pre(self) -> int:
        return self.in_shape[0] * self.in_shape[1]

    @property
    def n_post(self) -> int:
        return self.out_shape[0] * self.out_shape[1]

    @property
    def fan_in(self) -> int:
        raise NotImplementedError

    @property
    def fan_out(self) -> int:
        """Post-synaptic targets of one pre-synaptic unit."""
        raise NotImplementedError

    def weight_shape(self) -> tuple:
        raise NotImplementedError

    def bias_shape(self) -> tuple:
        return (1 if self.shares_positions else self.out_shape[0], self.out_shape[1])

    def bias_outer(self, y: torch.Tensor) -> torch.Tensor:
        """Sum over the batch (and shared positions) of a post-synaptic term, shaped like the bias."""
        total = y.sum(dim=1)
        return total.sum(dim=1, keepdim=True) if self.shares_positions else total


@dataclass(frozen=True)
class Dense(Projection):
    """All-to-all. With ``pool``, the pre-synaptic positions are averaged first (readout)."""

    pool: bool = False
    kind = "dense"

    @property
    def fan_in(self) -> int:
        return self.in_shape[1] if self.pool else self.n_pre

    @property
    def fan_out(self) -> int:
        return self.n_post

    def weight_shape(self) -> tuple:
        return (self.n_post, self.fan_in)

    def _flat_pre(self, x):
        return x.mean(dim=2) if self.pool else x.flatten(2)

    def forward(self, w, x):
        y = torch.bmm(self._flat_pre(x), w.transpose(1, 2))  # (E,B,post)
        return y.view(*y.shape[:2], *self.out_shape)

    def transpose(self, w, y):
        x = torch.bmm(y.flatten(2), w)  # (E,B,fan_in)
        if self.pool:
            P = self.in_shape[0]
            return (x / P).unsqueeze(2).expand(x.shape[0], x.shape[1], P, x.shape[2])
        return x.view(*x.shape[:2], *self.in_shape)

    def outer(self, y, x, scale: float = 1.0):
        return _scaled_bmm(y.flatten(2).transpose(1, 2), self._flat_pre(x), scale)


@dataclass(frozen=True)
class _Patched(Projection):
    """Filter size = stride = s over positions; patch index k = offset * C_in + channel."""

    s: int = 2

    @property
    def fan_in(self) -> int:
        return self.in_shape[1] * self.s

    @property
    def fan_out(self) -> int:
        return self.out_shape[1]

    def patches(self, x):
        """(E,B,P_in,C) -> (E,B,P_out,s*C): a view when x is contiguous."""
        E, B, P, C = x.shape
        return x.reshape(E, B, P // self.s, self.s * C)

    def unpatch(self, p):
        E, B, Q, _ = p.shape
        return p.reshape(E, B, Q * self.s, self.in_shape[1])


@dataclass(frozen=True)
class Local(_Patched):
    """Locally connected (LCN): a separate filter at every output position."""

    kind = "local"

    def weight_shape(self) -> tuple:
        return (self.out_shape[0], self.out_shape[1], self.fan_in)  # (P_out, C_out, K)

    def forward(self, w, x):
        return torch.einsum("eqok,ebqk->ebqo", w, self.patches(x))

    def transpose(self, w, y):
        return self.unpatch(torch.einsum("eqok,ebqo->ebqk", w, y))

    def outer(self, y, x, scale: float = 1.0):
        out = torch.einsum("ebqo,ebqk->eqok", y, self.patches(x))
        return out if scale == 1.0 else out.mul_(scale)


@dataclass(frozen=True)
class Conv(_Patched):
    """Convolutional: one filter shared by every output position."""

    kind = "conv"
    shares_positions = True

    def weight_shape(self) -> tuple:
        return (self.out_shape[1], self.fan_in)  # (C_out, K)

    def forward(self, w, x):
        p = self.patches(x)
        E, B, Q, K = p.shape
        return torch.bmm(p.reshape(E, B * Q, K), w.transpose(1, 2)).view(E, B, Q, -1)

    def transpose(self, w, y):
        E, B, Q, O = y.shape
        return self.unpatch(torch.bmm(y.reshape(E, B * Q, O), w).view(E, B, Q, -1))

    def outer(self, y, x, scale: float = 1.0):
        p = self.patches(x)
        E, B, Q, K = p.shape
        return _scaled_bmm(y.reshape(E, B * Q, -1).transpose(1, 2), p.reshape(E, B * Q, K), scale)
