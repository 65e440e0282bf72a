import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from click.testing import CliRunner

from plasticity_sim.cli import main
from plasticity_sim.rhm import Grammar, Samples, samples_from_dataset

GRAMMAR = ["--v", "4", "--classes", "4", "--m", "4", "--s", "2", "--L", "3", "--seed", "3"]


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_describe_prints_sizes_and_productions():
    result = run(["rhm", *GRAMMAR, "--describe"])
    assert result.exit_code == 0
    assert "n_inputs = n_classes * m^((s^L-1)/(s-1)) = 65536" in result.output
    assert "n_classes * m^L = 256" in result.output
    assert result.output.count("productions level") == 3


def test_writes_distinct_samples_with_every_latent(tmp_path):
    out = tmp_path / "s.nc"
    result = run(["rhm", *GRAMMAR, "--n", "500", "--sample-seed", "9", "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = xr.load_dataset(out)
    assert ds["tokens"].shape == (500, 8) and ds["label"].shape == (500,)
    assert [ds[f"latent_{l}"].shape[1] for l in range(4)] == [1, 2, 4, 8]
    assert np.array_equal(ds["latent_3"], ds["tokens"])
    assert np.array_equal(ds["latent_0"][:, 0], ds["label"])
    assert len(np.unique(ds["index"])) == 500
    for attr, value in dict(v=4, n_classes=4, m=4, s=2, L=3, seed=3, sample_seed=9).items():
        assert ds.attrs[attr] == value
    assert ds.attrs["n_inputs"] == "65536"
    smp = samples_from_dataset(ds)
    assert isinstance(smp, Samples) and np.array_equal(smp.tokens, ds["tokens"].values)


def test_all_writes_every_input_and_views_share_latents(tmp_path):
    out = tmp_path / "all.nc"
    args = ["rhm", "--v", "3", "--classes", "2", "--m", "2", "--s", "2", "--L", "2",
            "--all", "--views", "1", "--one-hot", "--out", str(out)]
    assert run(args).exit_code == 0
    ds = xr.load_dataset(out)
    assert sorted(ds["index"].values.tolist()) == list(range(16))
    assert np.array_equal(ds["latent_1"], ds["latent_1_view"])
    assert np.array_equal(ds["label"], ds["label_view"])
    assert ds["x"].shape == (16, 3, 4) and np.array_equal(ds["x"].sum("channel"), np.ones((16, 4)))


def test_huge_grammar_all_is_refused_with_one_line(tmp_path):
    result = CliRunner().invoke(main, ["rhm", "--v", "32", "--classes", "32", "--m", "32", "--s",
                                       "2", "--L", "4", "--all", "--out", str(tmp_path / "a.nc")])
    assert result.exit_code == 2
    assert "error: n_inputs: enumeration is limited to 10000000" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "a.nc").exists()


def test_huge_grammar_samples_are_written_with_index_as_text(tmp_path):
    out = tmp_path / "h.nc"
    args = ["rhm", "--v", "32", "--classes", "32", "--m", "32", "--s", "2", "--L", "4", "--n", "50",
            "--out", str(out)]
    assert run(args).exit_code == 0
    ds = xr.load_dataset(out)
    assert ds.attrs["n_inputs"] == str(2**80) and ds.attrs["sampling_method"] == "rejection"
    assert "index" not in ds


@pytest.mark.parametrize("args, message", [
    (["--v", "3", "--classes", "2", "--m", "4", "--s", "2", "--L", "2"], "error: m: must be <= v**(s-1) = 3"),
    (["--v", "4", "--classes", "5", "--m", "4", "--s", "2", "--L", "2"], "error: n_classes: must be <= v**s // m = 4"),
    (["--v", "4", "--classes", "2", "--m", "2", "--s", "1", "--L", "2"], "error: s: must be >= 2"),
    ([*GRAMMAR, "--n", "10"], "error: out: is needed"),
    ([*GRAMMAR, "--out", "x.nc"], "error: n: give exactly one of --n N and --all"),
    ([*GRAMMAR, "--n", "5", "--out", "x.txt"], "error: out: must end in one of .nc, .zarr"),
    ([*GRAMMAR, "--n", "5", "--views", "9", "--out", "x.nc"], "error: k: must lie in [0, L=3]"),
])
def test_bad_input_gives_one_clear_error(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["rhm", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", [
    ["rhm", *GRAMMAR, "--n", "10", "--out", "{bad}/s.nc"],
    ["train", "--rule", "bp", *GRAMMAR, "--P", "64", "--seeds", "0", "--out", "{bad}/r.nc"],
    ["sweep", "experiments/demo.toml", "--out", "{bad}/sweep"],
    ["plot", "{good}", "--out", "{bad}/figures"],
    ["virtual", "--rule", "bp", "--out", "{bad}/virtual"],
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, command):
    blocker = tmp_path / "a_file"              # a folder cannot be made inside a file
    blocker.write_text("")
    good = tmp_path / "good.nc"
    xr.Dataset({"x": ("a", [1.0])}).to_netcdf(good)
    args = [a.format(bad=blocker, good=good) for a in command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "error: out: cannot write" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "good.nc"]


def test_a_file_that_is_not_a_dataset_or_a_model_is_one_clear_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a dataset")
    good = tmp_path / "good.nc"
    xr.Dataset({"x": ("a", np.arange(1000.0))}).to_netcdf(good, engine="h5netcdf")
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(good.read_bytes()[:1000])
    for path in (text, truncated):
        result = CliRunner().invoke(main, ["plot", str(path), "--out", str(tmp_path / "fig")])
        assert result.exit_code == 2 and "is not a readable netCDF or zarr dataset" in result.output
    result = CliRunner().invoke(main, ["rules", "--model", str(good)])   # binary, not TOML
    assert result.exit_code == 2 and "is not a TOML model file" in result.output


@pytest.mark.parametrize("k, levels", [("layer", "2 1 1"), ("2,1,0", "2 1 0"), ("1", "1 1 1")])
def test_train_takes_per_layer_view_levels(k, levels, tmp_path):
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(main, ["train", "--rule", "clapp", "--pairs", "views", "--k", k,
                                       "--negatives", "1", *GRAMMAR, "--P", "60", "--seeds", "0",
                                       "--epochs", "1", "--width", "4", "--n-test", "20",
                                       "--no-probes", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert xr.load_dataset(out).attrs["view_levels"] == levels


def test_a_bad_view_level_is_one_clear_error():
    result = CliRunner().invoke(main, ["train", "--rule", "clapp", "--pairs", "views", "--k",
                                       "two", *GRAMMAR, "--P", "60", "--out", "x.nc"])
    assert result.exit_code == 2 and "--k: an integer, 'layer'" in result.output


DEMO = str(Path(__file__).parents[1] / "experiments" / "demo.toml")
SMALL = ["--v", "4", "--classes", "4", "--m", "4", "--s", "2", "--L", "2", "--width", "4",
         "--epochs", "1", "--seeds", "0", "--quiet"]


def test_a_run_without_a_test_set_says_so_instead_of_printing_nan(tmp_path):
    result = CliRunner().invoke(main, ["train", "--rule", "bp", *SMALL, "--P", "64", "--n-val",
                                       "50", "--n-test", "0", "--out", str(tmp_path / "r.nc")])
    assert result.exit_code == 0, result.output
    assert "no test set (--n-test 0); validation accuracy 0." in result.output
    assert "probe validation accuracy by layer" in result.output
    assert "nan" not in result.output


@pytest.mark.parametrize("option, allowed", [
    ("--alignment-every", ">= 0"), ("--plasticity-every", ">= 0"), ("--terms-every", ">= 1"),
    ("--sensitivity-samples", ">= 0"), ("--representation-samples", ">= 0"),
])
def test_negative_step_counts_and_sample_sizes_are_refused(option, allowed, tmp_path):
    result = CliRunner().invoke(main, ["train", "--rule", "bp", *SMALL, "--P", "64", option, "-5",
                                       "--out", str(tmp_path / "r.nc")])
    assert result.exit_code == 2
    name = option.removeprefix("--").replace("-", "_")
    assert f"error: {name}: must be {allowed}; got -5" in result.output
    assert not (tmp_path / "r.nc").exists()


def test_sets_and_p_adjusted_to_the_grammar_are_one_warning_line_each(tmp_path):
    result = CliRunner().invoke(main, ["train", "--rule", "clapp", "--pairs", "views", *SMALL,
                                       "--P", "63", "--n-val", "50", "--n-test", "1000",
                                       "--no-probes", "--out", str(tmp_path / "r.nc")])
    assert result.exit_code == 0, result.output
    assert ("warning: P = 63 is not a multiple of the 2 inputs per tree with pairs = 'views'; "
            "training on P = 62") in result.output
    assert ("warning: n_test = 1000 asked for, but only 144 inputs are left (n_inputs = 256, "
            "minus P = 62 for training and n_val = 50 for validation): testing on n_test = 144"
            ) in result.output
    assert xr.load_dataset(tmp_path / "r.nc").attrs["P"] == 62


@pytest.mark.parametrize("args, message", [
    (["rhm", *GRAMMAR, "--n", "5", "--sample-seed", "-1", "--out", "x.nc"],
     "error: sample_seed: must be >= 0; got -1"),
    (["crosscheck", "--rule", "bp", "--arch", "fc", *GRAMMAR, "--presentations", "2",
      "--target", "numpy", "--tolerance", "-1"], "error: tolerance: must be a number >= 0"),
    (["crosscheck", "--rule", "bp", "--arch", "fc", *GRAMMAR, "--presentations", "2",
      "--target", "cpp_standalone", "--chunk", "0"], "error: chunk: must be >= 1; got 0"),
    (["sweep", DEMO, "--out", "s", "--workers", "0"], "error: workers: must be >= 1; got 0"),
    (["sweep", DEMO, "--out", "s", "--max-members", "0"], "error: max_members: must be >= 1; got 0"),
    (["sweep", DEMO, "--out", "s", "--max-members", "many"],
     "error: max_members: must be a positive integer or 'auto'; got 'many'"),
    (["sweep", DEMO, "--out", "s", "--max-members", "auto", "--scheduler", "tcp://host:1"],
     "error: max_members: 'auto' measures this machine"),
    (["sweep", DEMO, "--out", "s", "--max-extensions", "-1"],
     "error: max_extensions: must be >= 0; got -1"),
])
def test_bad_options_of_every_command_name_themselves(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())  # refused before any work


def test_grammar_options_follow_the_data_names_and_keep_the_old_ones(tmp_path):
    new = CliRunner().invoke(main, ["rhm", "--v", "4", "--n-classes", "4", "--m", "4", "--s",
                                    "2", "--L", "3", "--grammar-seed", "3", "--describe"])
    old = CliRunner().invoke(main, ["rhm", *GRAMMAR, "--describe"])
    assert new.exit_code == 0 and new.output == old.output
    assert "--n-classes, --classes" in CliRunner().invoke(main, ["rhm", "--help"]).output


def test_every_choice_lists_its_values_in_help():
    from plasticity_sim.cli import ACTIVATION_NAMES
    from plasticity_sim.network.activations import ACTIVATIONS

    assert set(ACTIVATION_NAMES) == set(ACTIVATIONS)
    text = " ".join(CliRunner().invoke(main, ["train", "--help"]).output.split())
    for listed in ("bp|fa|", "vicreg_local", "relu|leaky_relu|tanh|sigmoid|linear|softplus",
                   "steady|euler", "cpu, cuda or cuda:N"):
        assert listed in text
    bad = CliRunner().invoke(main, ["train", "--rule", "bpp", *GRAMMAR, "--P", "8", "--out", "x.nc"])
    assert bad.exit_code == 2 and "error: rule: must be one of bp, fa" in bad.output


def test_train_sets_activation_time_model_and_momentum(tmp_path):
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(main, ["train", "--rule", "bp", *GRAMMAR, "--P", "32", "--width",
                                       "8", "--epochs", "1", "--n-val", "20", "--n-test", "20",
                                       "--activation", "tanh", "--momentum", "0.5",
                                       "--time-model", "euler", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    model = json.loads(xr.load_dataset(out).attrs["config"])["model"]
    assert model["neuron"]["activation"] == "tanh" and model["neuron"]["time_model"] == "euler"
    assert model["training"]["momentum"] == 0.5


def test_a_sweep_in_a_log_file_writes_plain_lines_not_a_bar(tmp_path):
    spec = tmp_path / "e.toml"
    spec.write_text('title = "t"\n[grammar]\nv = 4\nn_classes = 4\nm = 4\ns = 2\nL = 2\n'
                    '[grid]\nrule = ["bp"]\nP = [16, 24]\nwidth = [8]\n'
                    '[run]\nseeds = [0]\nn_test = 20\nn_val = 20\nepochs = 1\n')
    result = CliRunner().invoke(main, ["sweep", str(spec), "--out", str(tmp_path / "o"),
                                       "--workers", "1", "--no-plot"])
    assert result.exit_code == 0, result.output
    assert "[1/2] done:" in result.output and "[2/2] done:" in result.output
    assert "\r" not in result.output


def test_sweep_device_overrides_the_files_run_device(tmp_path):
    import torch

    if not torch.cuda.is_available():  # the override reaches the file's check of its device
        result = CliRunner().invoke(main, ["sweep", DEMO, "--out", str(tmp_path / "s"),
                                           "--device", "cuda", "--dry-run"])
        assert result.exit_code == 2 and "[run] device = 'cuda'" in result.output
    result = CliRunner().invoke(main, ["sweep", DEMO, "--out", str(tmp_path / "s"),
                                       "--device", "cpu", "--dry-run", "--where", "rule=bp",
                                       "--where", "P=256"])
    assert result.exit_code == 0, result.output
    assert "cost: at most" in result.output and "on this machine: at most" in result.output


def test_train_goes_on_from_a_snapshot(tmp_path):
    from plasticity_sim.backends.torch.train import train as train_run
    from plasticity_sim.model import Model

    class Stopped(Exception):
        pass

    def stop(progress):
        raise Stopped

    snapshot, out = tmp_path / "run.snapshot", tmp_path / "r.nc"
    with pytest.raises(Stopped):  # the run the command line would make, stopped after epoch 2
        train_run(Model.for_rule("bp", width=8, epochs=3), Grammar(4, 4, 4, 2, 3, seed=3), 32,
                  [0], n_val=20, n_test=20, quiet=True, snapshot=snapshot, snapshot_every=0,
                  on_epoch=lambda p: p.epochs[0][1] == 2 and stop(p))
    args = ["train", "--rule", "bp", *GRAMMAR, "--P", "32", "--width", "8", "--epochs", "3",
            "--n-val", "20", "--n-test", "20", "--out", str(out), "--quiet",
            "--snapshot", str(snapshot)]
    other = CliRunner().invoke(main, [*args[:-5], "--width", "16", *args[-5:]])
    assert other.exit_code == 2 and "snapshot:" in other.output and "differs in: model" in other.output
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    # P = 32: a step an epoch; the stop came before the snapshot of the second epoch
    assert "at training step 1, from a snapshot" in xr.load_dataset(out).attrs["resumed"]
    assert not snapshot.exists()
    bad = CliRunner().invoke(main, [*args, "--snapshot-every", "-1"])
    assert bad.exit_code == 2 and "snapshot_every: must be seconds >= 0" in bad.output
