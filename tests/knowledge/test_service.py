"""The answerer over a real store (SQLite and PostgreSQL): vectors computed once and kept,
votes that teach within bounds, and questions that never wait for indexing."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot.db.models import AnswerFeedback, ChunkEmbedding
from bot.db.store import replace_note_chunks
from bot.knowledge.embed import Encoder, shared_encoder
from bot.knowledge.feedback import MAX_FACTOR, MIN_FACTOR, Vote, rank_factors
from bot.knowledge.notes import chunk_markdown
from bot.knowledge.service import Answerer

NOTES = """\
# Kubernetes

- Restart the pods of a deployment: `kubectl rollout restart deployment/{{name}}`
- Restart the pods of a deployment by scaling it to zero and back:
  `kubectl scale deployment/{{name}} --replicas=0`
- Stream the logs of a pod: `kubectl logs -f {{pod}}`
- Show which node runs each pod: `kubectl get pods -o wide`
"""


class CountingEncoder(Encoder):
    """The real model, counting each text it is asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self._inner = shared_encoder()
        self.calls: list[str] = []

    def encode(self, texts):
        self.calls.extend(texts)
        return self._inner.encode(texts)


def _load(sessions, text=NOTES, key="/notes/k8s.md"):
    with sessions.begin() as s:
        replace_note_chunks(s, key, "k8s.md", chunk_markdown(text))


def test_vectors_survive_a_restart_without_being_computed_again(sessions):
    _load(sessions)
    first = CountingEncoder()
    with sessions.begin() as s:
        Answerer(encoder=first).sync(s)
        stored = s.scalar(select(func.count()).select_from(ChunkEmbedding))
    assert len(first.calls) == 4 and stored == 4

    # A restart (or a second replica): a new answerer on the same store encodes no chunk.
    second = CountingEncoder()
    restarted = Answerer(encoder=second)
    with sessions.begin() as s:
        result = restarted.ask(s, "follow a pod's log output")
    assert second.calls == ["follow a pod's log output"]  # the question only
    assert "kubectl logs -f" in result.hits[0].chunk.text
    assert not restarted.index.sources_missing_vectors()


def test_reloading_unchanged_text_reuses_its_vector(sessions):
    _load(sessions)
    encoder = CountingEncoder()
    answerer = Answerer(encoder=encoder)
    with sessions.begin() as s:
        answerer.sync(s)
    _load(sessions, NOTES + "- Cordon a node: `kubectl cordon {{node}}`\n")
    with sessions.begin() as s:
        answerer.sync(s)
    assert len(encoder.calls) == 5  # four texts once, then only the new bullet


def _vote(sessions, question, chunk_id, users, value):
    with sessions.begin() as s:
        for user in users:
            s.add(
                AnswerFeedback(
                    question=question,
                    question_key=f"{question}:{user}",
                    chunk_id=chunk_id,
                    chunk_title="",
                    user_id=user,
                    value=value,
                )
            )


def test_down_votes_drop_a_wrong_answer_below_the_right_one(sessions):
    _load(sessions)
    answerer = Answerer()
    question = "restart the pods of my deployment"
    with sessions() as s:
        before = answerer.ask(s, question, limit=4).hits
    wrong, runner_up = before[0].chunk, before[1].chunk
    assert {"rollout", "scale"} <= {w for h in before[:2] for w in h.chunk.text.split()} | {
        "rollout" if "rollout" in h.chunk.text else "scale" for h in before[:2]
    }
    _vote(sessions, question, wrong.id, ["U1", "U2", "U3"], -1)
    _vote(sessions, question, runner_up.id, ["U1", "U2", "U3"], +1)
    with sessions() as s:
        after = answerer.ask(s, question, limit=4).hits
    assert after[0].chunk.id == runner_up.id
    assert after[1].chunk.id == wrong.id
    # A similar wording benefits from the same votes.
    with sessions() as s:
        similar = answerer.ask(s, "how do I restart my deployment's pods", limit=4).hits
    assert similar[0].chunk.id == runner_up.id


def test_one_person_cannot_swing_a_chunk_beyond_the_bound():
    many_votes = [Vote(7, "U1", -1, 1.0)] * 50 + [Vote(7, "U1", -1, 0.9)] * 50
    alone = rank_factors(many_votes)[7]
    assert alone == rank_factors([Vote(7, "U1", -1, 1.0)])[7]  # one person counts once
    assert MIN_FACTOR < alone < 1.0
    crowd = rank_factors([Vote(7, f"U{i}", -1, 1.0) for i in range(100)])[7]
    assert crowd == MIN_FACTOR
    assert rank_factors([Vote(7, f"U{i}", +1, 1.0) for i in range(100)])[7] == MAX_FACTOR
    assert 7 not in rank_factors([Vote(7, "U1", -1, 0.2)])  # an unrelated question: no effect


def test_a_question_is_answered_from_the_current_index_while_a_refresh_runs(sessions):
    _load(sessions)
    answerer = Answerer()
    with sessions.begin() as s:
        answerer.sync(s)
    _load(sessions, NOTES + "- Drain a node: `kubectl drain {{node}}`\n", key="/notes/more.md")
    answered = threading.Event()
    with answerer._sync_lock:  # an ingest holding the index's writer for as long as it likes

        def ask() -> None:
            with sessions() as s:
                answerer.ask(s, "stream pod logs", sessions=sessions)
            answered.set()

        threading.Thread(target=ask).start()
        assert answered.wait(10), "the question waited for indexing"
    background = answerer._background
    assert background is not None  # the store had moved on: a refresh was started aside
    background.join(30)
    with sessions() as s:
        assert not answerer.stale(s)
        top = answerer.ask(s, "drain a node", sessions=sessions).hits[0]
    assert "kubectl drain" in top.chunk.text


def test_a_cold_start_reuses_the_cached_index_until_the_store_changes(sessions):
    _load(sessions)
    first = Answerer()
    with sessions.begin() as s:
        first.sync(s)
        assert first.save_cache(s)
    with sessions() as s:
        restarted = Answerer()
        assert restarted.load_cached(s)  # no chunk read or tokenized again
        assert len(restarted.index) == len(first.index) == 4
        top = restarted.ask(s, "stream the logs of a pod").hits[0]
    assert "kubectl logs -f" in top.chunk.text
    _load(sessions, NOTES + "- Drain a node: `kubectl drain {{node}}`\n")
    with sessions() as s:
        assert not Answerer().load_cached(s)  # built from another state of the store: ignored


def test_a_bare_connection_serves_the_answerer_as_a_session_does(engine, sessions):
    """`devopsbot ask` reads through a Connection: what it encodes, caches and counts of votes
    is the same store state the bot's sessions see, and the other way round."""
    _load(sessions)
    encoder = CountingEncoder()
    with engine.begin() as conn:
        answerer = Answerer(encoder=encoder)
        answerer.sync(conn)
        assert answerer.save_cache(conn)
    assert len(encoder.calls) == 4
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ChunkEmbedding)) == 4
        restarted = Answerer(encoder=CountingEncoder())
        assert restarted.load_cached(s)  # the cache a Connection wrote
        question = "restart the pods of my deployment"
        hits = restarted.ask(s, question, limit=4).hits
    _vote(sessions, question, hits[0].chunk.id, ["U1", "U2", "U3"], -1)
    with engine.connect() as conn:
        after = Answerer().ask(conn, question, limit=4).hits  # votes read on a Connection
    assert after[0].chunk.id != hits[0].chunk.id
