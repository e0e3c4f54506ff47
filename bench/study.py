"""How fast is `qianxian study`, and what does the shipped corpus yield?  (A script, not a test.)

    .venv/bin/python bench/study.py [--data-dir DIR] [--runs 5] [--n 50] [--seed 1]

Times `qianxian study --format json --n 50 --seed 1` as a subprocess, interpreter start included
(median and max of --runs; the budget is 5 s), then builds `study.items.item_pool` in this process
(median of 3), counts the pool's items per type and kind and the drawn session's per type, and
measures how a trainee's weak sections come back (`study.progress.weigher`, progress written to a
temporary study.sqlite, never the data dir's). The
data dir must hold the shipped corpus; without --data-dir one is built in a temporary folder with
`qianxian ingest corpus` first (minutes: the embedding model encodes 1,140 chunks), and removed after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BUDGET_S = 5.0


def qianxian() -> list[str]:
    script = Path(sys.executable).with_name("qianxian")
    return [str(script)] if script.exists() else [sys.executable, str(REPO / "cli.py")]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}


def ingest_corpus(data_dir: Path) -> None:
    started = time.perf_counter()
    subprocess.run([*qianxian(), "ingest", str(REPO / "corpus"), "--data-dir", str(data_dir), "--quiet"],
                   cwd=REPO, env=clean_env(), check=True)
    print(f"ingested corpus/ into {data_dir} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def time_cli(data_dir: Path, n: int, seed: int, runs: int) -> tuple[list[float], dict]:
    """Wall seconds of each run and the last run's JSON."""
    command = [*qianxian(), "study", "--data-dir", str(data_dir), "--format", "json", "--n", str(n),
               "--seed", str(seed)]
    times, out = [], {}
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, env=clean_env(), capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()}")
        out = json.loads(done.stdout)
    return times, out


def time_pool(data_dir: Path, runs: int = 3) -> tuple[list[float], list]:
    from settings import configure_offline, load_settings
    from study.items import item_pool

    configure_offline()
    settings = load_settings(overrides={"data_dir": data_dir})
    times, pool = [], []
    for _ in range(runs):
        started = time.perf_counter()
        pool = item_pool(settings)
        times.append(time.perf_counter() - started)
    return times, pool


def favouring(data_dir: Path, pool: list, seeds: int = 30, n: int = 10) -> tuple[float, float, float, int]:
    """Items drawn per session from three sections a trainee missed (2 misses each; in each of three
    documents its first section with 4+ items, as tests/study/test_progress.py does): without progress, with
    `weigher(user)` (weak_weight alone) and with `weigher(user, pool)` (weak_share). Also how many
    documents those sections lie in (the balance across documents bounds the count)."""
    from settings import load_settings
    from study.items import generate
    from study.progress import record, weigher

    settings = load_settings(overrides={"data_dir": data_dir})
    sections: dict[str, list] = {}
    for item in pool:
        sections.setdefault(item.section_key, []).append(item)
    by_doc: dict[str, str] = {}
    for key in sorted(k for k, items in sections.items() if len(items) >= 4):
        by_doc.setdefault(key.split("\x1f")[0], key)  # one section in each of three documents
    weak = list(by_doc.values())[:3]
    with tempfile.TemporaryDirectory(prefix="qianxian-bench-progress-") as tmp:
        progress = settings.model_copy(update={"data_dir": Path(tmp)})  # study.sqlite only; the store untouched
        for key in weak:
            for item in sections[key][:2]:
                record(progress, "bench", item, False)
        weighs = [None, weigher(progress, "bench"), weigher(progress, "bench", pool=pool)]
        means = []
        for weigh in weighs:
            hits = sum(it.section_key in weak for seed in range(seeds)
                       for it in generate(settings, n=n, seed=seed, weigh=weigh, pool=pool))
            means.append(hits / seeds)
    return means[0], means[1], means[2], len({key.split("\x1f")[0] for key in weak})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="a data dir holding the shipped corpus (default: ingest one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="qianxian-bench-study-"))
        data_dir = tmp / "data"
        ingest_corpus(data_dir)
    try:
        cli_times, drawn = time_cli(data_dir, args.n, args.seed, args.runs)
        pool_times, pool = time_pool(data_dir)
        plain, weighted, shared, weak_docs = favouring(data_dir, pool)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    console = Console()
    command = f"qianxian study --format json --n {args.n} --seed {args.seed}"
    timing = Table(title=f"{command} (data dir {data_dir})")
    for header in ("what", "median s", "max s", "runs"):
        timing.add_column(header, justify="left" if header == "what" else "right")
    timing.add_row("CLI, subprocess (interpreter start included)", f"{statistics.median(cli_times):.2f}",
                   f"{max(cli_times):.2f}", str(len(cli_times)))
    timing.add_row("item_pool build, in-process", f"{statistics.median(pool_times):.2f}",
                   f"{max(pool_times):.2f}", str(len(pool_times)))
    console.print(timing)

    by_type = Counter(i.type for i in pool)
    by_kind = Counter((i.type, i.kind or "-") for i in pool)
    drawn_types = Counter(i["type"] for i in drawn["items"])
    counts = Table(title=f"item pool: {len(pool)} items from {len({i.source.doc_id for i in pool})} documents, "
                         f"{len({i.section_key for i in pool})} sections")
    for header in ("type", "kind", "pool", f"drawn (--n {args.n})"):
        counts.add_column(header, justify="left" if header in ("type", "kind") else "right")
    for item_type in sorted(by_type):
        counts.add_row(item_type, "all", str(by_type[item_type]), str(drawn_types.get(item_type, 0)))
        for (t, kind), count in sorted(by_kind.items()):
            if t == item_type:
                counts.add_row("", kind, str(count), "")
    console.print(counts)

    favour = Table(title="weak sections: 3 missed (2 misses each), items drawn from them per 10-item session, 30 seeds")
    for header in ("draw", "weak items / session"):
        favour.add_column(header, justify="left" if header == "draw" else "right")
    favour.add_row("no progress", f"{plain:.2f}")
    favour.add_row("weigher(user): study.weak_weight alone", f"{weighted:.2f}")
    favour.add_row("weigher(user, pool): study.weak_share", f"{shared:.2f}")
    favour.add_row("(documents those sections lie in: the bound)", str(weak_docs))
    console.print(favour)

    median = statistics.median(cli_times)
    verdict = "within" if median < BUDGET_S else "OVER"
    print(f"{command}: median {median:.2f} s of {len(cli_times)} runs ({verdict} the {BUDGET_S:.0f} s budget), "
          f"{len(drawn['items'])} items drawn; item_pool {statistics.median(pool_times):.2f} s for {len(pool)} items "
          f"({', '.join(f'{t} {by_type[t]}' for t in sorted(by_type))}); weak-section items per 10: {plain:.2f} plain, "
          f"{weighted:.2f} weak_weight, {shared:.2f} weak_share")
    return 0 if median < BUDGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
