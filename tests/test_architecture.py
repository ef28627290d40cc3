"""Layer rules (import-linter), and `import loopml` doing no work."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "loopml"


def test_layer_contracts_are_kept() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_every_package_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layered = {
        name.strip()
        for contract in config["contracts"]
        for layer in contract.get("layers", [])
        for name in layer.split("|")
    }
    modules = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules |= {p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_")}
    assert modules <= layered, f"not in any layer: {sorted(modules - layered)}"


def test_import_loopml_loads_nothing_heavy() -> None:
    code = (
        "import sys, loopml; heavy = [m for m in ('sqlalchemy', 'pandas', 'numpy', 'pyarrow', "
        "'typer', 'rich', 'fsspec', 'blake3', 'sklearn', 'alembic') if m in sys.modules]; "
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_public_names_resolve() -> None:
    import loopml

    for name in loopml.__all__:
        assert getattr(loopml, name) is not None
