"""The neuromodulator-timing protocol: a pairing, then the rule's third factor at a delay,
on one synapse, against the sums derived by hand."""

from pathlib import Path

import numpy as np
import pytest
from brian2 import ms, second

from plasticity_sim import ParameterError, Rule
from plasticity_sim.analysis.neuromodulation import neuromodulator_timing
from plasticity_sim.analysis.protocol_files import load_protocol, run_protocol
from plasticity_sim.rules import get_rule

ROOT = Path(__file__).parents[1]
TAU = 4.0
# dw = M elig, elig a trace of r_post r_pre; M the broadcast third factor (no baseline)
TRACE = Rule("trace", hidden="", output="delta = err : 1", family="hebbian",
             broadcast="M = layer_sum(target * p)", third_factor="M",
             synapse_state="delig/dt = -elig / tau + r_post * r_pre", update="M_post * elig",
             params={"tau": TAU}, state_init={"elig": 0.0})


def test_the_trace_carries_the_pairing_to_a_later_modulator():
    # 1 presentation (100 ms) of pairing at x = 1 (10 Hz / 10 Hz) with the cell held at
    # r = 1, then 3 presentations of M = 1 from the delay on: after the pairing elig = r x
    # decays by (1 - 1/tau) per presentation, and the update reads the trace as it was
    delays = np.array([-0.5, 0.0, 0.1, 0.3, 1.0])
    ds = neuromodulator_timing(TRACE, delays, tau_w=0.1, presentation=0.1,
                               pairing_duration=0.1, pulse_duration=0.3)
    decay = 1 - 1 / TAU
    expected = []
    for d in np.round(delays / 0.1).astype(int):
        steps = [n for n in range(d, d + 3) if n >= 1]  # elig is 0 up to the pairing's end
        expected.append(sum(decay ** (n - 1) for n in steps))
    np.testing.assert_allclose(ds.relative_change.values, expected, rtol=1e-9, atol=1e-12)
    assert ds.relative_change.sel(delay=-0.5) == 0  # a modulator before the pairing: nothing


def test_without_a_trace_only_a_coincident_third_factor_counts():
    ds = neuromodulator_timing(get_rule("dfa"), [-1.0, 0.0, 0.3, 1.0])
    change = ds.relative_change.values
    assert change[1] != 0 and (change[[0, 2, 3]] == 0).all()


def test_a_rule_without_a_third_factor_changes_by_the_pairing_alone():
    ds = neuromodulator_timing(get_rule("bcm"), [-1.0, 0.0, 1.0])
    assert ds.attrs["third_factor"] == ""
    # the run starts at the earliest delay (-1 s: 10 silent presentations, in which BCM's
    # theta relaxes from 1 towards 0 at eps = 0.01), then one presentation of pairing at
    # x = 1 with the cell held at r = 1: dw = r (r - theta) x, times 0.1 s / tau_w (100 s)
    theta = 0.99 ** 10
    np.testing.assert_allclose(ds.relative_change.values, (1 - theta) * 0.1 / 100.0, rtol=1e-12)


def test_units_survive_and_ms_equals_s():
    a = neuromodulator_timing(TRACE, [0.1, 0.5], presentation=0.1, tau_w=10.0)
    b = neuromodulator_timing(TRACE, [100 * ms, 500 * ms], presentation=100 * ms,
                              tau_w=10 * second)
    np.testing.assert_allclose(a.relative_change, b.relative_change, rtol=1e-12)
    assert a.delay.attrs["units"] == "s" and a.relative_change.attrs["units"] == "1"


def test_the_committed_protocol_file_runs_the_model_file_rule():
    ds = run_protocol(load_protocol(ROOT / "experiments/protocols/neuromodulator_timing.toml"))
    assert list(ds.rule.values) == ["dfa", "bcm", "reward_hebb"]
    reward = ds.relative_change.sel(rule="reward_hebb")
    assert reward.sel(delay=0.3) > 0 and reward.sel(delay=1.0) > 0  # bridged by the trace
    assert abs(float(reward.sel(delay=5.0))) < 1e-3 * float(reward.max())  # forgotten


@pytest.mark.parametrize("kwargs, parameter", [
    (dict(delays=[1.0, 0.0]), "delays"),
    (dict(presentation=0.0), "presentation"),
    (dict(pulse_duration=5 * ms * ms), "pulse_duration"),
])
def test_bad_settings_are_refused_by_name(kwargs, parameter):
    with pytest.raises(ParameterError) as err:
        neuromodulator_timing(TRACE, **{"delays": [0.0], **kwargs})
    assert err.value.parameter == parameter
