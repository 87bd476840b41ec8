"""Ranking behaviour a user notices: the right chunk first, and an honest "I don't know".

The index is pure; these tests give it real vectors from the real embedding model (the shipped
sample vectors for the seed notes, the encoder for questions and small fixtures).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz.distance import OSA

from bot.chunks import chunk_text_hash
from bot.knowledge.analysis import content_words, dictionary_words, stem
from bot.knowledge.calibration import Evidence, Signals, default_calibration
from bot.knowledge.embed import embedding_text, shared_encoder
from bot.knowledge.index import (
    MAX_SPELLED_WORDS,
    IndexedChunk,
    KnowledgeIndex,
    SourceUpdate,
    distinct,
    evidence,
)
from bot.knowledge.notes import chunk_markdown
from bot.knowledge.sample import shipped_vectors

SEED_NOTES = Path(__file__).parents[2] / "bot" / "sample_data" / "devops-notes.md"


def _indexed(drafts, source_id=1, start=0):
    return [
        IndexedChunk(
            id=start + i,
            source_id=source_id,
            kind=d.kind,
            title=d.title,
            section=d.section,
            text=d.text,
            url=d.url,
            source_name="notes.md",
            line_start=d.line_start,
            line_end=d.line_end,
        )
        for i, d in enumerate(drafts)
    ]


def _vectors(chunks):
    """Shipped vectors where the text is sample data, else the real encoder's."""
    shipped = shipped_vectors()
    out = []
    missing = []
    for i, c in enumerate(chunks):
        vec = shipped.get(chunk_text_hash(c.title, c.section, c.text))
        out.append(None if vec is None else vec.astype(np.float32))
        if vec is None:
            missing.append(i)
    if missing:
        encoded = shared_encoder().encode(
            [embedding_text(chunks[i].title, chunks[i].section, chunks[i].text) for i in missing]
        )
        for i, vec in zip(missing, encoded, strict=True):
            out[i] = vec
    return out


def _ask(index, question, limit=3):
    vector = shared_encoder().encode([index.spelled(question)])[0]
    return index.search(question, limit=limit, query_vector=vector)


@pytest.fixture(scope="module")
def index():
    chunks = _indexed(chunk_markdown(SEED_NOTES.read_text("utf-8")))
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, chunks, _vectors(chunks))
    return idx


def test_the_seed_vectors_cover_every_seed_note_chunk():
    chunks = chunk_markdown(SEED_NOTES.read_text("utf-8"))
    shipped = shipped_vectors()
    stale = [c.title for c in chunks if chunk_text_hash(c.title, c.section, c.text) not in shipped]
    assert not stale, "run `python bench/sample_embeddings.py`; stale: " + ", ".join(stale[:5])


@pytest.mark.parametrize(
    "question",
    [
        "how do I tail multiple pods",  # stop words
        "/devops how do I tail multiple pods",  # the slash command prefix
        "tailing several pods logs",  # inflections
        "tail multple pods",  # a typo, corrected against the index vocabulary
        "k8s log tailer",  # abbreviation
    ],
)
def test_the_stern_note_comes_first_for_variants_of_the_question(index, question):
    result = _ask(index, question)
    assert result.hits[0].chunk.title == "stern"


def test_misspelled_words_are_corrected_before_the_model_reads_them(index):
    assert index.spelled("how do I tail multple pods") == "how do I tail multiple pods"
    assert index.spelled("kubectl stern") == "kubectl stern"  # known words stay


def test_a_real_word_the_notes_do_not_use_is_not_corrected_into_one_they_do(index):
    # `peek` and `broke` are words, not typos of `week` and `broker`; a real typo still is.
    assert index.spelled("peek at the broke build") == "peek at the broke build"
    assert index.spelled("kafka brokr") == "kafka broker"


