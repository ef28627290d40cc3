"""The transformers flavor on a tiny BERT built here (never downloaded): safetensors round
trip, refusal of pickle files, remote code and classes outside transformers."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
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

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "movie", "film", "great",
         "awful", "the", "a", "plot"]  # fmt: skip
TEXTS = pd.DataFrame({"text": ["good movie", "the awful film", "a great plot", "bad bad"]})


@pytest.fixture(autouse=True)
def _offline(monkeypatch) -> None:
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            require(module, "pip install 'loopml[torch,transformers]'")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny(tmp_path: Path, num_labels: int = 2) -> tuple[Any, Any]:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(VOCAB))
    labels = {0: "neg", 1: "pos"} if num_labels == 2 else {0: "score"}
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32,
                        num_labels=num_labels, id2label=labels,
                        label2id={v: k for k, v in labels.items()})  # fmt: skip
    torch.manual_seed(0)
    return BertForSequenceClassification(config).eval(), BertTokenizer(vocab_file=str(vocab))


def _logits(model: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
    import torch

    with torch.no_grad():
        encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        return model(**encoded).logits.numpy()


def test_a_tiny_bert_round_trips_in_safetensors(workspace, tmp_path: Path) -> None:
    model, tokenizer = tiny(tmp_path)
    wrapped = loopml.registry.transformers_model(model, tokenizer)
    version = loopml.registry.register("bert", wrapped, input_example=TEXTS, workspace=workspace)
    assert version.flavor == "transformers" and version.signature.columns == ["text"]
    assert version.trusted_types == ("transformers:BertForSequenceClassification",
                                     "transformers:BertTokenizer")  # fmt: skip
    loaded = loopml.registry.load("bert", workspace=workspace)  # no trust needed
    logits = _logits(model, tokenizer, TEXTS["text"].tolist())
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), proba, rtol=1e-5)
    assert loaded.predict(TEXTS).tolist() == [["neg", "pos"][i] for i in logits.argmax(axis=1)]
    scores = loaded.score(loaded.prepare(TEXTS))
    assert scores.classes == ("neg", "pos")
    with pytest.raises(InvalidArgumentError, match="missing column 'text'"):
        loaded.predict(pd.DataFrame({"body": ["good"]}))


def test_one_label_is_a_regressor(workspace, tmp_path: Path) -> None:
    model, tokenizer = tiny(tmp_path, num_labels=1)
    loopml.registry.register("score", loopml.registry.transformers_model(model, tokenizer),
                             input_example=TEXTS, workspace=workspace)  # fmt: skip
    loaded = loopml.registry.load("score", workspace=workspace)
    expected = _logits(model, tokenizer, TEXTS["text"].tolist())[:, 0]
    np.testing.assert_allclose(loaded.predict(TEXTS), expected, rtol=1e-5)
    assert not hasattr(loaded.model, "predict_proba")


def test_a_model_without_its_tokenizer_is_refused(workspace, tmp_path: Path) -> None:
    model, _ = tiny(tmp_path)
    with pytest.raises(InvalidArgumentError, match="needs its tokenizer"):
        loopml.registry.register("bert", model, workspace=workspace)


def _saved(workspace, tmp_path: Path) -> tuple[Path, list[str]]:
    """The files of a registered tiny model, copied out to be tampered with."""
    model, tokenizer = tiny(tmp_path)
    version = loopml.registry.register(
        "bert", loopml.registry.transformers_model(model, tokenizer), workspace=workspace
    )
    folder = tmp_path / "files"
    stored = objects.Stored(version.digest, objects.FOLDER, version.size)
    objects.write_out(workspace.artifacts, stored, folder, what="test")
    return folder, list(version.trusted_types)


def _plant(workspace, folder: Path, trusted: list[str]) -> str:
    stored = objects.store(workspace.artifacts, folder)
    version = workspace.store.models.create_version(
        "planted", flavor="transformers", digest=stored.digest, size=stored.size,
        trusted_types=trusted,
    )  # fmt: skip
    return version.uri


@pytest.mark.security
def test_pickle_weights_are_refused_and_never_run(workspace, tmp_path: Path) -> None:
    folder, trusted = _saved(workspace, tmp_path)
    marker = tmp_path / "marker"
    (folder / "model" / "model.safetensors").unlink()
    (folder / "model" / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(marker)))
    uri = _plant(workspace, folder, trusted)
    with pytest.raises(InvalidArgumentError, match=r"pytorch_model\.bin: a pickle-format file"):
        loopml.registry.load(uri, trust=True, workspace=workspace)
    assert not marker.exists()


@pytest.mark.security
def test_remote_code_and_foreign_classes_are_refused(workspace, tmp_path: Path) -> None:
    folder, trusted = _saved(workspace, tmp_path)
    config_path = folder / "model" / "config.json"
    config = json.loads(config_path.read_text())
    remote = tmp_path / "remote"
    shutil.copytree(folder, remote)
    (remote / "model" / "config.json").write_text(
        json.dumps({**config, "auto_map": {"AutoModel": "evil.Model"}})
    )
    with pytest.raises(InvalidArgumentError, match="remote code"):
        loopml.registry.load(_plant(workspace, remote, trusted), workspace=workspace)

    meta = json.loads((folder / "transformers.json").read_text())
    (folder / "transformers.json").write_text(json.dumps({**meta, "architecture": "os"}))
    config_path.write_text(json.dumps({**config, "architectures": ["os"]}))
    foreign = ["transformers:os", trusted[1]]
    with pytest.raises(InvalidArgumentError, match="'os' is not a transformers PreTrainedModel"):
        loopml.registry.load(_plant(workspace, folder, foreign), trust=True, workspace=workspace)


def test_a_text_classification_pipeline_registers_as_is(workspace, tmp_path: Path) -> None:
    from transformers import pipeline

    model, tokenizer = tiny(tmp_path)
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    version = loopml.registry.register("pipe", classify, input_example=TEXTS, workspace=workspace)
    assert version.flavor == "transformers"
    loaded = loopml.registry.load("pipe", workspace=workspace)
    assert loaded.predict(TEXTS).tolist() == [row["label"] for row in classify(list(TEXTS["text"]))]
