"""A missing optional dependency is one line naming the extra to install (issue 15.4)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from loopml.core.extras import DISTRIBUTION_MODULES, EXTRAS, MissingExtraError, require

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_covers_every_optional_dependency_of_pyproject() -> None:
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra, requirements in optional.items():
        if extra in ("all", "dev"):
            continue
        for requirement in requirements:
            distribution = re.split(r"[<>=!~ ;]", requirement, maxsplit=1)[0]
            module = DISTRIBUTION_MODULES.get(distribution, distribution.split("[")[0])
            assert EXTRAS.get(module.replace("-", "_"), (None,))[0] == extra, requirement


def _run(
    code: str, *, blocked: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter where importing `blocked` fails as if uninstalled."""
    prelude = f"import sys; sys.modules[{blocked!r}] = None\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, cwd=cwd,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")},
             **(env or {})}, timeout=120,
    )  # fmt: skip
    return done


CLI = "sys.argv = ['loopml', *sys.argv[1:]]\nfrom loopml.cli.main import main\nmain()\n"


def test_cli_postgres_store_without_psycopg(tmp_path: Path) -> None:
    done = _run(
        "sys.argv[1:] = ['runs', 'ls']\n" + CLI,
        blocked="psycopg",
        env={
            "LOOPML_STORE_URI": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
            "LOOPML_ARTIFACT_URI": str(tmp_path / "artifacts"),
        },
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: the Python package 'psycopg' (for a PostgreSQL store (postgresql+psycopg://)) "
        "is not installed: pip install 'loopml[postgres]'"
    ]


def test_cli_any_unhandled_import_of_an_extra_is_one_line(tmp_path: Path) -> None:
    # A command whose code imports an optional module directly still gives the one line.
    code = (
        "import typer\nfrom loopml.cli import main as m\n"
        "@m.app.command('needs-ray')\ndef needs_ray() -> None:\n    import ray\n"
        "sys.argv[1:] = ['needs-ray']\n" + CLI
    )
    done = _run(code, blocked="ray", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: the Python package 'ray' (for the Ray executor) is not installed: "
        "pip install 'loopml[ray]'"
    ]


def test_s3_artifacts_without_s3fs(tmp_path: Path) -> None:
    code = (
        "from loopml.artifacts.factory import open_artifacts\n"
        "try:\n    open_artifacts('s3://bucket/prefix')\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = _run(code, blocked="s3fs", cwd=tmp_path)
    assert done.stdout.strip() == (
        "MissingExtraError the Python package 's3fs' (for s3:// artifacts) is not installed: "
        "pip install 'loopml[s3]'"
    ), done.stderr


def test_tune_without_optuna(tmp_path: Path) -> None:
    code = (
        "import loopml\n"
        "@loopml.step\ndef score(C: float) -> float:\n    return C\n"
        "try:\n    loopml.tune(score, {'C': (0.0, 1.0)}, n_trials=2)\n"
        "except loopml.LoopmlError as exc:\n    print(exc)\n"
    )
    done = _run(code, blocked="optuna", cwd=tmp_path)
    assert done.stdout.strip() == (
        "the Python package 'optuna' (for loopml.tune) is not installed: pip install 'loopml[tune]'"
    ), done.stderr


@pytest.mark.parametrize("module", ["xgboost", "lightgbm", "onnxruntime", "ray"])
def test_require_names_the_extra(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(
        MissingExtraError, match=re.escape(f"pip install 'loopml[{EXTRAS[module][0]}]'")
    ):
        require(module)


def test_a_broken_dependency_of_an_installed_extra_is_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "not_an_extra_module", None)
    with pytest.raises(ModuleNotFoundError):
        require("not_an_extra_module")


def test_batch_prediction_on_ray_without_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.serving import batch

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingExtraError, match=r"batch prediction on Ray.*loopml\[ray\]"):
        batch._on_ray(None, "m/1", [], None, 1, False, None)  # type: ignore[arg-type]
