"""The README's Python examples run as written, in order, in one namespace (as a reader would
paste them), and its links point at files that exist."""

import re
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "experiments" / "README.md",
         ROOT / "benchmarks" / "README.md"]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 6, "the five common jobs and the xarray example each have Python"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").symlink_to(ROOT / "models")
    namespace: dict = {}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
        except Exception as error:  # name the block, so a broken example is found at once
            pytest.fail(f"README python block {i + 1} failed: {error!r}\n{block}")
    assert (tmp_path / "dfa_curves.png").stat().st_size > 0
    assert namespace["check"].passed
    assert set(namespace["acc"].rule.values) == {"bp", "dfa"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_exist(page):
    """No page links to a file that is not in the repository (nor outside it)."""
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path = (page.parent / target).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"
        assert ROOT in path.parents or path == ROOT, f"{page.name} links outside the repository: {target}"
