"""Batch prediction: stream Parquet, CSV or JSON Lines through a model, chunk by chunk, into
one Parquet file of predictions (with ids and the model version), written atomically.

With `executor="ray"` each input file is a Ray task that loads the model itself (from the
shared store) and writes a part; the parts are then streamed into the output file. A worker
has neither the driver's environment nor its current folder: each task gets the resolved
workspace configuration with absolute paths, the S3 options (endpoint, credentials, region)
the driver's artifact store uses, and absolute input and part paths.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core.config import WorkspaceConfig, local_uri
from loopml.core.errors import InvalidArgumentError
from loopml.core.extras import require
from loopml.data.formats import SUFFIX_FORMATS
from loopml.registry.api import load, resolve
from loopml.registry.loaded import LoadedModel
from loopml.registry.run_models import is_run_uri
from loopml.workspace import Workspace

DEFAULT_CHUNK_ROWS = 100_000
Progress = Callable[[int], None]


@dataclasses.dataclass(frozen=True)
class BatchResult:
    output: Path
    rows: int
    files: int
    model: str
    version: int


def input_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidArgumentError(f"{path} is not a file or folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and _format(p) is not None)
    if not files:
        raise InvalidArgumentError(f"{path} holds no Parquet, CSV or JSON Lines files")
    return files


def _format(path: Path) -> str | None:
    return SUFFIX_FORMATS.get("".join(path.suffixes[-1:]).lower())


def count_rows(files: list[Path]) -> int | None:
    """Rows to expect, when every file is Parquet (its footer says); else unknown."""
    if not all(_format(f) == "parquet" for f in files):
        return None
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def _batches(path: Path, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    kind = _format(path)
    if kind == "parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
    elif kind == "csv":
        import pyarrow.csv as pacsv

        options = pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 64))
        with pacsv.open_csv(path, read_options=options) as reader:
            yield from reader
    elif kind == "jsonl":
        import pyarrow.json as pajson

        yield from pajson.read_json(path).to_batches(max_chunksize=chunk_rows)
    else:
        raise InvalidArgumentError(f"{path}: not a Parquet, CSV or JSON Lines file")


def predict_chunk(
    model: LoadedModel, batch: pa.RecordBatch, *, source: str = "", first_row: int = 0
) -> pa.Table:
    """Predictions of one chunk, with `input_file` and `input_row` (the row's position in its
    file, from 0) to join them back to the input, and `proba_<class>` columns for a classifier
    with predict_proba."""
    frame = batch.to_pandas()
    try:
        scores = model.score(model.prepare(frame))
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"model {model.version.uri}: {exc}") from None
    rows = len(frame)
    columns = {
        "prediction_id": pa.array([uuid.uuid4().hex for _ in range(rows)], pa.string()),
        "input_file": pa.array([source] * rows, pa.string()),
        "input_row": pa.array(np.arange(first_row, first_row + rows), pa.int64()),
        "prediction": pa.array(np.asarray(scores.predictions).tolist()),
        "model": pa.array([model.version.name] * rows, pa.string()),
        "model_version": pa.array([model.version.version] * rows, pa.int64()),
    }
    if scores.probabilities is not None:
        for index, name in enumerate(scores.classes):
            columns[f"proba_{name}"] = pa.array(scores.probabilities[:, index], pa.float64())
    return pa.Table.from_pydict(columns)


def predict_file(model: LoadedModel, path: Path, writer: Any, chunk_rows: int,
                 progress: Progress) -> int:  # fmt: skip
    rows = 0
    try:
        for batch in _batches(path, chunk_rows):
            if batch.num_rows:
                writer(predict_chunk(model, batch, source=path.name, first_row=rows))
                rows += batch.num_rows
                progress(batch.num_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidArgumentError(f"{path}: cannot be read: {exc}") from None
    return rows


class _AtomicParquet:
    """Parquet written under a temporary name and renamed into place when complete."""

    def __init__(self, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        os.close(handle)
        self.dest, self.partial = dest, Path(name)
        self._writer: pq.ParquetWriter | None = None

    def __call__(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.partial, table.schema)
        self._writer.write_table(table)

    def commit(self) -> None:
        if self._writer is None:
            raise InvalidArgumentError("the input holds no rows; nothing was written")
        self._writer.close()
        os.replace(self.partial, self.dest)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.partial.unlink(missing_ok=True)


def predict_batch(
    ref: str,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    executor: str = "local",
    trust: bool = False,
    progress: Progress | None = None,
    workspace: Workspace | None = None,
) -> BatchResult:
    if chunk_rows < 1:
        raise InvalidArgumentError("chunk_rows must be at least 1")
    if executor not in ("local", "ray"):
        raise InvalidArgumentError(f"unknown executor {executor!r}: use 'local' or 'ray'")
    ws = workspace or Workspace.current()
    version = resolve(ref, workspace=ws)
    target = ref if is_run_uri(ref) else version.uri  # a run's model has no version number
    files = input_files(Path(source).resolve())
    out = _AtomicParquet(Path(output).resolve())
    tick = progress or (lambda rows: None)
    try:
        if executor == "ray":
            setup = _WorkerSetup(_absolute(ws.config), _s3_options(ws.config))
            rows = _on_ray(setup, target, files, out, chunk_rows, trust, tick)
        else:
            model = load(target, trust=trust, workspace=ws)
            rows = sum(predict_file(model, f, out, chunk_rows, tick) for f in files)
        out.commit()
    except BaseException:
        out.abort()
        raise
    return BatchResult(Path(output), rows, len(files), version.name, version.version)


@dataclasses.dataclass(frozen=True)
class _WorkerSetup:
    """What a Ray worker needs to open the driver's workspace: the resolved configuration
    (absolute paths) and the artifact store's options (S3 endpoint, credentials, region)."""

    config: WorkspaceConfig
    storage_options: tuple[tuple[str, Any], ...] = ()