def test_a_correction_follows_the_notes_it_was_made_against():
    # Corrections are remembered per index state: once a note uses the word, it is a word.
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, [IndexedChunk(1, 1, "note", "stern", "", "tail many pods")])
    assert idx.spelled("tial pods") == "tail pods"
    assert idx.spelled("tial pods") == "tail pods"  # the remembered correction, same answer
    idx.replace_source(2, 1, [IndexedChunk(2, 2, "note", "tial", "", "tial is our tracing tool")])
    assert idx.spelled("tial pods") == "tial pods"


_SPELL_TIES = """
from bot.knowledge.index import IndexedChunk, KnowledgeIndex
words = ["tesa", "tesb", "tesc", "tesd", "tese", "tesf", "tesg", "tesh"]
idx = KnowledgeIndex()
idx.replace_source(1, 1, [IndexedChunk(i, 1, "note", w, "", w) for i, w in enumerate(words)])
print(idx.spelled("tesx"))
"""


def test_a_typo_gets_the_same_correction_in_every_process():
    # Eight index words are one edit from the typo and equally common; the correction must not
    # depend on the hash seed a process happens to start with.
    spelled = set()
    for seed in ("1", "2", "3", "4", "5", "6"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _SPELL_TIES], env=env, capture_output=True, text=True, check=True
        )
        spelled.add(out.stdout.strip())
    assert spelled == {"tesa"}


def _closest_by_brute_force(word: str, df: dict[str, int]) -> str:
    """The correction spelled() should make: the nearest index word (one edit for short words,
    two for long ones), the most common of equally near ones, then the first alphabetically."""
    limit = 1 if len(word) < 8 else 2
    near = [(OSA.distance(word, w), -n, w) for w, n in df.items()]
    near = [c for c in near if c[0] <= limit]
    return min(near)[2] if near else word


def test_typo_corrections_are_the_nearest_most_common_index_words():
    # A dense vocabulary over five letters: most typos have several neighbours one or two edits
    # away, and some long ones only two. The corrections must be exactly the nearest words.
    rng = random.Random(5)
    vocab = sorted({"".join(rng.choices("abcde", k=rng.randint(4, 10))) for _ in range(400)})
    df = {w: 1 + i % 4 for i, w in enumerate(vocab)}
    idx = KnowledgeIndex()
    for source in range(1, 5):
        text = " ".join(w for w in vocab if df[w] >= source)
        idx.replace_source(source, 1, [IndexedChunk(source, source, "note", "", "", text)])
    stems = {stem(w) for w in vocab}
    checked = 0
    for _ in range(600):
        w = list(rng.choice(vocab))
        for _ in range(rng.choice((1, 1, 2))):
            i = rng.randrange(len(w))
            op = rng.choice(("swap", "drop", "add", "change"))
            if op == "swap" and i + 1 < len(w):
                w[i], w[i + 1] = w[i + 1], w[i]
            elif op == "drop" and len(w) > 4:
                del w[i]
            elif op == "add":
                w.insert(i, rng.choice("abcdef"))
            else:
                w[i] = rng.choice("abcdef")
        typo = "".join(w)
        if typo in df or stem(typo) in stems or typo in dictionary_words():
            continue  # a word of the index or one it knows by its stem, or a real word
        assert idx.spelled(typo) == _closest_by_brute_force(typo, df), typo
        checked += 1
    assert checked > 300


_HUGE_WORD = """
import resource
from bot.knowledge.index import IndexedChunk, KnowledgeIndex
idx = KnowledgeIndex()
idx.replace_source(1, 1, [IndexedChunk(1, 1, "note", "stern", "", "tail many pods " + "ab" * 10)])
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
print(idx.spelled("tial " + "ab" * 10_000 + " pods"))
"""


def test_a_huge_word_in_a_question_is_not_spelled_out_in_every_variant():
    # Every one-edit variant of a 20,000-letter word would take gigabytes; within 2 GB of
    # address space the question is corrected and the huge word left as it is.
    out = subprocess.run([sys.executable, "-c", _HUGE_WORD], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split() == ["tail", "ab" * 10_000, "pods"]


def test_only_the_first_words_of_a_wall_of_text_are_spell_checked():
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, [IndexedChunk(1, 1, "note", "stern", "", "tail many pods")])
    spelled = idx.spelled(" ".join(["tial"] * 200)).split()
    assert spelled[:MAX_SPELLED_WORDS] == ["tail"] * MAX_SPELLED_WORDS
    assert set(spelled[MAX_SPELLED_WORDS:]) == {"tial"}  # left for the model to cut off


