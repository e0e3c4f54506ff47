"""Several instances on one Chroma server: what a second instance pays to answer, and Chroma's own
full-text filter against our BM25 cache.

Starts `chroma run` on 127.0.0.1 (a free port, a temporary folder), ingests `corpus/` through
instance A, then measures instance B (another data dir):
  * cold: first answer of a fresh instance (its cache built from the server: manifest, 1,140 chunks,
    tokens, BM25);
  * steady: answers with nothing changed (one revision request per question);
  * after a revision change: A ingests one more small document, B's next answer (the cache fetches
    that document's chunks only, then rebuilds BM25), repeated;
  * full-text: for the same questions, one `where_document={"$contains": word}` request per question
    word (Chroma's only full-text search on a local server) against our local BM25 search.

    .venv/bin/python bench/server_scaleout.py [--embedding-cache OTHER/kb.sqlite] [--rounds 5]

`--embedding-cache` copies the embeddings table of another store built with the same model (read
only), so that ingesting the corpus does not re-encode it; without it the ingest embeds (~80 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from settings import configure_offline, load_settings  # noqa: E402

configure_offline()

QUESTIONS = [
    "医疗废物集中处置单位应当符合哪些条件？",
    "医疗机构应当对医疗废物进行登记，登记资料至少保存多久？",
    "千县工程重点建设哪些中心？",
    "传染病分为哪几类？",
    "医疗机构发现甲类传染病时应当采取哪些措施？",
    "药品经营企业应当具备哪些条件？",
    "医师在执业活动中享有哪些权利？",
    "广西有多少家医院纳入千县工程？",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(folder), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("chroma run did not answer its heartbeat in 60 s")


def seed_embeddings(source: Path, data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src:
        rows = src.execute("SELECT key, vector FROM embeddings").fetchall()
    with sqlite3.connect(data_dir / "kb.sqlite") as dst:
        dst.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        dst.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", rows)
    return len(rows)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding-cache", type=Path, help="kb.sqlite of a store built with the same model")
    parser.add_argument("--rounds", type=int, default=5, help="revision changes measured")
    args = parser.parse_args()

    from assistant import Assistant
    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase
    from ingest.pipeline import ingest_paths

    work = Path(tempfile.mkdtemp(prefix="qianxian-scaleout-"))
    server, url = start_server(work / "server")
    try:
        def settings_for(name: str):
            return load_settings(overrides={"data_dir": work / name, "chroma": {"server_url": url, "refresh_interval_s": 0}})

        a_settings = settings_for("a")
        embedder = Embedder.from_settings(a_settings)
        if args.embedding_cache:
            print(f"seeded {seed_embeddings(args.embedding_cache, work / 'a')} cached embeddings")
        a = KnowledgeBase(a_settings, embedder)
        t = time.perf_counter()
        report = ingest_paths(a, [REPO / "corpus"], show_progress=False)
        print(f"A: ingest corpus/ into the server: {report.added} files, {a.chunk_count()} chunks, "
              f"{time.perf_counter() - t:.1f} s")

        b_settings = settings_for("b")
        t = time.perf_counter()
        b = KnowledgeBase(b_settings, embedder)
        assistant = Assistant(b_settings, b)
        opened = time.perf_counter() - t
        t = time.perf_counter()
        b._sync(force=False)
        synced = time.perf_counter() - t
        t = time.perf_counter()
        b.lexical()
        bm25 = time.perf_counter() - t
        t = time.perf_counter()
        first = assistant.ask(QUESTIONS[0])
        answered = time.perf_counter() - t
        print(f"B cold: open {ms(opened)} ms; cache from the server ({b.chunk_count()} chunks) {ms(synced)} ms; "
              f"BM25 build {ms(bm25)} ms; first answer {ms(answered)} ms (cited {len(first.citations)}); "
              f"total {ms(opened + synced + bm25 + answered)} ms")

        steady = []
        for q in QUESTIONS * 2:
            t = time.perf_counter()
            assistant.ask(q)
            steady.append(time.perf_counter() - t)
        print(f"B steady: answer p50 {ms(statistics.median(steady))} ms over {len(steady)} questions")

        extra = work / "extra"
        extra.mkdir()
        after = []
        for i in range(args.rounds):
            (extra / f"notice{i}.txt").write_text(
                f"关于县医院第{i}批能力提升的通知\n一、县医院每半年开展一次第{i}批能力评估。", encoding="utf-8")
            ingest_paths(a, [extra], show_progress=False)
            t0 = time.perf_counter()
            b._sync(force=False)
            t1 = time.perf_counter()
            b.lexical()
            t2 = time.perf_counter()
            answer = assistant.ask(f"县医院多久开展一次第{i}批能力评估？")
            t3 = time.perf_counter()
            after.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2))
            assert any(c.doc == f"notice{i}.txt" for c in answer.citations), answer.answer
        p50 = [statistics.median(x[k] for x in after) for k in range(4)]
        print(f"B after a revision change (one document added by A), p50 of {len(after)}: first answer "
              f"{ms(p50[0])} ms = cache sync {ms(p50[1])} + BM25 rebuild {ms(p50[2])} + answer {ms(p50[3])}")

        # Chroma's full-text filter vs our BM25 cache
        chroma_ms, bm25_ms, overlap = [], [], []
        for q in QUESTIONS:
            words = sorted({w for w in b.tokenizer.tokenize(q) if len(w) >= 2})
            t = time.perf_counter()
            hits = {w: set(b._collection.get(where_document={"$contains": w}, include=[])["ids"]) for w in words}
            chroma_ms.append(time.perf_counter() - t)
            n = b.chunk_count()
            scores: dict[str, float] = {}
            for w, ids in hits.items():
                idf = 0.0 if not ids else __import__("math").log(1 + n / len(ids))
                for cid in ids:
                    scores[cid] = scores.get(cid, 0.0) + idf
            top_contains = {c for c, _ in sorted(scores.items(), key=lambda kv: -kv[1])[:5]}
            t = time.perf_counter()
            top_bm25 = {c for c, _ in b.lexical_search(q, 5)}
            bm25_ms.append(time.perf_counter() - t)
            overlap.append(len(top_contains & top_bm25) / 5)
        print(f"full-text: Chroma $contains, one request per question word: p50 {ms(statistics.median(chroma_ms))} ms "
              f"per question; local BM25 search p50 {ms(statistics.median(bm25_ms))} ms; top-5 agreement of an "
              f"IDF-sum ranking over $contains hits with BM25: {statistics.mean(overlap):.2f}")
        print(json.dumps({"cold_total_ms": ms(opened + synced + bm25 + answered), "steady_p50_ms": ms(statistics.median(steady)),
                          "after_change_p50_ms": ms(p50[0])}))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
