"""The shipped model: what every start checks cheaply, and what a broken copy does."""

from __future__ import annotations

import hashlib

import pytest

from bot.knowledge import embed
from bot.knowledge.embed import MODEL_BYTES, MODEL_SHA256, EmbeddingError, Encoder, model_file


def test_the_shipped_model_is_the_one_its_id_names():
    """Stored vectors are keyed by MODEL_ID: a new model file must come with a new checksum
    (and id), which this catches, since starts check the size only."""
    data = model_file().read_bytes()
    assert len(data) == MODEL_BYTES
    assert hashlib.sha256(data).hexdigest() == MODEL_SHA256


def test_a_model_of_the_wrong_size_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setattr(embed, "MODEL_BYTES", MODEL_BYTES + 1)
    with pytest.raises(EmbeddingError, match="reinstall devopsbot"):
        model_file()


def test_a_damaged_model_file_is_refused_with_what_to_do(tmp_path):
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"\x08\x07" + b"not a model" * 1000)
    with pytest.raises(EmbeddingError, match="cannot load the embedding model"):
        Encoder(path=broken).encode(["how do I tail pods"])
