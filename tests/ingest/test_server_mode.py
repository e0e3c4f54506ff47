"""Several instances on one Chroma server: a real `chroma run` on 127.0.0.1, instances with their own
data dirs, CLI ingests killed with SIGKILL, the writer lease between data dirs; and, for comparison,
a running reader of an embedded store following a CLI ingest."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import Assistant
from ingest.embeddings import Embedder
from ingest.knowledge_base import KnowledgeBase, KnowledgeBaseError, WriterBusy
from ingest.pipeline import ingest_paths
from settings import Settings
from kbprobe import committed_names

# Each fact is something the extractive answer can quote for a 多久 question.
FACTS = {
    "胸痛中心": "每季度开展一次自查",
    "卒中中心": "每半年开展一次质控评估",
    "创伤中心": "每半年组织一次应急演练",
    "院感防控": "每半年开展一次环境卫生学监测",
    "病案质量": "每季度开展一次病历质量检查",
    "药事管理": "每年开展一次处方点评培训",
}


def notice(topic: str, fact: str) -> str:
    return (
        f"关于加强县医院{topic}建设的通知\n一、总体要求\n各县医院要把{topic}建设作为提升综合能力的重点。\n"
        f"二、主要任务\n县医院{topic}{fact}，结果报县卫生健康局。"
    )


def write_notices(folder: Path, topics: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for topic in topics:
        (folder / f"{topic}.txt").write_text(notice(topic, FACTS[topic]), encoding="utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_chroma(path: Path) -> tuple[subprocess.Popen, str]:
    """A real Chroma server (the `chroma` CLI of the venv) on a free port, once it answers its heartbeat."""
    port = free_port()
    log = (path / "server.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path / "db"), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    log.close()  # the child keeps its own descriptor
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as reply:
                if reply.status == 200:
                    return proc, url
        except OSError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (path / "server.log").read_text()[-2000:]
        time.sleep(0.2)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the module's tests (each uses a collection of its own)."""
    proc, url = start_chroma(tmp_path_factory.mktemp("chroma-server"))
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def collection() -> str:
    """A collection of its own per test: the server is shared by the module."""
    return f"t{uuid.uuid4().hex[:12]}"


def instance(settings: Settings, url: str, collection: str, data_dir: Path) -> Settings:
    """Settings of one instance: its own data dir, the shared server; readers poll on every question."""
    chroma = settings.chroma.model_copy(update={"server_url": url, "collection": collection, "refresh_interval_s": 0})
    return settings.model_copy(update={"data_dir": data_dir, "chroma": chroma})


def cli_env(cache_dir: Path, url: str | None = None, collection: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    env["QIANXIAN_CACHE_DIR"] = str(cache_dir)
    if url:
        env["QIANXIAN_CHROMA__SERVER_URL"] = url
        env["QIANXIAN_CHROMA__COLLECTION"] = collection or "qianxian"
    env.update(extra)
    return env


def qianxian(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "qianxian"), *args]


def cited(answer) -> set[str]:
    return {c.doc for c in answer.citations}


def dense_ids(kb: KnowledgeBase, text: str) -> set[str]:
    return {cid for cid, _ in kb.dense_search(kb.embedder.embed_queries([text])[0], 10)}


# ------------------------------------------------------------------------------- two instances, one server


