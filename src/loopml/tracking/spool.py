"""Run endings that could not reach the store: kept in a local file, sent when it is back.

When the store (a server, usually) is still unreachable as a run ends, after the client's own
retries, the metric points left in memory and the run's final status are written to
`<cache>/spool/` (atomically: a temporary file, then a rename). The next `start_run` in any
process on this machine sends them, oldest first, then deletes each file. Each file's calls
carry idempotency keys derived from its name, so a file sent twice (a crash between sending
and deleting) is applied once by a server that still remembers the keys.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from loopml.core.codec import decode, encode
from loopml.core.dirs import make_dirs
from loopml.core.entities import Metric, RunStatus
from loopml.core.errors import LoopmlError, StoreUnavailableError
from loopml.workspace import Workspace

log = logging.getLogger("loopml.tracking")
SPOOL = "spool"


def folder(ws: Workspace) -> Path:
    return ws.cache_dir / SPOOL


def keep(
    ws: Workspace, run_id: str, points: Sequence[Metric], status: RunStatus, error: str | None
) -> Path:
    """Write what could not be sent; returns the file."""
    target = make_dirs(folder(ws))  # 0700: what runs logged, for this user only
    name = f"{uuid.uuid4().hex}.json"  # never the run id: ids come from a server
    document = {"run_id": run_id, "points": encode(list(points)), "status": encode(status),
                "error": error}  # fmt: skip
    partial = target / f".{name}.partial"
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(document, out)
        out.flush()
        os.fsync(out.fileno())
    return partial.replace(target / name)


def replay(ws: Workspace) -> int:
    """Send the spooled endings, oldest first; stop at the first that still cannot go."""
    target = folder(ws)
    if not target.is_dir():
        return 0
    sent = 0
    for path in sorted(target.glob("*.json"), key=lambda p: p.stat().st_mtime):
        try:
            _send(ws, path)
        except StoreUnavailableError:
            return sent  # still down: the files wait for the next time
        except (LoopmlError, ValueError, KeyError) as exc:  # a bad file must not block the rest
            log.warning("loopml: spooled file %s could not be sent (%s); kept aside", path, exc)
            path.replace(path.with_suffix(".failed"))
            continue
        path.unlink(missing_ok=True)
        sent += 1
    return sent


def _send(ws: Workspace, path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    run_id, points = document["run_id"], decode(document["points"])
    with _keys(ws, path.stem):
        if points:
            ws.store.runs.log_metrics(run_id, points)
        ws.store.runs.set_status(run_id, decode(document["status"]), document["error"])


def _keys(ws: Workspace, prefix: str):  # type: ignore[no-untyped-def]
    from contextlib import nullcontext

    client = getattr(ws.store, "client", None)
    return client.keyed(prefix) if hasattr(client, "keyed") else nullcontext()
