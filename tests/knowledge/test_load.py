"""Keeping stored notes in step with disk, on SQLite and PostgreSQL alike (issue 7)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select

from bot.db.models import Base, Chunk, Source
from bot.db.session import alembic_config, upgrade
from bot.db.store import note_source_hash, notes_sources
from bot.knowledge.load import NotesError, note_file_hash, remove_notes, sync_notes
from bot.knowledge.sample import SAMPLE_PREFIX, ensure_sample_data
from bot.knowledge.service import Answerer

CERTS = "# Certs\n\n- rotate certs: `certbot renew --force-renewal`\n"
DRAIN = "# Nodes\n\n- drain a node: `kubectl drain NODE --ignore-daemonsets`\n"
KAFKA = "# Kafka\n\n- list topics: `kafka-topics --bootstrap-server B --list`\n"


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A notes folder: two files at the top, one in a subfolder."""
    root = tmp_path / "notes"
    (root / "k8s").mkdir(parents=True)
    (root / "certs.md").write_text(CERTS)
    (root / "kafka.markdown").write_text(KAFKA)
    (root / "k8s" / "drain.md").write_text(DRAIN)
    return root


def sync(sessions, paths, **kwargs):
    with sessions.begin() as session:
        return sync_notes(session, paths, **kwargs)


def revisions(sessions) -> dict[str, int]:
    with sessions() as session:
        return {k: rev for k, rev in session.execute(select(Source.key, Source.revision))}


def chunk_ids(sessions) -> set[int]:
    with sessions() as session:
        return set(session.scalars(select(Chunk.id)))


def key(path: Path) -> str:
    """The source key a notes file is stored under."""
    return str(path.resolve())


def hit_files(sessions, answerer: Answerer, question: str) -> list[str]:
    """File names of the sources behind every hit, best first."""
    with sessions() as session:
        result = answerer.ask(session, question)
        keys = {sid: k for sid, k in session.execute(select(Source.id, Source.key))}
    return [Path(keys[h.chunk.source_id]).name for h in result.hits]


def test_a_folder_loads_every_markdown_file_once(sessions, notes):
    report = sync(sessions, [notes, notes / "certs.md"])
    assert sorted(n.path.name for n in report.loaded) == ["certs.md", "drain.md", "kafka.markdown"]
    assert report.chunks == 3 and not report.unchanged and not report.removed
    assert report.summary() == "loaded 3 files (3 chunks), 0 unchanged, 0 removed"
    with sessions() as session:
        stored = note_source_hash(session, key(notes / "certs.md"))
    assert stored == note_file_hash(notes / "certs.md")


def test_hidden_folders_and_files_inside_a_folder_are_skipped(sessions, notes):
    # A checkout of the team's runbooks repository: its templates are not runbooks.
    (notes / ".github").mkdir()
    (notes / ".github" / "pull_request_template.md").write_text("# PR\n\n- describe it\n")
    (notes / ".draft.md").write_text(DRAIN)
    report = sync(sessions, [notes])
    assert sorted(n.path.name for n in report.loaded) == ["certs.md", "drain.md", "kafka.markdown"]
    assert [n.path.name for n in sync(sessions, [notes / ".draft.md"]).loaded] == [".draft.md"]


def test_a_deleted_file_is_removed_and_answers_no_longer_return_it(sessions, notes):
    answerer = Answerer()
    sync(sessions, [notes])
    assert hit_files(sessions, answerer, "how do I drain a node")[0] == "drain.md"
    (notes / "k8s" / "drain.md").unlink()
    report = sync(sessions, [notes])
    assert report.removed == [key(notes / "k8s" / "drain.md")]
    assert len(report.unchanged) == 2 and not report.loaded
    assert "drain.md" not in hit_files(sessions, answerer, "how do I drain a node")
    assert hit_files(sessions, answerer, "rotate certs")[0] == "certs.md"


def test_unchanged_files_are_not_rechunked_and_keep_their_revision(sessions, notes):
    sync(sessions, [notes])
    before, ids = revisions(sessions), chunk_ids(sessions)
    report = sync(sessions, [notes])
    assert (len(report.loaded), len(report.unchanged)) == (0, 3)
    assert not report.changed
    assert revisions(sessions) == before and chunk_ids(sessions) == ids

    (notes / "certs.md").write_text(CERTS + "- check expiry: `openssl x509 -enddate -noout`\n")
    report = sync(sessions, [notes])
    assert [n.path.name for n in report.loaded] == ["certs.md"] and report.chunks == 2
    after = revisions(sessions)
    assert {k for k in after if after[k] != before[k]} == {key(notes / "certs.md")}
    assert after[key(notes / "certs.md")] == before[key(notes / "certs.md")] + 1


