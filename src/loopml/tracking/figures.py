"""Figures and images as run artifacts: encoded here, stored content-addressed like any other.

A matplotlib figure becomes PNG (or SVG when the name ends in `.svg`); a plotly figure becomes
its JSON (`NAME.plotly.json`, drawn by the UI with its own plotly.js), a standalone HTML file
(`.html`), or PNG when kaleido is installed. Images (arrays, Pillow images, image files)
become PNG; arrays are encoded here with zlib, so they need no imaging library.
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError
from loopml.core.extras import require

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTLY_SUFFIX = ".plotly.json"
_MATPLOTLIB_FORMATS = {".png": "png", ".svg": "svg"}
_PLOTLY_FORMATS = (PLOTLY_SUFFIX, ".json", ".html", ".png")


def encode_figure(figure: Any, name: str) -> tuple[str, bytes]:
    """(artifact name, bytes) for a matplotlib or plotly figure; the name's suffix picks the
    format, and a name without one gets the default (.png for matplotlib, .plotly.json for
    plotly)."""
    if _is_plotly(figure):
        return _plotly(figure, name)
    matplotlib_figure = _matplotlib_figure(figure)
    if matplotlib_figure is not None:
        return _matplotlib(matplotlib_figure, name)
    raise InvalidArgumentError(
        f"log_figure takes a matplotlib or plotly figure, not a {type(figure).__name__}; "
        "for an array or a picture use log_image"
    )


def _is_plotly(figure: Any) -> bool:
    graph_objects = sys.modules.get("plotly.graph_objects")
    return graph_objects is not None and isinstance(figure, graph_objects.Figure)


def _matplotlib_figure(figure: Any) -> Any:
    """The matplotlib Figure itself, given one (or Axes, or anything holding `.figure`)."""
    if "matplotlib" not in sys.modules:
        return None
    from matplotlib.figure import Figure, SubFigure

    if isinstance(figure, Figure):
        return figure
    held = getattr(figure, "figure", None)  # Axes, SubFigure, seaborn grids
    if isinstance(held, SubFigure):
        held = held.figure
    return held if isinstance(held, Figure) else None


def _suffix(name: str, allowed: tuple[str, ...], default: str) -> tuple[str, str]:
    lower = name.lower()
    for suffix in allowed:
        if lower.endswith(suffix):
            return name, suffix
    return name + default, default


def _matplotlib(figure: Any, name: str) -> tuple[str, bytes]:
    name, suffix = _suffix(name, tuple(_MATPLOTLIB_FORMATS), ".png")
    import matplotlib

    buffer = io.BytesIO()
    # No creation date and fixed element ids in an SVG: the same figure stores as one blob.
    metadata = {"Date": None} if suffix == ".svg" else {}
    with matplotlib.rc_context({"svg.hashsalt": "loopml"}):
        figure.savefig(buffer, format=_MATPLOTLIB_FORMATS[suffix], bbox_inches="tight",
                       metadata=metadata)  # fmt: skip
    return name, buffer.getvalue()


def _plotly(figure: Any, name: str) -> tuple[str, bytes]:
    name, suffix = _suffix(name, _PLOTLY_FORMATS, PLOTLY_SUFFIX)
    if suffix == ".json":  # "chart.json": keep the user's name, mark it as a plotly figure
        name, suffix = name[: -len(".json")] + PLOTLY_SUFFIX, PLOTLY_SUFFIX
    if suffix == ".html":  # self-contained: plotly.js inside, opens offline
        return name, figure.to_html(include_plotlyjs=True, full_html=True).encode()
    if suffix == ".png":
        if importlib.util.find_spec("kaleido") is None:
            raise InvalidArgumentError(
                f"{name}: a plotly figure as PNG needs kaleido (pip install kaleido); log it "
                f"as {name[:-4]}{PLOTLY_SUFFIX} to see it in the UI without it"
            )
        return name, bytes(figure.to_image(format="png"))
    return name, figure.to_json().encode()


# -- images ---------------------------------------------------------------------------------
def encode_image(image: Any, name: str) -> tuple[str, bytes]:
    """(NAME.png, PNG bytes) for a numpy array, a Pillow image, or an image file's path."""
    name = name if name.lower().endswith(".png") else name + ".png"
    if isinstance(image, str | os.PathLike):
        return name, _file_png(Path(image))
    if _is_pillow(image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return name, buffer.getvalue()
    if isinstance(image, np.ndarray) or hasattr(image, "__array__"):
        return name, array_png(np.asarray(image))
    raise InvalidArgumentError(
        f"log_image takes a numpy array, a Pillow image or an image file's path, not a "
        f"{type(image).__name__}"
    )


def _is_pillow(image: Any) -> bool:
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(image, pil.Image)


def _file_png(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidArgumentError(f"{path} is not an image file")
    data = path.read_bytes()
    if data.startswith(PNG_MAGIC):
        return data
    pil = require("PIL.Image", "converting an image file to PNG")
    with pil.open(path) as opened:
        buffer = io.BytesIO()
        opened.save(buffer, format="PNG")
    return buffer.getvalue()


def array_png(array: np.ndarray) -> bytes:
    """A PNG of an HxW (grey), HxWx1, HxWx3 (RGB) or HxWx4 (RGBA) array: integers 0-255,
    booleans, or floats 0.0-1.0."""
    pixels = _as_bytes(array)
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    colour = {2: 0, 3: {3: 2, 4: 6}.get(pixels.shape[-1], -1)}.get(pixels.ndim, -1)
    if colour < 0 or 0 in pixels.shape:
        raise InvalidArgumentError(
            f"an image array must be HxW, HxWx1, HxWx3 or HxWx4 and not empty; got shape "
            f"{array.shape}"
        )
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    raw = np.hstack([np.zeros((height, 1), np.uint8), rows]).tobytes()  # filter 0 per row
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + \
        _chunk(b"IEND", b"")  # fmt: skip


def _as_bytes(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.bool_:
        return np.ascontiguousarray(array.astype(np.uint8) * 255)
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidArgumentError("integer image values must be within 0-255")
        return np.ascontiguousarray(array.astype(np.uint8))
    if array.dtype.kind == "f":
        if array.size and not (np.isfinite(array).all() and array.min() >= 0 and array.max() <= 1):
            raise InvalidArgumentError("float image values must be finite and within 0.0-1.0")
        return np.ascontiguousarray(np.round(array * 255).astype(np.uint8))
    raise InvalidArgumentError(f"an image array of {array.dtype} cannot be drawn")


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
