"""How does the knowledge base behave at 1k, 10k, 100k and 200k chunks?  (A script, not a test.)

    .venv/bin/python bench/scale.py [--sizes 1000,10000,100000,200000] [--queries 50]
                                    [--data-dir DIR] [--threads 1] [--reuse] [--build-timeout 5400]

Why: the issue asks whether one instance still opens, answers and stays within memory when a
province's documents are loaded, and the only way to know is to build such stores and time them.

For each size N a store is built, in a child process, from
  * the shipped corpus (corpus/), ingested for real once into <data-dir>/base and copied, so the
    dev questions have true answers, plus
  * N synthetic regulation articles (bench/synthcorpus.py, style "regulation", the synthesiser that
    retrieval_latency.py uses too): clauses of the 17 shipped regulations recombined into articles
    「第二十三条　…」 under real chapter names, numbers re-drawn, places swapped, 50 articles per
    synthetic regulation, written through the product's own `KnowledgeBase.commit_document` (BM25
    tokens, SQLite manifest, Chroma upsert) inside `kb.writer()`, then `kb.lexical()` (the BM25 build).
Embeddings are derived cheaply, not encoded: each distinct clause of the regulations (~6,300) is
embedded once with the real model (cached in <data-dir>/pool-*.npy); a chunk's vector is the
normalised mean of its clauses' vectors plus N(0, 0.01) noise. What the encoder alone would cost
for N chunks is computed from its measured rate on a sample of the synthetic chunk texts.

Then a fresh child process measures, in this order: model load; store open (`KnowledgeBase(...)`
and the first `kb.lexical()`, which loads the saved BM25 index); time to the first answer
(`Assistant(...)` + one `Assistant.ask`, i.e. the first Chroma query loads its HNSW index); answer
latency p50/p95 over --queries dev questions (`Assistant.ask`, extractive); the cost of an ingest's
start on this store (`kb.writer()`: the lock and the orphan-vector reconcile that every writer runs);
peak RSS (VmHWM). Disk size is `du` of the store. Every size gets its own processes, so one size's
memory never shows in another's figures.

--reuse keeps a store already built for that size (same marker) and only measures. Stores live in
--data-dir (default <tmp>/qianxian-bench-scale) and are large (~1.6 GB at 200k): delete them after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

T_PROCESS = time.perf_counter()  # a measuring child's clock starts here, before the heavy imports

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from synthcorpus import (  # noqa: E402
    CHUNKS_PER_DOC, NOISE_SIGMA, build_synthetic, corpus_clauses, loadavg, log, peak_mb, pct, rss_mb,
)

MARKER = "bench_scale.json"
VERSION = 1  # bump when the derivation changes: old stores are rebuilt
ENCODER_SAMPLE = 96


def _settings(folder: Path | None, threads: int) -> Any:
    from settings import configure_offline, load_settings

    configure_offline()
    overrides: dict[str, Any] = {"cache_dir": os.environ.get("QIANXIAN_CACHE_DIR", "~/.cache/qianxian")}
    if threads:
        overrides["embedding"] = {"threads": threads}
    if folder is not None:
        overrides["data_dir"] = str(folder)
    return load_settings(overrides=overrides)


def du_mb(path: Path) -> float:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_blocks * 512
        except OSError:
            pass
    return total / 2**20


# --------------------------------------------------------------------------- children
def child_pool(data: Path, threads: int) -> None:
    """Embed the clause pool once (cached .npy) and measure the encoder's rate on synthetic chunks."""
    import random

    from ingest.embeddings import Embedder
    from synthcorpus import REGULATION_PLACES, synth_chunks

    settings = _settings(None, threads)
    embedder = Embedder.from_settings(settings)
    clauses = corpus_clauses(("regulations/*.md",))
    key = hashlib.sha256(("\x00".join(clauses) + embedder.model_id).encode()).hexdigest()[:16]
    path = data / f"pool-{key}.npy"
    out: dict[str, Any] = {"pool": str(path), "clauses": len(clauses)}
    if not path.exists():
        t0 = time.perf_counter()
        vecs = embedder.embed_passages(clauses)
        out["pool_embed_s"] = round(time.perf_counter() - t0, 1)
        tmp = path.with_suffix(".tmp.npy")
        import numpy as np

        np.save(tmp, np.asarray(vecs, dtype=np.float32))
        tmp.rename(path)
    # The encoder's rate on what a real ingest would embed: header + article text, ~230 characters.
    sample = [f"某省医疗废物管理条例 > 第四章 医疗废物的集中处置 > 第{i}条\n{t}"
              for i, (t, _) in enumerate(synth_chunks(clauses, ENCODER_SAMPLE, random.Random(7), REGULATION_PLACES))]
    embedder.embed_passages(sample[:8])  # warm-up
    t0 = time.perf_counter()
    embedder.embed_passages(sample)
    out["encoder_chunks_per_s"] = round(ENCODER_SAMPLE / (time.perf_counter() - t0), 1)
    out["encoder_sample"] = ENCODER_SAMPLE
    print(json.dumps(out))


