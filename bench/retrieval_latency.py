"""How fast is retrieval at 50,000 chunks, and how does it compare to a plain llama-index index?  (A script.)

    .venv/bin/python bench/retrieval_latency.py [--chunks 50000] [--queries 30] [--data-dir DIR]
                                                [--skip-llamaindex] [--threads T] [--profile N]

Two knowledge bases, each measured with the same dev questions (evals/questions/dev.jsonl,
answerable and unanswerable), after one warm-up question per measurement:
  A. the sample corpus (corpus/), ingested for real with `ingest.pipeline.ingest_paths`;
  B. a synthetic corpus of --chunks chunks plus the sample corpus (so questions have true answers).

Corpus B is derived cheaply, because encoding 50k chunks takes hours on 2 CPU cores:
  * texts: the sample corpus is cut into clauses (at ，；。 etc.); each synthetic chunk is a run of
    mostly consecutive clauses (a random jump now and then) packed to 150-300 characters, with
    numbers re-drawn and place names (广西, 南宁, ...) swapped for other provinces/cities; 50 chunks
    make one synthetic document (title, 文号, date, type, section paths drawn at random);
  * vectors: every distinct clause is embedded once with the real model (a few hundred passages);
    a chunk's vector is the mean of its clauses' vectors plus Gaussian noise (sigma 0.01 per
    dimension), L2-normalised. The swapped numbers/places are not reflected in the vectors;
  * stored with `KnowledgeBase.commit_document(..., vectors)`, one document (50 chunks) per call.
The vocabulary is small (one sample corpus recombined), so BM25 posting lists are longer than in a
real 50k corpus of varied policy text: BM25 timings here are pessimistic.

Measured per corpus (ms, p50/p95): the raw query encode (`Embedder.embed_queries`, one query); our
retrieval (`HybridRetriever.retrieve`: BM25 + encode + Chroma + fusion) with its parts from
`result.timings`; the full answer (`Assistant.ask`, extractive generator) with its parts from
`Answer.latency_ms`; and a plain llama-index `VectorStoreIndex` (default in-memory
SimpleVectorStore, brute force in Python) over the same chunk texts and vectors,
`as_retriever(similarity_top_k=10).retrieve(q)`. Plus RSS and the BM25 (bm25s) index build time.

--data-dir (default <tmp>/qianxian-bench-retrieval) keeps both stores; a second run with the same
--chunks reuses the synthetic store and only measures. --profile N prints cProfile's top functions
for N `Assistant.ask` calls on corpus B.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from settings import Settings, configure_offline, load_settings  # noqa: E402

configure_offline()

import numpy as np  # noqa: E402

CHUNKS_PER_DOC = 50
NOISE_SIGMA = 0.01
SEED = 20240622
SYNTH_VERSION = 1  # bump when the derivation changes: an old store is then rebuilt
MARKER = "bench_synthetic.json"
TOP_K = 10

_CLAUSE = re.compile(r"[^，,：:；;。！？!?]+[，,：:；;。！？!?]*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
SOURCE_PLACES = ["广西壮族自治区", "广西", "南宁", "自治区", "我区", "驻邕"]
PLACES = [
    "河北省", "山西省", "辽宁省", "吉林省", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省",
    "河南省", "湖北省", "湖南省", "广东省", "海南省", "四川省", "贵州省", "云南省", "陕西省", "甘肃省",
    "青海省", "内蒙古", "宁夏", "新疆", "西藏", "石家庄", "太原", "沈阳", "长春", "南京", "杭州", "合肥",
    "福州", "南昌", "济南", "郑州", "武汉", "长沙", "广州", "海口", "成都", "贵阳", "昆明", "西安", "兰州",
    "西宁", "呼和浩特", "银川", "乌鲁木齐", "拉萨", "赣州", "遵义", "曲靖", "南充", "洛阳", "襄阳", "岳阳",
    "潍坊", "徐州", "温州", "绵阳", "大理", "喀什", "延边", "黔东南", "恩施", "湘西", "汕头", "宜宾", "毕节",
]
HEADINGS = [
    ["一、总体要求", "（一）指导思想"], ["一、总体要求", "（二）工作目标"], ["二、重点任务", "（一）提升核心专科能力"],
    ["二、重点任务", "（二）加强中心建设"], ["二、重点任务", "（三）提升医疗质量"], ["三、保障措施", "（一）加强组织领导"],
    ["三、保障措施", "（二）强化考核评估"], ["四、工作要求"], ["第二章 建设标准", "第八条"], ["附件 建设指南"], [],
]
TITLES = [
    "县医院综合能力提升工作实施方案", "全面提升医疗质量行动实施方案", "紧密型县域医共体建设工作方案",
    "县级医院重点专科建设指南", "县域医疗卫生服务能力提升工作通知", "“千县工程”工作推进会召开",
    "县医院急诊急救五大中心建设情况通报", "医疗质量管理专项培训班举办",
]


# --------------------------------------------------------------------------- small helpers
def rss_mb() -> float:
    """Resident set size of this process now (MiB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def pct(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def timed_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_questions(n: int) -> list[str]:
    """n dev questions: answerable and unanswerable in their dev-set proportion (at least one each)."""
    rows = [json.loads(l) for l in (REPO / "evals/questions/dev.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    unans = [r["question"] for r in rows if r.get("type") == "unanswerable"]
    ans = [r["question"] for r in rows if r.get("type") != "unanswerable"]
    k = min(len(unans), max(1, round(n * len(unans) / len(rows))))
    picked = ans[: max(0, n - k)] + unans[:k]
    while len(picked) < n:  # more asked than the dev set holds: cycle
        picked.append(rows[len(picked) % len(rows)]["question"])
    return picked[:n]


# --------------------------------------------------------------------------- corpus B (synthetic)
def corpus_clauses() -> list[str]:
    """Distinct clauses (with their trailing punctuation) of the sample corpus, >= 6 CJK characters."""
    seen: dict[str, None] = {}
    for f in sorted((REPO / "corpus").rglob("*.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if "\xa0" in line or "  " in line:  # site navigation lines
                continue
            for m in _CLAUSE.finditer(line):
                c = m.group().strip()
                if len(_CJK.findall(c)) >= 6:
                    seen.setdefault(c, None)
    return list(seen)


def _vary(clause: str, rng: random.Random) -> str:
    def number(m: re.Match[str]) -> str:
        s = m.group()
        if len(s) == 4 and s.startswith("20"):
            return str(rng.randint(2016, 2025))
        return str(rng.randint(10 ** (len(s) - 1) if len(s) > 1 else 1, 10 ** len(s) - 1))

    out = re.sub(r"\d+", number, clause)
    for place in SOURCE_PLACES:
        if place in out:
            out = out.replace(place, rng.choice(PLACES))
    return out


def synth_chunks(clauses: list[str], n: int, rng: random.Random) -> list[tuple[str, list[int]]]:
    """n (text, clause indices): runs of mostly consecutive clauses, 150-300 characters."""
    out: list[tuple[str, list[int]]] = []
    for _ in range(n):
        target = rng.randint(150, 300)
        i = rng.randrange(len(clauses))
        parts: list[str] = []
        used: list[int] = []
        size = 0
        while size < target:
            piece = _vary(clauses[i], rng)
            if parts and size + len(piece) > 300:
                break
            parts.append(piece)
            used.append(i)
            size += len(piece)
            i = (i + 1) % len(clauses) if rng.random() < 0.75 else rng.randrange(len(clauses))
        text = "".join(parts)
        text = re.sub(r"[，,：:；;]$", "。", text)
        out.append((text[:300], used))
    return out


def build_synthetic(kb: Any, n_chunks: int) -> dict[str, Any]:
    """Fill `kb` with n_chunks synthetic chunks (see the module doc); returns build facts and timings."""
    from ingest.chunking import chunking_fingerprint
    from ingest.documents import Chunk, DocMeta, LoadedDocument, Page

    rng = random.Random(SEED)
    nrng = np.random.default_rng(SEED)
    t_all = time.perf_counter()
    clauses = corpus_clauses()
    t0 = time.perf_counter()
    clause_vecs = kb.embed_passages(clauses)
    embed_s = time.perf_counter() - t0
    texts = synth_chunks(clauses, n_chunks, rng)
    fingerprint = chunking_fingerprint(kb.settings.chunking)
    commit_s = 0.0
    n_docs = -(-n_chunks // CHUNKS_PER_DOC)
    for d in range(n_docs):
        part = texts[d * CHUNKS_PER_DOC : (d + 1) * CHUNKS_PER_DOC]
        doc_id = hashlib.sha256(f"qianxian-bench-synthetic-{SEED}-{d}".encode()).hexdigest()
        place = rng.choice(PLACES)
        year = rng.randint(2016, 2025)
        doc_type = rng.choice(["policy", "news"])
        meta = DocMeta(
            title=f"{place}{rng.choice(TITLES)}",
            wenhao=f"{place[:2]}卫医发〔{year}〕{rng.randint(1, 99)}号" if doc_type == "policy" else None,
            issuer=f"{place}卫生健康委员会",
            date=f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            doc_type=doc_type,
        )
        name = f"synthetic/{d:05d}.txt"
        doc = LoadedDocument(doc_id, name, "txt", [Page(None, "\n".join(t for t, _ in part))], meta)
        chunks: list[Chunk] = []
        vectors = np.empty((len(part), clause_vecs.shape[1]), dtype=np.float32)
        offset = 0
        for o, (text, used) in enumerate(part):
            chunks.append(
                Chunk(
                    chunk_id=f"{doc_id[:32]}-{o:05d}", doc_id=doc_id, doc=name, ordinal=o, text=text,
                    title=meta.title, section_path=" > ".join(rng.choice(HEADINGS)), page_start=None,
                    page_end=None, char_start=offset, char_end=offset + len(text), wenhao=meta.wenhao,
                    issuer=meta.issuer, date=meta.date, doc_type=meta.doc_type,
                )
            )
            offset += len(text) + 1
            v = clause_vecs[used].mean(axis=0) + nrng.normal(0.0, NOISE_SIGMA, clause_vecs.shape[1])
            vectors[o] = v / np.linalg.norm(v)
        t0 = time.perf_counter()
        kb.commit_document(name, doc, chunks, vectors, chunking=fingerprint)
        commit_s += time.perf_counter() - t0
        if (d + 1) % 100 == 0:
            log(f"  synthetic: {d + 1}/{n_docs} documents, {commit_s:.0f}s in commit_document")
    return {
        "chunks": n_chunks, "docs": n_docs, "clauses": len(clauses), "seed": SEED, "version": SYNTH_VERSION,
        "model_id": kb.embedder.model_id, "clause_embed_s": round(embed_s, 1), "commit_s": round(commit_s, 1),
        "total_s": round(time.perf_counter() - t_all, 1),
    }


# --------------------------------------------------------------------------- measuring
class Rows:
    """The result table: (corpus, measurement, p50, p95, note)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, float, float, str]] = []

    def add(self, corpus: str, what: str, values: list[float], note: str = "") -> tuple[float, float]:
        p50, p95 = pct(values)
        self.rows.append((corpus, what, p50, p95, note))
        return p50, p95

    def print(self) -> None:
        w = max(len(r[1]) for r in self.rows) + 2
        print(f"{'corpus':<22}{'measurement':<{w}}{'p50 ms':>10}{'p95 ms':>10}  ratio / note")
        print("-" * (22 + w + 20 + 40))
        last = None
        for corpus, what, p50, p95, note in self.rows:
            if last is not None and corpus != last:
                print()
            print(f"{corpus if corpus != last else '':<22}{what:<{w}}{p50:>10.1f}{p95:>10.1f}  {note}")
            last = corpus


def measure(label: str, settings: Settings, kb: Any, questions: list[str], rows: Rows,
            skip_llamaindex: bool, facts: dict[str, Any]) -> None:
    """All measurements of one corpus, round-robin per question so that load from other processes
    on the machine hits every measurement alike (the ratios stay meaningful)."""
    from assistant.assistant import Assistant

    embedder = kb.embedder
    assistant = Assistant(settings, kb)
    retriever = assistant.retriever
    n = kb.chunk_count()
    corpus = f"{label} ({n:,})"
    li = None if skip_llamaindex else llamaindex_retriever(label, kb, embedder, facts)
    log(f"[{label}] measuring {len(questions)} questions over {n:,} chunks")

    # One warm-up of each.
    embedder.embed_queries([questions[0]])
    retriever.retrieve(questions[0], TOP_K)
    assistant.ask(questions[0])
    if li is not None:
        li.retrieve(questions[0])

    encode: list[float] = []
    total: list[float] = []
    parts: dict[str, list[float]] = {"lexical": [], "embed": [], "dense": [], "fuse": []}
    ask: dict[str, list[float]] = {"total": [], "rewrite": [], "retrieve": [], "generate": []}
    li_times: list[float] = []
    refused = 0
    for q in questions:
        encode.append(timed_ms(lambda q=q: embedder.embed_queries([q]))[0])
        ms, result = timed_ms(lambda q=q: retriever.retrieve(q, TOP_K))
        total.append(ms)
        for k in parts:
            parts[k].append(result.timings.get(k, 0.0))
        answer = assistant.ask(q)
        refused += answer.refused
        for k in ask:
            ask[k].append(answer.latency_ms.get(k, 0.0))
        if li is not None:
            li_times.append(timed_ms(lambda q=q: li.retrieve(q))[0])

    enc50, _ = rows.add(corpus, "query encode (embed_queries, 1 query)", encode)
    our50, _ = rows.add(corpus, "our retrieval (HybridRetriever.retrieve)", total)
    rows.rows[-1] = rows.rows[-1][:4] + (f"x{our50 / enc50:.2f} of raw encode",)
    rows.add(corpus, "  - BM25 (bm25s, timings.lexical)", parts["lexical"])
    rows.add(corpus, "  - query encode (timings.embed)", parts["embed"])
    rows.add(corpus, "  - Chroma dense (timings.dense)", parts["dense"])
    rows.add(corpus, "  - fusion + chunk lookup (timings.fuse)", parts["fuse"])
    rows.add(corpus, "full answer (Assistant.ask, extractive)", ask["total"], f"{refused}/{len(questions)} refused")
    rows.add(corpus, "  - rewrite", ask["rewrite"])
    rows.add(corpus, "  - retrieve", ask["retrieve"])
    rest = [t - r - rw - g for t, r, rw, g in zip(ask["total"], ask["retrieve"], ask["rewrite"], ask["generate"])]
    rows.add(corpus, "  - refusal gate (key_terms + coverage)", rest, "= total - rewrite - retrieve - generate")
    rows.add(corpus, "  - generate + citation check", ask["generate"])
    if li is not None:
        li50, _ = rows.add(corpus, "llama-index VectorStoreIndex retrieve (top 10)", li_times)
        rows.rows[-1] = rows.rows[-1][:4] + (f"x{li50 / our50:.1f} of our retrieval",)
    facts[f"{label}: RSS after measuring (MiB)"] = round(rss_mb())


def llamaindex_retriever(label: str, kb: Any, embedder: Any, facts: dict[str, Any]) -> Any:
    """A plain llama-index VectorStoreIndex (SimpleVectorStore) over the stored chunk texts and vectors."""
    import gc

    from llama_index.core import Settings as LISettings
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    LISettings.llm = None
    gc.collect()
    rss0 = rss_mb()
    ids = kb.all_chunk_ids()
    t0 = time.perf_counter()
    nodes = []
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        vecs = kb.vectors(part)
        for c in kb.chunks(part):
            nodes.append(TextNode(id_=c.chunk_id, text=c.text, embedding=vecs[c.chunk_id].tolist()))
    nodes_s = time.perf_counter() - t0
    embed_model = HuggingFaceEmbedding(
        model_name=str(embedder.info.path), query_instruction="query: ", text_instruction="passage: ", device="cpu"
    )
    # Verify that nodes carrying embeddings are not re-embedded: count text-embedding calls.
    calls = {"texts": 0}
    cls = type(embed_model)
    original = cls._get_text_embeddings

    def counting(self: Any, texts: list[str]) -> Any:
        calls["texts"] += len(texts)
        return original(self, texts)

    cls._get_text_embeddings = counting  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        index = VectorStoreIndex(nodes, embed_model=embed_model, show_progress=False)
        build_s = time.perf_counter() - t0
    finally:
        cls._get_text_embeddings = original  # type: ignore[method-assign]
    stored = index.vector_store.data.embedding_dict  # type: ignore[attr-defined]
    same = all(np.allclose(stored[nd.node_id], nd.embedding) for nd in nodes[:: max(1, len(nodes) // 200)])
    facts[f"{label}: llama-index nodes re-embedded"] = f"{calls['texts']} texts (its stored vectors are ours: {same})"
    facts[f"{label}: llama-index TextNodes made / index built (s)"] = f"{nodes_s:.1f} / {build_s:.1f}"
    facts[f"{label}: llama-index RSS for nodes + index + its own model copy (MiB)"] = round(rss_mb() - rss0)
    return index.as_retriever(similarity_top_k=TOP_K)


# --------------------------------------------------------------------------- child processes
# The synthetic build and the lexical rebuild run in child processes, so that what they allocate
# (glibc keeps freed memory) does not inflate the RSS measured in the process that answers.
def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_build(settings: Settings, folder: Path, n_chunks: int) -> None:
    """Build corpus B into `folder` and write the marker (reuse key + build timings)."""
    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase
    from ingest.pipeline import ingest_paths

    shutil.rmtree(folder, ignore_errors=True)
    kb = KnowledgeBase(settings.model_copy(update={"data_dir": folder}), Embedder.from_settings(settings))
    ingest_paths(kb, [REPO / "corpus"], show_progress=False)
    built = build_synthetic(kb, n_chunks)
    t0 = time.perf_counter()
    kb.lexical()
    built["lexical_s"] = round(time.perf_counter() - t0, 1)
    built["peak_rss_mb"] = round(peak_mb())
    (folder / MARKER).write_text(json.dumps(built))


def child_lexical(folder: Path) -> None:
    """Time the rebuild path of KnowledgeBase.lexical() (fetch tokens, bm25s index, save) and a load."""
    from ingest.lexical import LexicalIndex

    out: dict[str, Any] = {}
    base = rss_mb()
    t0 = time.perf_counter()
    LexicalIndex.load(folder / "lexical")
    out["load_s"] = time.perf_counter() - t0
    out["load_rss_mb"] = rss_mb() - base
    t0 = time.perf_counter()
    with sqlite3.connect(f"file:{folder / 'kb.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT chunk_id, tokens FROM chunks ORDER BY chunk_id").fetchall()
    tokens = [r[1].split("\x1f") if r[1] else [] for r in rows]
    out["fetch_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = LexicalIndex.build([r[0] for r in rows], tokens)
    out["build_s"] = time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="lexical-bench-"))
    try:
        t0 = time.perf_counter()
        index.save(tmp / "lexical", 0)
        out["save_s"] = time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["chunks"] = len(rows)
    out["tokens_per_chunk"] = sum(map(len, tokens)) / max(1, len(rows))
    out["vocab"] = len(index._bm25.vocab_dict) if index._bm25 is not None else 0  # noqa: SLF001
    out["peak_rss_mb"] = peak_mb()
    out["rss_after_mb"] = rss_mb()
    print(json.dumps(out))


def run_child(*args: str) -> str:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode:
        raise SystemExit(f"child {' '.join(args)} failed with exit code {proc.returncode}")
    return proc.stdout


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=50000, help="synthetic chunks in corpus B (default 50000)")
    ap.add_argument("--queries", type=int, default=30, help="dev questions measured per corpus (default 30)")
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "qianxian-bench-retrieval",
                    help="where both stores live; reused when it already holds corpus B of this size")
    ap.add_argument("--skip-llamaindex", action="store_true", help="skip the llama-index comparison")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch intra-op threads (embedding.threads); 0 = the product default (all cores). "
                    "On a busy shared machine 1 is far steadier than 2")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="cProfile N Assistant.ask calls on corpus B and print the top functions")
    ap.add_argument("--child-build", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-lexical", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    base = load_settings(overrides={
        "cache_dir": os.environ.get("QIANXIAN_CACHE_DIR", "~/.cache/qianxian"),
        "embedding": {"threads": args.threads} if args.threads else None,
    })
    if args.child_build:
        return child_build(base, args.child_build, args.chunks)
    if args.child_lexical:
        return child_lexical(args.child_lexical)

    print("command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/retrieval_latency.py", *sys.argv[1:]]))
    sys.stdout.flush()
    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase, KnowledgeBaseError
    from ingest.pipeline import ingest_paths

    questions = load_questions(args.queries)
    load_start = _loadavg()
    facts: dict[str, Any] = {"RSS at start (MiB)": round(rss_mb())}
    t0 = time.perf_counter()
    embedder = Embedder.from_settings(base)
    facts["embedding model"] = f"{embedder.model_id} (load {time.perf_counter() - t0:.1f}s)"
    facts["RSS after model load (MiB)"] = round(rss_mb())
    rows = Rows()

    # Corpus B's store first (a child process builds it when it is missing or stale).
    data = args.data_dir.expanduser()
    folder = data / f"synthetic-{args.chunks}"
    marker_path = folder / MARKER
    marker = json.loads(marker_path.read_text()) if marker_path.is_file() else None
    reuse = bool(marker and marker.get("version") == SYNTH_VERSION and marker.get("model_id") == embedder.model_id
                 and marker.get("chunks") == args.chunks)
    if not reuse:
        log(f"[B] building {args.chunks:,} synthetic chunks in {folder} (child process)")
        cmd = ["--child-build", str(folder), "--chunks", str(args.chunks)]
        run_child(*cmd, *(["--threads", str(args.threads)] if args.threads else []))
        marker = json.loads(marker_path.read_text())
    facts["B: synthetic build (setup, not measured)"] = (
        ("reused; built earlier: " if reuse else "")
        + f"{marker['total_s']}s: {marker['clauses']} clauses embedded in {marker['clause_embed_s']}s, "
        f"{marker['docs']} commit_document calls {marker['commit_s']}s, then kb.lexical() {marker['lexical_s']}s; "
        f"build process peak RSS {marker['peak_rss_mb']} MiB"
    )
    lex = json.loads(run_child("--child-lexical", str(folder)).strip().splitlines()[-1])
    facts[f"B: BM25 index rebuild, {lex['chunks']:,} chunks (KnowledgeBase.lexical() path)"] = (
        f"{lex['fetch_s'] + lex['build_s'] + lex['save_s']:.1f}s = fetch+split {lex['fetch_s']:.1f} "
        f"+ bm25s index {lex['build_s']:.1f} + save {lex['save_s']:.1f}; peak RSS {lex['peak_rss_mb']:.0f} MiB, "
        f"{lex['rss_after_mb']:.0f} MiB after; {lex['tokens_per_chunk']:.0f} tokens/chunk, vocab {lex['vocab']:,}"
    )
    facts["B: BM25 index load from disk"] = f"{lex['load_s']:.2f}s, +{lex['load_rss_mb']:.0f} MiB RSS"

    # Corpus A: the sample corpus through the real pipeline.
    sa = base.model_copy(update={"data_dir": data / "sample"})
    try:
        kb_a = KnowledgeBase(sa, embedder)
    except KnowledgeBaseError:  # built by another model version: start it again
        kb_a = KnowledgeBase(sa, embedder, rebuild=True)
    t0 = time.perf_counter()
    ingest_paths(kb_a, [REPO / "corpus"], show_progress=False)
    facts["A: ingest corpus/ (s, unchanged files skipped on a rerun)"] = round(time.perf_counter() - t0, 1)
    kb_a.lexical()
    measure("A sample", sa, kb_a, questions, rows, args.skip_llamaindex, facts)
    kb_a.close()
    del kb_a

    # Corpus B: open and measure.
    sb = base.model_copy(update={"data_dir": folder})
    rss0 = rss_mb()
    t0 = time.perf_counter()
    kb_b = KnowledgeBase(sb, embedder)
    facts["B: KnowledgeBase open, incl. reconcile()"] = f"{time.perf_counter() - t0:.2f}s, +{rss_mb() - rss0:.0f} MiB RSS"
    rss0 = rss_mb()
    t0 = time.perf_counter()
    kb_b.lexical()
    facts["B: first kb.lexical() in the measuring process"] = f"{time.perf_counter() - t0:.2f}s, +{rss_mb() - rss0:.0f} MiB RSS"
    measure("B synthetic", sb, kb_b, questions, rows, args.skip_llamaindex, facts)
    facts["RSS at end (MiB)"] = round(rss_mb())
    facts["load average at start / end (other processes share the 2 cores)"] = f"{load_start} / {_loadavg()}"

    unanswerable = {json.loads(l)["question"] for l in (REPO / "evals/questions/dev.jsonl").open(encoding="utf-8")
                    if l.strip() and json.loads(l).get("type") == "unanswerable"}
    print(f"questions: {len(questions)} from evals/questions/dev.jsonl "
          f"({sum(q in unanswerable for q in questions)} unanswerable); "
          f"top {TOP_K}; one warm-up each, then round-robin per question; "
          f"torch threads {__import__('torch').get_num_threads()}")
    print("corpus B: synthetic chunks derived from corpus/ clauses (recombined, numbers and places re-drawn); "
          f"vectors = normalised mean of the real clause embeddings + N(0, {NOISE_SIGMA}) noise; plus corpus/ itself")
    print()
    rows.print()
    print()
    w = max(len(k) for k in facts)
    for k, v in facts.items():
        print(f"{k:<{w}}  {v}")

    if args.profile:
        from assistant.assistant import Assistant

        assistant = Assistant(sb, kb_b)
        assistant.ask(questions[0])
        prof = cProfile.Profile()
        prof.enable()
        for q in questions[: args.profile]:
            assistant.ask(q)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
        print(f"\ncProfile of {args.profile} Assistant.ask calls on corpus B (by own time):")
        print(out.getvalue())


if __name__ == "__main__":
    main()
