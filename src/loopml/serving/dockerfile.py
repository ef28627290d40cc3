"""The Dockerfile and the entrypoint script of a build context (serving.container)."""

from __future__ import annotations

import shlex

PORT = 8080
UID = 10001  # numeric, so Kubernetes' runAsNonRoot can verify the user
HOME = "/srv/loopml"
ENTRYPOINT = "entrypoint.sh"
READY = "/v2/health/ready"
LIVE = "/v2/health/live"
TOKEN_HOWTO = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def base_image(python: str) -> str:
    return f"python:{python}-slim"


def dockerfile(deployment: str, python: str, wheel: str, *, trust: bool = False) -> str:
    probe = (
        "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s"
        f"{READY}' % os.environ.get('LOOPML_PORT', '{PORT}'), timeout=4)"
    )
    env = {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "LOOPML_DEPLOYMENT": deployment,
        "LOOPML_WORKSPACE": HOME,
        "LOOPML_HOST": "0.0.0.0",
        "LOOPML_PORT": str(PORT),
    }
    if trust:
        env["LOOPML_TRUST_PICKLE"] = "1"
    env_lines = " \\\n    ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"""\
# Serves loopml deployment {deployment!r}. Written by `loopml build`; build it with
#   docker build -t IMAGE .
# and run it with a serving token (required: the server listens on 0.0.0.0):
#   docker run -p {PORT}:{PORT} -e LOOPML_SERVE_TOKEN=TOKEN IMAGE
# (make a TOKEN with: {TOKEN_HOWTO})
# It serves the workspace inside the image, unless LOOPML_STORE_URI and LOOPML_ARTIFACT_URI
# (or LOOPML_SERVER_URI and LOOPML_TOKEN) point at the team's stores.
FROM {base_image(python)}

ENV {env_lines}

RUN groupadd --system --gid {UID} loopml \\
 && useradd --system --uid {UID} --gid {UID} --home-dir {HOME} --no-create-home \\
    --shell /usr/sbin/nologin loopml

COPY requirements.txt /tmp/build/requirements.txt
COPY wheels/{wheel} /tmp/build/{wheel}
RUN pip install --no-compile -r /tmp/build/requirements.txt /tmp/build/{wheel} \\
 && pip check \\
 && rm -rf /tmp/build

COPY --chown={UID}:{UID} workspace/ {HOME}/
COPY {ENTRYPOINT} /usr/local/bin/loopml-entrypoint

USER {UID}:{UID}
WORKDIR {HOME}
EXPOSE {PORT}
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \\
  CMD ["python", "-c", "{probe}"]
ENTRYPOINT ["/usr/local/bin/loopml-entrypoint"]
"""


def entrypoint(deployment: str) -> str:
    """A POSIX shell script: check the token, go to the workspace, exec `loopml serve`
    (arguments are passed on, e.g. `--allowed-host api.example.com` or `--workers 2`)."""
    return f"""\
#!/bin/sh
# Serves loopml deployment {deployment!r} (written by `loopml build`).
# LOOPML_SERVE_TOKEN is required; LOOPML_HOST (0.0.0.0), LOOPML_PORT ({PORT}),
# LOOPML_WORKSPACE (the workspace/ folder beside this script) and LOOPML_DEPLOYMENT may be set.
set -eu
if [ -z "${{LOOPML_SERVE_TOKEN:-}}" ]; then
    echo "error: LOOPML_SERVE_TOKEN is not set: this server refuses to start without a token" \\
         "(clients send it as 'Authorization: Bearer TOKEN'). Make one with:" \\
         '{TOKEN_HOWTO}' >&2
    exit 1
fi
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
cd "${{LOOPML_WORKSPACE:-$here/workspace}}"
exec loopml serve "${{LOOPML_DEPLOYMENT:-{deployment}}}" \\
    --host "${{LOOPML_HOST:-0.0.0.0}}" --port "${{LOOPML_PORT:-{PORT}}}" "$@"
"""
