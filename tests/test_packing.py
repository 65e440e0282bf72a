"""Packed sweeps: cells that differ only in seeds and learning rate share one ensemble, and
members that stop leave it; neither changes a single number of any cell."""

import sys

import cloudpickle
import numpy as np
import pytest
import torch
import xarray as xr

from plasticity_sim.analysis import AlignmentMonitor
from plasticity_sim.backends.torch.train import train
from plasticity_sim.experiment import build_experiment
from plasticity_sim.model import Model
from plasticity_sim.packing import pack_cells
from plasticity_sim.rhm import Grammar
from plasticity_sim.sweep import run_sweep

cloudpickle.register_pickle_by_value(sys.modules[__name__])

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
GRAMMAR = {"v": 4, "n_classes": 4, "m": 4, "s": 2, "L": 3}


def grid(**changes):
    spec = {"title": "packing", "grammar": GRAMMAR,
            "grid": {"rule": ["dfa", "bp"], "lr_factor": [0.3, 1, 3], "P": [32, 64], "width": [8]},
            "run": {"seeds": [0, 1], "n_test": 50, "epochs": 2}}
    spec.update(changes)
    return build_experiment(spec)


def test_cells_pack_when_only_their_seeds_and_rates_differ():
    exp = grid()
    packs = pack_cells(exp.cells)
    assert len(packs) == 4  # (rule, P): three learning rates each
    for pack in packs:
        assert len({(c.axes["rule"], c.P) for c in pack.cells}) == 1
        assert sorted(c.axes["lr_factor"] for c in pack.cells) == [0.3, 1, 3]
        assert pack.seeds == [0, 1] * 3
        assert pack.lr == [c.model.training.lr for c in pack.cells for _ in (0, 1)]
    assert sorted(len(p.cells) for p in pack_cells(exp.cells, max_members=4)) == [1] * 4 + [2] * 4
    # more workers than packs: the largest are split until each worker has one
    assert len(pack_cells(exp.cells, workers=8)) == 8
    assert len(pack_cells(exp.cells, workers=100)) == len(exp.cells)


class NoFollower:
    """A monitor that cannot follow members leaving: stopped members stay in, frozen."""

    def start(self, trainer, epochs, per_epoch):
        pass

    def wants(self, step):
        return False

    def observe(self, *args):  # called when another monitor wants the step
        pass

    def record(self, rec):
        pass


class LiveCounter(NoFollower):
    follows_members = True

    def __init__(self):
        self.live = []

    def wants(self, step):
        return True

    def observe(self, trainer, step, presentation, x, t, U, state):
        self.live.append(len(trainer.live))
        assert x.shape[0] == len(trainer.live)  # the batch holds the live members only


def identical(a: xr.Dataset, b: xr.Dataset) -> list[str]:
    """Names of the variables that differ in shape or in any value (NaN equal to NaN)."""
    return [name for name in set(a.variables) | set(b.variables)
            if name not in a or name not in b or a[name].shape != b[name].shape
            or not np.array_equal(a[name].values, b[name].values,
                                  equal_nan=a[name].dtype.kind in "fc")]


@pytest.mark.parametrize("rule, pairs", [("dfa", None), ("clapp", "fixations"),
                                         ("vicreg_local", "views")])
def test_members_that_stop_leave_the_computation_and_change_nothing(rule, pairs):
    model = Model.for_rule(rule, width=16, epochs=30, patience=3,
                           **({"pairs": pairs} if pairs else {})).at(G)
    rates = [0.3 * model.training.lr, model.training.lr, 10 * model.training.lr]
    options = dict(n_test=100, n_val=100, quiet=True, lr=rates, on_divergence="mask",
                   sensitivity_samples=50)
    counter = LiveCounter()
    left = train(model, G, 96, [3, 4, 5], monitors=[counter], **options).to_dataset()
    stayed = train(model, G, 96, [3, 4, 5], monitors=[NoFollower()], **options).to_dataset()
    assert len(set(left.epochs_trained.values)) > 1  # members stopped at different epochs
    assert counter.live[0] == 3 and counter.live[-1] < 3  # and left as they stopped
    assert identical(left.drop_attrs(), stayed.drop_attrs()) == []


def test_a_packed_sweep_writes_the_same_cells_as_separate_runs(tmp_path):
    spec = {"title": "packing", "grammar": GRAMMAR,
            "grid": {"rule": ["dfa", "clapp_views"], "lr_factor": [0.3, 3], "P": [96]},
            "run": {"seeds": [0, 1], "n_val": 100, "n_test": 100, "epochs": 12,
                    "alignment_every": 3, "sensitivity_samples": 30},
            "models": {"dfa": {"rule": "dfa", "width": 8, "patience": 2},
                       "clapp_views": {"rule": "clapp", "pairs": "views", "width": 8,
                                       "patience": 2}}}
    exp = build_experiment(spec)
    args = dict(n_workers=1, quiet=True, echo=lambda *_: None)
    packed = run_sweep(exp, tmp_path / "packed", **args)
    alone = run_sweep(exp, tmp_path / "alone", pack=False, **args)
    assert identical(packed.drop_attrs(), alone.drop_attrs()) == []
    for cell in exp.cells:
        a = xr.load_dataset(tmp_path / "packed" / "cells" / f"{cell.key}.nc")
        b = xr.load_dataset(tmp_path / "alone" / "cells" / f"{cell.key}.nc")
        assert a.attrs["packed_with"] == 2 and "packed_with" not in b.attrs
        assert a.attrs["config"] == b.attrs["config"] and a.attrs["seeds"] == b.attrs["seeds"]
        assert identical(a, b) == []


