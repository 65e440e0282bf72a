"""The engine interface: any two engines compared by the cross-check, each starting from
the plan's draw for the seed."""

import numpy as np
import pytest

from plasticity_sim import ParameterError
from plasticity_sim.cross_check import crosscheck
from plasticity_sim.engines import TorchEngine
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar, view_stream
from plasticity_sim.rules.plan import NetworkPlan, draw_initial_state

G3 = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def test_two_runs_of_one_engine_agree_exactly():
    check = crosscheck(Model.for_rule("dfa", arch="lcn", width=4), G3, presentations=10,
                       engines=(TorchEngine(), TorchEngine()))
    assert check.passed and max(d.max_abs for d in check.differences) == 0
    assert "torch against torch" in check.table()


def test_single_precision_against_double_is_close_but_not_equal():
    model = Model.for_rule("bp", arch="fc", width=6)
    engines = (TorchEngine("float64"), TorchEngine("float32"))
    loose = crosscheck(model, G3, presentations=20, tolerance=1e-4, engines=engines)
    assert loose.passed, loose.table()
    worst = max(d.max_rel for d in loose.differences)
    assert 1e-9 < worst < 1e-4  # float32 rounding, visible and small
    assert not crosscheck(model, G3, presentations=20, engines=engines).passed


def test_the_torch_engine_runs_the_stream_it_is_given_from_the_seeds_draw():
    model = Model.for_rule("vicreg_local", arch="lcn", width=4, pairs="views", k=1,
                           optimizer="sgd", batch_size=1)
    stream = view_stream(G3, 5, k=1, epochs=2, sample_seed=3, stream_seed=3, fresh=False)
    run = TorchEngine().run(model, G3, stream, seed=7)
    assert all(len(v) == len(stream) == 10 for v in [*run.rates.values(), *run.synapses.values()])
    assert set(run.final) == set(NetworkPlan.of(model, G3).synapses)
    start = draw_initial_state(NetworkPlan.of(model, G3), 7)
    fixed = "l1_decorr_od"  # a mask that never changes: still the seed's draw at the end
    np.testing.assert_array_equal(run.final[fixed], start[fixed])
    assert not np.array_equal(run.final["s0_w"], start["s0_w"])  # the weights learned


def test_an_engine_refuses_what_it_cannot_run_before_anything_runs():
    with pytest.raises(ParameterError) as info:
        crosscheck(Model.for_rule("clapp", arch="fc", width=4, pairs="views"), G3,
                   presentations=4, engines=(TorchEngine(), TorchEngine()))
    assert info.value.parameter == "batch_size"  # in-batch negatives need a minibatch


def test_a_cross_check_shorter_than_a_fixation_runs_one_tree():
    model = Model.for_rule("clapp", arch="fc", width=4, pairs="fixations")
    check = crosscheck(model, G3, presentations=2, engines=(TorchEngine(), TorchEngine()))
    assert check.presentations == 4 and check.passed  # one tree, fixated T = 4 times


def test_brian2_refuses_what_it_cannot_build_before_the_torch_engine_runs(monkeypatch):
    from plasticity_sim.engines import Brian2Engine

    ran = []
    monkeypatch.setattr(TorchEngine, "run", lambda *a, **k: ran.append(1))
    with pytest.raises(ParameterError) as info:
        crosscheck(Model.for_rule("bp", arch="cnn", width=4), G3, presentations=4,
                   engines=(TorchEngine(), Brian2Engine("numpy")))
    assert info.value.parameter == "arch" and not ran