def test_a_second_instance_answers_from_the_server_and_follows_its_changes(
    chroma_server: str, collection: str, settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    folder = write_notices(tmp_path / "docs", ["胸痛中心", "创伤中心", "药事管理"])
    a = KnowledgeBase(instance(settings, chroma_server, collection, tmp_path / "a"), embedder)
    assert ingest_paths(a, [folder], show_progress=False).added == 3

    b_settings = instance(settings, chroma_server, collection, tmp_path / "b")
    b = KnowledgeBase(b_settings, embedder)
    assert b.chunk_count() == 0  # nothing of A's data dir: all B learns comes from the server
    assistant = Assistant(b_settings, b)
    answer = assistant.ask("县医院创伤中心多久组织一次应急演练？")
    assert not answer.refused and cited(answer) == {"创伤中心.txt"} and "每半年" in answer.answer
    assert sorted(b.all_chunk_ids()) == sorted(a.all_chunk_ids())
    assert b.chunks(b.all_chunk_ids()) == a.chunks(b.all_chunk_ids())  # text and every metadata field
    before = set(b.all_chunk_ids())

    # A adds one document and deletes another; B, still running, sees both at its next question
    write_notices(folder, ["院感防控"])
    assert ingest_paths(a, [folder], show_progress=False).added == 1
    a.remove_name("创伤中心.txt")
    answer = assistant.ask("县医院院感防控多久开展一次环境卫生学监测？")
    assert not answer.refused and cited(answer) == {"院感防控.txt"} and "每半年" in answer.answer
    added = set(b.all_chunk_ids()) - before
    assert added and added <= dense_ids(b, "县医院院感防控环境卫生学监测")
    answer = assistant.ask("县医院创伤中心多久组织一次应急演练？")
    assert "创伤中心.txt" not in cited(answer)
    assert {n for d in assistant.documents() for n in d.names} == {"胸痛中心.txt", "药事管理.txt", "院感防控.txt"}
    assert sorted(b.all_chunk_ids()) == sorted(a.all_chunk_ids())
    a.lexical()
    assert a.problems() == [] and b.problems() == []

    # `ingest --rebuild` through A empties the server: B follows that too (a new collection)
    rebuilt = KnowledgeBase(instance(settings, chroma_server, collection, tmp_path / "a"), embedder, rebuild=True)
    assert assistant.ask("县医院院感防控多久开展一次环境卫生学监测？").refused
    assert assistant.documents() == [] and b.chunk_count() == 0 and rebuilt.problems() == []


def test_kill_9_ingest_in_server_mode_then_verify(
    chroma_server: str, collection: str, settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    """A killed ingest leaves the server consistent after `verify --repair` (run at once: the killed
    process's lease belongs to the same data dir, so it is taken over without waiting for it to lapse);
    another instance then finds 0 problems, and resuming the ingest completes it."""
    topics = list(FACTS)
    folder = tmp_path / "docs"
    for i in range(2):  # 12 documents: long enough to be killed part-way
        for topic in topics:
            (folder / str(i)).mkdir(parents=True, exist_ok=True)
            (folder / str(i) / f"{topic}.txt").write_text(notice(f"{topic}{i}", FACTS[topic]), encoding="utf-8")
    killed = tmp_path / "killed"
    env = cli_env(cache_dir, chroma_server, collection, QIANXIAN_CHROMA__LEASE_TTL_S="600")
    proc = subprocess.Popen(qianxian("ingest", str(folder), "--data-dir", str(killed), "--quiet"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while committed_names(killed) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no document committed in time"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert 2 <= committed_names(killed) < 12

    started = time.monotonic()
    repaired = subprocess.run(qianxian("verify", "--repair", "--json", "--data-dir", str(killed)), env=env,
                              capture_output=True, text=True, timeout=120)
    assert repaired.returncode == 0, repaired.stderr
    assert json.loads(repaired.stdout)["consistent"] is True
    assert time.monotonic() - started < 60, "the dead writer's lease (600 s) was taken over, not waited out"

    other = KnowledgeBase(instance(settings, chroma_server, collection, tmp_path / "other"), embedder)
    assert other.problems() == []  # 0 problems, seen from another instance
    resumed = KnowledgeBase(instance(settings, chroma_server, collection, killed), embedder)
    report = ingest_paths(resumed, [folder], show_progress=False)
    assert report.added + report.unchanged == 12 and report.unchanged >= 2 and not report.failures
    other.lexical()  # its next question
    assert len(other.names()) == 12 and other.problems() == []
    assert sorted(other.all_chunk_ids()) == sorted(resumed.all_chunk_ids())


def test_two_writers_on_different_data_dirs_are_serialised_by_the_server_lease(
    chroma_server: str, collection: str, settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    """While instance A writes, a writer on B's data dir fails at once with `wait=False` (`--no-wait`),
    and a CLI ingest there waits, then finds A's documents already stored: embedded once, not twice."""
    folder = write_notices(tmp_path / "docs", list(FACTS))
    a = KnowledgeBase(instance(settings, chroma_server, collection, tmp_path / "a"), embedder)
    b_dir = tmp_path / "b"
    env = cli_env(cache_dir, chroma_server, collection)
    command = qianxian("ingest", str(folder), "--data-dir", str(b_dir), "--json")
    err = tmp_path / "waiting.err"
    b = KnowledgeBase(instance(settings, chroma_server, collection, b_dir), embedder)
    with a.writer():
        with pytest.raises(WriterBusy, match="another process is writing"):
            with b.writer(wait=False):
                pass
        with err.open("w") as stderr:
            waiting = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        deadline = time.monotonic() + 120
        while "waiting for it to finish" not in err.read_text():
            assert waiting.poll() is None and time.monotonic() < deadline, err.read_text()[-2000:]
            time.sleep(0.1)
        assert ingest_paths(a, [folder], show_progress=False).added == len(FACTS)
        time.sleep(1.0)
        assert waiting.poll() is None, "B waits while A holds the lease"
    out, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, err.read_text()[-2000:]
    files = json.loads(out)["files"]
    assert (files["added"], files["unchanged"]) == (0, len(FACTS))
    assert a._manifest.read_lease() is None  # both released it
    assert a.problems() == []


def test_an_unreachable_server_is_one_line(cache_dir: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = subprocess.run(qianxian("ask", "千县工程重点建设哪些中心？", "--data-dir", str(tmp_path / "d")),
                          env=cli_env(cache_dir, url, "qianxian"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert url in done.stderr and "cannot reach a Chroma 1.x server" in done.stderr


def test_a_server_that_is_not_chroma_is_refused_with_one_line(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(KnowledgeBaseError) as err:
            KnowledgeBase(instance(settings, url, "qianxian", tmp_path / "d"), embedder)
    finally:
        server.shutdown()
    assert url in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------- embedded mode, for comparison


def test_a_running_reader_of_an_embedded_store_sees_a_cli_ingest_without_restart(
    settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    """`serve` keeps one Assistant for its lifetime; a CLI ingest in another process must reach it,
    dense retrieval included (the embedded Chroma client caches its index per process)."""
    folder = write_notices(tmp_path / "docs", ["胸痛中心", "创伤中心"])
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [folder], show_progress=False)
    assistant = Assistant(settings, kb)
    assert not assistant.ask("县医院创伤中心多久组织一次应急演练？").refused
    before = set(kb.all_chunk_ids())

    write_notices(folder, ["院感防控"])
    done = subprocess.run(qianxian("ingest", str(folder), "--data-dir", str(settings.data_path), "--quiet"),
                          env=cli_env(cache_dir), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    answer = assistant.ask("县医院院感防控多久开展一次环境卫生学监测？")
    assert not answer.refused and cited(answer) == {"院感防控.txt"}
    added = set(kb.all_chunk_ids()) - before
    assert added and added <= dense_ids(kb, "县医院院感防控环境卫生学监测")


def test_a_server_that_stops_answering_fails_a_question_with_one_line(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    """An instance opened while its server was up, asked after it went down: one line, no traceback."""
    from assistant import Assistant, AssistantError

    (tmp_path / "server").mkdir()
    proc, url = start_chroma(tmp_path / "server")
    try:
        kb = KnowledgeBase(instance(settings, url, "qianxian", tmp_path / "d"), embedder)
        assistant = Assistant(kb.settings, kb)
        assistant.add_documents([write_notices(tmp_path / "docs", ["胸痛中心"])])
        assert not assistant.ask("县医院胸痛中心建设有什么要求？").error
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(AssistantError) as err:
        assistant.ask("县医院胸痛中心建设有什么要求？")
    assert url in str(err.value) and "\n" not in str(err.value)