def test_a_members_probe_does_not_depend_on_its_ensemble():
    from plasticity_sim.analysis import fit_probe

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 300, 24, generator=gen, dtype=torch.float64)
    y = (x[..., :3].sum(2) + 0.8 * torch.randn(3, 300, generator=gen) > 0).long() \
        + (x[..., 3] > 0).long()
    parts = [(x[:, a:b], y[:, a:b]) for a, b in ((0, 150), (150, 220), (220, 300))]
    together = fit_probe(*parts[0], *parts[1], *parts[2], 3)
    for e in range(3):
        alone = fit_probe(*[t[e:e + 1] for part in parts for t in part], 3)
        assert alone.decay[0] == together.decay[e]
        assert alone.val_accuracy[0] == together.val_accuracy[e]
        assert alone.test_accuracy[0] == together.test_accuracy[e]


def test_the_memory_estimate_grows_with_members_and_data():
    from plasticity_sim.sizing import estimate_bytes

    model = Model.for_rule("dfa")
    size = [estimate_bytes(model, G, 1024, members) for members in range(4)]
    per_member = size[2] - size[1]
    assert per_member > 0 and size[3] - size[2] == per_member  # linear in the members
    assert size[0] > 0 == estimate_bytes(model, G, 1024, 0, probes=False)  # probes: one at a time
    assert estimate_bytes(model, G, 4096, 3) > estimate_bytes(model, G, 1024, 3)
    assert estimate_bytes(model, G, 1024, 3, probes=False) < estimate_bytes(model, G, 1024, 3)


def test_a_run_that_cannot_fit_is_refused_before_it_starts(monkeypatch):
    from plasticity_sim import ParameterError, sizing

    monkeypatch.delenv("PLASTICITY_SIM_NO_MEMORY_CHECK", raising=False)
    monkeypatch.setattr(sizing, "available_bytes", lambda device="cpu": 100 * 2**20)
    with pytest.raises(ParameterError, match=r"seeds: training 3 members at P = 64 needs about "
                                             r"[0-9.]+ GiB \(estimated\) but cpu has 0.10 GiB free"):
        train(Model.for_rule("dfa", width=8), G, 64, [0, 1, 2], quiet=True)


def test_packs_stay_within_a_workers_memory():
    from plasticity_sim.packing import _bytes

    exp = grid()
    cell = exp.cells[0]
    room = _bytes(cell, 4)  # room for two cells of two seeds, not three
    packs = pack_cells(exp.cells, memory=room)
    assert max(p.members for p in packs) == 4
    assert all(_bytes(p.cells[0], p.members) <= room for p in packs)


# --- ensemble size from a measured throughput curve ------------------------------------------
def test_the_ensemble_size_is_where_the_throughput_levels_off():
    from plasticity_sim.sizing import members_for

    assert members_for({1: 100, 2: 190, 4: 350, 8: 500, 16: 520, 32: 530}) == 8
    assert members_for({1: 100, 2: 110}) == 1          # no gain from a second member
    assert members_for({1: 100, 2: 200, 4: 400}) == 4  # still rising: the largest measured
    assert members_for({1: 100, 2: 200, 4: 400}, worth=2.5) == 1
    with pytest.raises(Exception, match="curve"):
        members_for({})


@pytest.mark.parametrize("rule, pairs", [("dfa", None), ("clapp", "views")])
def test_a_throughput_curve_is_measured_on_real_batches(rule, pairs):
    from plasticity_sim.sizing import throughput_curve

    model = Model.for_rule(rule, width=8, **({"pairs": pairs} if pairs else {})).at(G)
    curve = throughput_curve(model, G, sizes=(1, 2, 4), seconds=0.01, worth=0.0)
    assert list(curve) == [1, 2, 4] and all(rate > 0 for rate in curve.values())
    # a size that does not raise the throughput by `worth` ends the curve
    assert list(throughput_curve(model, G, sizes=(1, 2, 4), seconds=0.01, worth=1e9)) == [1, 2]


def test_a_sweep_sizes_its_packs_from_the_measured_curve(tmp_path, monkeypatch):
    import plasticity_sim.sizing as sizing

    monkeypatch.setattr(sizing, "throughput_curve",
                        lambda model, grammar, **kw: {1: 10.0, 2: 20.0, 4: 40.0, 8: 41.0})
    lines = []
    spec = {"title": "auto", "grammar": GRAMMAR,
            "grid": {"rule": ["dfa"], "lr_factor": [0.3, 1, 3], "P": [32]},
            "run": {"seeds": [0, 1], "n_val": 20, "n_test": 20, "epochs": 2, "probes": False},
            "models": {"dfa": {"rule": "dfa", "width": 8}}}
    exp = build_experiment(spec)
    ds = run_sweep(exp, tmp_path, n_workers=1, quiet=True, echo=lines.append, max_members="auto")
    said = "\n".join(lines)
    assert "ensembles of up to 4 members (measured presentations/s by members: 1: 10" in said
    # 3 cells of 2 seeds, at most 4 members: two packs
    assert "packed 3 cells into 2 ensembles" in said and "as measured" in said
    assert np.isfinite(ds.val_accuracy.values).all()
