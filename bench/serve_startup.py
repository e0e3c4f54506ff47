"""How long until `qianxian serve` answers?  (A script, not a test.)

    .venv/bin/python bench/serve_startup.py [--port 7899] [--data-dir DIR] [--runs 1] [--timeout 180]

Launches `qianxian serve --port P` as a subprocess (the console script next to this interpreter,
else `python cli.py`), polls http://127.0.0.1:P/ until it answers HTTP 200, and prints the seconds
from launch to that first 200, plus when the URL line appeared on stdout. The server is then
stopped (SIGINT, then SIGTERM/SIGKILL if it lingers). Without --data-dir an empty temporary data dir
is used (start-up cost does not depend on the corpus size beyond opening the stores).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port: int, data_dir: Path) -> list[str]:
    script = Path(sys.executable).with_name("qianxian")
    base = [str(script)] if script.exists() else [sys.executable, str(REPO / "cli.py")]
    return base + ["serve", "--port", str(port), "--data-dir", str(data_dir)]


def measure(port: int, data_dir: Path, timeout: float) -> tuple[float, float | None]:
    """(seconds to first HTTP 200, seconds to the URL line on stdout or None)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    proc = subprocess.Popen(
        command(port, data_dir), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url_seen: list[float] = []
    stderr_tail: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == f"http://127.0.0.1:{port}" and not url_seen:
                url_seen.append(time.perf_counter() - started)

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            stderr_tail.append(line)
            del stderr_tail[:-20]

    threading.Thread(target=read_stdout, daemon=True).start()
    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        while True:
            elapsed = time.perf_counter() - started
            if proc.poll() is not None:
                raise SystemExit(f"serve exited with {proc.returncode} before answering:\n{''.join(stderr_tail)}")
            if elapsed > timeout:
                raise SystemExit(f"no HTTP 200 within {timeout:.0f}s:\n{''.join(stderr_tail)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    if resp.status == 200:
                        ready = time.perf_counter() - started
                        for _ in range(50):  # the URL line follows launch() by a moment
                            if url_seen:
                                break
                            time.sleep(0.1)
                        return ready, (url_seen[0] if url_seen else None)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGINT)  # like Ctrl-C
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--data-dir", type=Path, help="knowledge base folder (default: a fresh temp dir)")
    parser.add_argument("--runs", type=int, default=1, help="repeat and report each run")
    parser.add_argument("--timeout", type=float, default=180.0, help="give up after this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        times = []
        for i in range(args.runs):
            port = args.port or free_port()
            seconds, url_at = measure(port, data_dir, args.timeout)
            times.append(seconds)
            url_note = f"; URL printed after {url_at:.2f} s" if url_at is not None else ""
            print(f"run {i + 1}: HTTP 200 after {seconds:.2f} s{url_note}", file=sys.stderr)
        print(f"{min(times):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
