"""Shared fixtures: an isolated environment, workspaces, and a real PostgreSQL schema per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

pytest_plugins = ["tests.fixtures_s3", "tests.fixtures_ray"]  # SeaweedFS S3 and a Ray cluster

POSTGRES_URI = os.environ.get(
    "LOOPML_TEST_POSTGRES_URI", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(component: str, reason: str) -> None:
    """Skip a test whose real component is missing, except in CI, where that is a failure."""
    if IN_CI:
        pytest.fail(f"{component} is required in CI: {reason}")
    pytest.skip(f"{component} not available: {reason}")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LOOPML_") and name != "LOOPML_TEST_POSTGRES_URI":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator:
    from loopml.workspace import Workspace

    ws = Workspace.init(tmp_path)
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(POSTGRES_URI)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        require("PostgreSQL", f"cannot connect to {POSTGRES_URI}: {str(exc).splitlines()[0]}")
    return POSTGRES_URI


@pytest.fixture
def postgres_uri(postgres_server: str) -> Iterator[str]:
    """A store URI whose tables live in a fresh schema, dropped after the test."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_server)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