def child_build(data: Path, n: int, threads: int, pool: Path) -> None:
    """Copy the real base store, add n synthetic articles through commit_document, build BM25."""
    import numpy as np

    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase

    folder = data / f"scale-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(data / "base", folder)
    settings = _settings(folder, threads)
    embedder = Embedder.from_settings(settings)
    vecs = np.load(pool)
    kb = KnowledgeBase(settings, embedder)
    base_chunks = kb.chunk_count()
    rss0 = rss_mb()
    doc_s: list[float] = []
    t0 = time.perf_counter()
    with kb.writer():
        writer_s = time.perf_counter() - t0
        built = build_synthetic(kb, n, style="regulation", clause_vecs=lambda _clauses: vecs, doc_seconds=doc_s)
        t0 = time.perf_counter()
        kb.lexical()
        built["lexical_s"] = round(time.perf_counter() - t0, 1)
    tenth = max(1, len(doc_s) // 10)
    built.update(
        version=VERSION, base_chunks=base_chunks, total_chunks=kb.chunk_count(), writer_open_s=round(writer_s, 2),
        first_tenth_chunks_per_s=round(tenth * CHUNKS_PER_DOC / sum(doc_s[:tenth]), 1),
        last_tenth_chunks_per_s=round(tenth * CHUNKS_PER_DOC / sum(doc_s[-tenth:]), 1),
        peak_rss_mb=round(peak_mb()), rss_before_build_mb=round(rss0), pool=str(pool),
    )
    kb.close()
    (folder / MARKER).write_text(json.dumps(built))
    print(json.dumps(built))


def child_measure(data: Path, n: int, threads: int, queries: int) -> None:
    """A fresh process: open the store, first answer, answer latency, an ingest's start, peak RSS."""
    from synthcorpus import load_questions

    folder = data / f"scale-{n}"
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    from assistant.assistant import Assistant
    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase

    settings = _settings(folder, threads)
    out["imports_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    embedder = Embedder.from_settings(settings)
    out["model_s"] = time.perf_counter() - t0
    rss0 = rss_mb()
    t0 = time.perf_counter()
    kb = KnowledgeBase(settings, embedder)
    out["kb_open_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    kb.lexical()
    out["lexical_load_s"] = time.perf_counter() - t0
    out["open_rss_mb"] = rss_mb() - rss0
    questions = load_questions(queries + 1)
    t0 = time.perf_counter()
    assistant = Assistant(settings, kb)
    first = assistant.ask(questions[0])
    out["first_answer_s"] = time.perf_counter() - t0
    out["first_answer_retrieve_ms"] = first.latency_ms.get("retrieve", 0.0)
    out["time_to_first_answer_s"] = time.perf_counter() - T_PROCESS
    totals: list[float] = []
    parts: dict[str, list[float]] = {"rewrite": [], "retrieve": [], "generate": []}
    refused = 0
    for q in questions[1:]:
        t0 = time.perf_counter()
        answer = assistant.ask(q)
        totals.append((time.perf_counter() - t0) * 1000)
        refused += answer.refused
        for k in parts:
            parts[k].append(answer.latency_ms.get(k, 0.0))
    out["answer_p50_ms"], out["answer_p95_ms"] = pct(totals)
    out["answer_max_ms"] = max(totals)
    for k, v in parts.items():
        out[f"{k}_p50_ms"] = pct(v)[0]
    out["refused"] = refused
    out["questions"] = len(totals)
    out["rss_after_answers_mb"] = rss_mb()
    out["peak_rss_mb"] = peak_mb()
    t0 = time.perf_counter()
    with kb.writer():  # what every ingest pays before its first file: the lock and the reconcile
        pass
    out["writer_start_s"] = time.perf_counter() - t0
    out["chunks"] = kb.chunk_count()
    out["torch_threads"] = __import__("torch").get_num_threads()
    print(json.dumps(out))


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"child {' '.join(args)} ran past {timeout:.0f}s; stopped") from None
    if proc.returncode:
        raise SystemExit(f"child {' '.join(args)} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main
def ensure_base(data: Path, threads: int, timeout: float) -> float:
    """The shipped corpus ingested for real into <data>/base (incremental: unchanged files skip)."""
    script = Path(sys.executable).with_name("qianxian")
    cmd = [str(script)] if script.exists() else [sys.executable, str(REPO / "cli.py")]
    env = dict(os.environ, **({"QIANXIAN_EMBEDDING__THREADS": str(threads)} if threads else {}))
    t0 = time.perf_counter()
    subprocess.run([*cmd, "ingest", str(REPO / "corpus"), "--data-dir", str(data / "base")],
                   check=True, env=env, stdout=subprocess.DEVNULL, timeout=timeout)
    return time.perf_counter() - t0


def label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000,200000", help="synthetic chunks per store, comma-separated")
    ap.add_argument("--queries", type=int, default=50, help="dev questions timed per store (default 50)")
    ap.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "qianxian-bench-scale")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (default 1: steady on a shared 2-core machine; 0 = torch default)")
    ap.add_argument("--reuse", action="store_true", help="keep a store already built for a size; only measure")
    ap.add_argument("--build-timeout", type=float, default=5400.0, help="seconds one build may take (default 5400)")
    ap.add_argument("--child", choices=["pool", "build", "measure"], help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pool", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    data = args.data_dir.expanduser().resolve()
    if args.child == "pool":
        return child_pool(data, args.threads) or 0
    if args.child == "build":
        return child_build(data, args.n, args.threads, args.pool) or 0
    if args.child == "measure":
        return child_measure(data, args.n, args.threads, args.queries) or 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print("command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/scale.py", *sys.argv[1:]]))
    sys.stdout.flush()
    data.mkdir(parents=True, exist_ok=True)
    load_start = loadavg()
    log(f"[base] ingesting corpus/ into {data / 'base'} (incremental)")
    base_s = ensure_base(data, args.threads, args.build_timeout)
    threads = ["--threads", str(args.threads)]
    log("[pool] clause pool embeddings and the encoder's rate")
    pool = run_child(["--child", "pool", "--data-dir", str(data), *threads], args.build_timeout)
    rate = pool["encoder_chunks_per_s"]
    results: list[tuple[int, dict[str, Any], dict[str, Any], float]] = []
    for n in sizes:
        folder = data / f"scale-{n}"
        marker_path = folder / MARKER
        marker = json.loads(marker_path.read_text()) if marker_path.is_file() else None
        if args.reuse and marker and marker.get("version") == VERSION and marker.get("chunks") == n:
            built = dict(marker, reused=True)
            log(f"[{label(n)}] reusing {folder}")
        else:
            log(f"[{label(n)}] building {n:,} synthetic chunks in {folder}")
            built = run_child(["--child", "build", "--data-dir", str(data), "--n", str(n), "--pool", pool["pool"],
                               *threads], args.build_timeout)
        disk = du_mb(folder)
        log(f"[{label(n)}] measuring in a fresh process")
        measured = run_child(["--child", "measure", "--data-dir", str(data), "--n", str(n),
                              "--queries", str(args.queries), *threads], 1800)
        results.append((n, built, measured, disk))
        log(f"[{label(n)}] {json.dumps(measured)}")
    print_tables(results, rate, pool, base_s, load_start, args)
    return 0


def print_tables(results: list[tuple[int, dict[str, Any], dict[str, Any], float]], rate: float,
                 pool: dict[str, Any], base_s: float, load_start: str, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    rows = []
    for n, b, m, disk in results:
        ingest_s = b["commit_s"] + b["lexical_s"]
        rows.append({
            "synthetic chunks": label(n),
            "total chunks": f"{m['chunks']:,}",
            "ingest chunks/s (no encoder)": f"{n / ingest_s:,.0f}",
            "first / last tenth chunks/s": f"{b['first_tenth_chunks_per_s']:,.0f} / {b['last_tenth_chunks_per_s']:,.0f}",
            "commit + BM25 build s": f"{b['commit_s']:.0f} + {b['lexical_s']:.1f}",
            "encoder alone would take": f"{n / rate / 3600:.1f} h" if n / rate >= 3600 else f"{n / rate / 60:.0f} min",
            "disk MiB": f"{disk:,.0f}",
            "store open s (KB + BM25 load)": f"{m['kb_open_s'] + m['lexical_load_s']:.2f} ({m['kb_open_s']:.2f} + {m['lexical_load_s']:.2f})",
            "time to first answer s": f"{m['time_to_first_answer_s']:.1f}",
            "answer p50 / p95 ms": f"{m['answer_p50_ms']:.0f} / {m['answer_p95_ms']:.0f}",
            "peak RSS MiB (answering / building)": f"{m['peak_rss_mb']:,.0f} / {b['peak_rss_mb']:,.0f}",
            "ingest start (writer + reconcile) s": f"{m['writer_start_s']:.2f}",
        })
    table = Table(title="Scale: one store per size, measured in fresh processes")
    for col in rows[0]:
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(*r.values())
    console.print(table)

    detail = Table(title="Where the time goes (fresh measuring process)")
    for col in ["chunks", "imports s", "model load s", "first answer s (Assistant + 1 ask)", "first ask retrieve ms",
                "rewrite / retrieve / generate p50 ms", "answer max ms", "refused", "open +RSS MiB", "RSS after MiB"]:
        detail.add_column(col, justify="right")
    for n, _b, m, _d in results:
        detail.add_row(label(n), f"{m['imports_s']:.1f}", f"{m['model_s']:.1f}", f"{m['first_answer_s']:.1f}",
                       f"{m['first_answer_retrieve_ms']:.0f}",
                       f"{m['rewrite_p50_ms']:.0f} / {m['retrieve_p50_ms']:.0f} / {m['generate_p50_ms']:.0f}",
                       f"{m['answer_max_ms']:.0f}", f"{m['refused']}/{m['questions']}", f"{m['open_rss_mb']:.0f}",
                       f"{m['rss_after_answers_mb']:.0f}")
    console.print(detail)

    if len(results) > 1:
        (n0, b0, m0, d0), (n1, b1, m1, d1) = results[0], results[-1]
        ratio = m1["chunks"] / m0["chunks"]
        print(f"ratios {label(n1)} vs {label(n0)} (x{ratio:.0f} chunks): disk x{d1 / d0:.1f}, "
              f"store open x{(m1['kb_open_s'] + m1['lexical_load_s']) / (m0['kb_open_s'] + m0['lexical_load_s']):.1f}, "
              f"answer p50 x{m1['answer_p50_ms'] / m0['answer_p50_ms']:.2f}, p95 x{m1['answer_p95_ms'] / m0['answer_p95_ms']:.2f}, "
              f"peak RSS x{m1['peak_rss_mb'] / m0['peak_rss_mb']:.2f}, "
              f"ingest rate x{(n1 / (b1['commit_s'] + b1['lexical_s'])) / (n0 / (b0['commit_s'] + b0['lexical_s'])):.2f}")
    print(f"embeddings: derived, not encoded — {pool['clauses']:,} regulation clauses embedded once "
          f"({'cached' if 'pool_embed_s' not in pool else str(pool['pool_embed_s']) + ' s'}); a chunk's vector = "
          f"normalised mean of its clauses' vectors + N(0, {NOISE_SIGMA}) noise. The encoder alone runs at "
          f"{rate} chunks/s on {pool['encoder_sample']} synthetic chunk texts (header + article), which is what "
          "'encoder alone would take' extrapolates.")
    print(f"every store also holds the shipped corpus ingested for real ({results[0][1].get('base_chunks', '?')} chunks; "
          f"base ingest this run {base_s:.0f} s, incremental); torch threads {results[0][2]['torch_threads']}; "
          f"{args.queries} dev questions per store; load average start / end {load_start} / {loadavg()} (2 shared cores)")
    print("\nmarkdown:\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(r.values()) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
