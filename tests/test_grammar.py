import numpy as np
import pytest
from hypothesis import given

from plasticity_sim import ParameterError
from plasticity_sim.rhm import Grammar

from .conftest import small_grammars


@given(small_grammars())
def test_productions_are_unambiguous_at_every_level(g):
    for level, rules in enumerate(g.rules):
        assert rules.shape == (g.n_symbols(level), g.m, g.s)
        assert rules.min() >= 0 and rules.max() < g.v
        tuples = {tuple(t) for t in rules.reshape(-1, g.s)}
        assert len(tuples) == g.n_symbols(level) * g.m  # no tuple owned twice within a level


@given(small_grammars())
def test_n_inputs_counts_every_tree(g):
    assert g.n_internal == sum(g.s**d for d in range(g.L))
    assert g.n_inputs == g.n_classes * g.m**g.n_internal
    assert g.sample_complexity_scale == g.n_classes * g.m**g.L


def test_n_inputs_is_exact_beyond_int64():
    g = Grammar(v=32, n_classes=32, m=32, s=2, L=4)
    assert g.n_inputs == 32 * 32**15 == 2**80
    assert not g.index_fits_int64


def test_same_seed_same_rules_other_seed_other_rules():
    a, b, c = (Grammar(8, 8, 4, 2, 3, seed=sd) for sd in (5, 5, 6))
    assert all(np.array_equal(x, y) for x, y in zip(a.rules, b.rules))
    assert not all(np.array_equal(x, y) for x, y in zip(a.rules, c.rules))


def test_rules_are_a_pinned_function_of_the_seed():
    # guards the bit-for-bit promise across versions: changing the draw must be deliberate
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
    assert g.rules[0][0].tolist() == [[0, 2], [1, 1], [2, 0], [3, 2]]


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(v=0, n_classes=2, m=1, s=2, L=1), "v"),
    (dict(v=4, n_classes=0, m=1, s=2, L=1), "n_classes"),
    (dict(v=4, n_classes=2, m=0, s=2, L=1), "m"),
    (dict(v=4, n_classes=2, m=1, s=1, L=1), "s"),
    (dict(v=4, n_classes=2, m=1, s=2, L=0), "L"),
    (dict(v=4, n_classes=2, m=5, s=2, L=2), "m"),           # m > v**(s-1)
    (dict(v=4, n_classes=5, m=4, s=2, L=2), "n_classes"),   # m * n_classes > v**s
    (dict(v=4.5, n_classes=2, m=1, s=2, L=1), "v"),
    (dict(v=4, n_classes=2, m=1, s=2, L=1, seed=-1), "seed"),
    (dict(v=True, n_classes=2, m=1, s=2, L=1), "v"),
])
def test_invalid_parameters_name_themselves(kwargs, parameter):
    with pytest.raises(ParameterError) as info:
        Grammar(**kwargs)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(parameter + ":")


def test_describe_lists_sizes_and_productions(g4):
    text = g4.describe()
    assert "n_inputs = n_classes * m^((s^L-1)/(s-1)) = 65536" in text
    assert "n_classes * m^L = 256" in text
    first = "(" + ",".join(map(str, g4.rules[2][3][0])) + ")"
    assert f"    3: {first}" in text.split("level 2 -> 3")[1]


def test_a_grammar_too_large_to_draw_is_refused_before_it_is_computed():
    with pytest.raises(ParameterError, match="v\\*\\*s = 1000000000\\*\\*2 tuples"):
        Grammar(v=10**9, n_classes=4, m=4, s=2, L=3)
    with pytest.raises(ParameterError, match="s\\*\\*L = 2\\*\\*40 input tokens"):
        Grammar(v=4, n_classes=4, m=4, s=2, L=40)
    with pytest.raises(ParameterError, match="^L: "):
        Grammar(v=4, n_classes=4, m=4, s=2, L=10**12)   # refused from the exponent alone


def test_a_count_too_long_to_print_is_given_as_its_order_of_magnitude():
    g = Grammar(v=4, n_classes=4, m=4, s=2, L=13)          # 4 * 4^8191: 4933 digits
    assert g.n_inputs_text == "about 10^4932.1"
    assert "n_inputs = n_classes * m^((s^L-1)/(s-1)) = about 10^4932.1" in g.describe()
    assert Grammar(v=4, n_classes=4, m=4, s=2, L=3).n_inputs_text == "65536"
