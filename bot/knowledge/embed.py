"""Sentence embeddings: all-MiniLM-L6-v2 fine-tuned for DevOps questions, run with onnxruntime.

The model (ONNX, int8-quantized) and its WordPiece vocabulary ship inside this package
(`bot/knowledge/model/`, made by bench/finetune.py), so nothing is downloaded at run time and
torch is never needed. Vectors are L2-normalized float32.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

# Bump the suffix whenever `embedding_text` changes: stored vectors are keyed by this id.
MODEL_ID = "minilm-l6-devops-ft3-qdyn/1"
DIM = 384
MODEL_SHA256 = "0f4d151965f5cf2a7554c0e45ba2513d5cd3492cd0a7f2abeda4ad9cdaccf9b5"
MODEL_BYTES = 33_588_837
MAX_TOKENS = 256  # the model's trained sequence length
MAX_CHARS = 1500  # past ~256 word pieces the model ignores the rest anyway
BATCH_TOKENS = 4096  # word pieces per model call: 16 texts of 256, or 128 short ones

_PLACEHOLDER = re.compile(r"\{\{\s*|\s*\}\}")
_ALTERNATIVES = re.compile(r"\[([^\[\]|]+(?:\|[^\[\]|]+)+)\]")
_MD_NOISE = re.compile(r"[`*#>]+|\]\([^)]*\)")
_SPACE = re.compile(r"\s+")


# onnxruntime (1.32 here) records the machine (OS, CPU, memory, the program's path) in
# ~/.cache/Microsoft/DeveloperTools as soon as it is imported, for upload to Microsoft's event
# collector. A bot that runs in a team's infrastructure does not report on it: off unless the
# operator sets this variable themselves.
# Set here, at import (before onnxruntime is, which reads it then), on the importing thread and
# before any model-loading thread starts: changing the environment while another thread reads
# it is not safe in C.
TELEMETRY_SWITCH = "ORT_DISABLE_TELEMETRY"
os.environ.setdefault(TELEMETRY_SWITCH, "1")


class EmbeddingError(RuntimeError):
    """The model could not be loaded (missing or corrupted package)."""


def embedding_text(title: str, section: str, text: str) -> str:
    """What the model reads for a chunk: where it sits, then its words without Markdown noise.

    Command templates are spelled out (`{{[-f|--follow]}}` → `-f --follow`) so the model sees
    the words, not the template syntax.
    """
    head = section or title
    if title and title not in section:
        head = f"{section}: {title}" if section else title
    body = _PLACEHOLDER.sub(" ", text)
    body = _ALTERNATIVES.sub(lambda m: m.group(1).replace("|", " "), body)
    body = _MD_NOISE.sub(" ", body).replace("_", " ")
    return _SPACE.sub(" ", f"{head}: {body}").strip()[:MAX_CHARS]


def model_file() -> Path:
    """The shipped model, checked by size: a truncated copy or a Git LFS pointer is refused.

    The full checksum (MODEL_SHA256) is checked by the tests, not on every start: hashing the
    file means reading all of it, 40 ms of a cold `ask`, where onnxruntime maps only what it
    needs. A file whose bytes are damaged but whose size is right fails to parse instead.
    """
    path = Path(str(resources.files("bot.knowledge") / "model" / "model.onnx"))
    try:
        size = path.stat().st_size
    except OSError as exc:  # pragma: no cover - a broken install
        message = f"{path}: cannot read the embedding model; reinstall devopsbot"
        raise EmbeddingError(message) from exc
    if size != MODEL_BYTES:
        raise EmbeddingError(
            f"{path}: {size} bytes where the model has {MODEL_BYTES}; reinstall devopsbot"
        )
    return path


class Encoder:
    """Lazily loaded ONNX sentence encoder; thread-safe, counts what it encodes."""

    def __init__(self, threads: int = 0, path: Path | None = None) -> None:
        self._threads = threads
        self._path = path  # another model file (benchmarks); None: the shipped one, checked
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def load_in_background(self) -> None:
        """Start loading the model on another thread (encode() waits for it if needed)."""
        if self._session is None:
            # Not a daemon: a process exiting early (a bad setting) must let the native loader
            # finish, or the C++ runtime aborts the whole process at exit.
            threading.Thread(target=self._load_quietly, name="model-load").start()

    def _load_quietly(self) -> None:
        try:
            self._load()
        except Exception:  # reported again, with its cause, by the encode() that needs it
            return

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import BertWordPieceTokenizer

            path = self._path or model_file()
            options = ort.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # Spinning worker threads would steal the CPU the index needs right after encoding.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
            try:
                # From the path, not from bytes read here: onnxruntime maps the file, which
                # loads in two thirds of the time (110 against 170 ms on these cores).
                session = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own, unrelated classes
                raise EmbeddingError(
                    f"{path}: cannot load the embedding model ({exc}); reinstall devopsbot"
                ) from exc
            vocab = resources.files("bot.knowledge") / "model" / "vocab.txt"
            with resources.as_file(vocab) as vocab_path:
                tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=True)
            tokenizer.enable_truncation(MAX_TOKENS)
            self._tokenizer = tokenizer
            self._session = session

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (len(texts) × DIM, float32), batched by length to waste no padding."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        self._load()
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        batch: list[int] = []
        for i in order:
            # Attention memory grows with batch × length²: long texts go in smaller batches.
            if batch and (len(batch) + 1) * len(encodings[i].ids) > BATCH_TOKENS:
                out[batch] = self._run([encodings[j] for j in batch])
                batch = []
            batch.append(i)
        if batch:
            out[batch] = self._run([encodings[j] for j in batch])
        return out

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        (hidden,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        # Mean pooling over real tokens, then unit length: the model's sentence embedding.
        summed = (hidden * mask[..., None]).sum(axis=1)
        vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


_shared: dict[int, Encoder] = {}
_shared_lock = threading.Lock()


def shared_encoder(threads: int = 0) -> Encoder:
    """One encoder per thread setting per process: the model is loaded once, however many
    answerers (tests, the bot's listeners and jobs) ask for it."""
    with _shared_lock:
        if threads not in _shared:
            _shared[threads] = Encoder(threads=threads)
        return _shared[threads]


def to_bytes(vector: np.ndarray) -> bytes:
    """Stored form of a vector: float16 halves the store and changes cosines by < 1e-3."""
    return np.asarray(vector, dtype=np.float16).tobytes()
