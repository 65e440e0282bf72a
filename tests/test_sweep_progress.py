"""A long pack says where it stands: train's per-epoch reports, and the sweep's lines."""

import math

import numpy as np
from dask.distributed import Client, LocalCluster

from plasticity_sim import Model, train
from plasticity_sim.experiment import build_experiment
from plasticity_sim.rhm import Grammar
from plasticity_sim.sweep import run_sweep
from plasticity_sim.sweep_progress import Reporter, listen, progress_line

G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def test_train_reports_every_epoch_of_every_group_of_one_P():
    reports = []
    model = Model.for_rule("dfa", width=8, epochs=3, batch_size=16, patience=100)
    train(model, G, [64, 128], [0, 1], n_test=50, n_val=50, quiet=True, on_epoch=reports.append)
    # 64 inputs are 4 steps of 16, 128 are 8: the two groups' epochs end at their own steps;
    # at step 8 both end, and both reports count both
    assert [tuple(n for _, n in r.epochs) for r in reports] == \
        [(1, 0), (2, 1), (2, 1), (3, 1), (3, 2), (3, 3)]
    assert all(r.epochs[0][0] == 64 and r.epochs[1][0] == 128 for r in reports)
    assert [r.ended for r in reports] == [64, 64, 128, 64, 128, 128]
    assert [r.running for r in reports] == [2, 2, 2, 1, 1, 0]  # each leaves at the cap of 3
    assert all(r.members == 2 and r.cap == 3 for r in reports)
    assert all(math.isfinite(r.loss) and r.presentations_per_s > 0 for r in reports)
    assert np.all(np.diff([r.seconds for r in reports]) >= 0)


def test_members_kept_frozen_in_the_computation_count_no_more_epochs():
    from plasticity_sim.analysis.plasticity_stats import PlasticityMonitor

    assert not getattr(PlasticityMonitor, "follows_members", False)  # stopped members stay in
    reports = []
    model = Model.for_rule("dfa", width=8, epochs=3, batch_size=16, patience=100)
    train(model, G, [64, 128], [0, 1], n_test=50, n_val=50, quiet=True,
          monitors=[PlasticityMonitor(every=4)], on_epoch=reports.append)
    # the group of 64 stops at the cap of 3 and stays in, frozen, while 128 finishes
    assert [tuple(n for _, n in r.epochs) for r in reports] == \
        [(1, 0), (2, 1), (2, 1), (3, 1), (3, 2), (3, 3)]


def test_a_pack_reports_its_first_epoch_then_at_most_once_per_interval():
    posted, now = [], [0.0]
    report = Reporter("pack", every_s=300, post=posted.append, clock=lambda: now[0])
    model = Model.for_rule("dfa", width=8, epochs=4, batch_size=16, patience=100)

    def at(t):
        def on_epoch(progress):
            now[0] = t.pop(0)
            report(progress)
        return on_epoch

    train(model, G, 64, [0], n_test=20, n_val=20, quiet=True, on_epoch=at([10, 200, 320, 619]))
    assert [m["epochs"] for m in posted] == [[[64, 1]], [[64, 3]]]  # at 10 s and 320 s
    assert posted[0]["pack"] == "pack" and posted[0]["members"] == 1 and posted[0]["cap"] == 4


def test_outside_a_dask_worker_a_reporter_posts_nothing():
    report = Reporter("pack")
    assert report.post is None
    model = Model.for_rule("dfa", width=8, epochs=1, batch_size=16)
    train(model, G, 64, [0], n_test=20, n_val=20, quiet=True, on_epoch=report)  # no error


def test_a_report_that_cannot_be_posted_never_fails_the_pack():
    def refuse(msg):
        raise TypeError("not serializable")

    report = Reporter("pack", post=refuse)
    model = Model.for_rule("dfa", width=8, epochs=2, batch_size=16)
    train(model, G, 64, [0], n_test=20, n_val=20, quiet=True, on_epoch=report)
    assert report.post is None  # dropped, with the reports after it


def test_a_report_reads_as_one_line():
    msg = {"pack": '{"rule": "fa"}', "epochs": [[4096, 120], [16384, 31]], "ended": 16384,
           "cap": 1000, "running": 7, "members": 9, "loss": 0.4213, "rate": 12345.6,
           "seconds": 1830.0}
    assert progress_line(msg) == (
        '  running {"rule": "fa"}: epochs P = 4096: 120, P = 16384: 31 (cap 1000), 7 of 9 '
        "members learning, training loss (P = 16384) 0.421, 1.23e+04 presentations/s, 30 min")
    one = {**msg, "epochs": [[4096, 120]], "loss": float("nan")}
    assert "epochs 120 (cap 1000)" in progress_line(one) and "training loss -" in progress_line(one)


def test_a_sweep_prints_its_packs_reports_while_they_train(tmp_path):
    spec = {"title": "progress", "grammar": {"v": 4, "n_classes": 4, "m": 4, "s": 2, "L": 3},
            "grid": {"rule": ["dfa"], "P": [64, 128], "width": [8]},
            "run": {"seeds": [0, 1], "n_test": 50, "n_val": 50, "epochs": 20, "probes": False}}
    lines, theirs = [], []
    with Client(LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0")) as client:
        # another sweep on the same scheduler, writing elsewhere, hears nothing of this one
        listen(client, tmp_path / "elsewhere" / "cells", theirs.append)
        run_sweep(build_experiment(spec), tmp_path, scheduler=client.scheduler.address,
                  echo=lines.append)
    running = [line for line in lines if line.startswith("  running ")]
    # one pack of the two cells: its first epoch is reported (then one every 5 minutes)
    assert len(running) == 1, lines
    assert '"rule": "dfa"' in running[0] and "and 1 more cells packed with it" in running[0]
    assert "P = 64: 1, P = 128: 0 (cap 20), 4 of 4 members learning" in running[0]
    assert theirs == []
