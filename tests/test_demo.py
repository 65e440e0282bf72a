from click.testing import CliRunner

from plasticity_sim.cli import main


def test_demo_writes_a_stream_that_replays(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--out", str(tmp_path / "d")], catch_exceptions=False)
    assert result.exit_code == 0
    assert "replayed from disk identically: True" in result.output
    assert "overlap with the training set: 0" in result.output
    assert (tmp_path / "d" / "stream.nc").exists()
