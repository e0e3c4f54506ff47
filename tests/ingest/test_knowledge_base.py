"""The knowledge base's guarantees: per-document atomic commits (even under kill -9), no orphan
vectors, and a store that refuses a different embedding model until rebuilt."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import chunk_document, chunking_fingerprint
from ingest.embeddings import Embedder, local_model_info
from ingest.knowledge_base import KnowledgeBase, KnowledgeBaseError
from ingest.loaders import load_file
from ingest.pipeline import ingest_paths
from settings import Settings
from kbprobe import committed_names


TOPICS = ["胸痛中心", "卒中中心", "创伤中心", "院感防控", "病案质量", "药事管理"]


def policy_doc(topic: str) -> str:
    """Three short sections, so three short chunks."""
    return "\n".join(
        [
            f"关于加强县医院{topic}建设的通知",
            "一、总体要求",
            f"各县医院要把{topic}建设作为提升综合能力的重点，明确牵头科室和责任人。",
            "二、主要任务",
            f"建立{topic}工作台账，完善工作流程，每季度开展一次自查。",
            "三、保障措施",
            f"卫生健康行政部门要加强对{topic}建设的指导和督导检查。",
        ]
    )


def write_docs(folder: Path, topics: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, topic in enumerate(topics):
        (folder / f"doc{i}.txt").write_text(policy_doc(topic), encoding="utf-8")
    return folder


def fresh_chroma() -> None:
    """chromadb keeps one client per path per process; a store that another process has written
    must be opened afresh, or the cached client serves stale segments."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def chroma_count(kb: KnowledgeBase) -> int:
    return kb._collection.count()


def snapshot(kb: KnowledgeBase) -> dict:
    ids = kb.all_chunk_ids()
    return {
        "names": sorted((n.name, n.doc_id) for n in kb.names()),
        "docs": sorted(d.doc_id for d in kb.documents()),
        "ids": ids,
        "chunks": kb.chunks(ids),
        "vectors": kb.vectors(ids),
    }