def test_force_rechunks_unchanged_files(sessions, notes):
    sync(sessions, [notes])
    before = revisions(sessions)
    report = sync(sessions, [notes], force=True)
    assert len(report.loaded) == 3 and not report.unchanged
    assert all(rev == before[key] + 1 for key, rev in revisions(sessions).items())


def test_notes_loaded_before_hashes_existed_are_rechunked_once(sessions, notes):
    sync(sessions, [notes])
    with sessions.begin() as session:
        session.execute(Source.__table__.update().values(content_hash=None))
    assert len(sync(sessions, [notes]).loaded) == 3
    assert len(sync(sessions, [notes]).unchanged) == 3


def test_files_named_explicitly_just_load(sessions, notes):
    sync(sessions, [notes])
    (notes / "kafka.markdown").unlink()
    report = sync(sessions, [notes / "certs.md"])
    assert report.removed == [] and report.unchanged == [notes / "certs.md"]
    assert key(notes / "kafka.markdown") in revisions(sessions)


def test_a_file_that_stops_being_markdown_is_removed(sessions, notes):
    sync(sessions, [notes])
    (notes / "certs.md").rename(notes / "certs.txt")
    report = sync(sessions, [notes])
    assert report.removed == [key(notes / "certs.md")]


def test_a_new_file_is_added_and_a_folder_name_is_not_a_prefix_match(sessions, tmp_path):
    # "%" and "_" are LIKE wildcards: "n_1" must not match "nx1", nor "n_1" match "n_10".
    for name in ("n_1", "nx1", "n_10"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.md").write_text(CERTS)
    sync(sessions, [tmp_path / "n_1", tmp_path / "nx1", tmp_path / "n_10"])
    (tmp_path / "n_1" / "a.md").unlink()
    (tmp_path / "n_1" / "b.md").write_text(DRAIN)
    report = sync(sessions, [tmp_path / "n_1"])
    assert [n.path.name for n in report.loaded] == ["b.md"]
    assert report.removed == [key(tmp_path / "n_1" / "a.md")]
    assert set(revisions(sessions)) == {
        key(tmp_path / d / f) for d, f in (("n_1", "b.md"), ("nx1", "a.md"), ("n_10", "a.md"))
    }


def test_a_missing_path_keeps_its_notes(sessions, notes):
    answerer = Answerer()
    sync(sessions, [notes])
    before = revisions(sessions)
    shutil.rmtree(notes)
    report = sync(sessions, [notes])
    assert report.missing == [notes] and not report.removed and not report.changed
    assert revisions(sessions) == before
    assert hit_files(sessions, answerer, "how do I drain a node")[0] == "drain.md"


def test_an_emptied_folder_is_kept_only_when_asked(sessions, notes):
    sync(sessions, [notes])
    for file in [*notes.rglob("*.md"), *notes.rglob("*.markdown")]:
        file.unlink()
    kept = sync(sessions, [notes], keep_emptied=True)
    assert kept.emptied == [notes] and not kept.removed
    assert len(revisions(sessions)) == 3
    gone = sync(sessions, [notes])
    assert len(gone.removed) == 3 and revisions(sessions) == {}


def test_an_unreadable_file_keeps_its_chunks_and_is_retried(sessions, notes):
    sync(sessions, [notes])
    (notes / "certs.md").write_bytes(b"- caf\xe9: latin-1\n")
    (notes / "kafka.markdown").write_text(KAFKA + "- lag: `kafka-consumer-groups --describe`\n")
    report = sync(sessions, [notes])
    assert [str(e) for e in report.errors] == [
        f"{notes / 'certs.md'}: not UTF-8 text (byte 5); convert it to UTF-8"
    ]
    assert [n.path.name for n in report.loaded] == ["kafka.markdown"]
    assert hit_files(sessions, Answerer(), "rotate certs")[0] == "certs.md"
    (notes / "certs.md").write_text(CERTS)
    # Back to the content stored before: nothing to re-chunk.
    assert sync(sessions, [notes]).unchanged[0] == notes / "certs.md"


def test_a_file_over_the_size_limit_is_skipped_and_keeps_its_chunks(sessions, notes):
    sync(sessions, [notes])
    # Grown past the limit (a generated dump, say): reported, not read in, old notes kept.
    (notes / "certs.md").write_text(CERTS + "- log line\n" * 200)
    report = sync(sessions, [notes], max_bytes=len(CERTS) + 100)
    assert [str(e) for e in report.errors] == [
        f"{notes / 'certs.md'}: larger than {(len(CERTS) + 100) / 1e6:g} MB, the limit for one "
        "notes file; split it, or raise DEVOPSBOT_MAX_NOTE_BYTES"
    ]
    assert report.removed == [] and report.loaded == []
    assert hit_files(sessions, Answerer(), "rotate certs")[0] == "certs.md"
    assert [n.path.name for n in sync(sessions, [notes]).loaded] == ["certs.md"]  # default limit


def test_loading_own_notes_removes_the_sample_data(sessions, notes):
    with sessions.begin() as session:
        ensure_sample_data(session)
    report = sync(sessions, [notes])
    assert report.sample_removed > 0 and report.changed
    assert not any(k.startswith(SAMPLE_PREFIX) for k in revisions(sessions))


def test_two_syncs_at_once_never_duplicate_chunks(sessions, notes):
    """A second replica syncing the same file waits for the first, then sees it is done."""
    files = [notes / "certs.md"]
    sync(sessions, files)
    (notes / "certs.md").write_text(CERTS + "- check expiry: `openssl x509 -enddate`\n")
    first = sessions.begin()
    session = first.__enter__()
    sync_notes(session, files)  # holds its locks until commit
    result: dict[str, object] = {}
    second = threading.Thread(target=lambda: result.update(report=sync(sessions, files)))
    second.start()
    second.join(0.5)
    first.__exit__(None, None, None)
    second.join(30)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Chunk)) == 2
    if sessions.kw["bind"].dialect.name == "postgresql":
        assert result["report"].unchanged == files  # type: ignore[union-attr]