def test_what_is_runc_finds_the_runc_note_not_a_neighbour(index):
    top = _ask(index, "what is runc").hits[0].chunk
    assert "runc" in (top.title + top.section + top.text).lower()


@pytest.mark.parametrize(
    "question",
    [
        "how do I bake banana bread",
        "what's for lunch today",
        "whats for lunch today",
        "is it going to rain tomorrow",
        "asdfgh qwerty",
        "how do I make a pizza",
    ],
)
def test_off_topic_questions_are_not_answered(index, question):
    result = _ask(index, question)
    assert not result.answered, (question, result.hits[:1])


def test_a_question_of_stop_words_only_gets_no_confident_answer(index):
    assert not _ask(index, "how do I do it?").answered


def test_scores_are_probabilities_best_first(index):
    hits = _ask(index, "execsnoop bcc-tools").hits
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


PAGES = """\
# kubectl logs

> Show logs for containers in a pod.

- Stream pod logs:

`kubectl logs {{[-f|--follow]}} {{pod_name}}`

- Show the 10 most recent logs in a pod:

`kubectl logs --tail {{10}} {{pod_name}}`

# git stash

> Stash local Git changes in a temporary area.

- Apply a stash and remove it from the stash list:

`git stash pop`

# df

> Display an overview of the filesystem disk space usage.

- Display all filesystems and their disk usage in human-readable form:

`df {{[-h|--human-readable]}}`
"""


def test_a_paraphrase_sharing_no_word_with_its_answer_is_found_by_meaning():
    chunks = _indexed(chunk_markdown(PAGES))
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, chunks, _vectors(chunks))
    question = "bring back the work I shelved earlier"
    top = _ask(idx, question).hits[0]
    assert top.chunk.title == "git stash"
    answer_stems = {stem(w) for w in content_words(top.chunk.title + " " + top.chunk.text)}
    assert not answer_stems & {stem(w) for w in content_words(question)}
    assert top.coverage == 0.0  # nothing matched word for word: the embedding found it


def test_without_a_question_vector_words_alone_still_rank():
    chunks = _indexed(chunk_markdown(PAGES))
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, chunks, _vectors(chunks))
    result = idx.search("git stash pop")
    assert "git stash pop" in result.hits[0].chunk.text


def test_replacing_a_source_forgets_its_old_chunks(index):
    idx = KnowledgeIndex()
    kafka = _indexed(chunk_markdown("- kafka-topics: inspect kafka topics\n"), source_id=2)
    idx.replace_source(1, 1, _indexed(chunk_markdown(SEED_NOTES.read_text())[:50]))
    idx.replace_source(2, 1, kafka, _vectors(kafka))
    assert _ask(idx, "inspect kafka topics").hits[0].chunk.source_id == 2
    idx.replace_source(2, 2, _indexed(chunk_markdown("- nothing here: at all\n"), source_id=2))
    assert all(
        h.chunk.source_id != 2 or "kafka" not in h.chunk.text for h in idx.search("kafka").hits
    )
    idx.remove_source(2)
    assert 2 not in idx.revisions()


def test_questions_read_the_current_snapshot_while_an_update_is_built(index):
    # An update holds the write lock for its whole build; a question must not wait for it.
    chunks = _indexed(chunk_markdown(PAGES), source_id=9)
    idx = KnowledgeIndex()
    idx.update({9: SourceUpdate(1, chunks, _vectors(chunks))})
    done = threading.Event()
    with idx._write_lock:
        threading.Thread(target=lambda: (idx.search("git stash pop"), done.set())).start()
        assert done.wait(10), "a question waited for an index update"


