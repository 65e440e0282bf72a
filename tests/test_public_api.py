"""The package's public face: what a script imports from the top level, the trained state
a run returns, and a StateMonitor that records any neuron variable during training."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import plasticity_sim as ps
from plasticity_sim import ParameterError
from tests.test_packing import NoFollower  # stopped members stay in, frozen



def grammar():
    return ps.Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)


def test_every_top_level_name_resolves_and_the_import_stays_light():
    for name in ps.__all__:
        assert getattr(ps, name) is not None, name
    code = "import sys, plasticity_sim; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    with pytest.raises(AttributeError, match="no attribute 'Trainz'"):
        ps.Trainz  # noqa: B018


def test_train_returns_the_trained_state_and_it_is_the_evaluated_network(tmp_path):
    model = ps.Model.for_rule("bp", width=8, epochs=3, batch_size=16)
    rec = ps.train(model, grammar(), 64, [0, 1], n_test=0, n_val=50, probes=False, quiet=True)
    assert set(rec.state) >= {"s0_w", "s1_w", "s2_w", "s3_w"}
    assert rec.state["s0_w"].shape[0] == 2
    # the state is the network the readout accuracy was measured on
    trainer = ps.Trainer(model, grammar(), [0, 1])
    for name in trainer.S:
        trainer.S[name] = torch.as_tensor(rec.state[name], dtype=trainer.dtype)
    from plasticity_sim.backends.torch.data import TrainingData

    data = TrainingData(trainer, 64, n_test=0, n_val=50)
    val = trainer.encode(data.vals)
    ds = rec.to_dataset()
    np.testing.assert_array_equal(trainer.evaluate(*val)[0], ds.readout_val_accuracy.values)
    state = rec.state_dataset()
    path = tmp_path / "weights.nc"
    ps.write_dataset(state, path)
    back = ps.open_dataset(path)
    np.testing.assert_array_equal(back.s0_w.values, rec.state["s0_w"])
    assert back.s0_w.dims[0] == "seed" and list(back.seed.values) == [0, 1]


def test_a_state_monitor_records_rates_every_n_steps_as_the_network_computes_them():
    model = ps.Model.for_rule("dfa", width=8, epochs=2, batch_size=8)
    monitor = ps.StateMonitor(["r", "delta"], every=3, populations=[1, 3])
    rec = ps.train(model, grammar(), 48, [0, 1], n_test=0, n_val=20, probes=False, quiet=True,
                   monitors=[monitor])
    ds = rec.to_dataset()
    steps = ds.state_step.values
    assert steps.tolist() == list(range(0, 12, 3))  # 6 steps per epoch, 2 epochs
    r1 = ds.state_r_p1
    assert r1.dims == ("seed", "state_step", "p1_position", "p1_unit") and r1.shape == (2, 4, 4, 8)
    assert ds.state_delta_p3.shape == (2, 4, 1, 8)
    assert (r1.values >= 0).all() and np.isfinite(r1.values).all()  # ReLU rates
    # the first record is the untrained network's rates on the first presentation it learns from
    trainer = ps.Trainer(model, grammar(), [0, 1])
    from plasticity_sim.backends.torch.data import TrainingData

    batch = next(TrainingData(trainer, 48, n_test=0, n_val=20).batches(0, 8))
    _, _, state = trainer.signals(batch, True)
    np.testing.assert_allclose(r1.values[:, 0], state["p1_r"][:, 0].double().numpy(), rtol=1e-6)


@pytest.mark.parametrize("kwargs, name", [
    (dict(variables=[]), "variables"), (dict(every=0), "every"),
    (dict(reduce="max"), "reduce"), (dict(populations=[9]), "populations"),
    (dict(variables=["voltage"]), "variables"),
])
def test_a_bad_state_monitor_names_the_setting(kwargs, name):
    model = ps.Model.for_rule("bp", width=8, epochs=1, batch_size=8)
    with pytest.raises(ParameterError) as info:
        ps.train(model, grammar(), 16, [0], n_test=0, n_val=10, probes=False, quiet=True,
                 monitors=[ps.StateMonitor(**kwargs)])
    assert info.value.parameter == name


def test_a_state_monitor_averages_the_minibatch_and_blanks_stopped_members():
    model = ps.Model.for_rule("dfa", width=8, epochs=6, batch_size=8, patience=1)

    monitor = ps.StateMonitor("r", every=1, populations=[2], reduce="mean")
    rec = ps.train(model, grammar(), 48, [0, 1, 2], n_test=0, n_val=20, probes=False,
                   quiet=True, monitors=[monitor, NoFollower()], lr=[0.005, 5.0, 0.005],
                   on_divergence="mask")
    ds = rec.to_dataset()
    trainer = ps.Trainer(model, grammar(), [0, 1, 2], lr=[0.005, 5.0, 0.005])
    from plasticity_sim.backends.torch.data import TrainingData

    batch = next(TrainingData(trainer, 48, n_test=0, n_val=20).batches(0, 8))
    _, _, state = trainer.signals(batch, True)
    np.testing.assert_allclose(ds.state_r_p2.values[:, 0],
                               state["p2_r"][:, :batch.n].mean(1).double().numpy(), rtol=1e-6)
    # a member that stopped before the others is blank (NaN) from its stop on
    stopped = ds.epochs_trained.values
    assert len(set(stopped.tolist())) > 1, stopped  # the runs stop at different epochs
    first = int(np.argmin(stopped))
    after = ds.state_presentation.values >= stopped[first] * 48
    assert np.isnan(ds.state_r_p2.values[first][after]).all()
    assert np.isfinite(ds.state_r_p2.values[first][~after]).all()


def test_a_rule_needs_no_summary_and_takes_its_equations_by_keyword():
    rule = ps.Rule("hebb", hidden="", output="delta = err : 1", update="r_post * r_pre")
    assert rule.summary == ""
    assert ps.Rule.from_dict(rule.to_dict()) == rule
    with pytest.raises(TypeError):  # positional equations would be read in the wrong slots
        ps.Rule("hebb", "", "delta = err : 1", "r_post * r_pre")


def test_every_public_class_and_function_is_documented():
    import inspect

    undocumented = []
    for name in ps.__all__:
        obj = getattr(ps, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        doc = obj.__doc__ or ""
        if not doc.strip() or doc.startswith(f"{obj.__name__}("):  # a dataclass's own signature
            undocumented.append(name)
        if inspect.isclass(obj):  # its own public methods and properties
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                member = member.fget if isinstance(member, property) else member
                member = getattr(member, "__func__", member)
                if inspect.isfunction(member) and not member.__doc__:
                    undocumented.append(f"{name}.{attr}")
    assert not undocumented, f"without a docstring: {undocumented}"
