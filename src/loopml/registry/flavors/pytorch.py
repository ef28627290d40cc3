"""PyTorch modules: weights in safetensors, the architecture as a class reference and JSON.

Why this format and not another (as of torch 2.13):

- `torch.save` files are pickles; `torch.load(weights_only=True)` restricts the unpickler,
  but the file format is still pickle and the restriction has had bypasses.
- `torch.export.load` reads its weights with `torch.load(weights_only=True)` and, when that
  fails, falls back to `weights_only=False` (torch/_export/serde/serialize.py): a crafted
  `.pt2` runs code. TorchScript archives carry code for the TorchScript interpreter and are
  deprecated.
- safetensors is a JSON header and raw tensor bytes: reading it constructs nothing.

So a model is `model.safetensors` plus `pytorch.json`: the module's class as
"package.module:Class" with its constructor's keyword arguments (JSON), or, for an
`nn.Sequential` of torch's own layers, the layers one by one. Loading imports the class and
calls it, which runs code: torch's own layers from a fixed list (`_LAYERS`) load without
trust; any other class is the user's code, recorded in the version's trusted types, and its
loading needs trust=True (registry.load refuses it otherwise). A recorded reference must be
an `nn.Module` subclass even then: `os:system` is refused, not called.

Rows to tensors: a frame becomes a matrix (its columns in signature order) of the weights'
floating dtype, float32 usually (the dtype is kept with the weights: float64, float16 and
bfloat16 modules load as they were saved); an array or tensor goes in as it is, checked first
by a tensor signature when there is one, floating values cast to the weights' dtype. Outputs:
`task="classification"` reads the output as logits (or probabilities with `logits=False`):
softmax over k >= 2 columns, a sigmoid for one, predictions the argmax's class;
`"regression"` flattens an [n, 1] output; `"raw"` (the default) returns it unchanged.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError
from loopml.core.extras import require
from loopml.registry.flavors import Flavor
from loopml.registry.signature import as_array

WEIGHTS, META = "model.safetensors", "pytorch.json"
TASKS = ("raw", "regression", "classification")
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
# torch.nn layers rebuilt from recorded arguments without trust: name -> constructor
# arguments read back from the layer ("bias" is whether it has one).
_LAYERS: dict[str, tuple[str, ...]] = {
    "Linear": ("in_features", "out_features", "bias"),
    "ReLU": (), "Tanh": (), "Sigmoid": (), "Identity": (), "SiLU": (),
    "GELU": ("approximate",), "LeakyReLU": ("negative_slope",), "Dropout": ("p",),
    "Flatten": ("start_dim", "end_dim"), "Softmax": ("dim",),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias"),
    "BatchNorm1d": ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    "Sequential": (),
}  # fmt: skip


def class_ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _builtin_layers() -> dict[str, str]:
    """Reference -> name of torch's own layers in `_LAYERS`."""
    torch = require("torch", "PyTorch models")
    return {class_ref(getattr(torch.nn, name)): name for name in _LAYERS}


def import_class(ref: str) -> type:
    """The nn.Module subclass a reference names; anything else is refused."""
    import torch

    if not _REF.match(ref):
        raise InvalidArgumentError(f"{ref!r} is not a class reference (package.module:Class)")
    module_name, qualname = ref.split(":", 1)
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not (isinstance(found, type) and issubclass(found, torch.nn.Module)):
        raise InvalidArgumentError(f"refusing to load: {ref} is not a torch.nn.Module class")
    return found


