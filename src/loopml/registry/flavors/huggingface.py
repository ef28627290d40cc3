"""Hugging Face transformers text classifiers and regressors: safetensors, no remote code.

A model and its tokenizer are saved with `save_pretrained` (safetensors weights, JSON config
and tokenizer files); a folder holding a pickle-format file (`.bin`, `.pt`, `.pth`, `.pkl`,
`.ckpt`) is refused at save and at load. Loading builds the classes the config files name,
and only when they are transformers' own (`getattr(transformers, name)`, defined under
`transformers.`); a config asking for remote code (`auto_map`) is refused. Weights are read
with `use_safetensors=True`, `trust_remote_code=False` and `local_files_only=True`, so a
load neither runs code from the files nor reaches the network.

Rows to text: the signature's text column (or `text_column`), tokenized with padding and
truncation to `max_length`, in chunks of `CHUNK` rows. A classifier's logits give softmax
probabilities and the label of the argmax (`config.id2label`); with one label (or
`problem_type == "regression"`) the prediction is the logit itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError
from loopml.core.extras import require
from loopml.registry.flavors import Flavor

MODEL, TOKENIZER, META = "model", "tokenizer", "transformers.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
CHUNK = 64


class TransformersModel:
    """A transformers model with its tokenizer, as loopml serves it (build it with
    `loopml.registry.transformers_model`)."""

    def __init__(
        self, model: Any, tokenizer: Any, *, text_column: str | None = None, max_length: int = 512
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.text_column, self.max_length = text_column, max_length
        config = model.config
        self.regression = config.num_labels == 1 or config.problem_type == "regression"
        self.classes_ = None if self.regression else np.asarray(
            [config.id2label[i] for i in range(config.num_labels)]
        )  # fmt: skip

    def _texts(self, data: Any) -> list[str]:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            if self.text_column is not None:
                column = self.text_column
            elif len(data.columns) == 1:
                column = data.columns[0]
            else:
                raise InvalidArgumentError(
                    f"which column is the text? the input has {', '.join(map(str, data.columns))}"
                    ": register with transformers_model(..., text_column=NAME)"
                )
            data = data[column]
        return [str(text) for text in list(data)]

    def logits(self, data: Any) -> np.ndarray:
        import torch

        texts = self._texts(data)
        self.model.eval()
        parts = []
        with torch.inference_mode():
            for start in range(0, len(texts), CHUNK):
                encoded = self.tokenizer(texts[start : start + CHUNK], padding=True,
                                         truncation=True, max_length=self.max_length,
                                         return_tensors="pt")  # fmt: skip
                parts.append(self.model(**encoded).logits.float().cpu().numpy())
        return np.concatenate(parts) if parts else np.empty((0, self.model.config.num_labels))

    def predict(self, data: Any) -> np.ndarray:
        logits = self.logits(data)
        if self.regression:
            return logits[:, 0]
        return self.classes_[np.argmax(logits, axis=1)]


class TransformersClassifier(TransformersModel):
    def predict_proba(self, data: Any) -> np.ndarray:
        logits = self.logits(data).astype(np.float64)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)


def transformers_model(
    model: Any, tokenizer: Any, *, text_column: str | None = None, max_length: int = 512
) -> TransformersModel:
    """A sequence-classification model (or regression, with one label) and its tokenizer,
    ready for `registry.register`; `text_column` names the input's text column when the
    input has more than one."""
    config = model.config
    regression = config.num_labels == 1 or config.problem_type == "regression"
    kind = TransformersModel if regression else TransformersClassifier
    return kind(model, tokenizer, text_column=text_column, max_length=max_length)


def _transformers_class(name: Any, base: str) -> type:
    """The transformers class named `name`, a subclass of transformers' `base`; else refused."""
    transformers = require("transformers", "Hugging Face transformers models")
    found = getattr(transformers, name, None) if isinstance(name, str) else None
    if not (isinstance(found, type) and found.__module__.startswith("transformers.")
            and issubclass(found, getattr(transformers, base))):  # fmt: skip
        raise InvalidArgumentError(
            f"refusing to load: {name!r} is not a transformers {base} class (loopml builds "
            "only transformers' own classes, never remote code)"
        )
    return found


def _check_files(folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.suffix in PICKLE_SUFFIXES:
            raise InvalidArgumentError(
                f"refusing {path.name}: a pickle-format file; loopml keeps transformers models "
                "in safetensors only"
            )
    for config in sorted(folder.rglob("*config.json")):
        if "auto_map" in json.loads(config.read_text()):
            raise InvalidArgumentError(
                f"refusing {config.name}: it asks for remote code (auto_map)"
            )


class TransformersFlavor(Flavor):
    name = "transformers"

    def accepts(self, model: Any) -> bool:
        import sys

        transformers = sys.modules.get("transformers")
        return isinstance(model, TransformersModel) or (
            transformers is not None
            and isinstance(model, transformers.PreTrainedModel | transformers.Pipeline)
        )

    def save(self, model: Any, folder: Path) -> list[str]:
        wrapped = _wrapped(model)
        wrapped.model.save_pretrained(str(folder / MODEL))
        wrapped.tokenizer.save_pretrained(str(folder / TOKENIZER))
        _check_files(folder)
        architecture = type(wrapped.model).__name__
        tokenizer = type(wrapped.tokenizer).__name__
        _transformers_class(architecture, "PreTrainedModel")
        _transformers_class(tokenizer, "PreTrainedTokenizerBase")
        meta = {"architecture": architecture, "tokenizer": tokenizer,
                "text_column": wrapped.text_column, "max_length": wrapped.max_length}  # fmt: skip
        (folder / META).write_text(json.dumps(meta))
        return [f"transformers:{architecture}", f"transformers:{tokenizer}"]

    def load(self, folder: Path, trusted_types: Sequence[str]) -> Any:
        _check_files(folder)
        meta = json.loads((folder / META).read_text())
        config = json.loads((folder / MODEL / "config.json").read_text())
        names = [f"transformers:{meta['architecture']}", f"transformers:{meta['tokenizer']}"]
        if config.get("architectures") != [meta["architecture"]] or names != list(trusted_types):
            raise InvalidArgumentError(
                f"refusing to load: the files name {config.get('architectures')} and "
                f"{meta['tokenizer']}, the version was registered with {list(trusted_types)}"
            )
        model_class = _transformers_class(meta["architecture"], "PreTrainedModel")
        tokenizer_class = _transformers_class(meta["tokenizer"], "PreTrainedTokenizerBase")
        options = {"local_files_only": True, "trust_remote_code": False}
        model = model_class.from_pretrained(str(folder / MODEL), use_safetensors=True, **options)
        tokenizer = tokenizer_class.from_pretrained(str(folder / TOKENIZER), **options)
        return transformers_model(model, tokenizer, text_column=meta["text_column"],
                                  max_length=meta["max_length"])  # fmt: skip

    def risky_types(self, trusted_types: Sequence[str]) -> list[str]:
        return [t for t in trusted_types if not t.startswith("transformers:")]


def _wrapped(model: Any) -> TransformersModel:
    if isinstance(model, TransformersModel):
        return model
    tokenizer = getattr(model, "tokenizer", None)  # a pipeline
    if tokenizer is None:
        raise InvalidArgumentError(
            "a transformers model needs its tokenizer: register "
            "loopml.registry.transformers_model(model, tokenizer)"
        )
    return transformers_model(model.model, tokenizer)
