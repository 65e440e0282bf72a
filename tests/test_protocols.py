"""Induction protocols in physical units on one synapse."""

import numpy as np
import pytest
import xarray as xr
from brian2 import Hz, kHz, ms, second
from click.testing import CliRunner

from plasticity_sim import ParameterError
from plasticity_sim.analysis.protocols import (Synapse, frequency_response, history_protocol,
                                               pairing)
from plasticity_sim.cli import main
from plasticity_sim.rules import get_rule

F = [1, 2, 5, 10, 20, 50] * Hz
N = 900
NU = 10.0  # rate_unit, Hz


def test_bcm_frequency_response_is_the_hand_derived_curve():
    """With the threshold held (tau_state >> the induction) and a small change, BCM gives
    dw = x y (y - theta) T / tau_w, T = N / f, x = f / nu, y = w0 x: depression below
    f = theta nu / w0, none at it, potentiation above."""
    tau_w, w0 = 1e11, 0.8
    syn = Synapse.make(get_rule("bcm"), tau_state=1e15 * second, tau_w=tau_w * second, w0=w0,
                       rate_unit=NU * Hz)
    ds = frequency_response(syn, F, pulses=N)
    f = np.asarray(F / Hz)
    x = f / NU
    y = w0 * x
    expected = x * y * (y - 1.0) * (N / f) / tau_w
    np.testing.assert_allclose(ds.dw.values, expected, rtol=1e-6)
    crossing = 1.0 * NU / w0  # 12.5 Hz
    assert (ds.dw.values[f < crossing] < 0).all() and (ds.dw.values[f > crossing] > 0).all()
    assert 10 < float(ds.crossover) < 20   # between the frequencies that bracket 12.5 Hz


def test_oja_potentiates_below_unit_weight_in_proportion_to_frequency():
    """dw = y (x - y w) = w x^2 (1 - w^2): over N pulses, N f w (1 - w^2) / (nu^2 tau_w)."""
    tau_w, w0 = 1e11, 0.5
    ds = frequency_response(Synapse.make(get_rule("oja"), tau_w=tau_w, w0=w0), F, pulses=N)
    f = np.asarray(F / Hz)
    np.testing.assert_allclose(ds.dw.values, N * f * w0 * (1 - w0**2) / (NU**2 * tau_w),
                               rtol=1e-6)
    at_fixed_point = frequency_response(Synapse.make(get_rule("oja"), w0=1.0), F)
    assert np.abs(at_fixed_point.dw.values).max() < 1e-15  # |w| = 1 is Oja's fixed point


def test_a_deprived_history_lowers_bcm_threshold_and_crossover():
    """Kirkwood, Rioult and Bear 1996: after deprivation the frequency dividing LTD from LTP
    is lower. Here theta relaxes to <r^2> = (rate / nu)^2 over the history."""
    syn = Synapse.make(get_rule("bcm"), tau_state=3600 * second)
    ds = history_protocol(syn, [0.5, 1, 2, 3, 5, 10, 20, 50] * Hz,
                          {"deprived": 3 * Hz, "normal": 10 * Hz}, history_duration=48 * 3600 * second)
    theta = ds.theta_at_induction.values
    np.testing.assert_allclose(theta, [(3 / NU) ** 2, (10 / NU) ** 2], rtol=1e-6)
    deprived, normal = ds.crossover.values
    assert deprived < normal
    assert normal == pytest.approx(10.0, rel=0.05)   # theta = 1, w0 = 1: y = theta at 10 Hz
    assert 0.5 < deprived < 1.0                       # theta = 0.09: y = theta at 0.9 Hz


def test_a_protocol_in_ms_equals_the_same_protocol_in_s_and_units_are_recorded():
    rule = get_rule("bcm")
    in_s = frequency_response(Synapse.make(rule, tau_state=600 * second, tau_w=3600 * second),
                              F, history_rate=5 * Hz, history_duration=7200 * second)
    in_ms = frequency_response(Synapse.make(rule, tau_state=600_000 * ms, tau_w=3_600_000 * ms),
                               [0.001, 0.002, 0.005, 0.01, 0.02, 0.05] * kHz,
                               history_rate=5 * Hz, history_duration=7_200_000 * ms)
    np.testing.assert_allclose(in_ms.dw.values, in_s.dw.values, rtol=1e-12)
    plain = frequency_response(Synapse.make(rule, tau_state=600, tau_w=3600), np.asarray(F / Hz),
                               history_rate=5, history_duration=7200)   # SI numbers
    np.testing.assert_allclose(plain.dw.values, in_s.dw.values, rtol=1e-12)
    assert in_s.frequency.attrs["units"] == "Hz" and in_s.crossover.attrs["units"] == "Hz"
    assert in_s.dw.attrs["units"] == "1"