def test_notes_sources_lists_chunks_and_load_time(sessions, notes):
    sync(sessions, [notes])
    with sessions() as session:
        views = notes_sources(session)
    assert [(v.key, v.chunks) for v in views] == [
        (key(notes / "certs.md"), 1),
        (key(notes / "k8s" / "drain.md"), 1),
        (key(notes / "kafka.markdown"), 1),
    ]
    assert all(v.title and v.loaded_at.tzinfo is not None for v in views)


def test_remove_takes_files_and_folders_even_gone_ones(sessions, notes):
    sync(sessions, [notes])
    shutil.rmtree(notes / "k8s")
    with sessions.begin() as session:
        assert remove_notes(session, [str(notes / "k8s")]) == [key(notes / "k8s" / "drain.md")]
    with sessions.begin() as session:
        assert remove_notes(session, [str(notes / "certs.md")]) == [key(notes / "certs.md")]
    assert list(revisions(sessions)) == [key(notes / "kafka.markdown")]


def test_remove_with_an_unknown_path_removes_nothing(sessions, notes, tmp_path):
    sync(sessions, [notes])
    with pytest.raises(NotesError, match="nowhere"), sessions.begin() as session:
        remove_notes(session, [str(notes), str(tmp_path / "nowhere"), ""])
    assert len(revisions(sessions)) == 3


def test_remove_takes_the_sample_notes_by_key(sessions):
    with sessions.begin() as session:
        ensure_sample_data(session)
        assert remove_notes(session, [SAMPLE_PREFIX + "devops-notes.md"]) == [
            SAMPLE_PREFIX + "devops-notes.md"
        ]


def test_migration_0004_adds_the_hash_and_goes_back(engine):
    """0004 upgrades a 0003 store with notes in it, and downgrades cleanly."""
    command.downgrade(alembic_config(engine), "0003")
    with engine.begin() as conn:
        conn.execute(insert(Source).values(kind="notes", key="/n.md"))
    assert "content_hash" not in {c["name"] for c in inspect(engine).get_columns("sources")}
    upgrade(engine, "head")
    with engine.connect() as conn:
        assert conn.execute(select(Source.key, Source.content_hash)).all() == [("/n.md", None)]
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
