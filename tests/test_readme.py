"""The README as a newcomer reads it: its first two commands, its links, and every Python block
marked `<!-- runs-as-written: ... -->` run as written in a fresh workspace (issue 15.3, 15.8)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MARKER = "<!-- runs-as-written: tests/test_readme.py -->"
_BLOCK = re.compile(re.escape(MARKER) + r"\n```python\n(.*?)\n```", re.DOTALL)


def marked_blocks() -> dict[str, str]:
    """Section title -> code of each marked block (numbered when a section has several)."""
    blocks: dict[str, str] = {}
    for match in _BLOCK.finditer(README):
        titles = re.findall(r"^#+ (.+)$", README[: match.start()], re.MULTILINE)
        title = titles[-1] if titles else "top"
        name, n = title, 2
        while name in blocks:
            name, n = f"{title} ({n})", n + 1
        blocks[name] = match.group(1)
    return blocks


BLOCKS = marked_blocks()


def test_the_readme_marks_its_whole_programs() -> None:
    assert README.count(MARKER) == len(BLOCKS)  # every marker sits right before a block
    expected = {"Tracking in five lines", "Versioned data", "Pipelines", "Models", "Tuning"}
    assert expected <= set(BLOCKS), sorted(BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize("section", sorted(BLOCKS))
def test_marked_block_runs_as_written(section: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    init = subprocess.run([sys.executable, "-m", "loopml", "init"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert init.returncode == 0, init.stderr
    script = tmp_path / "snippet.py"
    script.write_text(BLOCKS[section] + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, f"{section}:\n{done.stderr[-3000:]}"


def test_the_readme_starts_with_the_two_commands() -> None:
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.DOTALL)[:2]
    assert commands == [
        "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/loopml demo",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest",
    ]
    assert README.index(commands[1]) < README.index("\n---\n")  # before anything else
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == commands[1]


def test_the_readme_links_only_inside_the_repository() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    assert "docs/DESIGN.md" in links
    for link in links:
        assert "://" not in link and not link.startswith(("/", "mailto:")), link
        target = (ROOT / link.split("#", 1)[0]).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), link


def test_the_design_document_is_in_the_repository() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    for section in ("## Layers", "## Principles", "## Domain model", "## User surface"):
        assert section in design
    # The layer table names every package of the import-linter contract.
    contract = (ROOT / "pyproject.toml").read_text()
    layers = re.search(r"layers = \[(.*?)\]", contract, re.DOTALL)
    assert layers
    for package in re.findall(r"[a-z]+", layers.group(1)):
        assert f"`{package}`" in design, package
