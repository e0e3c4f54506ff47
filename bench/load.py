"""Many clients at once through the UI's `ask` API: errors, throughput, latency, server memory.  (A script.)

    .venv/bin/python bench/load.py [--data-dir DIR] [--questions 500] [--clients 8] [--warmup 50]
                                   [--threads 1] [--time-cap 900] [--request-timeout 120]

Why: a health commission's office puts many people on one instance; the issue asks that 500+
questions from 8+ concurrent clients come back without errors and that the server's memory stops
growing once warm. Only a real server answers that, so this launches `qianxian serve` (the console
script next to this interpreter) on 127.0.0.1 with a free port, waits until its URL is printed and a
first question is answered through the API, then runs --clients threads, each with its own
gradio_client.Client, taking questions from evals/questions/dev.jsonl in turn (cycling; follow-ups
carry their `history` as user messages) until --questions are answered or --time-cap passes.

Reported: errors (an exception, a timeout, or a reply that is not an Answer with `schema_version`),
throughput (answers per second of wall time), client-side latency p50/p95/max, the server's own
`latency_ms.total`, and the server process RSS (psutil when installed, else /proc/PID/status VmRSS):
before the load, after the warm-up (the first --warmup answers), every 100 answers, at the end and
its peak, with the growth after warm-up in % (the issue's bar: <= 10%). The server is stopped at the
end (SIGINT, then SIGTERM/SIGKILL). Exit 0 when there were no errors and growth stayed within the
bar, 1 otherwise.

Without --data-dir the shipped corpus is ingested (incrementally) into <tmp>/qianxian-bench-load;
--data-dir reuses an existing ingested store (e.g. one of bench/scale.py's) and never writes to it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from synthcorpus import dev_rows, loadavg, log, pct, peak_mb, rss_mb  # noqa: E402

GROWTH_LIMIT_PCT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qianxian() -> list[str]:
    script = Path(sys.executable).with_name("qianxian")
    return [str(script)] if script.exists() else [sys.executable, str(REPO / "cli.py")]


class Server:
    """`qianxian serve` in a subprocess, its output in a log file (a full pipe would block it)."""

    def __init__(self, data_dir: Path, port: int, threads: int, log_path: Path):
        # PYTHONPATH: the checkout's code is what is measured, even where the venv's editable install
        # predates a new top-level package.
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=path)
        if threads:
            env["QIANXIAN_EMBEDDING__THREADS"] = str(threads)
        self.log_path = log_path
        self._log = log_path.open("w")
        self.url = f"http://127.0.0.1:{port}"
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*qianxian(), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, text=True,
        )

    def tail(self, n: int = 20) -> str:
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(keepends=True)[-n:])
        except OSError:
            return ""

    def wait_url(self, timeout: float) -> float:
        """Seconds from launch until the URL line is printed (serve prints it once reachable)."""
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve exited with {self.proc.returncode}:\n{self.tail()}")
            if self.url in self.log_path.read_text(errors="replace"):
                return time.perf_counter() - self.started
            if time.perf_counter() - self.started > timeout:
                raise SystemExit(f"serve printed no URL within {timeout:.0f}s:\n{self.tail()}")
            time.sleep(0.2)

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def peak(self) -> float:
        return peak_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # like Ctrl-C
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self._log.close()


def client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False, analytics_enabled=False)


def ask(c: Any, question: str, history: list[str], timeout: float) -> dict[str, Any]:
    """One question through the `ask` endpoint; raises on anything that is not an Answer."""
    messages = [{"role": "user", "content": h} for h in history] or None
    result = c.submit(question, messages, api_name="/ask").result(timeout=timeout)
    if isinstance(result, str):  # some gradio_client versions hand JSON back as text
        result = json.loads(result)
    if not isinstance(result, dict) or result.get("schema_version") != 1 or "answer" not in result:
        raise ValueError(f"not an Answer: {str(result)[:200]}")
    if result.get("error"):
        raise ValueError(f"answer carries an error: {result['error']}")
    return result


class Load:
    """The shared state of the client threads: the next question, the results, the RSS marks."""

    def __init__(self, server: Server, rows: list[dict[str, Any]], total: int, warmup: int, deadline: float,
                 timeout: float):
        self.server, self.rows, self.total, self.warmup = server, rows, total, warmup
        self.deadline, self.timeout = deadline, timeout
        self.lock = threading.Lock()
        self.next = 0
        self.done = 0
        self.latencies: list[float] = []
        self.server_ms: list[float] = []
        self.refused = 0
        self.errors: list[str] = []
        self.marks: dict[int, float] = {}  # answers completed -> server RSS then
        self.warm_at: float | None = None

    def take(self) -> int | None:
        with self.lock:
            if self.next >= self.total or time.perf_counter() > self.deadline:
                return None
            self.next += 1
            return self.next - 1

    def record(self, latency_ms: float, answer: dict[str, Any] | None, error: str | None) -> None:
        with self.lock:
            self.done += 1
            self.latencies.append(latency_ms)
            if error:
                self.errors.append(error)
            elif answer is not None:
                self.refused += bool(answer.get("refused"))
                self.server_ms.append(float((answer.get("latency_ms") or {}).get("total", 0.0)))
            if self.done in (self.warmup, len(self.rows)) or self.done % 100 == 0:
                self.marks[self.done] = self.server.rss()
            if self.done == self.warmup:
                self.warm_at = time.perf_counter()

    def worker(self, n: int) -> None:
        try:
            c = client(self.server.url)
        except Exception as exc:  # noqa: BLE001 - a client that cannot connect is an error, not a crash
            with self.lock:
                self.errors.append(f"client {n}: cannot connect: {exc}")
            return
        while (i := self.take()) is not None:
            row = self.rows[i % len(self.rows)]
            t0 = time.perf_counter()
            try:
                answer, error = ask(c, row["question"], row.get("history") or [], self.timeout), None
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                answer, error = None, f"{row.get('id', i)}: {type(exc).__name__}: {str(exc)[:200]}"
            self.record((time.perf_counter() - t0) * 1000, answer, error)
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass


def ensure_data(data_dir: Path | None, threads: int) -> tuple[Path, str]:
    if data_dir is not None:
        if not (data_dir / "kb.sqlite").is_file():
            raise SystemExit(f"{data_dir}: no ingested knowledge base here (kb.sqlite missing)")
        return data_dir, "given"
    data_dir = Path(tempfile.gettempdir()) / "qianxian-bench-load"
    env = dict(os.environ, **({"QIANXIAN_EMBEDDING__THREADS": str(threads)} if threads else {}))
    log(f"ingesting corpus/ into {data_dir} (incremental)")
    t0 = time.perf_counter()
    subprocess.run([*qianxian(), "ingest", str(REPO / "corpus"), "--data-dir", str(data_dir)],
                   check=True, env=env, stdout=subprocess.DEVNULL, timeout=1800)
    return data_dir, f"corpus/ ingested ({time.perf_counter() - t0:.0f} s, incremental)"


def chunk_count(data_dir: Path) -> int:
    import sqlite3

    with sqlite3.connect(f"file:{data_dir / 'kb.sqlite'}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, help="an ingested knowledge base to serve (default: corpus/ in a temp dir)")
    ap.add_argument("--questions", type=int, default=500, help="answers to collect in all (default 500)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent API clients (default 8)")
    ap.add_argument("--warmup", type=int, default=50, help="answers counted as warm-up for the RSS growth (default 50)")
    ap.add_argument("--threads", type=int, default=1,
                    help="the server's torch threads (default 1: steady on a shared 2-core machine; 0 = torch default)")
    ap.add_argument("--time-cap", type=float, default=900.0, help="stop sending after this many seconds (default 900)")
    ap.add_argument("--request-timeout", type=float, default=120.0, help="seconds one answer may take (default 120)")
    ap.add_argument("--ready-timeout", type=float, default=600.0, help="seconds the server may take to start")
    ap.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = ap.parse_args()
    print("command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/load.py", *sys.argv[1:]]))
    sys.stdout.flush()

    data_dir, how = ensure_data(args.data_dir.expanduser().resolve() if args.data_dir else None, args.threads)
    chunks = chunk_count(data_dir)
    rows = [r for r in dev_rows() if r.get("question")]
    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="qianxian-load-") as tmp:
        server = Server(data_dir, args.port or free_port(), args.threads, Path(tmp) / "serve.log")
        try:
            url_s = server.wait_url(args.ready_timeout)
            log(f"serve printed {server.url} after {url_s:.1f} s; first question …")
            probe = client(server.url)
            ask(probe, rows[0]["question"], [], args.ready_timeout)  # waits for the model and store to load
            first_s = time.perf_counter() - server.started
            probe.close()
            rss_before = server.rss()
            log(f"first answer {first_s:.1f} s after launch; server RSS {rss_before:.0f} MiB; "
                f"{args.clients} clients, {args.questions} questions")
            state = Load(server, rows, args.questions, args.warmup, time.perf_counter() + args.time_cap,
                         args.request_timeout)
            samples: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(0.5):
                    samples.append(server.rss())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.perf_counter()
            threads = [threading.Thread(target=state.worker, args=(n,), daemon=True) for n in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(args.time_cap + args.request_timeout + 60)
            wall = time.perf_counter() - t0
            stop.set()
            sampler.join(2)
            rss_end = server.rss()
            peak = server.peak()
            alive = server.proc.poll() is None
        finally:
            server.stop()

    n = state.done
    rss_warm = state.marks.get(args.warmup, float("nan"))
    growth = (rss_end - rss_warm) / rss_warm * 100 if rss_warm == rss_warm else float("nan")
    p50, p95 = pct(state.latencies) if state.latencies else (float("nan"), float("nan"))
    s50, s95 = pct(state.server_ms) if state.server_ms else (float("nan"), float("nan"))
    after_warm = n - args.warmup
    warm_rate = after_warm / (time.perf_counter() - state.warm_at) if state.warm_at and after_warm > 0 else float("nan")

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Load: {args.clients} clients through the UI's `ask` API ({chunks:,} chunks)")
    for col in ["questions", "errors", "wall s", "q/s", "latency p50 / p95 / max ms", "server total p50 / p95 ms",
                "refused", "RSS before / warm / end / peak MiB", "growth after warm-up"]:
        table.add_column(col, justify="right")
    table.add_row(
        f"{n}", f"{len(state.errors)}", f"{wall:.1f}", f"{n / wall:.2f}",
        f"{p50:.0f} / {p95:.0f} / {max(state.latencies, default=float('nan')):.0f}", f"{s50:.0f} / {s95:.0f}",
        f"{state.refused}", f"{rss_before:.0f} / {rss_warm:.0f} / {rss_end:.0f} / {peak:.0f}", f"{growth:+.1f}%",
    )
    Console(width=200).print(table)
    marks = ", ".join(f"{k}: {v:.0f}" for k, v in sorted(state.marks.items()))
    cycle = state.marks.get(len(rows))
    if cycle and n > len(rows):
        print(f"growth after one pass over the {len(rows)} distinct questions: {(rss_end - cycle) / cycle * 100:+.1f}% "
              f"over the next {n - len(rows)} answers")
    print(f"server RSS (MiB) after N answers: {marks}; sampled every 0.5 s: min {min(samples, default=0):.0f}, "
          f"max {max(samples, default=0):.0f}")
    print(f"start-up: URL printed {url_s:.1f} s after launch, first answer {first_s:.1f} s after launch; "
          f"data dir {data_dir} ({how}); questions cycle over {len(rows)} dev questions; server torch threads "
          f"{args.threads or 'default'}; the UI computes ui.concurrency_limit answers at once, the rest queue")
    print(f"throughput after warm-up {warm_rate:.2f} q/s; latency ratio p95/p50 x{p95 / p50:.1f}; "
          f"client latency / server total at p50 x{p50 / s50:.1f} (queueing and HTTP); load average start / end "
          f"{load_start} / {loadavg()} (2 shared cores); server still running at the end: {alive}")
    for e in state.errors[:10]:
        print(f"error: {e}")
    if len(state.errors) > 10:
        print(f"... and {len(state.errors) - 10} more errors")
    print("\nmarkdown:\n")
    print("| questions | clients | errors | wall s | q/s | latency p50 / p95 / max ms | RSS before / after warm-up / end MiB | growth after warm-up |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {n} | {args.clients} | {len(state.errors)} | {wall:.1f} | {n / wall:.2f} | {p50:.0f} / {p95:.0f} / "
          f"{max(state.latencies, default=float('nan')):.0f} | {rss_before:.0f} / {rss_warm:.0f} / {rss_end:.0f} | {growth:+.1f}% |")
    ok = not state.errors and n >= args.questions and growth <= GROWTH_LIMIT_PCT
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
