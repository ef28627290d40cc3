"""Issue 14.10a: LOOPML_SERVE_TOKEN must be strong (at least 43 characters, e.g. 32 random bytes
URL-safe encoded); a weak one is refused, before anything listens, with the command that makes a
good one."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from loopml.core.auth import MIN_TOKEN_LENGTH, check_token_strength
from loopml.core.errors import InvalidArgumentError
from tests.ports import free_ports

pytestmark = pytest.mark.security
HOW = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
WEAK = ["x", "s3cret", "a" * 64, "ab" * 30, "password1234" * 4, " " * 50, "x" * 42]


@pytest.mark.parametrize("token", WEAK, ids=range(len(WEAK)))
def test_weak_tokens_are_refused_with_how_to_make_one(token: str) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        check_token_strength(token, "LOOPML_SERVE_TOKEN")
    assert "LOOPML_SERVE_TOKEN" in str(refused.value) and HOW in str(refused.value)
    assert token not in str(refused.value) or len(token) < 2  # the secret is not echoed


def test_strong_tokens_pass() -> None:
    assert MIN_TOKEN_LENGTH == 43
    for _ in range(200):  # random ones: never a false refusal
        check_token_strength(secrets.token_urlsafe(32), "LOOPML_SERVE_TOKEN")
        check_token_strength(secrets.token_hex(32), "LOOPML_SERVE_TOKEN")


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_serve_refuses_a_weak_token_before_listening(workspace, tmp_path, host) -> None:
    import loopml
    from tests.serving import models

    loopml.registry.register("c", models.Constant(1), trust=True, workspace=workspace)
    loopml.deployments.create("c", "c/1", workspace=workspace)
    port = str(free_ports(1)[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    done = subprocess.run(
        [sys.executable, "-m", "loopml", "serve", "c", "--host", host, "--port", port],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**env, "LOOPML_SERVE_TOKEN": "x"},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "LOOPML_SERVE_TOKEN" in done.stderr and "token_urlsafe(32)" in done.stderr