def _absolute(config: WorkspaceConfig) -> WorkspaceConfig:
    """The configuration with every local path absolute: a worker's folder is not ours."""
    artifact_uri = config.artifact_uri
    if artifact_uri and "://" not in artifact_uri:
        artifact_uri = local_uri(Path(artifact_uri))
    elif artifact_uri.startswith("file://") and not artifact_uri[7:].startswith("/"):
        artifact_uri = local_uri(Path(artifact_uri[7:]))
    store_uri = config.store_uri
    scheme, sep, rest = store_uri.partition(":///")
    if sep and scheme.startswith("sqlite") and rest and not rest.startswith("/"):
        path, query, params = rest.partition("?")
        store_uri = f"{scheme}:///{quote(str(Path(unquote(path)).resolve()), safe='/')}"
        store_uri += f"{query}{params}"
    root = config.root.resolve() if config.root is not None else None
    return dataclasses.replace(config, root=root, artifact_uri=artifact_uri, store_uri=store_uri)


def _s3_options(config: WorkspaceConfig) -> tuple[tuple[str, Any], ...]:
    """The s3fs options the driver's artifact store was opened with (the endpoint from
    LOOPML_S3_ENDPOINT_URL), plus the credentials and region botocore finds here (from the
    environment or ~/.aws): a worker may have neither the variables nor the files."""
    if not config.artifact_uri.lower().startswith("s3://"):
        return ()
    from loopml.artifacts.factory import s3_options

    options = s3_options(os.environ, {})
    try:
        import botocore.session
    except ImportError:  # s3fs brings botocore; without it there is no S3 store to reach
        return _freeze(options)
    session = botocore.session.Session()
    credentials = session.get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        options.update(key=frozen.access_key, secret=frozen.secret_key)
        if frozen.token:
            options["token"] = frozen.token
    region = session.get_config_variable("region")
    if region:
        client_kwargs = dict(options.get("client_kwargs") or {})
        client_kwargs.setdefault("region_name", region)
        options["client_kwargs"] = client_kwargs
    return _freeze(options)


def _freeze(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Hashable options (nested dicts as sorted pairs), so a worker's cache can key on them."""
    return tuple(
        sorted(
            (k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in options.items()
        )
    )


@functools.lru_cache(maxsize=4)
def _worker_workspace(setup: _WorkerSetup, pid: int) -> Workspace:
    """The driver's workspace, opened once per worker process (tasks reuse it)."""
    from loopml.artifacts.factory import open_artifacts
    from loopml.store.factory import open_store

    config = setup.config
    artifacts = open_artifacts(config.artifact_uri, **_thaw(setup.storage_options))
    return Workspace(config, open_store(config.store_uri, config.token), artifacts)


def _thaw(options: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, tuple) else v for k, v in options}


def _predict_part(setup: _WorkerSetup, uri: str, path: str, part: str, chunk_rows: int,
                  trust: bool) -> int:  # fmt: skip
    """A Ray task: one input file (an absolute path) into one Parquet part."""
    workspace = _worker_workspace(setup, os.getpid())
    model = load(uri, trust=trust, workspace=workspace)
    writer = _AtomicParquet(Path(part))
    rows = predict_file(model, Path(path), writer, chunk_rows, lambda rows: None)
    writer.commit()
    return rows


def _on_ray(setup: _WorkerSetup, uri: str, files: list[Path], out: _AtomicParquet,
            chunk_rows: int, trust: bool, tick: Progress) -> int:  # fmt: skip
    ray = require("ray", "batch prediction on Ray")  # a missing Ray names loopml[ray]

    started = False
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, log_to_driver=False)
        started = True
    try:
        return _run_parts(ray, setup, uri, files, out, chunk_rows, trust, tick)
    finally:
        if started:  # ours: disconnect (and stop the local Ray that init may have started)
            ray.shutdown()


def _run_parts(ray: Any, setup: _WorkerSetup, uri: str, files: list[Path], out: _AtomicParquet,
               chunk_rows: int, trust: bool, tick: Progress) -> int:  # fmt: skip
    task = ray.remote(_predict_part)
    parts = Path(tempfile.mkdtemp(prefix="loopml-parts-", dir=out.dest.parent))
    try:
        refs = {
            task.remote(setup, uri, str(f), str(parts / f"{i:06d}.parquet"), chunk_rows, trust): i
            for i, f in enumerate(files)
        }
        rows = 0
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=600)
            if not done:
                raise TimeoutError("a batch prediction task made no progress for 10 minutes")
            count = ray.get(done[0])
            rows += count
            tick(count)
        for i in range(len(files)):
            for batch in pq.ParquetFile(parts / f"{i:06d}.parquet").iter_batches():
                out(pa.Table.from_batches([batch]))
        return rows
    finally:
        shutil.rmtree(parts, ignore_errors=True)
