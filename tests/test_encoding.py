import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from plasticity_sim import ParameterError
from plasticity_sim.rhm import one_hot


@given(st.integers(2, 9).flatmap(
    lambda v: st.tuples(st.just(v), arrays(np.int64, st.tuples(st.integers(1, 20), st.integers(1, 9)),
                                           elements=st.integers(0, v - 1)))))
def test_one_hot_matches_definition(case):
    v, tokens = case
    x = one_hot(tokens, v)
    assert x.shape == (tokens.shape[0], v, tokens.shape[1]) and x.dtype == np.float32
    expected = (tokens[:, None, :] == np.arange(v)[None, :, None]).astype(np.float32)
    assert np.array_equal(x, expected)
    w = one_hot(tokens, v, whiten=True, dtype=np.float64)
    assert np.allclose(w, (expected - 1 / v) / np.sqrt(1 - 1 / v))
    assert np.allclose(w.sum(axis=1), 0) and np.allclose((w**2).sum(axis=1), 1)


def test_one_hot_rejects_tokens_outside_the_vocabulary():
    with pytest.raises(ParameterError, match="^tokens:"):
        one_hot(np.array([[0, 4]]), 4)
    with pytest.raises(ParameterError, match="^tokens:"):
        one_hot(np.array([0, 1]), 4)