class TorchModel:
    """A module with what loopml needs to serve it: `predict` runs it in eval mode without
    gradients on the CPU. Build one with `loopml.registry.torch_model`."""

    def __init__(
        self,
        module: Any,
        *,
        task: str = "raw",
        classes: Sequence[Any] | None = None,
        init: dict[str, Any] | None = None,
        logits: bool = True,
    ) -> None:
        if task not in TASKS:
            raise InvalidArgumentError(f"unknown task {task!r}: use one of {', '.join(TASKS)}")
        if classes is not None and task != "classification":
            raise InvalidArgumentError("classes are for task='classification'")
        self.module, self.task, self.logits = module, task, logits
        self.classes_ = None if classes is None else np.asarray(list(classes))
        self.init = init

    def forward(self, data: Any) -> np.ndarray:
        import pandas as pd
        import torch

        if isinstance(data, pd.DataFrame):
            array = data.to_numpy(dtype=np.float64)
        else:
            array = as_array(data)
        inputs = torch.from_numpy(np.require(array, requirements=["C", "W"]))
        if inputs.is_floating_point():  # JSON and pandas give float64: the weights decide
            inputs = inputs.to(self._float_dtype())
        self.module.eval()
        with torch.inference_mode():
            output = self.module(inputs)
        if not isinstance(output, torch.Tensor):
            raise InvalidArgumentError(
                f"the module returned a {type(output).__name__}, not a tensor: loopml serves "
                "modules whose forward() returns one tensor"
            )
        output = output.detach().cpu()
        return (output.float() if output.dtype == torch.bfloat16 else output).numpy()

    def _float_dtype(self) -> Any:
        """The torch dtype of the module's first floating-point weight (float32 without)."""
        import torch

        for tensor in self.module.parameters():
            if tensor.is_floating_point():
                return tensor.dtype
        return torch.float32

    def predict(self, data: Any) -> np.ndarray:
        output = self.forward(data)
        if self.task == "regression" and output.ndim == 2 and output.shape[1] == 1:
            return output[:, 0]
        return output


def class_probabilities(output: np.ndarray, logits: bool) -> np.ndarray:
    """Rows x classes: softmax over k >= 2 logits, a sigmoid for one (as [1 - p, p]); with
    `logits=False` the output already holds probabilities."""
    scores = output.astype(np.float64).reshape(len(output), -1)
    if scores.shape[1] == 1:
        positive = 1 / (1 + np.exp(-scores[:, 0])) if logits else scores[:, 0]
        return np.column_stack([1 - positive, positive])
    if not logits:
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class TorchClassifier(TorchModel):
    def predict_proba(self, data: Any) -> np.ndarray:
        return class_probabilities(self.forward(data), self.logits)

    def predict(self, data: Any) -> np.ndarray:
        best = np.argmax(self.predict_proba(data), axis=1)
        return best if self.classes_ is None else self.classes_[best]


def torch_model(
    module: Any,
    *,
    task: str = "raw",
    classes: Sequence[Any] | None = None,
    init: dict[str, Any] | None = None,
    logits: bool = True,
) -> TorchModel:
    """Wrap a module for `registry.register`: `task` says how its output is read (see the
    module docstring), `classes` names a classifier's outputs, and `init` is the keyword
    arguments its class is built with (else its `init_kwargs` attribute, else none)."""
    kind = TorchClassifier if task == "classification" else TorchModel
    return kind(module, task=task, classes=classes, init=init, logits=logits)


# -- the architecture as JSON -----------------------------------------------------------------
def _spec(module: Any, init: dict[str, Any] | None, builtin: dict[str, str]) -> dict[str, Any]:
    cls = type(module)
    ref = class_ref(cls)
    name = builtin.get(ref)
    if name == "Sequential":
        return {"class": ref, "layers": [_spec(m, None, builtin) for m in module]}
    if name is not None and init is None:
        init = {a: _attribute(module, a) for a in _LAYERS[name]}
    if "<locals>" in ref or cls.__module__ == "__main__":
        raise InvalidArgumentError(
            f"{cls.__qualname__} is defined in {cls.__module__}: move it into an importable "
            "module so the model can be loaded elsewhere"
        )
    init = init if init is not None else getattr(module, "init_kwargs", None) or {}
    try:
        json.dumps(init)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"the constructor arguments of {cls.__qualname__} must be JSON: {init!r}"
        ) from None
    return {"class": ref, "init": init}


def _attribute(module: Any, name: str) -> Any:
    value = getattr(module, name)
    if name == "bias" and not isinstance(value, bool):
        return value is not None
    return list(value) if isinstance(value, tuple) else value


def _build(spec: dict[str, Any]) -> Any:
    cls = import_class(spec["class"])
    if "layers" in spec:
        return cls(*[_build(layer) for layer in spec["layers"]])
    return cls(**spec.get("init", {}))


