import ast
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plasticity_sim import ParameterError
from plasticity_sim.rules.equations import parse_equations, parse_expression, separate

SIDES = {"x_pre": "pre", "y_pre": "pre", "u_post": "post", "v_post": "post", "w": "syn",
         "b": "syn", "eta": "scalar", "k": "scalar"}


def side_of(name):
    return SIDES[name]


def test_equations_parse_names_expressions_units_and_comments():
    eqs = parse_equations("""
        delta = fprime(a) * fb : 1   # the learning signal
        relay = batch_mean(fprime(a)) * fb
    """)
    assert [(e.name, e.expr, e.unit) for e in eqs] == [
        ("delta", "fprime(a) * fb", "1"), ("relay", "batch_mean(fprime(a)) * fb", "1")]


@pytest.mark.parametrize("text, message", [
    ("delta fprime(a)", "expected 'name = expression"),
    ("delta = fprime(a", "cannot parse"),
    ("delta = softmax(a)", "unknown function 'softmax'"),
    ("dr/dt = -r : 1", "rate dynamics belong to the neuron model"),
    ("2x = a", "is not a variable name"),
    ("x = a if a > 0 else 0", "IfExp is not allowed"),
    ("x = 'a'", "is not a number"),
    ("x = a.real", "Attribute is not allowed"),
])
def test_bad_equations_give_one_clear_error(text, message):
    with pytest.raises(ParameterError, match=message) as info:
        parse_equations(text)
    assert info.value.parameter == "equations"


def terms_of(text):
    return separate(parse_expression(text), side_of, "test")


def test_the_delta_rule_is_one_term():
    (term,) = terms_of("-u_post * x_pre")
    assert term.coef == -1.0
    assert [ast.unparse(f) for f in term.factors["post"]] == ["u_post"]
    assert [ast.unparse(f) for f in term.factors["pre"]] == ["x_pre"]


def test_products_distribute_over_sums():
    terms = terms_of("eta * (u_post - 2 * v_post) * (x_pre + w)")
    assert len(terms) == 4
    assert sorted(t.coef for t in terms) == [-2.0, -2.0, 1.0, 1.0]


def test_a_factor_mixing_sides_is_refused():
    with pytest.raises(ParameterError, match="mixes post and pre"):
        terms_of("exp(u_post * x_pre)")
    with pytest.raises(ParameterError, match="mixes"):
        terms_of("u_post / (x_pre + u_post)")


def evaluate(tree, values):
    return eval(compile(ast.Expression(tree), "t", "eval"), {"exp": math.exp, "tanh": math.tanh}, values)


atoms = st.sampled_from(sorted(SIDES)) | st.floats(0.5, 3).map(lambda f: f"{f:.3f}")


@st.composite
def expressions(draw, depth=3):
    if depth == 0:
        return draw(atoms)
    kind = draw(st.sampled_from(["atom", "add", "sub", "mul", "div", "neg", "func"]))
    if kind == "atom":
        return draw(atoms)
    if kind == "neg":
        return f"-({draw(expressions(depth - 1))})"
    if kind == "div":  # denominators must read one side only
        side = draw(st.sampled_from(["x_pre", "u_post", "w", "k"]))
        return f"({draw(expressions(depth - 1))}) / (1.5 + {side} * {side})"
    if kind == "func":
        return f"tanh({draw(st.sampled_from(['x_pre', 'u_post', 'b']))})"
    op = {"add": "+", "sub": "-", "mul": "*"}[kind]
    return f"({draw(expressions(depth - 1))}) {op} ({draw(expressions(depth - 1))})"


@given(expressions(), st.lists(st.floats(-2, 2), min_size=len(SIDES), max_size=len(SIDES)))
def test_separated_terms_sum_to_the_expression(text, numbers):
    values = dict(zip(sorted(SIDES), numbers))
    tree = parse_expression(text)
    total = sum(t.coef * math.prod(evaluate(f, values) for side in t.factors for f in t.factors[side])
                for t in separate(tree, side_of, "test"))
    assert np.isclose(total, evaluate(tree, values), rtol=1e-9, atol=1e-9)


def test_every_evaluator_knows_every_function_and_computes_it_alike():
    """One language: each function an expression may call is known to the torch code
    generator and to the numpy evaluators (virtual slices, protocols), with the same
    values; the old virtual-slice table lacked sin, cos, floor and ceil."""
    import torch

    from plasticity_sim.analysis.virtual import synapse_update
    from plasticity_sim.backends.torch.expressions import FUNC_SOURCE, _int
    from plasticity_sim.rules import Rule
    from plasticity_sim.rules.equations import FUNCTIONS, NUMPY_FUNCTIONS, REDUCTIONS

    assert set(FUNC_SOURCE) == FUNCTIONS
    assert set(NUMPY_FUNCTIONS) == FUNCTIONS - REDUCTIONS - {"f", "fprime"}
    x = np.array([-2.7, -1.0, -0.3, 0.0, 0.4, 1.5, 2.5])
    torch_of = {"int": lambda t: _int(t, t.dtype), "clip": lambda t: torch.clip(t, -1.0, 1.0)}
    for name, numpy_fn in NUMPY_FUNCTIONS.items():
        t = torch.as_tensor(np.abs(x) + 0.1 if name in ("log", "sqrt") else x)
        expected = (torch_of.get(name) or eval(FUNC_SOURCE[name]))(t).numpy()
        got = numpy_fn(t.numpy(), -1.0, 1.0) if name == "clip" else numpy_fn(t.numpy())
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=name)
    rule = Rule("trig", hidden="", output="delta = err : 1",
                update="sin(r_post) * floor(r_pre) + cos(w) * ceil(w)")
    dw = synapse_update(rule, r_pre=2.5, a_post=1.0, w=0.3)
    assert float(dw) == pytest.approx(np.sin(1.0) * 2 + np.cos(0.3) * 1)