def cli_command() -> list[str]:
    script = Path(sys.executable).parent / "qianxian"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def cli_env(cache_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    env["QIANXIAN_CACHE_DIR"] = str(cache_dir)
    return env


# ------------------------------------------------------------------------------- atomicity


def test_kill_9_mid_run_then_resume_equals_an_uninterrupted_run(
    settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    folder = write_docs(tmp_path / "docs", TOPICS)
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(
        [*cli_command(), "ingest", str(folder), "--data-dir", str(killed_dir), "--quiet"],
        env=cli_env(cache_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    committed = 0
    deadline = time.monotonic() + 180
    try:
        while committed < 1:
            assert proc.poll() is None, f"ingest ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "no document committed in time"
            committed = committed_names(killed_dir)
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(f"file:{killed_dir / 'kb.sqlite'}?mode=ro", uri=True) as con:
        at_kill = con.execute("SELECT COUNT(*) FROM names").fetchone()[0]
    assert 1 <= at_kill < len(TOPICS), "the run was interrupted part-way"

    fresh_chroma()
    killed_settings = settings.model_copy(update={"data_dir": killed_dir})
    resumed_kb = KnowledgeBase(killed_settings, embedder)
    # the next writer removes the killed run's stray vectors; the manifest holds whole documents only
    with resumed_kb.writer():
        assert chroma_count(resumed_kb) == resumed_kb.chunk_count()
    for doc in resumed_kb.documents():
        assert len(resumed_kb.document_chunks(doc.doc_id)) == doc.n_chunks > 0
    report = ingest_paths(resumed_kb, [folder], show_progress=False)
    assert report.unchanged == at_kill and report.added == len(TOPICS) - at_kill and not report.failures
    resumed = snapshot(resumed_kb)

    clean_kb = KnowledgeBase(settings, embedder)
    ingest_paths(clean_kb, [folder], show_progress=False)
    clean = snapshot(clean_kb)

    assert resumed["names"] == clean["names"] and len(clean["names"]) == len(TOPICS)
    assert resumed["docs"] == clean["docs"]
    assert resumed["ids"] == clean["ids"]
    assert resumed["chunks"] == clean["chunks"]  # texts and every metadata field
    assert set(resumed["vectors"]) == set(clean["vectors"]) == set(clean["ids"])
    for cid in clean["ids"]:
        np.testing.assert_allclose(resumed["vectors"][cid], clean["vectors"][cid], atol=1e-5)
    assert chroma_count(resumed_kb) == resumed_kb.chunk_count() == len(clean["ids"])


def test_orphan_vectors_are_removed_by_the_next_writer(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [write_docs(tmp_path / "docs", TOPICS[:1])], show_progress=False)
    ids = kb.all_chunk_ids()
    # what a kill between the Chroma upsert and the manifest commit leaves behind
    kb._collection.upsert(ids=["orphan-00000"], embeddings=np.ones((1, embedder.dimension), dtype=np.float32))
    assert chroma_count(kb) == len(ids) + 1
    kb.close()
    reopened = KnowledgeBase(settings, embedder)
    assert chroma_count(reopened) == len(ids) + 1  # a reader never repairs: it could be an ingest's next document
    with reopened.writer():
        assert chroma_count(reopened) == len(ids) and reopened.all_chunk_ids() == ids
    assert set(reopened.vectors(ids)) == set(ids)


# ------------------------------------------------------------------------------- one writer, many readers


def test_a_reader_opening_during_an_ingest_destroys_nothing(
    settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    """A store opened (as ask and serve open it) while another process ingests must not take the
    ingest's in-flight vectors for orphans: afterwards every committed chunk has its vector."""
    topics = [f"{t}{i}" for i in range(6) for t in TOPICS]  # 36 documents: long enough to open many times
    folder = write_docs(tmp_path / "docs", topics)
    data = tmp_path / "shared"
    proc = subprocess.Popen(
        [*cli_command(), "ingest", str(folder), "--data-dir", str(data), "--quiet"],
        env=cli_env(cache_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    reader_settings = settings.model_copy(update={"data_dir": data})
    opens = 0
    deadline = time.monotonic() + 300
    try:
        while committed_names(data) < 1:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        while proc.poll() is None and time.monotonic() < deadline:
            fresh_chroma()
            KnowledgeBase(reader_settings, embedder).close()  # what Assistant.from_settings does
            opens += 1
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
    finally:
        proc.kill()
        proc.wait()
    assert opens >= 3, "the reader opened the store while the ingest ran"
    fresh_chroma()
    kb = KnowledgeBase(reader_settings, embedder)
    assert len(kb.names()) == len(topics)
    assert chroma_count(kb) == kb.chunk_count() == len(kb.vectors(kb.all_chunk_ids()))


def _waiting_on(proc: subprocess.Popen, lock: Path) -> bool:
    """Whether the process has the writer lock file open (it has reached the lock)."""
    try:
        return any(os.path.realpath(f"/proc/{proc.pid}/fd/{fd}") == str(lock.resolve())
                   for fd in os.listdir(f"/proc/{proc.pid}/fd"))
    except OSError:
        return False


def test_two_ingests_are_serialised(settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path) -> None:
    """While a writer holds the lock, `--no-wait` fails at once with nothing changed; two more
    ingests wait, then run one after the other: the documents are embedded once, not twice."""
    n = 2 * len(TOPICS)
    folder = write_docs(tmp_path / "docs", [f"{t}{i}" for i in range(2) for t in TOPICS])
    shared = settings.model_copy(update={"data_dir": tmp_path / "shared"})
    holder = KnowledgeBase(shared, embedder)
    command = [*cli_command(), "ingest", str(folder), "--data-dir", str(shared.data_path), "--json"]
    lock = shared.data_path / "writer.lock"
    with holder.writer():  # this test is the writer for now
        busy = subprocess.run([*command, "--no-wait"], env=cli_env(cache_dir), capture_output=True, text=True,
                              timeout=300)
        waiting = [subprocess.Popen(command, env=cli_env(cache_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for _ in range(2)]
        deadline = time.monotonic() + 300
        while not all(_waiting_on(p, lock) for p in waiting):
            assert all(p.poll() is None for p in waiting) and time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)
        assert all(p.poll() is None for p in waiting), "they wait for the writer"
    outs = [p.communicate(timeout=300) for p in waiting]
    holder.close()
    assert busy.returncode == 1 and "another process is writing" in busy.stderr and busy.stdout == ""
    assert committed_names(shared.data_path) == n
    assert all(p.returncode == 0 for p in waiting), [err[-1000:] for _, err in outs]
    reports = sorted((json.loads(out)["files"] for out, _ in outs), key=lambda r: r["added"])
    assert (reports[0]["added"], reports[0]["unchanged"], reports[1]["added"]) == (0, n, n)  # embedded once
    assert all("waiting for it to finish" in err for _, err in outs)


def test_failed_commit_keeps_the_old_version(
    settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_docs(tmp_path / "docs", TOPICS[:1])
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [folder], show_progress=False)
    before = snapshot(kb)
    (folder / "doc0.txt").write_text(policy_doc(TOPICS[1]), encoding="utf-8")

    def boom(text: str) -> list[str]:  # fails inside the manifest transaction, after the upsert
        raise RuntimeError("disk full")

    monkeypatch.setattr(kb.tokenizer, "tokenize", boom)
    with pytest.raises(RuntimeError):
        ingest_paths(kb, [folder], show_progress=False)
    monkeypatch.undo()
    assert kb.all_chunk_ids() == before["ids"] and kb.chunks(before["ids"]) == before["chunks"]
    kb.close()
    reopened = KnowledgeBase(settings, embedder)  # the new version's upserted vectors are orphans
    assert snapshot(reopened)["ids"] == before["ids"]
    assert chroma_count(reopened) > reopened.chunk_count()  # left for the next writer, which removes them
    report = ingest_paths(reopened, [folder], show_progress=False)
    assert report.updated == 1
    assert TOPICS[1] in reopened.document_chunks(reopened.name_record("doc0.txt").doc_id)[0].text
    assert chroma_count(reopened) == reopened.chunk_count()


def test_changed_chunking_rechunks_on_next_ingest(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    folder = write_docs(tmp_path / "docs", TOPICS[:1])
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [folder], show_progress=False)
    small = settings.model_copy(update={"chunking": settings.chunking.model_copy(update={"max_chars": 50, "overlap_chars": 0})})
    kb.close()
    kb = KnowledgeBase(small, embedder)
    report = ingest_paths(kb, [folder], show_progress=False)
    assert report.updated == 1 and report.unchanged == 0
    (doc,) = kb.documents()
    assert doc.chunking == chunking_fingerprint(small.chunking)
    expected = chunk_document(load_file(folder / "doc0.txt", "doc0.txt"), small.chunking)
    assert [c.text for c in kb.document_chunks(doc.doc_id)] == [c.text for c in expected]
    assert chroma_count(kb) == kb.chunk_count() == len(expected)


# ------------------------------------------------------------------------------- model identity


def other_model(embedder: Embedder, tmp_path: Path) -> Embedder:
    """The same weights under another folder name: a different model id, no second model load."""
    folder = tmp_path / "other-e5-small"
    folder.mkdir()
    for entry in embedder.info.path.iterdir():
        (folder / entry.name).symlink_to(entry)
    other = Embedder(embedder.model, local_model_info(folder))
    assert other.model_id != embedder.model_id
    return other


def test_model_mismatch_needs_rebuild(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    folder = write_docs(tmp_path / "docs", TOPICS[:1])
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [folder], show_progress=False)
    ids = kb.all_chunk_ids()
    kb.close()
    other = other_model(embedder, tmp_path)

    with pytest.raises(KnowledgeBaseError, match="--rebuild") as err:
        KnowledgeBase(settings, other)
    assert embedder.model_id in str(err.value) and other.model_id in str(err.value)
    assert KnowledgeBase(settings, embedder).all_chunk_ids() == ids  # refused without touching anything

    rebuilt = KnowledgeBase(settings, other, rebuild=True)
    assert rebuilt.documents() == [] and rebuilt.chunk_count() == 0 and chroma_count(rebuilt) == 0
    report = ingest_paths(rebuilt, [folder], show_progress=False)
    assert report.added == 1 and rebuilt.all_chunk_ids() == ids
    assert chroma_count(rebuilt) == len(ids)
    rebuilt.close()
    with pytest.raises(KnowledgeBaseError, match="--rebuild"):
        KnowledgeBase(settings, embedder)


# ------------------------------------------------------------------------------- verify


def test_verify_reports_drift_and_repair_fixes_it(
    settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    folder = write_docs(tmp_path / "docs", TOPICS[:3])
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [folder], show_progress=False)
    assert kb.problems() == []
    ids = kb.all_chunk_ids()
    before = kb.vectors(ids)
    # drift of every kind a crash or a hand edit can leave
    kb._collection.delete(ids=[ids[0]])  # a chunk without its vector
    kb._collection.upsert(ids=["orphan-00000"], embeddings=np.ones((1, embedder.dimension), dtype=np.float32))
    doc2 = kb.name_record("doc2.txt").doc_id
    with sqlite3.connect(settings.data_path / "kb.sqlite") as con:  # half a document
        con.execute("DELETE FROM chunks WHERE chunk_id = (SELECT MIN(chunk_id) FROM chunks WHERE doc_id=?)", (doc2,))
    shutil.rmtree(settings.data_path / "lexical")
    kb.close()

    command = [*cli_command(), "verify", "--data-dir", str(settings.data_path), "--json"]
    fresh_chroma()
    found = subprocess.run(command, env=cli_env(cache_dir), capture_output=True, text=True, timeout=300)
    assert found.returncode == 2, found.stderr
    report = json.loads(found.stdout)
    assert report["consistent"] is False and report["repaired"] == 0
    assert {p["kind"] for p in report["problems"]} == {"missing_vectors", "orphan_vectors", "half_document", "stale_lexical"}
    assert {p["doc"] for p in report["problems"] if p["kind"] == "half_document"} == {"doc2.txt"}

    fresh_chroma()
    fixed = subprocess.run([*command, "--repair"], env=cli_env(cache_dir), capture_output=True, text=True, timeout=300)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["consistent"] is True and json.loads(fixed.stdout)["repaired"] == 4

    fresh_chroma()
    kb = KnowledgeBase(settings, embedder)
    assert kb.problems() == []
    np.testing.assert_allclose(kb.vectors([ids[0]])[ids[0]], before[ids[0]], atol=1e-5)  # from the cache
    assert {n.name for n in kb.names()} == {"doc0.txt", "doc1.txt"}  # the half document was dropped ...
    report = ingest_paths(kb, [folder], show_progress=False)  # ... and the next ingest adds it back whole
    assert report.added == 1 and kb.problems() == []
    assert sorted(kb.all_chunk_ids()) == sorted(ids)