def _refs(spec: dict[str, Any]) -> list[str]:
    return [spec["class"], *(r for layer in spec.get("layers", []) for r in _refs(layer))]


class TorchFlavor(Flavor):
    name = "pytorch"

    def accepts(self, model: Any) -> bool:
        import sys

        torch = sys.modules.get("torch")
        return isinstance(model, TorchModel) or (
            torch is not None and isinstance(model, torch.nn.Module)
        )

    def save(self, model: Any, folder: Path) -> list[str]:
        safetensors = require("safetensors.torch", "PyTorch models")
        wrapped = model if isinstance(model, TorchModel) else TorchModel(model)
        spec = _spec(wrapped.module, wrapped.init, _builtin_layers())
        _check_rebuilds(spec, wrapped.module)
        safetensors.save_model(wrapped.module, str(folder / WEIGHTS))
        classes = None if wrapped.classes_ is None else wrapped.classes_.tolist()
        meta = {"module": spec, "task": wrapped.task, "classes": classes,
                "logits": wrapped.logits,
                "dtype": str(wrapped._float_dtype()).removeprefix("torch.")}  # fmt: skip
        (folder / META).write_text(json.dumps(meta))
        return sorted(set(_refs(spec)))

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        safetensors = require("safetensors.torch", "loading a PyTorch model")
        import torch

        meta = json.loads((folder / META).read_text())
        spec = meta["module"]
        if sorted(set(_refs(spec))) != sorted(trusted_types):
            raise InvalidArgumentError(
                f"refusing to load: the files name classes {sorted(set(_refs(spec)))}, the "
                f"version was registered with {sorted(trusted_types)}"
            )
        dtype = meta.get("dtype", "float32")
        if dtype not in _FLOATS:
            raise InvalidArgumentError(f"refusing to load: weights of dtype {dtype!r}")
        if self.risky_types(trusted_types):
            module = _build(spec)  # the user's own class, trusted: built as it would be
        else:  # torch's layers: built without memory first, then sized by the weights file
            with torch.device("meta"):
                module = _build(spec)
            _check_shapes(module, folder / WEIGHTS)
            module = module.to_empty(device="cpu")
        module.to(getattr(torch, dtype))
        safetensors.load_model(module, str(folder / WEIGHTS), strict=True, device="cpu")
        module.eval()
        return torch_model(module, task=meta["task"], classes=meta["classes"],
                           init=spec.get("init"), logits=meta["logits"])  # fmt: skip

    def risky_types(self, trusted_types: Sequence[str]) -> list[str]:
        """Every class that is not one of torch's own vetted layers: building it runs its
        code."""
        builtin = _builtin_layers()
        return [ref for ref in trusted_types if ref not in builtin]


def _check_shapes(module: Any, weights: Path) -> None:
    """The recorded layers' weights must have the shapes the file holds: a planted record
    asking for Linear(10**9, 10**9) is refused before anything is allocated."""
    from safetensors import safe_open

    expected = {name: list(t.shape) for name, t in module.state_dict().items()}
    with safe_open(str(weights), framework="pt") as file:
        found = {name: list(file.get_slice(name).get_shape()) for name in file.keys()}  # noqa: SIM118
    wrong = sorted(k for k in expected.keys() | found.keys() if expected.get(k) != found.get(k))
    if wrong:
        name = wrong[0]
        raise InvalidArgumentError(
            "refusing to load: the recorded layers do not fit the weights file (first "
            f"difference: {name!r}, recorded {expected.get(name)}, file {found.get(name)})"
        )


def _check_rebuilds(spec: dict[str, Any], module: Any) -> None:
    """Build the module again from the record and load its weights (at register time, so a
    missing constructor argument is found now, not when it is served)."""
    try:
        rebuilt = _build(spec)
        rebuilt.load_state_dict(module.state_dict(), strict=True)
    except InvalidArgumentError:
        raise
    except Exception as exc:
        raise InvalidArgumentError(
            f"{spec['class']} cannot be rebuilt from its recorded arguments "
            f"{spec.get('init', {})}: {exc}. Pass init={{...}} to loopml.registry.torch_model, "
            "or give the module an init_kwargs attribute"
        ) from None
