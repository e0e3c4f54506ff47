"""The SQLite files beside the knowledge base: many UI threads open a fresh file at once."""

from __future__ import annotations

import threading
from pathlib import Path

from ingest.sqlite_db import open_db, transaction

SCHEMA = "CREATE TABLE IF NOT EXISTS attempts(user TEXT, n INTEGER); CREATE INDEX IF NOT EXISTS by_user ON attempts(user);"


def test_threads_opening_a_new_file_at_once_all_write(tmp_path: Path) -> None:
    # switching a new file to WAL is exclusive; a second connection's switch is refused at once, not waited for
    errors: list[BaseException] = []
    for trial in range(100):
        path = tmp_path / f"store{trial}.sqlite"

        def trainee(k: int) -> None:
            try:
                db = open_db(path, SCHEMA)
                with transaction(db):
                    db.execute("INSERT INTO attempts VALUES (?, ?)", (f"学员{k}", trial))
                db.close()
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=trainee, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        db = open_db(path, SCHEMA)
        assert db.execute("SELECT count(*) FROM attempts").fetchone()[0] == 8 - len(errors)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
    assert not errors, errors
