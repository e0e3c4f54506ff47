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
import io
import json
import os
import pstats
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

# The synthesiser and small helpers are shared with scale.py (bench/synthcorpus.py).
from synthcorpus import (  # noqa: E402
    NOISE_SIGMA, build_synthetic, load_questions, log, peak_mb, pct, rss_mb,
)
from synthcorpus import loadavg as _loadavg  # noqa: E402

SYNTH_VERSION = 1  # bump when the derivation changes: an old store is then rebuilt
MARKER = "bench_synthetic.json"
TOP_K = 10


def timed_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


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
def child_build(settings: Settings, folder: Path, n_chunks: int) -> None:
    """Build corpus B into `folder` and write the marker (reuse key + build timings)."""
    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase
    from ingest.pipeline import ingest_paths

    shutil.rmtree(folder, ignore_errors=True)
    kb = KnowledgeBase(settings.model_copy(update={"data_dir": folder}), Embedder.from_settings(settings))
    ingest_paths(kb, [REPO / "corpus"], show_progress=False)
    built = build_synthetic(kb, n_chunks)
    built["version"] = SYNTH_VERSION
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
