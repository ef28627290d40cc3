"""The artifact-store contract on S3 (a real SeaweedFS server), plus S3 configuration."""

from __future__ import annotations

from typing import Any

import pytest

from loopml.artifacts.cas import ContentStore
from loopml.artifacts.factory import S3_ENDPOINT_ENV, open_artifacts, s3_options
from tests.artifacts.contract import ArtifactStoreContract
from tests.fixtures_s3 import S3Server


class S3Objects:
    """Objects reached with an s3fs client of its own, as another S3 client would."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs = fs
        self.root = root

    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.root}/{key}"))

    def write(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.root}/{key}", data)

    def delete(self, key: str) -> None:
        self.fs.rm_file(f"{self.root}/{key}")

    def keys(self, prefix: str) -> set[str]:
        found = self.fs.find(f"{self.root}/{prefix}")
        return {str(p).removeprefix(self.root + "/") for p in found}


class TestS3Artifacts(ArtifactStoreContract):
    @pytest.fixture
    def cas(self, s3_artifact_uri: str) -> ContentStore:
        return open_artifacts(s3_artifact_uri)  # the endpoint and keys from the environment

    @pytest.fixture
    def raw(self, cas: ContentStore, s3_server: S3Server) -> S3Objects:
        return S3Objects(s3_server.filesystem(), cas.uri.removeprefix("s3://"))

    def test_blobs_are_objects_under_the_prefix(self, cas: ContentStore, raw: S3Objects) -> None:
        assert cas.blobs.local_path("blobs/x") is None
        digest = cas.put_bytes(b"in the bucket")
        assert raw.keys("") == {f"blobs/{digest[:2]}/{digest[2:]}"}

    def test_explicit_options_win_over_the_environment(
        self, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name, value in s3_server.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(S3_ENDPOINT_ENV, "http://127.0.0.1:9")  # nothing listens there
        cas = open_artifacts(
            s3_server.new_prefix(), client_kwargs={"endpoint_url": s3_server.endpoint}
        )
        assert cas.get_bytes(cas.put_bytes(b"explicit")) == b"explicit"


def test_s3_options_take_the_endpoint_from_the_environment() -> None:
    env = {S3_ENDPOINT_ENV: "http://127.0.0.1:8333"}
    assert s3_options(env, {}) == {
        "use_listings_cache": False,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:8333"},
    }
    explicit = {
        "client_kwargs": {"endpoint_url": "http://other", "region_name": "x"},
        "use_listings_cache": True,
    }
    assert s3_options(env, explicit) == explicit
    assert s3_options({}, {"key": "k"}) == {"use_listings_cache": False, "key": "k"}
