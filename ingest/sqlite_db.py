"""The SQLite files beside the knowledge base (the requirements checklist, study progress): one
connection per operation, so any UI worker thread may call in; WAL, so readers never wait for the
writer; a busy timeout, so two writers at the same moment (an ingest and a status, two trainees
answering) both land; each change in one `BEGIN IMMEDIATE` transaction."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_S = 30  # longer than any one write of ours takes; a writer that waits this long is stuck


def open_db(path: Path, schema: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit, see `transaction`), the schema applied."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        _set_up(db, schema)
    except BaseException:
        db.close()
        raise
    return db


def _set_up(db: sqlite3.Connection, schema: str) -> None:
    """WAL and the schema, tried again while another connection holds the lock. Switching a new file to WAL
    takes it exclusively and SQLite answers a second connection's switch with "database is locked" at once,
    without its busy handler: several trainees' first answers on a fresh store met that (1 of 60 runs of 8
    threads)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            db.executescript(schema)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One change, all or nothing: taken at once (IMMEDIATE), so it never fails half-way on a lock."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