@pytest.mark.parametrize("call, name", [
    (lambda: Synapse.make(get_rule("bcm"), tau_state=5 * Hz), "tau_state"),
    (lambda: Synapse.make(get_rule("bcm"), tau_w=-1), "tau_w"),
    (lambda: frequency_response(Synapse.make(get_rule("bcm")), [1, 2] * second), "frequencies"),
    (lambda: frequency_response(Synapse.make(get_rule("bcm")), [2, 1]), "frequencies"),
    (lambda: frequency_response(Synapse.make(get_rule("bcm")), [1, 2], pulses=0), "pulses"),
    (lambda: history_protocol(Synapse.make(get_rule("bcm")), [1, 2], {}, history_duration=1), "histories"),
])
def test_bad_settings_name_the_parameter(call, name):
    with pytest.raises(ParameterError, match=name):
        call()


def test_the_protocols_command_writes_the_dataset_figure_and_table(tmp_path):
    done = CliRunner().invoke(main, ["protocols", "--out", str(tmp_path), "--rule", "bcm",
                                     "--rule", "dfa", "--history-hours", "24"])
    assert done.exit_code == 0, done.output
    assert "| bcm | depression below" in done.output
    assert "| dfa | depression at every frequency" in done.output
    predictions = (tmp_path / "predictions.md").read_text()
    assert "| dfa | the output error | no change (`fb`) | depression at every frequency | no |" \
        in predictions
    assert "| bcm | a memory of 100 presentations | no third factor | depression below" in predictions
    assert "yes; after deprivation" in predictions.split("| bcm |")[1]
    ds = xr.load_dataset(tmp_path / "protocols.nc")
    assert ds.relative_change.dims == ("rule", "history", "frequency")
    assert np.isnan(ds.theta_at_induction.sel(rule="dfa")).all()  # BCM's own state only
    assert (tmp_path / "frequency_response.png").exists() and (tmp_path / "pairing.png").exists()
    assert ds.pairing_change.dims == ("rule", "post_rate")
    bad = CliRunner().invoke(main, ["protocols", "--out", str(tmp_path), "--pulses", "0"])
    assert bad.exit_code == 2 and "pulses" in bad.output


def test_the_shape_of_a_response_names_every_sign_change():
    from plasticity_sim.analysis.protocols import response_shape

    f = np.array([1, 2, 5, 10, 20.0])
    assert response_shape(f, np.array([-1, -1, 0, 1, 1.0])) == \
        "depression below 5 Hz, potentiation above 5 Hz"
    assert response_shape(f, np.array([-1, 1, 1, -1, -2.0])) == \
        "depression below 1.4 Hz, potentiation from 1.4 to 7.1 Hz, depression above 7.1 Hz"
    assert response_shape(f, np.zeros(5)) == "no change"
    assert response_shape(f, np.ones(5)) == "potentiation at every frequency"


def test_pairing_turns_bcm_from_depression_to_potentiation_at_its_threshold():
    """The post-synaptic rate is the depolarization's plus the pathway's own (w x): with
    theta = 1 (10 Hz) and 1 Hz pre-synaptic pulses (x = 0.1, w = 1), BCM depresses while
    the depolarization alone gives less than 9 Hz and potentiates above; DFA's sign is its
    error's at every depolarization."""
    post = [2, 5, 8.5, 9.5, 20, 50] * Hz
    bcm = pairing(Synapse.make(get_rule("bcm"), tau_state=1e15), post, pre_rate=1 * Hz)
    change = bcm.pairing_change.values
    assert (change[:3] < 0).all() and (change[3:] > 0).all()
    assert bcm.post_rate.attrs["units"] == "Hz" and bcm.pairing_change.attrs["units"] == "1"
    dfa = pairing(Synapse.make(get_rule("dfa")), post).pairing_change.values
    assert (dfa < 0).all() and np.allclose(dfa, dfa[0])
    with pytest.raises(ParameterError, match="pre_rate"):
        pairing(Synapse.make(get_rule("bcm")), post, pre_rate=0)


def test_the_command_defaults_are_the_synapse_defaults():
    from plasticity_sim.analysis import protocols as p

    params = {param.name: param.default for param in main.commands["protocols"].params}
    assert params["tau_w"] == p.Synapse.tau_w and params["tau_state"] == p.Synapse.tau_state
    assert params["rate_unit"] == p.Synapse.rate_unit and params["w0"] == p.Synapse.w0
    assert params["history_hours"] * 3600 == p.HISTORY_DURATION