def test_a_ten_thousand_character_question_still_finds_its_answer(index):
    question = ("how do I tail multiple pods " * 400)[:10_000]
    assert "stern" in [h.chunk.title for h in _ask(index, question).hits]


def test_results_never_repeat_a_nested_bullet_or_an_article(index):
    hits = _ask(index, "kafka broker", limit=5).hits
    spans = [(h.chunk.source_id, h.chunk.line_start, h.chunk.line_end) for h in hits]
    for i, (sa, a0, a1) in enumerate(spans):
        for sb, b0, b1 in spans[i + 1 :]:
            assert sa != sb or not (a0 <= (b1 or b0) and b0 <= (a1 or a0))


def _example(i: int, source_id: int) -> IndexedChunk:
    return IndexedChunk(i, source_id, "note", f"t{i}", "", f"example {i}")


def test_sibling_evidence_counts_the_best_answers_own_page():
    # A page of near-identical examples: the page is likely right, the example less surely.
    ranked = [(0.9 - i / 10, None, _example(i, 1 if i < 3 else 2)) for i in range(6)]
    siblings = evidence(ranked, distinct(ranked, 2))
    assert siblings.same_source and siblings.source_share == pytest.approx(3 / 5)
    ranked = [(0.9 - i / 10, None, _example(i, i + 1)) for i in range(6)]
    strangers = evidence(ranked, distinct(ranked, 2))
    assert not strangers.same_source and strangers.source_share == pytest.approx(1 / 5)


def test_evidence_measures_how_alike_the_best_and_the_runner_up_are():
    ranked = [(0.9 - i / 10, None, _example(i, i + 1)) for i in range(3)]
    vectors = {0: np.array([1.0, 0.0]), 1: np.array([0.6, 0.8]), 2: np.array([0.0, 1.0])}
    seen = evidence(ranked, distinct(ranked, 2), vectors)
    assert seen.pair_cosine == pytest.approx(0.6)
    # No vector for one of them (the model could not be loaded): nothing is claimed.
    assert evidence(ranked, distinct(ranked, 2)).pair_cosine == 0.0


def test_two_near_identical_candidates_make_the_bot_less_sure():
    # `kubectl logs` with and without --follow: the page is right, which example less surely.
    cal = default_calibration()
    top = Signals(0.8, 0.8, 0, 1.0, 0, 0.9, 0.0, 3, True)
    second = Signals(0.7, 0.8, 1, 0.8, 1, 0.8, 0.0, 3, True)
    alike = cal.answer_probability(0.9, 0.6, top, second, Evidence(pair_cosine=0.97))
    apart = cal.answer_probability(0.9, 0.6, top, second, Evidence(pair_cosine=0.2))
    assert alike < apart


def test_numpy_products_run_on_one_thread_once_the_index_is_imported():
    """OpenBLAS's thread pool made one question in 30-100 take ~0.1 s more (bench/speed.py)."""
    from threadpoolctl import threadpool_info

    import bot.knowledge.index  # noqa: F401

    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)


RUNBOOKS = (
    "# KubePodCrashLooping\n\n## Meaning\n\nThe container exits soon after it starts and the"
    " kubelet restarts it with a growing back-off.\n\n"
    "# KubeNodeNotReady\n\n## Meaning\n\nThe kubelet stopped posting its status for a while.\n\n"
    "# KubeJobFailed\n\n## Meaning\n\nThe job exhausted its retries without completing.\n"
)


def test_words_inside_a_camel_case_name_match_the_question():
    # Alert and resource names (`KubePodCrashLooping`, `StatefulSet`) are read word by word.
    chunks = _indexed(chunk_markdown(RUNBOOKS))
    idx = KnowledgeIndex()
    idx.replace_source(1, 1, chunks, [None] * len(chunks))  # words alone: no vectors
    assert idx.search("pod crash looping").hits[0].chunk.section == "KubePodCrashLooping › Meaning"
    assert idx.search("node not ready").hits[0].chunk.section == "KubeNodeNotReady › Meaning"
    assert content_words("IPv6 on iOS") == ["ipv6", "ios"]  # no one-letter pieces
