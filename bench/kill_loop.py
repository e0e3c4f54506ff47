"""Kill -9 an ingest at random points, again and again, with readers asking meanwhile; then verify.

    .venv/bin/python bench/kill_loop.py [--kills 20] [--docs 40] [--seed 1] [--data-dir DIR]

Each round edits a few of --docs generated policy notices (so every ingest has work to do), starts
`qianxian ingest` on them, starts `qianxian ask` on the same data dir at the same time, and sends
SIGKILL to the ingest at a random moment after it has started writing. After the last round it
prints what `qianxian verify` finds before any repair (a killed writer may leave stray vectors: they
belong to no committed chunk and are removed by the next writer), then runs one uninterrupted
ingest and `qianxian verify` again, which must report 0 problems. Every ask must exit 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOPICS = ["胸痛中心", "卒中中心", "创伤中心", "院感防控", "病案质量", "药事管理", "危重孕产妇救治", "慢病管理"]


def qianxian() -> list[str]:
    script = Path(sys.executable).parent / "qianxian"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def notice(topic: str, version: int) -> str:
    return "\n".join([
        f"关于加强县医院{topic}建设的通知（第{version}版）",
        "一、总体要求",
        f"各县医院要把{topic}建设作为提升综合能力的重点，明确牵头科室和责任人，第{version}次修订后执行。",
        "二、主要任务",
        f"建立{topic}工作台账，完善工作流程，每季度开展一次自查，问题清单在{version + 10}日内整改。",
        "三、保障措施",
        f"卫生健康行政部门要加强对{topic}建设的指导和督导检查，每年通报{version}次。",
    ])


def holds(proc: subprocess.Popen, lock: Path) -> bool:
    """Whether the process has the writer lock file open (Linux: /proc/PID/fd)."""
    try:
        return any(os.path.realpath(f"/proc/{proc.pid}/fd/{fd}") == str(lock.resolve())
                   for fd in os.listdir(f"/proc/{proc.pid}/fd"))
    except OSError:
        return False


def updated_since(data: Path, since: float) -> int:
    try:
        with sqlite3.connect(f"file:{data / 'kb.sqlite'}?mode=ro", uri=True, timeout=0.1) as con:
            return con.execute("SELECT COUNT(*) FROM names WHERE ingested_at > ?", (since,)).fetchone()[0]
    except sqlite3.Error:
        return 0


def committed(data: Path) -> int:
    try:
        with sqlite3.connect(f"file:{data / 'kb.sqlite'}?mode=ro", uri=True, timeout=0.1) as con:
            return con.execute("SELECT COUNT(*) FROM names").fetchone()[0]
    except sqlite3.Error:
        return 0


def verify(data: Path, env: dict[str, str]) -> dict:
    out = subprocess.run([*qianxian(), "verify", "--data-dir", str(data), "--json"], env=env,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout) if out.stdout.strip() else {"error": out.stderr[-500:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data-dir", type=Path)
    args = ap.parse_args()
    print("command:", " ".join([".venv/bin/python", "bench/kill_loop.py", *sys.argv[1:]]))
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="qianxian-kill-"))
    data = args.data_dir or root / "data"
    docs = root / "docs"
    docs.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    env.update(QIANXIAN_EMBEDDING__THREADS="1", PYTHONWARNINGS="ignore")
    versions = [0] * args.docs
    for i in range(args.docs):
        (docs / f"n{i:03d}.txt").write_text(notice(TOPICS[i % len(TOPICS)] + str(i), 0), encoding="utf-8")
    asks = ask_failures = kills = 0
    started = time.perf_counter()
    for round_no in range(args.kills):
        for i in rng.sample(range(args.docs), k=max(3, args.docs // 5)):
            versions[i] += 1
            (docs / f"n{i:03d}.txt").write_text(notice(TOPICS[i % len(TOPICS)] + str(i), versions[i]), encoding="utf-8")
        round_start = time.time()
        ingest = subprocess.Popen([*qianxian(), "ingest", str(docs), "--data-dir", str(data), "--quiet"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ask = subprocess.Popen([*qianxian(), "ask", "胸痛中心建设的主要任务是什么？", "--data-dir", str(data)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # wait until the ingest holds the writer lock (model loaded, writing), then kill it at a random moment
        deadline = time.monotonic() + 120
        while ingest.poll() is None and time.monotonic() < deadline and not holds(ingest, data / "writer.lock"):
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 2.5))
        if ingest.poll() is None:
            ingest.send_signal(signal.SIGKILL)
            kills += 1
        ingest.wait()
        _, err = ask.communicate(timeout=600)
        asks += 1
        if ask.returncode != 0:
            ask_failures += 1
            print(f"round {round_no}: ask failed: {err.strip()[-300:]}")
        print(f"round {round_no + 1}: ingest {'killed' if ingest.returncode == -signal.SIGKILL else 'finished'} "
              f"after committing {updated_since(data, round_start)} document(s), ask exit {ask.returncode}")
    after_kills = verify(data, env)
    final = subprocess.run([*qianxian(), "ingest", str(docs), "--data-dir", str(data), "--quiet", "--json"], env=env,
                           capture_output=True, text=True, timeout=1200)
    clean = verify(data, env)
    print()
    print(f"rounds {args.kills}, ingests killed {kills}, asks {asks} (failed {ask_failures}), "
          f"{time.perf_counter() - started:.0f}s")
    print("verify right after the last kill:", json.dumps(after_kills, ensure_ascii=False))
    print("final ingest:", final.stdout.strip())
    print("verify after one uninterrupted ingest:", json.dumps(clean, ensure_ascii=False))
    ok = clean.get("consistent") is True and not clean.get("problems") and ask_failures == 0
    print("RESULT:", "0 inconsistencies" if ok else "INCONSISTENT")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
