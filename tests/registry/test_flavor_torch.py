"""The PyTorch flavor: safetensors weights and a class reference, trust for the user's code,
tensor signatures."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.artifacts import objects
from loopml.core.errors import InvalidArgumentError
from tests.conftest import require
from tests.registry.payloads import Payload

HAVE_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(autouse=True)
def _torch() -> None:
    if not HAVE_TORCH:
        require("torch", "pip install 'loopml[torch]'")


def _frame(rows: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "d"])


def _sequential() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def _logits(module: Any, frame: pd.DataFrame) -> np.ndarray:
    import torch

    with torch.no_grad():
        return module(torch.tensor(frame.to_numpy(), dtype=torch.float32)).numpy()


def test_a_sequential_of_torch_layers_round_trips_without_trust(workspace) -> None:
    net, frame = _sequential(), _frame()
    wrapped = loopml.registry.torch_model(net, task="classification", classes=["x", "y", "z"])
    version = loopml.registry.register("net", wrapped, input_example=frame, workspace=workspace)
    assert version.flavor == "pytorch" and version.signature.columns == list(frame)
    assert "torch.nn.modules.linear:Linear" in version.trusted_types
    model = loopml.registry.load("net/1", workspace=workspace)
    logits = _logits(net, frame)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(frame), expected, rtol=1e-5)
    assert model.predict(frame).tolist() == [["x", "y", "z"][i] for i in logits.argmax(axis=1)]
    scores = model.score(model.prepare(frame))
    assert scores.classes == ("x", "y", "z") and scores.probabilities.shape == (6, 3)


def test_regression_and_raw_outputs(workspace) -> None:
    import torch

    torch.manual_seed(1)
    net, frame = torch.nn.Linear(4, 1), _frame()
    loopml.registry.register("reg", loopml.registry.torch_model(net, task="regression"),
                             input_example=frame, workspace=workspace)  # fmt: skip
    loopml.registry.register("raw", net, input_example=frame, workspace=workspace)
    regression = loopml.registry.load("reg/1", workspace=workspace).predict(frame)
    raw = loopml.registry.load("raw/1", workspace=workspace).predict(frame)
    np.testing.assert_allclose(regression, _logits(net, frame)[:, 0], rtol=1e-6)
    assert raw.shape == (6, 1) and regression.shape == (6,)
    assert not hasattr(loopml.registry.load("reg/1", workspace=workspace).model, "predict_proba")


def test_a_users_class_needs_trust_to_register_and_to_load(workspace) -> None:
    from tests.registry.torch_models import TinyNet

    net, frame = TinyNet(4, 2), _frame()
    with pytest.raises(InvalidArgumentError, match=r"TinyNet.*trust=True"):
        loopml.registry.register("tiny", net, input_example=frame, workspace=workspace)
    version = loopml.registry.register(
        "tiny", loopml.registry.torch_model(net, task="classification"), input_example=frame,
        trust=True, workspace=workspace,
    )  # fmt: skip
    assert "tests.registry.torch_models:TinyNet" in version.trusted_types
    with pytest.raises(InvalidArgumentError, match=r"can run arbitrary code.*TinyNet"):
        loopml.registry.load("tiny/1", workspace=workspace)
    model = loopml.registry.load("tiny/1", trust=True, workspace=workspace)
    assert model.model.module.init_kwargs == {"n_in": 4, "n_out": 2, "hidden": 8}
    assert model.predict(frame).tolist() == _logits(net, frame).argmax(axis=1).tolist()


def test_a_class_that_cannot_be_rebuilt_or_imported_is_refused_at_register(workspace) -> None:
    import torch

    from tests.registry.torch_models import NoRecord

    with pytest.raises(InvalidArgumentError, match=r"cannot be rebuilt.*init="):
        loopml.registry.register("m", NoRecord(4), trust=True, workspace=workspace)
    version = loopml.registry.register(
        "m", loopml.registry.torch_model(NoRecord(4), init={"n_in": 4}), trust=True,
        workspace=workspace,
    )  # fmt: skip
    assert version.version == 1

    class Local(torch.nn.Linear):
        pass

    with pytest.raises(InvalidArgumentError, match="importable module"):
        loopml.registry.register("m", Local(2, 2), trust=True, workspace=workspace)


def _plant(workspace, tmp_path: Path, files: dict[str, bytes], trusted: list[str]) -> str:
    folder = tmp_path / "planted"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    stored = objects.store(workspace.artifacts, folder)
    version = workspace.store.models.create_version(
        "planted", flavor="pytorch", digest=stored.digest, size=stored.size,
        trusted_types=trusted,
    )  # fmt: skip
    return version.uri


def _meta(ref: str) -> bytes:
    spec = {"class": ref, "init": {"command": "touch /tmp/never"}}
    return json.dumps({"module": spec, "task": "raw", "classes": None, "logits": True}).encode()


def test_a_planted_reference_to_a_function_is_refused_even_with_trust(workspace, tmp_path):
    uri = _plant(workspace, tmp_path, {"pytorch.json": _meta("os:system"),
                                       "model.safetensors": b""}, ["os:system"])  # fmt: skip
    with pytest.raises(InvalidArgumentError, match=r"can run arbitrary code.*os:system"):
        loopml.registry.load(uri, workspace=workspace)
    with pytest.raises(InvalidArgumentError, match=r"os:system is not a torch\.nn\.Module class"):
        loopml.registry.load(uri, trust=True, workspace=workspace)


def test_files_naming_a_class_the_record_does_not_are_refused(workspace, tmp_path) -> None:
    linear = "torch.nn.modules.linear:Linear"
    uri = _plant(workspace, tmp_path, {"pytorch.json": _meta("os:system"),
                                       "model.safetensors": b""}, [linear])  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="registered with"):
        loopml.registry.load(uri, workspace=workspace)


@pytest.mark.security
def test_pickled_weights_are_never_unpickled(workspace, tmp_path: Path) -> None:
    """A torch.save (pickle) file in place of the safetensors weights, or beside them: the
    load fails on the format and the payload never runs."""
    import torch

    marker = tmp_path / "marker"
    net = torch.nn.Linear(4, 1)
    version = loopml.registry.register("lin", net, workspace=workspace)
    meta = json.dumps({"module": {"class": version.trusted_types[0],
                                  "init": {"in_features": 4, "out_features": 1, "bias": True}},
                       "task": "raw", "classes": None, "logits": True}).encode()  # fmt: skip
    uri = _plant(workspace, tmp_path, {"pytorch.json": meta,
                                       "model.safetensors": pickle.dumps(Payload(marker))},
                 list(version.trusted_types))  # fmt: skip
    with pytest.raises(InvalidArgumentError, match="could not be loaded"):
        loopml.registry.load(uri, trust=True, workspace=workspace)
    assert not marker.exists()


def test_tensor_signature_is_recorded_and_checked(workspace) -> None:
    import torch

    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
    example = torch.rand(5, 2, 3)
    version = loopml.registry.register("img", net, input_example=example, workspace=workspace)
    spec = version.signature.tensor
    assert (spec.dtype, spec.shape) == ("float32", (-1, 2, 3))
    assert version.signature.columns == [str(i) for i in range(6)]  # rows, flattened
    model = loopml.registry.load("img", workspace=workspace)
    with torch.no_grad():
        expected = net(example).numpy()
    np.testing.assert_allclose(model.predict(example), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(example.double().numpy()), expected, rtol=1e-6)
    wrong = r"shape \[5, 3, 2\]; the model takes \[-1, 2, 3\]"
    with pytest.raises(InvalidArgumentError, match=wrong):
        model.predict(torch.rand(5, 3, 2))
    with pytest.raises(InvalidArgumentError, match="is complex64 but the model takes float32"):
        model.predict(torch.rand(5, 2, 3, dtype=torch.complex64))
    stored = workspace.store.models.get_version("img", 1).signature
    assert stored == version.signature  # the tensor spec survives the store's JSON
    rows = pd.DataFrame(example.reshape(5, 6).numpy(), columns=version.signature.columns)
    np.testing.assert_allclose(model.predict(rows), expected, rtol=1e-6)  # reshaped back


def test_a_large_tensor_is_not_a_table(workspace) -> None:
    import torch

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 40 * 40, 2))
    version = loopml.registry.register("big", net, input_example=torch.rand(2, 3, 40, 40),
                                       workspace=workspace)  # fmt: skip
    assert version.signature.inputs == () and version.signature.tensor.shape == (-1, 3, 40, 40)
    model = loopml.registry.load("big", workspace=workspace)
    assert model.predict(torch.rand(4, 3, 40, 40)).shape == (4, 2)
    with pytest.raises(InvalidArgumentError, match="input tensor has shape"):
        model.predict(pd.DataFrame({"a": [1.0]}))


def test_a_two_dimensional_tensor_example_gives_columns_and_a_tensor(workspace) -> None:
    import torch

    net = _sequential()
    version = loopml.registry.register("t", net, input_example=torch.rand(3, 4),
                                       workspace=workspace)  # fmt: skip
    assert version.signature.columns == ["0", "1", "2", "3"]
    assert version.signature.tensor.shape == (-1, 4)
    model = loopml.registry.load("t", workspace=workspace)
    rows = [{"0": 0.1, "1": 0.2, "2": 0.3, "3": 0.4}]
    same = model.predict(torch.tensor([[0.1, 0.2, 0.3, 0.4]]))
    np.testing.assert_allclose(model.predict(rows), same, rtol=1e-6)


def test_models_show_prints_the_tensor_signature(workspace, tmp_path: Path) -> None:
    import torch

    from tests.cli.test_cli import cli

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
    loopml.registry.register("img", net, input_example=torch.rand(5, 2, 3), workspace=workspace)
    shown = cli("models", "show", "img/1", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "(tensor)" in shown.stdout and "float32 [-1, 2, 3]" in shown.stdout
    as_json = json.loads(cli("models", "show", "img/1", "--json", cwd=tmp_path).stdout)
    assert as_json["version"]["signature"]["tensor"] == {"dtype": "float32", "shape": [-1, 2, 3]}


def test_a_float64_module_takes_float64_rows(workspace) -> None:
    import torch

    torch.manual_seed(3)
    net = torch.nn.Linear(4, 1).double()
    frame = _frame()
    loopml.registry.register("d", net, input_example=frame, workspace=workspace)
    with torch.no_grad():
        expected = net(torch.tensor(frame.to_numpy())).numpy()
    got = loopml.registry.load("d", workspace=workspace).predict(frame)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_a_bfloat16_module_round_trips(workspace) -> None:
    import torch

    torch.manual_seed(4)
    net = torch.nn.Linear(4, 2).to(torch.bfloat16)
    frame = _frame()
    loopml.registry.register("b", net, input_example=frame, workspace=workspace)
    with torch.no_grad():
        expected = net(torch.tensor(frame.to_numpy(), dtype=torch.bfloat16)).float().numpy()
    np.testing.assert_array_equal(loopml.registry.load("b", workspace=workspace).predict(frame),
                                  expected)  # fmt: skip


@pytest.mark.security
def test_a_record_asking_for_huge_layers_is_refused_before_allocating(workspace, tmp_path):
    import torch
    from safetensors.torch import save_model

    net = torch.nn.Linear(4, 1)
    folder = tmp_path / "weights"
    folder.mkdir()
    save_model(net, str(folder / "model.safetensors"))
    huge = {"in_features": 10**6, "out_features": 10**6, "bias": True}  # 4 TB as float32
    meta = {"module": {"class": "torch.nn.modules.linear:Linear", "init": huge},
            "task": "raw", "classes": None, "logits": True}  # fmt: skip
    files = {"pytorch.json": json.dumps(meta).encode(),
             "model.safetensors": (folder / "model.safetensors").read_bytes()}  # fmt: skip
    uri = _plant(workspace, tmp_path, files, ["torch.nn.modules.linear:Linear"])
    with pytest.raises(InvalidArgumentError, match="do not fit the weights file"):
        loopml.registry.load(uri, workspace=workspace)


def test_a_tensor_signature_survives_the_remote_stores_encoding() -> None:
    from loopml.core.models import ColumnSpec, Signature, TensorSpec
    from loopml.store import rpc

    signature = Signature((ColumnSpec("0", "float"),), "float", TensorSpec("float32", (-1, 1)))
    arguments = {"name": "m", "flavor": "pytorch", "digest": "d", "size": 1,
                 "signature": signature, "trusted_types": ["x"]}  # fmt: skip
    sent = json.loads(json.dumps(rpc.encode_arguments(arguments)))
    received = rpc.bind("models", "create_version", rpc.decode_arguments(sent))
    assert received["signature"] == signature
    assert Signature.from_json(json.loads(json.dumps(signature.to_json()))) == signature
