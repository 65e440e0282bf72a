import numpy as np
import pytest

from plasticity_sim import ParameterError
from plasticity_sim.io import open_dataset, write_dataset
from plasticity_sim.rhm import (Grammar, Stream, epoch_stream, fixation_stream, make_stream,
                                sample, view_stream)


def test_epochs_reshuffle_one_fixed_training_set(g4):
    st = epoch_stream(g4, P=300, epochs=3, sample_seed=2, stream_seed=5)
    assert len(st) == 900 and len(st.pool) == 300
    train = sample(g4, 300, 2, purpose="rhm.train")
    assert np.array_equal(st.pool.index, train.index)
    orders = st.order.reshape(3, 300)
    for e in range(3):
        assert sorted(orders[e].tolist()) == list(range(300))  # every example once per epoch
        assert np.array_equal(st.epoch[e * 300:(e + 1) * 300], np.full(300, e))
    assert not np.array_equal(orders[0], orders[1])           # reshuffled
    assert np.array_equal(st.labels, train.labels[st.order])


def test_same_seeds_same_stream_other_seed_other_order(g4):
    a = fixation_stream(g4, P=50, k=1, T=4, epochs=2, sample_seed=0, stream_seed=1)
    b = fixation_stream(g4, P=50, k=1, T=4, epochs=2, sample_seed=0, stream_seed=1)
    c = fixation_stream(g4, P=50, k=1, T=4, epochs=2, sample_seed=0, stream_seed=2)
    assert a.equals(b) and np.array_equal(a.tokens, b.tokens)
    assert not a.equals(c) and not np.array_equal(a.tokens, c.tokens)


def test_more_epochs_extend_the_same_stream(g4):
    short = view_stream(g4, P=40, k=1, epochs=2, stream_seed=3)
    long = view_stream(g4, P=40, k=1, epochs=5, stream_seed=3)
    assert np.array_equal(short.tokens, long.tokens[:80])
    assert np.array_equal(short.partners().tokens, long.partners(slice(0, 80)).tokens)


@pytest.mark.parametrize("k", [0, 1, 2])
def test_view_pairs_share_latents_at_levels_up_to_k(g8, k):
    st = view_stream(g8, P=500, k=k, epochs=2)
    shown, partner = st.presented(), st.partners()
    for level in range(k + 1):
        assert np.array_equal(shown.latents[level], partner.latents[level])
    changed = (shown.choices_at(k) != partner.choices_at(k)).mean()
    assert abs(changed - (g8.m - 1) / g8.m) < 0.03
    # each epoch draws fresh views
    first, second = (st.partners(st.epoch == e) for e in (0, 1))
    same_example = st.example[st.epoch == 0].argsort(), st.example[st.epoch == 1].argsort()
    assert not np.array_equal(first.tokens[same_example[0]], second.tokens[same_example[1]])


def test_fixations_show_one_tree_T_times_then_saccade(g8):
    T, k = 4, 1
    st = fixation_stream(g8, P=100, k=k, T=T, epochs=2)
    assert len(st) == 100 * T * 2
    assert np.array_equal(st.saccade, np.arange(len(st)) % T == 0)
    shown = st.presented()
    fix = np.arange(len(st)) // T
    for level in range(k + 1):
        lat = shown.latents[level].reshape(-1, T, shown.latents[level].shape[1])
        assert (lat == lat[:, :1]).all()                      # latents <= k fixed in a fixation
    assert np.array_equal(st.order[::T], st.example[::T])     # a fixation opens on the tree itself
    assert np.all(st.example == st.example[fix * T])
    tokens = shown.tokens.reshape(-1, T, shown.tokens.shape[1])
    assert (tokens[:, 1:] != tokens[:, :1]).any(axis=2).mean() > 0.9  # low levels do move
    # consecutive fixations show different trees
    assert (st.example[T::T] != st.example[:-T:T]).mean() > 0.95


@pytest.mark.parametrize("kind, params", [
    ("epochs", dict(P=64, epochs=2)),
    ("views", dict(P=64, k=1, epochs=2)),
    ("fixations", dict(P=64, k=2, T=3, epochs=2)),
])
@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_streams_replay_identically_from_their_dataset_file(g4, tmp_path, kind, params, suffix):
    st = make_stream(kind, g4, sample_seed=7, stream_seed=8, **params)
    path = write_dataset(st.to_dataset(), tmp_path / f"stream{suffix}")
    back = Stream.from_dataset(open_dataset(path))
    assert back.equals(st)
    assert np.array_equal(back.tokens, st.tokens) and back.params == st.params
    assert back.saccade.dtype == bool
    for level in range(g4.L + 1):
        assert np.array_equal(back.presented().latents[level], st.presented().latents[level])


def test_dataset_from_another_grammar_version_is_refused(g4):
    ds = epoch_stream(g4, P=10).to_dataset()
    ds["tokens"].values[0, 0] = (ds["tokens"].values[0, 0] + 1) % 4
    with pytest.raises(ParameterError, match="^dataset:"):
        Stream.from_dataset(ds)


def test_stream_dataset_carries_provenance_and_config(g4):
    ds = view_stream(g4, P=10, k=1).to_dataset()
    for attr in ("title", "source", "history", "config"):
        assert attr in ds.attrs
    assert ds.attrs["kind"] == "views" and ds.attrs["k"] == 1 and ds.attrs["n_inputs"] == "65536"
    assert ds["tokens"].attrs["units"] == "1" and "long_name" in ds["partner"].attrs


@pytest.mark.parametrize("call, parameter", [
    (lambda g: epoch_stream(g, P=0), "P"),
    (lambda g: epoch_stream(g, P=5, epochs=0), "epochs"),
    (lambda g: view_stream(g, P=5, k=4), "k"),
    (lambda g: fixation_stream(g, P=5, k=1, T=0), "T"),
    (lambda g: epoch_stream(g, P=5, stream_seed=-2), "stream_seed"),
    (lambda g: epoch_stream(g, P=70_000), "n"),
    (lambda g: make_stream("saccades", g, P=5), "kind"),
    (lambda g: list(epoch_stream(g, P=5).batches(0)), "batch_size"),
])
def test_invalid_stream_parameters_name_themselves(g4, call, parameter):
    with pytest.raises(ParameterError) as info:
        call(g4)
    assert info.value.parameter == parameter


def test_batches_cover_the_stream_in_order(g4):
    st = epoch_stream(g4, P=10, epochs=3)
    slices = list(st.batches(7))
    assert [s.stop - s.start for s in slices] == [7, 7, 7, 7, 2]
    assert np.array_equal(np.concatenate([st.order[s] for s in slices]), st.order)


def test_partners_only_exist_for_views(g4):
    with pytest.raises(ParameterError, match="^kind:"):
        epoch_stream(g4, P=3).partners()


def test_rejection_regime_streams_round_trip():
    g = Grammar(v=32, n_classes=32, m=32, s=2, L=4)
    st = fixation_stream(g, P=20, k=2, T=2)
    back = Stream.from_dataset(st.to_dataset())
    assert back.equals(st) and back.pool.method == "rejection"
