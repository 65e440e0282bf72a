import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from plasticity_sim.rhm import Grammar

settings.register_profile("default", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@st.composite
def small_grammars(draw, max_inputs: int = 20_000):
    """Valid grammars small enough to enumerate."""
    s = draw(st.integers(2, 3))
    v = draw(st.integers(2, 5 if s == 2 else 3))
    m = draw(st.integers(1, v ** (s - 1)))
    n_classes = draw(st.integers(1, v**s // m))
    L = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32))
    g = Grammar(v=v, n_classes=n_classes, m=m, s=s, L=L, seed=seed)
    if g.n_inputs > max_inputs:
        # shrink to the smallest depth, which keeps the draw valid and enumerable
        g = Grammar(v=v, n_classes=n_classes, m=m, s=s, L=1, seed=seed)
    return g


@pytest.fixture
def one_thread():
    """One torch thread, as every sweep worker runs. Only there are runs of different ensemble
    sizes equal bit for bit: with several threads, a matrix product with a small output and a
    long inner dimension may be split across the threads for one member but not for a pack,
    which changes the order of its sums (seen with CLAPP's views on an AVX-512 Xeon)."""
    from plasticity_sim.sweep import one_thread as single

    with single():
        yield


@pytest.fixture
def g4():
    """v = n_classes = m = 4, s = 2, L = 3: the issues' reference setting."""
    return Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


@pytest.fixture
def g8():
    """v = n_classes = 8, m = 4: half of the tuples of each level are used."""
    return Grammar(v=8, n_classes=8, m=4, s=2, L=3, seed=1)


def chi2_uniform_pvalue(counts) -> float:
    from scipy.stats import chisquare

    return float(chisquare(np.asarray(counts).ravel()).pvalue)
