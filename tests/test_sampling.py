import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plasticity_sim import ParameterError
from plasticity_sim.rhm import Grammar, enumerate_all, resample_below, sample, train_test

from .conftest import chi2_uniform_pvalue, small_grammars


@given(small_grammars())
def test_enumeration_gives_n_inputs_distinct_strings_each_with_one_label(g):
    every = enumerate_all(g)
    assert len(every) == g.n_inputs
    strings, first = np.unique(every.tokens, axis=0, return_inverse=True)
    assert len(strings) == g.n_inputs  # distinct trees give distinct token strings
    label_of = np.full(len(strings), -1)
    label_of[first.ravel()] = every.labels
    assert np.array_equal(label_of[first.ravel()], every.labels)  # no string carries two labels


@given(small_grammars(), st.data())
def test_index_tree_index_round_trips(g, data):
    index = np.array(data.draw(st.lists(st.integers(0, g.n_inputs - 1), min_size=1, max_size=50)))
    labels, choices = g.index_to_tree(index)
    assert choices.min() >= 0 and choices.max() < g.m and labels.max() < g.n_classes
    assert np.array_equal(g.tree_to_index(labels, choices), index)


@given(st.integers(0, 2**80 - 1))
def test_round_trip_is_exact_beyond_int64(index):
    g = Grammar(v=32, n_classes=32, m=32, s=2, L=4)
    labels, choices = g.index_to_tree([index])
    assert labels[0] == index // 32**15
    assert g.tree_to_index(labels, choices)[0] == index


def test_index_orders_class_first_then_root_choice(g4):
    labels, choices = g4.index_to_tree([0, 1, 4**6, 4**7, g4.n_inputs - 1])
    assert labels.tolist() == [0, 0, 0, 1, 3]
    assert choices[1].tolist() == [0] * 6 + [1]       # last node is least significant
    assert choices[2].tolist() == [1] + [0] * 6       # the root's choice is most significant
    assert choices[4].tolist() == [3] * 7


def test_index_out_of_range_is_refused(g4):
    with pytest.raises(ParameterError, match="index"):
        g4.index_to_tree([g4.n_inputs])


@pytest.mark.parametrize("call, parameter", [
    (lambda g: sample(g, 0, seed=0), "n"),
    (lambda g: train_test(g, P=0, n_test=10, seed=0), "P"),
    (lambda g: train_test(g, P=10, n_test=0, seed=0), "n_test"),
    (lambda g: g.tree_to_index(np.array([0]), np.full((1, g.n_internal), g.m)), "choices"),
    (lambda g: g.tree_to_index(np.array([g.n_classes]), np.zeros((1, g.n_internal), int)), "labels"),
])
def test_empty_sets_and_trees_out_of_range_are_refused(g4, call, parameter):
    with pytest.raises(ParameterError, match="must (be >= 1|lie in)") as info:
        call(g4)
    assert info.value.parameter == parameter


def test_tokens_follow_the_productions(g8):
    smp = sample(g8, 200, seed=3)
    for level in range(g8.L):
        parents, chosen = smp.latents[level], smp.choices_at(level)
        produced = g8.rules[level][parents, chosen]            # (N, nodes, s)
        assert np.array_equal(produced.reshape(len(smp), -1), smp.latents[level + 1])
    assert np.array_equal(smp.tokens, smp.latents[-1])


def test_samples_are_distinct_and_reproducible(g4):
    a, b, c = sample(g4, 5000, seed=1), sample(g4, 5000, seed=1), sample(g4, 5000, seed=2)
    assert len(np.unique(a.index)) == 5000
    assert np.array_equal(a.index, b.index) and np.array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.index, c.index)


def test_sampling_everything_gives_a_permutation():
    g = Grammar(v=3, n_classes=2, m=2, s=2, L=2)
    smp = sample(g, g.n_inputs, seed=0)
    assert sorted(smp.index.tolist()) == list(range(g.n_inputs))
    with pytest.raises(ParameterError, match="^n:"):
        sample(g, g.n_inputs + 1, seed=0)


def test_class_and_choice_frequencies_are_uniform(g8):
    smp = sample(g8, 20_000, seed=11)
    assert chi2_uniform_pvalue(np.bincount(smp.labels, minlength=g8.n_classes)) > 1e-3
    for node in range(g8.n_internal):
        counts = np.bincount(smp.choices[:, node], minlength=g8.m)
        assert chi2_uniform_pvalue(counts) > 1e-3, f"node {node}: {counts}"
    # a biased sampler is caught by the same test
    assert chi2_uniform_pvalue(np.bincount(smp.choices[:, 0] // 2 * 2, minlength=g8.m)) < 1e-6


def test_train_and_test_are_disjoint_and_train_ignores_test_size(g4):
    train, test = train_test(g4, P=1000, n_test=20_000, seed=4)
    train_small, test_small = train_test(g4, P=1000, n_test=10, seed=4)
    assert len(np.intersect1d(train.index, test.index)) == 0
    assert len(np.unique(test.index)) == 20_000
    assert np.array_equal(train.index, train_small.index)


def test_train_and_test_can_exhaust_the_grammar():
    g = Grammar(v=3, n_classes=2, m=2, s=2, L=2)  # 16 inputs
    train, test = train_test(g, P=10, n_test=6, seed=0)
    assert sorted(np.concatenate([train.index, test.index]).tolist()) == list(range(16))
    with pytest.raises(ParameterError, match="^n:"):
        train_test(g, P=10, n_test=7, seed=0)


def test_huge_grammar_samples_distinct_trees_without_index_arithmetic():
    g = Grammar(v=32, n_classes=32, m=32, s=2, L=4)
    train, test = train_test(g, P=3000, n_test=3000, seed=0)
    assert train.method == "rejection"
    keys = np.concatenate([train.keys(), test.keys()])
    assert len(np.unique(keys)) == 6000
    assert chi2_uniform_pvalue(np.bincount(train.labels, minlength=32)) > 1e-3


def test_rejection_sampling_really_rejects_repeats(monkeypatch):
    # a tiny grammar forced onto the rejection path must still give distinct trees
    g = Grammar(v=3, n_classes=2, m=2, s=2, L=2)
    monkeypatch.setattr(Grammar, "index_fits_int64", property(lambda self: False))
    smp = sample(g, g.n_inputs, seed=0)
    assert smp.method == "rejection"
    assert len(np.unique(smp.keys())) == g.n_inputs == 16


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_views_share_latents_at_and_above_k_and_redraw_below(g8, k):
    base = sample(g8, 4000, seed=0)
    view = resample_below(base, k, seed=1)
    for level in range(k + 1):
        assert np.array_equal(base.latents[level], view.latents[level])
    if k == g8.L:
        assert np.array_equal(base.tokens, view.tokens)
        return
    # each level-k node's s children are redrawn: they differ iff the choice changed,
    # which happens with probability (m - 1) / m
    children_base = base.latents[k + 1].reshape(len(base), -1, g8.s)
    children_view = view.latents[k + 1].reshape(len(base), -1, g8.s)
    differs = (children_base != children_view).any(axis=2)
    n = differs.size
    p = (g8.m - 1) / g8.m
    assert abs(differs.mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert np.array_equal(differs, base.choices_at(k) != view.choices_at(k))


def test_views_reject_k_out_of_range(g4):
    with pytest.raises(ParameterError, match="^k:"):
        resample_below(sample(g4, 3, seed=0), 4, seed=0)
