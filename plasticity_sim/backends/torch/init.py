"""Initial synaptic tensors, drawn per ensemble member from that member's network seed.

Each variable's initializer is an expression in ``randn`` (one standard normal draw per
synapse), ``w`` (the projection's forward weight), ``eye`` (lateral projections: 1 from a
unit to itself), ``fan_in``, ``fan_out`` and the rule's parameters. Draws use numpy generators, so weights are bit-identical on CPU and GPU and
member e of an ensemble equals a single run with seed e.
"""

from __future__ import annotations

import ast

import numpy as np
import torch

from ...errors import ParameterError
from ...rules.equations import names_in, parse_expression
from ...seeding import generator

NUMPY_FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign,
               "tanh": np.tanh, "sin": np.sin, "cos": np.cos, "floor": np.floor, "ceil": np.ceil,
               "clip": np.clip, "int": lambda x: np.asarray(x, dtype=float)}


def init_synapses(net, seeds, dtype=torch.float32, device="cpu") -> dict:
    """{generated name: tensor (E, *shape)} for every synaptic variable of ``net``."""
    out = {}
    for name, (proj, init, _) in net.synapse_specs.items():
        members = [_draw(net, name, proj, init, seed, out, e) for e, seed in enumerate(seeds)]
        out[name] = torch.as_tensor(np.stack(members), dtype=dtype, device=device)
    return out


def _draw(net, name, proj, init, seed, drawn, member):
    shape = proj.bias_shape() if name.endswith("_bias") else proj.weight_shape()
    tree = parse_expression(init, where=f"initial value of {name}")
    namespace = {**NUMPY_FUNCS, **net.constants(proj)}
    if "randn" in names_in(tree):
        namespace["randn"] = generator(seed, f"net.init.{name}").standard_normal(shape)
    if "eye" in names_in(tree):
        if not name.startswith("l"):
            raise ParameterError("synapses", f"{name}: `eye` is only defined on lateral projections")
        namespace["eye"] = np.broadcast_to(np.eye(shape[-1]), shape)
    if "w" in names_in(tree):
        forward = f"{name.split('_')[0]}_w"
        if forward not in drawn or not name.startswith("s"):
            raise ParameterError("synapses", f"{name}: `w` is only defined on forward projections")
        namespace["w"] = drawn[forward][member].cpu().double().numpy()
    try:
        value = eval(compile(ast.Expression(tree), name, "eval"),
                     {"__builtins__": {}}, namespace)
    except NameError as err:
        raise ParameterError("synapses", f"initial value of {name}: {err}") from None
    return np.broadcast_to(np.asarray(value, dtype=np.float64), shape)
