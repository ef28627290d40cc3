"""The path cases of the foundation issue, through a real server: hostile names and digests in
store calls, and in blob and page URLs as they are, URL-encoded once and URL-encoded twice.

Each is refused with a 4xx, or kept verbatim as an opaque name that is never used as a path;
nothing is read from or written to outside the workspace's folder.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from loopml.artifacts.hashing import digest_bytes
from loopml.core.codec import encode
from loopml.core.entities import ArtifactRef
from loopml.core.serving import Route, RouteMode
from loopml.store.remote import RemoteMetadataStore

FOUNDATION = ["../../etc/passwd", "%2e%2e%2f", "%252e%252e%252f", "..\\x", "/etc/passwd",
              "C:\\x", "a\x00b", "a\nb"]  # fmt: skip
MORE = ["..", ".", "../" * 12 + "loopml-escaped", "a/../../b", "..%2f..%2f", "%2e%2e",
        "\\\\host\\x"]  # fmt: skip
NAMES = FOUNDATION + MORE


class Sandbox:
    """A real server over a workspace in `root`, a secret file beside it, and the answers."""

    def __init__(self, url: str, token: str, root: Path) -> None:
        self.url, self.root = url, root
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                   timeout=30)  # fmt: skip
        self.remote = RemoteMetadataStore(url, token)
        self.marker = f"secret content {uuid.uuid4().hex}"  # never in an answer
        self.secret = root.parent / f"loopml-secret-{uuid.uuid4().hex[:8]}.txt"
        self.secret.write_text(self.marker)
        self.answers: list[httpx.Response] = []

    def call(self, route: str, **kwargs: Any) -> httpx.Response:
        body = json.dumps({"kwargs": {name: encode(value) for name, value in kwargs.items()}})
        response = self.client.post(f"/api/v1/{route}", content=body,
                                    headers={"Content-Type": "application/json"})  # fmt: skip
        return self._keep(response)

    def get(self, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, follow_redirects=True, **kwargs)
        for hop in response.history:  # a redirect stays on this server
            location = hop.headers["location"]
            assert location.startswith("/") or location.startswith(self.url), location
        return self._keep(response)

    def _keep(self, response: httpx.Response) -> httpx.Response:
        self.answers.append(response)
        assert response.status_code < 500, (response.request.url, response.text[:300])
        return response

    def names(self) -> list[str]:
        """The hostile names, and ones aimed at the secret file beside the workspace."""
        return [*NAMES, f"../{self.secret.name}", f"../../{self.root.parent.name}/"
                f"{self.secret.name}", str(self.secret)]  # fmt: skip


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


@pytest.fixture
def sandbox(served, admin_token: str) -> Iterator[Sandbox]:
    server, workspace = served
    root = workspace.root
    assert root is not None
    logging.getLogger("loopml.server").setLevel(logging.CRITICAL)
    box = Sandbox(server.url, admin_token, root)
    outside = files_under(root.parent) - files_under(root) - {root}
    yield box
    box.client.close()
    logging.getLogger("loopml.server").setLevel(logging.NOTSET)
    # Nothing appeared outside the workspace's folder, nor in it outside .loopml/ ...
    appeared = files_under(root.parent) - files_under(root) - {root} - outside
    assert not appeared, sorted(appeared)[:10]
    strays = [p for p in files_under(root) if p.relative_to(root).parts[0] != ".loopml"]
    assert not strays, strays[:10]
    # ... and nothing outside it was read back.
    for response in box.answers:
        assert box.marker not in response.text, response.request.url
        assert "root:x:0:0" not in response.text, response.request.url


def assert_refused(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.request.url, response.status_code)
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.json()["error"]["message"]


def refused_or_verbatim(response: httpx.Response, read_back: Any, name: str) -> None:
    """A 4xx, or a success after which the name reads back exactly as sent."""
    if response.status_code >= 400:
        assert_refused(response)
    else:
        assert read_back(response, name) == name


@pytest.fixture
def seeded(sandbox: Sandbox) -> dict[str, Any]:
    """A run, a dataset version and a model version to aim the names at."""
    ws_digest = digest_bytes(b"payload")
    put = sandbox.client.put(f"/api/v1/blobs/{ws_digest}", content=b"payload")
    assert put.status_code == 201, put.text
    run = sandbox.call("runs/create", project="p", name="target").json()["result"]
    dataset = sandbox.call("datasets/create_version", name="ok", digest=ws_digest, files=1,
                           size=7, format="parquet")  # fmt: skip
    model = sandbox.call("models/create_version", name="m", flavor="bytes", digest=ws_digest,
                         size=7)  # fmt: skip
    deployment = sandbox.call("deployments/create", name="d", actor="test",
                              routes=[Route("m", 1, RouteMode.PRIMARY)])  # fmt: skip
    for answer in (dataset, model, deployment):
        assert answer.status_code == 200, answer.text
    return {"run_id": run["id"], "digest": ws_digest}


# -- names in store calls ---------------------------------------------------------------------
def test_names_of_records_that_live_by_name_are_refused(sandbox: Sandbox, seeded) -> None:
    """Projects, datasets, models, deployments and aliases are named by the user and refused
    with a clear error when a name could be a path."""
    digest = seeded["digest"]
    dataset = {"digest": digest, "files": 1, "size": 7, "format": "parquet"}
    model = {"flavor": "bytes", "digest": digest, "size": 7}
    routes = [Route("m", 1, RouteMode.PRIMARY)]
    for name in sandbox.names():
        answers = [
            sandbox.call("projects/get_or_create", name=name),
            sandbox.call("runs/create", project=name),
            sandbox.call("runs/search", projects=[name]),
            sandbox.call("datasets/create_version", name=name, **dataset),
            sandbox.call("models/create_version", name=name, **model),
            sandbox.call("models/set_alias", name="m", alias=name, version=1, actor="test"),
            sandbox.call("deployments/create", name=name, actor="test", routes=routes),
        ]
        for answer in answers:
            assert_refused(answer)
            assert "error" in answer.json()
        for lookup in (sandbox.call("datasets/get_version", name=name),
                       sandbox.call("models/get_version", name=name, version=1),
                       sandbox.call("deployments/get", name=name)):  # fmt: skip
            assert_refused(lookup)
    remote = sandbox.remote
    assert [p.name for p in remote.projects.list()] == ["p"]
    assert [v.name for v in remote.datasets.list_latest()] == ["ok"]
    assert [m.name for m in remote.models.list_models()] == ["m"]
    assert [d.name for d in remote.deployments.list()] == ["d"]


def test_opaque_names_are_kept_verbatim_and_never_used_as_paths(sandbox: Sandbox, seeded) -> None:
    """Run names, run ids, tag keys and artifact names are labels in the store: refused, or
    kept exactly as sent (and the checks when the fixture ends find nothing outside)."""
    remote, run_id, now = sandbox.remote, seeded["run_id"], datetime.now(UTC)

    def run_name(answer: httpx.Response, name: str) -> str:
        return remote.runs.get(answer.json()["result"]["id"]).name

    def run_id_of(answer: httpx.Response, name: str) -> str:
        return remote.runs.get(name).id

    def tag_key(answer: httpx.Response, name: str) -> str:
        return next(key for key in remote.runs.get(run_id).tags if key == name)

    def artifact_name(answer: httpx.Response, name: str) -> str:
        return remote.runs.get_artifact(run_id, name).name

    for i, name in enumerate(sandbox.names()):
        ref = ArtifactRef(name, seeded["digest"], "bytes", 7, now)
        for answer, read_back in [
            (sandbox.call("runs/create", project="p", name=name), run_name),
            (sandbox.call("runs/create", project="p", run_id=name), run_id_of),
            (sandbox.call("runs/set_tags", run_id=run_id, tags={name: "v"}), tag_key),
            (sandbox.call("runs/log_artifact", run_id=run_id, artifact=ref), artifact_name),
        ]:
            refused_or_verbatim(answer, read_back, name)
        assert_refused(sandbox.call("runs/get_artifact", run_id=run_id, name=f"{name}-{i}"))
    # The run's page lists what was kept, escaped, and reads no file by any of those names.
    page = sandbox.get(f"/runs/{run_id}")
    assert page.status_code == 200 and "target" in page.text


def test_artifact_names_are_refused_through_the_api_as_they_are_locally(sandbox, seeded) -> None:
    ref = ArtifactRef("../../etc/passwd", seeded["digest"], "bytes", 7, datetime.now(UTC))
    assert_refused(sandbox.call("runs/log_artifact", run_id=seeded["run_id"], artifact=ref))


def test_digests_that_are_paths_are_never_read(sandbox: Sandbox, seeded) -> None:
    """A digest is a path inside the blob store, so one that is not 64 hex digits is refused
    wherever it is used: the blob routes, and records whose pages read blobs by digest."""
    now = datetime.now(UTC)
    for i, name in enumerate(sandbox.names()):
        assert_refused(sandbox.client.post("/api/v1/blobs/missing", json={"digests": [name]}))
        version = sandbox.call(
            "datasets/create_version",
            name=f"d{i}",
            digest=name,
            files=1,
            size=1,
            format="parquet",
            profile_digest=name,
        )
        if version.status_code == 200:  # kept as a label; the page must not follow it
            sandbox.get(f"/datasets/d{i}/1")
        ref = ArtifactRef(f"a{i}", name, "bytes", 1, now)
        if sandbox.call("runs/log_artifact", run_id=seeded["run_id"], artifact=ref).is_success:
            sandbox.get(f"/runs/{seeded['run_id']}")
        model = sandbox.call(
            "models/create_version", name=f"m{i}", flavor="bytes", digest=name, size=1
        )
        if model.status_code == 200:
            sandbox.get(f"/models/m{i}/1")


# -- names in URLs ------------------------------------------------------------------------------
PAGES = ["/runs/{}", "/pipelines/{}", "/datasets/{}", "/datasets/{}/1", "/datasets/ok/{}",
         "/datasets/{}/diff?old=1&new=1", "/models/{}", "/models/{}/1", "/models/m/{}",
         "/deployments/{}", "/deployments/d/reports/{}", "/predictions/{}", "/ui/static/{}",
         "/{}", "/api/v1/{}/get", "/api/v1/runs/{}"]  # fmt: skip


def spellings(name: str) -> list[str]:
    """The name as it is (where a URL can hold it), URL-encoded once, and URL-encoded twice."""
    once = quote(name, safe="")
    found = [once, quote(once, safe="")]
    if not any(c in name for c in "\x00\n\\?#"):
        found.append(name)
    return found


def test_names_in_page_and_blob_urls_are_refused(sandbox: Sandbox, seeded) -> None:
    for name in sandbox.names():
        for text in spellings(name):
            for page in PAGES:
                path = page.format(text)
                method = "POST" if page.startswith("/api/") else "GET"
                answer = sandbox.get(path, method=method)
                served = answer.url.raw_path.decode("ascii").split("?")[0]
                if served == path.split("?")[0]:  # the name reached a route as a name
                    assert_refused(answer)
                # else dot segments were resolved (by the client, or by the server's redirect
                # of a trailing '/') to another page of this server: no name was looked up
            for method in ("GET", "PUT"):
                answer = sandbox.get(f"/api/v1/blobs/{text}", method=method,
                                     content=b"x" if method == "PUT" else None)  # fmt: skip
                assert 400 <= answer.status_code < 500, (text, method, answer.status_code)
                assert answer.json()["error"]["message"]


def test_a_url_with_dot_segments_stays_on_its_route(sandbox: Sandbox, seeded) -> None:
    """Dot segments in the raw URL are resolved by the client or refused by the router: none
    reaches a handler as a name, and none is served a file."""
    for raw in (
        "/runs/../../../../etc/passwd",
        "/ui/static/../../../app.py",
        "/api/v1/blobs/../../../etc/passwd",
        "/datasets/ok/..%2F..%2F..%2Fetc%2Fpasswd",
    ):
        url = urlsplit(sandbox.url)._replace(path="").geturl() + raw
        answer = sandbox.client.send(httpx.Request("GET", url, headers=sandbox.client.headers))
        sandbox._keep(answer)
        assert 300 <= answer.status_code < 500, (raw, answer.status_code)
