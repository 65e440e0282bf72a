"""Packed sweeps: cells that differ only in seeds, learning rate and P share one ensemble, and
members that stop leave it; neither changes a single number of any cell."""

import sys

import cloudpickle
import numpy as np
import pytest
import torch
import xarray as xr

from plasticity_sim.analysis import AlignmentMonitor
from plasticity_sim.backends.torch.train import train
from plasticity_sim.errors import ParameterError
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


def test_cells_pack_when_only_their_seeds_rates_and_P_differ():
    exp = grid()
    packs = pack_cells(exp.cells)
    assert len(packs) == 2  # one per rule: three learning rates at two P each
    for pack in packs:
        assert len({c.axes["rule"] for c in pack.cells}) == 1
        assert sorted((c.P, c.axes["lr_factor"]) for c in pack.cells) == \
            [(P, f) for P in (32, 64) for f in (0.3, 1, 3)]
        assert pack.seeds == [0, 1] * 6
        assert pack.lr == [c.model.training.lr for c in pack.cells for _ in (0, 1)]
        assert pack.P == [c.P for c in pack.cells for _ in (0, 1)]
    assert sorted(len(p.cells) for p in pack_cells(exp.cells, max_members=4)) == [2] * 6
    # more workers than packs: the largest are split until each worker has one
    assert len(pack_cells(exp.cells, workers=8)) == 8
    assert len(pack_cells(exp.cells, workers=100)) == len(exp.cells)


@pytest.mark.parametrize("changes, alone", [
    ({"P": [32, 48, 64]}, "48 is not a whole number of batches of 32"),
    ({"P": [32, 64], "lr_schedule": ["warmup_cosine"], "warmup_epochs": [1]},
     "a schedule counts epochs"),
])
def test_cells_of_several_P_pack_only_on_whole_batches_and_a_constant_rate(changes, alone):
    exp = grid(grid={"rule": ["dfa"], "lr_factor": [1], "width": [8], **changes})
    Ps = [sorted(c.P for c in pack.cells) for pack in pack_cells(exp.cells)]
    if "lr_schedule" in changes:
        assert Ps == [[32], [64]], alone
    else:
        assert sorted(Ps) == [[32, 64], [48]], alone


@pytest.mark.parametrize("pairs, P, whole", [
    ({"pairs": "views"}, [64, 96, 128], [64, 128]),               # 32, 48, 64 trees
    ({"pairs": "fixations", "T": 3}, [96, 90, 192], [96, 192]),   # 32, 30, 64 trees x 3
])
def test_an_epoch_is_whole_batches_by_its_presentations_not_its_inputs(pairs, P, whole):
    from plasticity_sim.packing import packs_across_P

    exp = grid(grid={"rule": ["ssl"], "P": P}, models={"ssl": {"rule": "clapp", "width": 8,
                                                              **pairs}})
    assert sorted(c.P for c in exp.cells if packs_across_P(c)) == whole


def test_cells_of_several_P_pack_only_where_the_held_out_sets_do_not_depend_on_P():
    # L = 2: 256 inputs; P = 128 leaves 128, which cuts n_test = 100 to 64 after n_val = 64
    small = {"v": 4, "n_classes": 4, "m": 4, "s": 2, "L": 2}
    exp = grid(grammar=small, grid={"rule": ["dfa"], "P": [32, 64, 128], "width": [8]},
               run={"seeds": [0], "n_val": 64, "n_test": 100, "epochs": 2})
    assert sorted(sorted(c.P for c in p.cells) for p in pack_cells(exp.cells)) == \
        [[32, 64], [128]]


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


@pytest.mark.parametrize("rule, pairs, P", [("dfa", None, 96), ("clapp", "fixations", 96),
                                            ("vicreg_local", "views", [64, 128, 64])])
def test_members_that_stop_leave_the_computation_and_change_nothing(rule, pairs, P, one_thread):
    model = Model.for_rule(rule, width=16, epochs=30, patience=3,
                           **({"pairs": pairs} if pairs else {})).at(G)
    rates = [0.3 * model.training.lr, model.training.lr, 10 * model.training.lr]
    options = dict(n_test=100, n_val=100, quiet=True, lr=rates, on_divergence="mask",
                   sensitivity_samples=50)
    counter = LiveCounter()
    left = train(model, G, P, [3, 4, 5], monitors=[counter], **options).to_dataset()
    stayed = train(model, G, P, [3, 4, 5], monitors=[NoFollower()], **options).to_dataset()
    # members stopped at different steps, and left as they stopped
    assert counter.live[0] == 3 and counter.live[-1] < 3
    assert identical(left.drop_attrs(), stayed.drop_attrs()) == []


