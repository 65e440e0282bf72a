"""train() on a given Stream: every member is shown the stream, in its order, for at most its
epochs; a stream built as train() builds a member's own data gives the same run, bit for bit."""

import numpy as np
import pytest

from plasticity_sim import ParameterError
from plasticity_sim.backends.torch.train import train
from plasticity_sim.model import Model
from plasticity_sim.rerun import rerun_train
from plasticity_sim.rhm import Grammar, epoch_stream, fixation_stream, view_stream

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
RUN = dict(n_val=100, n_test=200, quiet=True, probes=False)


def small(rule, **changes):
    return Model.for_rule(rule, **{"width": 16, "epochs": 4, "batch_size": 8, **changes})


def same_run(a, b):
    """Two recordings hold the same numbers and the same trained network."""
    da, db = a.to_dataset(), b.to_dataset()
    for name in ("test_accuracy", "val_accuracy", "train_loss", "epochs_trained"):
        np.testing.assert_array_equal(da[name].values, db[name].values, err_msg=name)
    assert a.state.keys() == b.state.keys()
    for name in a.state:
        np.testing.assert_array_equal(a.state[name], b.state[name], err_msg=name)


@pytest.mark.parametrize("pairs", [None, "views"])
def test_a_stream_built_as_train_builds_it_gives_the_same_run(pairs):
    # train() draws member `seed`'s data as a stream seeded by (seed, seed), views not fresh
    if pairs is None:
        model, stream = small("bp"), epoch_stream(G, 96, epochs=4, sample_seed=3, stream_seed=3)
    else:
        model = small("clapp", pairs="views", k=1)
        stream = view_stream(G, 48, k=1, epochs=4, sample_seed=3, stream_seed=3, fresh=False)
    own = train(model, G, 96, seeds=[3], **RUN)
    given = train(model, stream, seeds=[3], **RUN)
    assert given.attrs["P"] == own.attrs["P"] == 96
    same_run(own, given)


def test_every_member_is_shown_the_stream_and_the_seeds_draw_the_rest(one_thread):
    stream = epoch_stream(G, 64, epochs=3, sample_seed=0, stream_seed=0)
    rec = train(small("bp"), stream, seeds=[0, 1], **RUN)
    assert int(rec.attrs["epoch_cap"]) == 3  # the stream's epochs are all there is
    w = rec.state["s0_w"]
    assert not np.array_equal(w[0], w[1])  # the seeds drew different weights
    # the same stream and seed alone reproduces member 1
    alone = train(small("bp"), stream, seeds=[1], **RUN)
    np.testing.assert_array_equal(alone.state["s0_w"][0], w[1])
    assert rec.config["requested"]["stream"] == {"kind": "epochs", **stream.params,
                                                 "digest": stream.digest()}


def test_fixations_from_a_stream():
    model = small("clapp", pairs="fixations", k=2, T=3)
    stream = fixation_stream(G, 20, k=2, T=3, epochs=2, sample_seed=5, stream_seed=5, fresh=False)
    own = train(model, G, 60, seeds=[5], **RUN)
    given = train(model, stream, seeds=[5], epochs=2, **RUN)
    ours = train(model, G, 60, seeds=[5], epochs=2, **RUN)
    np.testing.assert_array_equal(given.state["s0_w"], ours.state["s0_w"])
    assert int(own.attrs["P"]) == int(given.attrs["P"]) == 60


def test_a_rerun_rebuilds_the_stream(tmp_path):
    stream = view_stream(G, 32, k=2, epochs=2, sample_seed=1, stream_seed=7, fresh=True)
    model = small("clapp", pairs="views", k=2)
    first = train(model, stream, seeds=[0], **RUN).to_dataset()
    again = rerun_train(first, tmp_path / "again.nc", quiet=True)
    np.testing.assert_array_equal(first["val_accuracy"].values, again["val_accuracy"].values)
    assert int(first.attrs["P"]) == 32 + 2 * 32  # fresh views: each epoch shows new ones


@pytest.mark.parametrize("model, stream, extra, parameter", [
    (small("bp"), view_stream(G, 8, k=1, sample_seed=0), {}, "stream"),
    (small("clapp", pairs="views", k=1), epoch_stream(G, 8), {}, "stream"),
    (small("clapp", pairs="views", k=1), view_stream(G, 8, k=2), {}, "k"),
    (small("clapp", pairs="views", k="layer"), view_stream(G, 8, k=2), {}, "stream"),
    (small("clapp", pairs="fixations", k=2, T=4), fixation_stream(G, 8, k=2, T=3), {}, "T"),
    (small("bp"), epoch_stream(G, 8), {"P": 8}, "P"),
    (small("bp"), epoch_stream(G, 8, epochs=2), {"epochs": 3}, "epochs"),
])
def test_a_stream_that_does_not_fit_is_refused_by_name(model, stream, extra, parameter):
    with pytest.raises(ParameterError) as err:
        train(model, stream, seeds=[0], **{**RUN, **extra})
    assert err.value.parameter == parameter


def test_a_grammar_needs_P():
    with pytest.raises(ParameterError) as err:
        train(small("bp"), G, seeds=[0], **RUN)
    assert err.value.parameter == "P"


def test_a_stream_its_parameters_do_not_rebuild_is_not_rerun_as_another(tmp_path):
    model = small("clapp", pairs="views", k=2)
    tagged = view_stream(G, 16, k=2, epochs=1, sample_seed=1, stream_seed=1, tag="other")
    first = train(model, tagged, seeds=[0], **RUN).to_dataset()
    with pytest.raises(ParameterError) as err:
        rerun_train(first, tmp_path / "again.nc", quiet=True)
    assert err.value.parameter == "result"


def test_seeds_are_given():
    with pytest.raises(ParameterError) as err:
        train(small("bp"), G, 64, **RUN)
    assert err.value.parameter == "seeds"

