"""Claims: two sweeps on one folder never compute a cell twice."""

import json
import os
import subprocess
import sys
import threading
import time

from plasticity_sim import claims
from plasticity_sim.claims import Claim, is_stale
from plasticity_sim.experiment import build_experiment


def test_a_claim_is_held_once_and_released(tmp_path):
    path = tmp_path / ".claim-x"
    first = Claim.take(path)
    assert first is not None and Claim.take(path) is None
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not is_stale(path)                       # its holder (this process) is alive
    first.release()
    assert not path.exists() and Claim.take(path) is not None


def test_a_claim_whose_holder_died_or_went_silent_is_stale(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    orphan = tmp_path / ".claim-orphan"
    orphan.write_text(json.dumps({"host": claims.socket.gethostname(),
                                  "pid": int(dead.stdout), "since": 0}))
    assert is_stale(orphan)
    elsewhere = tmp_path / ".claim-elsewhere"       # another host: judged by its heartbeat
    elsewhere.write_text(json.dumps({"host": "some-other-host", "pid": 1, "since": 0}))
    assert not is_stale(elsewhere)
    old = time.time() - claims.STALE_S - 1
    os.utime(elsewhere, (old, old))
    assert is_stale(elsewhere)


def test_the_holder_keeps_its_claim_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "HEARTBEAT_S", 0.05)
    path = tmp_path / ".claim-beat"
    with Claim.take(path):
        old = time.time() - 1000
        os.utime(path, (old, old))
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 10


def test_two_sweeps_on_one_folder_compute_a_cell_once(tmp_path, monkeypatch):
    import importlib

    from plasticity_sim import sweep as sweep_module

    train_module = importlib.import_module("plasticity_sim.backends.torch.train")

    monkeypatch.setattr(sweep_module, "CLAIM_WAIT_S", 0.05)
    calls = []
    real = train_module.train

    def counted(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)                               # the other sweep arrives meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train", counted)
    spec = {"title": "t", "grammar": {"v": 4, "n_classes": 4, "m": 4, "s": 2, "L": 2},
            "grid": {"rule": ["bp"], "P": [16], "width": [4]},
            "run": {"seeds": [0], "n_test": 20, "n_val": 20, "epochs": 1}}
    cell = build_experiment(spec).cells[0]
    paths = []
    workers = [threading.Thread(target=lambda: paths.append(sweep_module.run_cell(cell, tmp_path)))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(calls) == 1 and len(paths) == 2 and paths[0] == paths[1]
    assert not list(tmp_path.glob(".claim-*"))
