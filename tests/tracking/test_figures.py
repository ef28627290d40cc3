"""run.log_figure and run.log_image: figures and pictures stored as run artifacts."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.tracking.figures import PNG_MAGIC, array_png
from loopml.workspace import Workspace

Image = pytest.importorskip("PIL.Image")
figure_module = pytest.importorskip("matplotlib.figure", reason="no figures extra")


def _line_figure() -> object:
    figure = figure_module.Figure(figsize=(3, 2))
    axes = figure.subplots()
    axes.plot([0, 1, 2], [2, 1, 3])
    axes.set_title("loss")
    return figure


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def test_a_matplotlib_figure_is_stored_as_png(workspace: Workspace) -> None:
    with loopml.start_run(project="p") as run:
        ref = run.log_figure(_line_figure(), "loss")
    assert ref.name == "loss.png"
    data = loopml.load_artifact(run.id, "loss.png")
    assert data.startswith(PNG_MAGIC)
    assert _decoded(data).shape[0] > 50  # a real picture, not an empty file


def test_axes_are_accepted_and_svg_is_stable(workspace: Workspace) -> None:
    figure = _line_figure()
    with loopml.start_run(project="p") as run:
        first = run.log_figure(figure.axes[0], "curve.svg")
        second = run.log_figure(figure, "again.svg")
    assert first.name == "curve.svg"
    text = loopml.load_artifact(run.id, "curve.svg").decode()
    assert "<svg" in text and "<dc:date>" not in text
    assert first.digest == second.digest  # no timestamp in the file: same figure, same blob


def test_a_plotly_figure_is_stored_as_json_or_html(workspace: Workspace) -> None:
    import plotly.graph_objects as go

    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="series"))
    with loopml.start_run(project="p") as run:
        as_json = run.log_figure(figure, "scatter")
        named = run.log_figure(figure, "named.json")
        as_html = run.log_figure(figure, "scatter.html")
    assert (as_json.name, named.name, as_html.name) == (
        "scatter.plotly.json", "named.plotly.json", "scatter.html"
    )  # fmt: skip
    parsed = json.loads(loopml.load_artifact(run.id, "scatter.plotly.json"))
    assert parsed["data"][0]["y"] == [3, 1, 2]
    html = loopml.load_artifact(run.id, "scatter.html").decode()
    assert "<html>" in html and "Plotly.newPlot" in html


@pytest.mark.skipif(importlib.util.find_spec("kaleido") is not None, reason="kaleido installed")
def test_plotly_png_without_kaleido_says_what_to_do(workspace: Workspace) -> None:
    import plotly.graph_objects as go

    with loopml.start_run(project="p") as run, pytest.raises(InvalidArgumentError, match="kaleido"):
        run.log_figure(go.Figure(), "chart.png")


def test_log_figure_refuses_other_objects(workspace: Workspace) -> None:
    refused = pytest.raises(InvalidArgumentError, match="log_image")
    with loopml.start_run(project="p") as run, refused:
        run.log_figure(np.zeros((2, 2)), "x")


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.arange(24, dtype=np.uint8).reshape(2, 4, 3), np.arange(24).reshape(2, 4, 3)),
        (np.array([[0.0, 1.0], [0.5, 0.25]]), np.array([[0, 255], [128, 64]])),
        (np.array([[True, False]]), np.array([[255, 0]])),
        (np.full((3, 2, 4), 200, dtype=np.int64), np.full((3, 2, 4), 200)),
        (np.full((2, 2, 1), 7, dtype=np.uint8), np.full((2, 2), 7)),
    ],
)
def test_arrays_encode_to_the_same_pixels(array: np.ndarray, expected: np.ndarray) -> None:
    assert np.array_equal(_decoded(array_png(array)), expected)


def test_log_image_takes_arrays_pillow_images_and_files(
    workspace: Workspace, tmp_path: Path
) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", quality=95)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    with loopml.start_run(project="p") as run:
        assert run.log_image(pixels, "array").name == "array.png"
        run.log_image(Image.fromarray(pixels), "pillow.png")
        png = run.log_image(tmp_path / "photo.png", "from-png")
        run.log_image(str(tmp_path / "photo.jpg"), "from-jpeg")
    for name in ("array.png", "pillow.png", "from-png.png"):
        assert np.array_equal(_decoded(loopml.load_artifact(run.id, name)), pixels), name
    assert loopml.load_artifact(run.id, "from-png.png") == (tmp_path / "photo.png").read_bytes()
    assert png.size == (tmp_path / "photo.png").stat().st_size  # a PNG file is kept as it is
    assert _decoded(loopml.load_artifact(run.id, "from-jpeg.png")).shape == (5, 7, 3)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((2, 2, 2)), "HxW"),
        (np.zeros((0, 3)), "not empty"),
        (np.array([[1.5]]), "0.0-1.0"),
        (np.array([[np.nan]]), "finite"),
        (np.array([[300]]), "0-255"),
        (np.array([["a"]]), "cannot be drawn"),
        ({"not": "an image"}, "numpy array"),
    ],
)
def test_bad_images_are_refused(workspace: Workspace, image: object, message: str) -> None:
    with loopml.start_run(project="p") as run, pytest.raises(InvalidArgumentError, match=message):
        run.log_image(image, "bad")
    assert workspace.store.runs.artifacts(run.id) == []  # nothing half-logged
