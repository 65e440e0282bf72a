import numpy as np
import pytest
from click.testing import CliRunner

from plasticity_sim import ParameterError
from plasticity_sim.backends.torch.train import train
from plasticity_sim.cli import main, parse_seeds
from plasticity_sim.io import open_dataset
from plasticity_sim.model import Model
from plasticity_sim.rhm import Grammar
from plasticity_sim.rules import BP, get_rule
from plasticity_sim.rules.rule import Rule

MODELS = __import__("pathlib").Path(__file__).parents[1] / "models"
G = Grammar(v=4, n_classes=4, m=4, s=2, L=3, seed=0)
GRAMMAR = ["--v", "4", "--classes", "4", "--m", "4", "--s", "2", "--L", "3"]


@pytest.mark.parametrize("path", sorted(MODELS.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_model_file_loads_and_trains(path):
    model = Model.from_toml(path).replace(width=8, epochs=2)
    ds = train(model, G, 32, [0], n_test=50, quiet=True).to_dataset()
    assert np.isfinite(ds.train_loss.values).all()
    assert ds.attrs["rule"] == model.rule.name


def test_a_rule_written_in_a_model_file_runs_like_the_library_rule(tmp_path):
    text = f'''
[model]
rule = "my_bp"
width = 8
[training]
epochs = 3
[rule]
name = "my_bp"
hidden = "{BP.hidden}"
output = "{BP.output}"
update = "{BP.update}"
[[rule.pathways]]
name = "fb"
route = "transpose"
expr = "w * delta_post"
'''
    (tmp_path / "m.toml").write_text(text)
    mine = Model.from_toml(tmp_path / "m.toml")
    library = Model.for_rule("bp", width=8, epochs=3, lr=mine.at(G).training.lr)
    a = train(mine, G, 32, [1], n_test=50, dtype="float64", quiet=True).to_dataset()
    b = train(library, G, 32, [1], n_test=50, dtype="float64", quiet=True).to_dataset()
    assert np.array_equal(a.train_loss.values, b.train_loss.values)


@pytest.mark.parametrize("text, message", [
    ('[model]\narch = "cnn"', "needs `rule`"),
    ('[model]\nrule = "bp"\ncolour = 1', "unknown \\[model\\] keys"),
    ('[model]\nrule = "bp"\n[training]\nlearning_rate = 1', "unknown \\[training\\] keys"),
    ('[model]\nrule = "bp"\n[extras]\na = 1', "unknown sections"),
    ('[model]\nrule = "x"\n[rule]\nname = "y"\nhidden = "d = a"\noutput = "d = err"\nupdate = "-d_post"',
     "defines 'y'"),
    ('[model]\nrule = "x"\n[rule]\nname = "x"\nhidden = "d = a"\noutput = "d = err"\nupdate = "-d_post * r_pre"\n'
     'wrong = 1', "unknown fields"),
    ('[model\nrule = "bp"', "m.toml"),
])
def test_bad_model_files_give_one_clear_error(tmp_path, text, message):
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(ParameterError, match=message):
        Model.from_toml(tmp_path / "m.toml")


@pytest.mark.parametrize("update, message", [
    ("-delta_post * r_pre * exp(w * r_pre)", "mixes"),
    ("-delta_post * q_pre", "unknown variable 'q_pre'"),
])
def test_rules_whose_update_cannot_run_are_refused_when_compiled(update, message):
    from plasticity_sim.backends.torch.codegen import CompiledNetwork
    from plasticity_sim.rules import Rule

    rule = Rule("bad", hidden=BP.hidden, output=BP.output, update=update, pathways=BP.pathways)
    with pytest.raises(ParameterError, match=message):
        CompiledNetwork(Model(rule=rule).architecture(G), rule, Model(rule=rule).neuron)


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,4,9") == [1, 4, 9]
    assert parse_seeds("2") == [2]
    for bad in ("", "a-b", "-1"):
        with pytest.raises(ParameterError, match="seeds"):
            parse_seeds(bad)


def test_train_command_writes_the_recording(tmp_path):
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(main, ["train", "--rule", "dfa", "--width", "8", *GRAMMAR, "--P", "64",
                                       "--seeds", "0-2", "--epochs", "3", "--n-test", "100",
                                       "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ds = open_dataset(out)
    assert ds.test_accuracy.dims == ("seed",) and ds.sizes["seed"] == 3
    assert ds.train_loss.dims == ("seed", "epoch") and ds.sizes["epoch"] == 3
    assert ds.attrs["rule"] == "dfa" and ds.attrs["backend"] == "torch"
    assert '"width": 8' in ds.attrs["config"] and ds.test_accuracy.attrs["long_name"]
    assert "test accuracy" in result.output


def test_train_command_with_a_model_file(tmp_path):
    out = tmp_path / "r.nc"
    result = CliRunner().invoke(main, ["train", "--model", str(MODELS / "dfa_cnn.toml"), "--width", "8",
                                       *GRAMMAR, "--P", "32", "--epochs", "2", "--n-test", "50",
                                       "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert open_dataset(out).attrs["rule"] == "dfa"


@pytest.mark.parametrize("args, message", [
    (["--rule", "nope"], "error: rule: must be one of bp, fa"),
    ([], "error: model: give exactly one of --model FILE and --rule NAME"),
    (["--rule", "bp", "--width", "-3"], "error: width: must be >= 1"),
    (["--rule", "bp", "--seeds", "x"], "error: seeds:"),
    (["--rule", "bp", "--lr", "0"], "error: lr: must be > 0"),
])
def test_train_command_bad_input(tmp_path, args, message):
    result = CliRunner().invoke(main, ["train", *args, *GRAMMAR, "--P", "16", "--epochs", "1",
                                       "--out", str(tmp_path / "r.nc"), "--quiet"])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_a_user_rule_never_inherits_a_library_rules_defaults_by_its_name():
    from plasticity_sim.model import FALLBACK_LR, default_lr
    from plasticity_sim.rules.registry import is_library_rule

    g = Grammar(v=4, n_classes=4, m=4, s=2, L=3)
    lpl = get_rule("lpl")
    mine = Rule(**{**lpl.to_kwargs(), "update": "2 * delta_post * r_pre"})  # same name
    assert is_library_rule(lpl) and is_library_rule(lpl.with_params(push=0.1))
    assert not is_library_rule(mine)
    theirs, ours = Model.for_rule(lpl).at(g), Model.for_rule(mine).at(g)
    assert theirs.training.optimizer == "adam" and theirs.training.lr == default_lr("lpl", 3)
    assert ours.training.optimizer == "sgd" and ours.training.lr == FALLBACK_LR
    # a library rule with a parameter changed keeps its defaults
    assert Model.for_rule(lpl.with_params(push=0.1)).training.optimizer == "adam"