# --- protocols as experiment files ------------------------------------------------------------
PROTOCOL_FILES = ["frequency_response", "rate_history", "pairing"]


def write(tmp_path, text, name="p.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", PROTOCOL_FILES)
def test_the_committed_protocol_files_run_with_units(name, tmp_path):
    from plasticity_sim.analysis.protocol_files import load_protocol, run_protocol

    spec = load_protocol(f"experiments/protocols/{name}.toml")
    ds = run_protocol(spec)
    assert ds.sizes["rule"] > 10 and "bcm" in ds.rule.values
    for var in ds.data_vars:
        assert "units" in ds[var].attrs, var
    axis = "post_rate" if name == "pairing" else "frequency"
    assert ds[axis].attrs["units"] == "Hz"


def test_a_protocol_file_in_ms_and_khz_equals_one_in_s_and_hz(tmp_path):
    from plasticity_sim.analysis.protocol_files import load_protocol, run_protocol

    common = 'kind = "rate_history"\nrules = ["bcm", "oja"]\n'
    in_s = write(tmp_path, common + '[synapse]\ntau_state = "3600 s"\ntau_w = 36000\n'
                 '[stimulus]\nfrequencies = ["1 Hz", "10 Hz", "50 Hz"]\npulses = 900\n'
                 'histories = { deprived = "3 Hz" }\nhistory_duration = "48 h"\n', "s.toml")
    in_ms = write(tmp_path, common + '[synapse]\ntau_state = "60 min"\ntau_w = "36000000 ms"\n'
                  '[stimulus]\nfrequencies = ["0.001 kHz", "0.01 kHz", "0.05 kHz"]\npulses = 900\n'
                  'histories = { deprived = "0.003 kHz" }\nhistory_duration = "172800000 ms"\n',
                  "ms.toml")
    a, b = run_protocol(load_protocol(in_s)), run_protocol(load_protocol(in_ms))
    np.testing.assert_allclose(a.dw.values, b.dw.values, rtol=1e-12)
    # the deprived history lowered BCM's threshold to (3 / 10)^2, as the API gives it
    assert float(a.theta_at_induction.sel(rule="bcm", history="deprived")) == \
        pytest.approx(0.09, rel=1e-3)
    assert np.isnan(float(a.theta_at_induction.sel(rule="oja", history="deprived")))


def test_the_rate_history_file_moves_bcm_crossover_down_after_deprivation():
    from plasticity_sim.analysis.protocol_files import load_protocol, run_protocol

    ds = run_protocol(load_protocol("experiments/protocols/rate_history.toml"))
    bcm = ds.crossover.sel(rule="bcm")
    assert float(bcm.sel(history="deprived")) < 1.0 < float(bcm.sel(history="normal"))


@pytest.mark.parametrize("text, name", [
    ('kind = "theta_burst"\n', "kind"),
    ('kind = "pairing"\ncolour = 1\n', "protocol file"),
    ('kind = "pairing"\n[stimulus]\nfrequencies = ["1 Hz"]\n', "stimulus"),
    ('kind = "pairing"\n[stimulus]\npost_rates = ["1 ms"]\n', "post_rates"),
    ('kind = "pairing"\n[synapse]\ntau_w = "10 furlongs"\n', "tau_w"),
    ('kind = "pairing"\n[synapse]\ntau_w = true\n', "tau_w"),
    ('kind = "frequency_response"\n[stimulus]\nfrequencies = [10, 5]\n', "frequencies"),
])
def test_a_bad_protocol_file_is_one_error_naming_the_setting(text, name, tmp_path):
    from plasticity_sim.analysis.protocol_files import load_protocol, run_protocol

    with pytest.raises(ParameterError) as info:
        run_protocol(load_protocol(write(tmp_path, text)))
    assert info.value.parameter == name


def test_the_protocols_command_runs_a_file_and_refuses_options_next_to_it(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["protocols", "experiments/protocols/pairing.toml",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = xr.load_dataset(out / "pairing.nc")
    assert ds.pairing_change.attrs["units"] == "1" and (out / "pairing.png").exists()
    result = CliRunner().invoke(main, ["protocols", "experiments/protocols/pairing.toml",
                                       "--out", str(out), "--pulses", "10"])
    assert result.exit_code != 0 and "--pulses: a protocol file sets" in result.output
