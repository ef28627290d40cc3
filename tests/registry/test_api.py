"""Registering, resolving, aliasing and loading model versions."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.artifacts.cas import blob_key
from loopml.core.errors import ConflictError, IntegrityError, InvalidArgumentError, NotFoundError


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "").replace(" ", "_") for c in frame.columns]
    return frame


@pytest.fixture(scope="module")
def model(iris: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(iris.drop(columns=["target"]), iris["target"])


def features(iris: pd.DataFrame) -> pd.DataFrame:
    return iris.drop(columns=["target"])


def test_register_infers_signature_and_loads_back(workspace, iris, model) -> None:
    version = loopml.registry.register(
        "iris-clf", model, input_example=features(iris).head(), metrics={"acc": 0.97},
        workspace=workspace,
    )  # fmt: skip
    assert (version.name, version.version, version.flavor) == ("iris-clf", 1, "sklearn")
    assert version.signature.columns == list(features(iris).columns)
    assert {c.type for c in version.signature.inputs} == {"float"}
    assert version.signature.output == "integer"
    assert version.metrics == {"acc": 0.97}
    loaded = loopml.registry.load("iris-clf/1", workspace=workspace)
    np.testing.assert_array_equal(loaded.predict(features(iris)), model.predict(features(iris)))


def test_registration_in_a_run_links_it(workspace, model) -> None:
    with loopml.start_run(project="iris", workspace=workspace) as run:
        version = loopml.registry.register("iris-clf", model, workspace=workspace)
    assert version.run_id == run.id
    assert workspace.store.models.versions_from_run(run.id) == [version]


def test_references_aliases_and_latest(workspace, model) -> None:
    for _ in range(3):
        loopml.registry.register("clf", model, workspace=workspace)
    loopml.registry.set_alias("clf", "champion", 2, reason="best so far", workspace=workspace)
    resolve = loopml.registry.resolve
    assert resolve("clf@champion", workspace=workspace).version == 2
    assert resolve("clf/1", workspace=workspace).version == 1
    assert resolve("clf@latest", workspace=workspace).version == 3
    assert resolve("clf", workspace=workspace).version == 3
    assert loopml.registry.load("clf@champion", workspace=workspace).version.aliases == (
        "champion",
    )
    (event,) = loopml.registry.history("clf", workspace=workspace)
    assert event.action == "alias.set" and event.details["reason"] == "best so far"
    assert event.actor  # the OS user
    assert loopml.registry.delete_alias("clf", "champion", workspace=workspace) == 2


@pytest.mark.parametrize(
    ("ref", "error", "message"),
    [
        ("nope@champion", NotFoundError, "model 'nope' not found"),
        ("clf/9", NotFoundError, "has no version 9"),
        ("clf@missing", NotFoundError, "no alias 'missing'"),
        ("clf@bad alias", InvalidArgumentError, "alias"),
        ("clf/1/2", InvalidArgumentError, "NAME, NAME/VERSION or NAME@ALIAS"),
    ],
)
def test_bad_references(workspace, model, ref: str, error: type, message: str) -> None:
    loopml.registry.register("clf", model, workspace=workspace)
    with pytest.raises(error, match=message):
        loopml.registry.load(ref, workspace=workspace)


def test_archived_versions_need_allow_archived(workspace, model) -> None:
    loopml.registry.register("clf", model, workspace=workspace)
    loopml.registry.register("clf", model, workspace=workspace)
    loopml.registry.archive("clf", 2, workspace=workspace)
    with pytest.raises(InvalidArgumentError, match="archived"):
        loopml.registry.load("clf/2", workspace=workspace)
    assert loopml.registry.load("clf/2", allow_archived=True, workspace=workspace)
    assert loopml.registry.resolve("clf@latest", workspace=workspace).version == 1


def test_delete_refused_while_aliased(workspace, model) -> None:
    loopml.registry.register("clf", model, workspace=workspace)
    loopml.registry.set_alias("clf", "champion", 1, workspace=workspace)
    with pytest.raises(ConflictError, match="champion"):
        loopml.registry.delete_version("clf", 1, workspace=workspace)


def test_metadata_is_editable(workspace, model) -> None:
    loopml.registry.register("clf", model, tags={"a": 1}, workspace=workspace)
    edited = loopml.registry.update_version("clf", 1, description="x", workspace=workspace)
    assert edited.description == "x" and edited.tags == {"a": "1"}
    assert (
        loopml.registry.update_model("clf", description="m", workspace=workspace).description == "m"
    )


def test_corrupted_blob_fails_its_digest_check(workspace, model) -> None:
    version = loopml.registry.register("clf", model, workspace=workspace)
    manifest = json.loads(workspace.artifacts.get_bytes(version.digest))
    blob = manifest["files"]["model.skops"]["digest"]
    target = workspace.root / ".loopml" / "artifacts" / blob_key(blob)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.chmod(0o644)
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="clf/1"):
        loopml.registry.load("clf/1", workspace=workspace)


class Custom:
    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame))


def test_unknown_flavor_needs_trust(workspace) -> None:
    with pytest.raises(InvalidArgumentError, match=r"no safe flavor.*sklearn.*trust=True"):
        loopml.registry.register("custom", Custom(), workspace=workspace)
    version = loopml.registry.register("custom", Custom(), trust=True, workspace=workspace)
    assert version.flavor == "python"
    with pytest.raises(InvalidArgumentError, match=r"trust=True.*LOOPML_TRUST_PICKLE"):
        loopml.registry.load("custom/1", workspace=workspace)
    loaded = loopml.registry.load("custom/1", trust=True, workspace=workspace)
    assert list(loaded.predict(pd.DataFrame({"x": [1, 2]}))) == [0.0, 0.0]


def test_concurrent_registrations_number_1_to_n(workspace, model) -> None:
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            loopml.registry.register("raced", model, workspace=workspace)
        except BaseException as exc:  # collected: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    versions = loopml.registry.list_versions("raced", workspace=workspace)
    assert [v.version for v in versions] == [1, 2, 3, 4, 5, 6]
