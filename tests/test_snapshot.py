"""Snapshots: a run stopped on its way goes on from its last snapshot, to the same result bit
for bit, and a snapshot of another run is refused."""

import importlib

import numpy as np
import pytest
import xarray as xr

from plasticity_sim.analysis import AlignmentMonitor, StateMonitor
from plasticity_sim.analysis.plasticity_stats import PlasticityMonitor
from plasticity_sim.backends.torch.train import train
from plasticity_sim.errors import ParameterError
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


class Stopped(Exception):
    """What a killed job is to the run: it ends between two epochs."""


def stop_after(n: int):
    """An on_epoch that stops the run at the n-th end of an epoch (before that epoch's
    snapshot is written: the run loses it and goes on from the one before)."""
    seen = []

    def on_epoch(progress):
        seen.append(progress)
        if len(seen) == n:
            raise Stopped

    return on_epoch, seen


def without_run_attrs(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy()
    for key in ("wall_time_s", "resumed", "history", "source"):  # source: a worker may
        ds.attrs.pop(key, None)                                  # see the tree edited
    return ds.drop_vars(["resumed", "cell_source"], errors="ignore")


def resumed_equals_uninterrupted(tmp_path, model, P, seeds, stops, monitors=lambda: (), **kw):
    """Run once uninterrupted, and once stopped again and again, the n-th time after
    ``stops[n]`` ends of epochs of that part, going on from its snapshot each time; both
    datasets and final states must be the same bit for bit."""
    whole = train(model, G, P, seeds, quiet=True, monitors=monitors(), **kw)
    path = tmp_path / "run.snapshot"
    for n in stops:
        on_epoch, _ = stop_after(n)
        with pytest.raises(Stopped):
            train(model, G, P, seeds, quiet=True, monitors=monitors(), snapshot=path,
                  snapshot_every=0, on_epoch=on_epoch, **kw)
        assert path.exists()
    again = train(model, G, P, seeds, quiet=True, monitors=monitors(), snapshot=path,
                  snapshot_every=0, **kw)
    assert not path.exists()  # removed once the run is done
    assert again.attrs["resumed"].count("from a snapshot written") == len(stops)
    xr.testing.assert_identical(without_run_attrs(whole.to_dataset()),
                                without_run_attrs(again.to_dataset()))
    for name, value in whole.state.items():
        np.testing.assert_array_equal(value, again.state[name], err_msg=name)
    return whole


def test_a_stopped_run_goes_on_to_the_same_result_with_members_leaving(tmp_path):
    # dfa with patience 2: members stop at different epochs and leave the computation; the
    # alignment monitor follows them; stopped twice, once after a member has left
    model = Model.for_rule("dfa", width=8, epochs=12, patience=2)
    whole = resumed_equals_uninterrupted(tmp_path, model, 64, [0, 1, 2], stops=(2, 3),
                                         monitors=lambda: [AlignmentMonitor(every=3)],
                                         n_val=64, n_test=64, probes=False)
    # the second part trains epochs 1-3 and its snapshot holds epochs 0-2: one member has
    # left by then, the others go on
    stopped = whole.to_dataset().epochs_trained.values
    assert stopped.min() <= 3 < stopped.max()


def test_a_stopped_pack_of_several_P_goes_on_mid_epoch(tmp_path):
    # P = 32 and 96 with batch 32: the small P's epochs end while the large one's is half
    # way, so the snapshot holds a clock in the middle of its epoch
    model = Model.for_rule("bp", width=8, epochs=5)
    resumed_equals_uninterrupted(tmp_path, model, [32, 96], [0, 1], stops=(4,),
                                 n_val=32, n_test=32, probes=True)


def test_frozen_members_and_monitors_that_keep_every_member_go_on(tmp_path):
    # PlasticityMonitor keeps stopped members in the computation, frozen
    model = Model.for_rule("dfa", width=8, epochs=12, patience=2)
    whole = resumed_equals_uninterrupted(
        tmp_path, model, 64, [0, 1, 2], stops=(2, 3),
        monitors=lambda: [PlasticityMonitor(every=2), StateMonitor("r", every=5)],
        n_val=64, n_test=64, probes=False)
    stopped = whole.to_dataset().epochs_trained.values
    assert stopped.min() <= 3 < stopped.max()  # a member frozen in the snapshot


def test_a_run_stopped_after_training_goes_on_to_the_evaluation(tmp_path, monkeypatch):
    model = Model.for_rule("dfa", width=8, epochs=3)
    whole = train(model, G, 64, [0], quiet=True, n_val=32, n_test=32, probes=False)
    path = tmp_path / "run.snapshot"
    calls = []

    def fail_evaluation(*args, **kwargs):
        calls.append(1)
        raise Stopped

    with monkeypatch.context() as patch:  # the run dies in its evaluation
        patch.setattr(importlib.import_module("plasticity_sim.backends.torch.train"),
                      "evaluate_run", fail_evaluation)
        with pytest.raises(Stopped):
            train(model, G, 64, [0], quiet=True, n_val=32, n_test=32, probes=False,
                  snapshot=path, snapshot_every=0)
    seen = []
    again = train(model, G, 64, [0], quiet=True, n_val=32, n_test=32, probes=False,
                  snapshot=path, snapshot_every=0, on_epoch=seen.append)
    assert calls and not seen  # no epoch trained again
    xr.testing.assert_identical(without_run_attrs(whole.to_dataset()),
                                without_run_attrs(again.to_dataset()))


def test_a_snapshot_of_another_run_is_refused_and_kept(tmp_path):
    model = Model.for_rule("dfa", width=8, epochs=6)
    path = tmp_path / "run.snapshot"
    on_epoch, _ = stop_after(2)
    with pytest.raises(Stopped):
        train(model, G, 64, [0, 1], quiet=True, n_val=32, n_test=32, probes=False,
              snapshot=path, snapshot_every=0, on_epoch=on_epoch)
    before = path.read_bytes()
    with pytest.raises(ParameterError, match=r"snapshot.*other settings \(differs in: lr\)"):
        train(model, G, 64, [0, 1], lr=0.5, quiet=True, n_val=32, n_test=32, probes=False,
              snapshot=path)
    assert path.read_bytes() == before
    path.write_bytes(b"not a snapshot")
    with pytest.raises(ParameterError, match="not a readable snapshot"):
        train(model, G, 64, [0, 1], quiet=True, n_val=32, n_test=32, probes=False,
              snapshot=path)


def test_snapshots_are_written_no_more_often_than_asked(tmp_path):
    model = Model.for_rule("dfa", width=8, epochs=4)
    path = tmp_path / "run.snapshot"
    on_epoch, _ = stop_after(3)
    with pytest.raises(Stopped):  # an hour between snapshots: none is written in 3 epochs
        train(model, G, 64, [0], quiet=True, n_val=32, n_test=32, probes=False,
              snapshot=path, snapshot_every=3600, on_epoch=on_epoch)
    assert not path.exists()


@pytest.mark.parametrize("every", [-1, float("nan"), None])
def test_bad_snapshot_intervals_are_refused(tmp_path, every):
    with pytest.raises(ParameterError, match="snapshot_every"):
        train(Model.for_rule("dfa", width=8), G, 64, [0], quiet=True,
              snapshot=tmp_path / "s", snapshot_every=every)


def test_a_monitor_that_cannot_go_on_is_refused_before_training(tmp_path):
    class Mine:
        def start(self, trainer, epochs, per_epoch):
            raise AssertionError("training should not start")

    with pytest.raises(ParameterError, match="Mine cannot go on from a snapshot"):
        train(Model.for_rule("dfa", width=8), G, 64, [0], quiet=True, monitors=[Mine()],
              snapshot=tmp_path / "s")


def test_a_sweep_stopped_in_a_cell_goes_on_from_its_snapshot(tmp_path, monkeypatch):
    import torch

    from plasticity_sim import sweep
    from plasticity_sim.experiment import build_experiment
    from plasticity_sim.packing import Pack

    exp = build_experiment({"title": "snapshots", "grammar": {"v": 4, "n_classes": 4, "m": 4,
                                                             "s": 2, "L": 3},
                            "grid": {"rule": ["dfa"], "P": [64], "width": [8]},
                            "run": {"seeds": [0, 1], "n_test": 50, "epochs": 4,
                                    "alignment_every": 2}})
    cell = exp.cells[0]
    threads = torch.get_num_threads()  # a cell sets one thread, as a worker runs it
    try:
        whole = xr.load_dataset(sweep.run_cell(cell, str(tmp_path / "whole")))
        monkeypatch.setattr(sweep, "SNAPSHOT_EVERY_S", 0.0)

        class Killed:  # the worker dies after the cell's third epoch
            def __init__(self, *args):
                self.epochs = 0

            def __call__(self, progress):
                self.epochs += 1
                if self.epochs == 3:
                    raise Stopped

        cells = tmp_path / "cells"
        with monkeypatch.context() as patch:
            patch.setattr(sweep, "Reporter", Killed)
            with pytest.raises(Stopped):
                sweep.run_cell(cell, str(cells))
        snapshot = sweep.snapshot_path(cells, Pack((cell,)))
        assert snapshot.exists() and not list(cells.glob("cell-*.nc"))
    finally:
        torch.set_num_threads(threads)
    (cells / ".snapshot-0123456789ab.pt").write_bytes(b"of another pack")
    messages = []  # the sweep run again, on dask
    sweep.run_sweep(exp, tmp_path, n_workers=1, quiet=True, echo=messages.append)
    assert "1 of 1 ensembles go on from their snapshots" in messages
    assert any(m.startswith("1 snapshots in") and "kept, not used" in m for m in messages)
    again = xr.load_dataset(sweep.finished(cells, cell))
    assert not snapshot.exists()
    assert again.attrs["resumed"].startswith("at training step ")
    assert whole.resumed.item() == "" and again.resumed.item() == again.attrs["resumed"]
    combined = sweep.combine(exp, cells)  # the combined dataset still says so
    assert combined.resumed.sel(rule="dfa", P=64, width=8).item() == again.attrs["resumed"]
    assert combined.cell_source.sel(rule="dfa", P=64, width=8).item() == again.attrs["source"]
    xr.testing.assert_identical(without_run_attrs(whole), without_run_attrs(again))


def test_a_snapshot_with_other_monitor_settings_is_refused(tmp_path):
    model = Model.for_rule("dfa", width=8, epochs=6)
    path = tmp_path / "run.snapshot"
    on_epoch, _ = stop_after(2)
    with pytest.raises(Stopped):
        train(model, G, 64, [0], quiet=True, n_val=32, n_test=32, probes=False,
              monitors=[StateMonitor("r", every=5)], snapshot=path, snapshot_every=0,
              on_epoch=on_epoch)
    with pytest.raises(ParameterError, match=r"differs in: monitors"):
        train(model, G, 64, [0], quiet=True, n_val=32, n_test=32, probes=False,
              monitors=[StateMonitor("r", every=7)], snapshot=path)


def test_a_sweep_starts_a_pack_afresh_over_a_snapshot_it_cannot_use(tmp_path):
    import torch

    from plasticity_sim import sweep
    from plasticity_sim.experiment import build_experiment
    from plasticity_sim.packing import Pack

    exp = build_experiment({"title": "snapshots", "grammar": {"v": 4, "n_classes": 4, "m": 4,
                                                             "s": 2, "L": 3},
                            "grid": {"rule": ["dfa"], "P": [64], "width": [8]},
                            "run": {"seeds": [0], "n_test": 50, "epochs": 2}})
    cell = exp.cells[0]
    cells = tmp_path / "cells"
    cells.mkdir()
    snapshot = sweep.snapshot_path(cells, Pack((cell,)))
    snapshot.write_bytes(b"cut short by a crash")
    threads = torch.get_num_threads()
    try:
        whole = xr.load_dataset(sweep.run_cell(cell, str(tmp_path / "whole")))
        with pytest.warns(UserWarning, match="not a readable snapshot.*starts afresh"):
            again = xr.load_dataset(sweep.run_cell(cell, str(cells)))
    finally:
        torch.set_num_threads(threads)
    assert not snapshot.exists() and "resumed" not in again.attrs
    xr.testing.assert_identical(without_run_attrs(whole), without_run_attrs(again))
