"""Activation functions by name: torch callables and the Brian2 expressions of f and f'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import ParameterError


@dataclass(frozen=True)
class Activation:
    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    fprime: Callable[[torch.Tensor], torch.Tensor]
    f_expr: str        # Brian2 expression in the variable `a`
    fprime_expr: str


def _relu_prime(a):
    return (a > 0).to(a.dtype)


LEAK = 0.1


def _leaky(a):
    return torch.where(a > 0, a, LEAK * a)


def _leaky_prime(a):
    return torch.where(a > 0, torch.ones_like(a), torch.full_like(a, LEAK))


def _sigmoid_prime(a):
    s = torch.sigmoid(a)
    return s * (1 - s)


ACTIVATIONS = {
    act.name: act for act in [
        Activation("relu", torch.relu, _relu_prime, "a * int(a > 0)", "int(a > 0)"),
        Activation("leaky_relu", _leaky, _leaky_prime, "a * int(a > 0) + 0.1 * a * int(a <= 0)",
                   "int(a > 0) + 0.1 * int(a <= 0)"),
        Activation("tanh", torch.tanh, lambda a: 1 - torch.tanh(a) ** 2, "tanh(a)", "1 - tanh(a)**2"),
        Activation("sigmoid", torch.sigmoid, _sigmoid_prime, "1 / (1 + exp(-a))",
                   "exp(-a) / (1 + exp(-a))**2"),
        Activation("linear", lambda a: a, torch.ones_like, "a", "1"),
        Activation("softplus", torch.nn.functional.softplus, torch.sigmoid,
                   "log(1 + exp(a))", "1 / (1 + exp(-a))"),
    ]
}


def get_activation(name: str) -> Activation:
    if name not in ACTIVATIONS:
        raise ParameterError("activation", f"must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
    return ACTIVATIONS[name]