@pytest.mark.parametrize("P", [[96], [64, 128]])
def test_a_packed_sweep_writes_the_same_cells_as_separate_runs(tmp_path, P):
    spec = {"title": "packing", "grammar": GRAMMAR,
            "grid": {"rule": ["dfa", "clapp_views"], "lr_factor": [0.3, 3], "P": P},
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
        assert a.attrs["packed_with"] == 2 * len(P) and "packed_with" not in b.attrs
        assert a.attrs["config"] == b.attrs["config"] and a.attrs["seeds"] == b.attrs["seeds"]
        assert identical(a.drop_vars("cell_source"), b.drop_vars("cell_source")) == []


@pytest.mark.parametrize("rule, pairs", [("dfa", None), ("clapp", "fixations"),
                                         ("clapp", "views")])
def test_members_of_different_P_each_equal_their_run_alone(rule, pairs, one_thread):
    model = Model.for_rule(rule, width=16, epochs=30, patience=3, batch_size=16,
                           **({"pairs": pairs} if pairs else {})).at(G)
    options = dict(n_test=100, n_val=100, quiet=True, on_divergence="mask",
                   sensitivity_samples=30)
    Ps, seeds = [128, 64, 128], [3, 4, 5]
    packed = train(model, G, Ps, seeds, monitors=[AlignmentMonitor(5)], **options).to_dataset()
    assert np.asarray(packed.attrs["P"]).tolist() == Ps
    assert packed["checkpoint_epoch"].dims == ("seed", "checkpoint")
    for P in (64, 128):
        mine = [s for s, p in zip(seeds, Ps) if p == P]
        alone = train(model, G, P, mine, monitors=[AlignmentMonitor(5)], **options).to_dataset()
        part = packed.sel(seed=mine).isel(epoch=slice(0, alone.sizes["epoch"]),
                                          checkpoint=slice(0, alone.sizes["checkpoint"]))
        part["checkpoint_epoch"] = part["checkpoint_epoch"].isel(seed=0, drop=True)
        assert identical(part[list(alone.variables)], alone) == []
    # the two P counted their own epochs: 64 inputs are 4 steps of 16, 128 are 8
    assert (packed["checkpoint_epoch"].sel(seed=4) >= packed["checkpoint_epoch"].sel(seed=3)).all()


@pytest.mark.parametrize("P, settings, name", [
    ([64, 48], {}, "P"),                                  # 48 is 3 batches of 16, 64 is 4: fine,
    ([64, 40], {}, "P"),                                  # but 40 is not whole batches
    ([64, 128], {"lr_schedule": "warmup_cosine", "warmup_epochs": 1}, "lr_schedule"),
    ([64, 128, 64], {}, "P"),                             # one P per seed
])
def test_members_of_different_P_that_cannot_step_together_are_refused(P, settings, name):
    model = Model.for_rule("dfa", width=8, epochs=3, batch_size=16, **settings)
    if P == [64, 48]:
        assert train(model, G, P, [0, 1], n_test=50, n_val=50, quiet=True).attrs["P"] == P
        return
    with pytest.raises(ParameterError, match=f"^{name}:"):
        train(model, G, P, [0, 1], n_test=50, n_val=50, quiet=True)


def test_members_that_cannot_step_together_are_refused_before_anything_is_encoded(monkeypatch):
    from plasticity_sim.backends.torch.train import Trainer

    def encode(*args, **kwargs):
        raise AssertionError("encoded before the refusal")

    monkeypatch.setattr(Trainer, "encode", encode)
    model = Model.for_rule("dfa", width=8, epochs=3, batch_size=16)
    with pytest.raises(ParameterError, match="^P:"):
        train(model, G, [64, 40], [0, 1], n_test=50, n_val=50, quiet=True)


def test_members_of_different_P_need_held_out_sets_that_do_not_depend_on_P():
    small = Grammar(v=4, n_classes=4, m=4, s=2, L=2, seed=0)  # 256 inputs
    with pytest.raises(ParameterError, match="^P: members of different P .* held-out sets"):
        train(Model.for_rule("dfa", width=8, epochs=2), small, [32, 128], [0, 1],
              n_val=64, n_test=100, quiet=True)


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
    small, large = (next(c for c in exp.cells if c.P == P) for P in (32, 64))
    # a pack's pools are padded to its largest P, and so is its estimate
    assert _bytes([small, large], 4) == _bytes([large], 4) > _bytes([small], 4)
    room = _bytes([large], 4)  # room for two cells of two seeds, not three
    packs = pack_cells(exp.cells, memory=room)
    assert max(p.members for p in packs) == 4
    assert all(_bytes(p.cells, p.members) <= room for p in packs)


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
