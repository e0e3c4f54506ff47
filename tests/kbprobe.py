"""Peeking at a data dir from outside the process that writes it (kill -9 and reader tests)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def committed_names(data_dir: Path) -> int:
    """Names committed to `<data_dir>/kb.sqlite` so far, read-only; 0 while it is absent or locked."""
    db = data_dir / "kb.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as con:
            return con.execute("SELECT COUNT(*) FROM names").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return 0
