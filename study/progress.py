"""Each trainee's progress: which practice items were answered, right or wrong, per user name.

There are no accounts: a trainee is a name (typed in the 学习 tab, the auth user, or `qianxian study
--user`). Every answer is one row in `<data_dir>/study.sqlite`, beside `kb.sqlite`, written in its own
`BEGIN IMMEDIATE` transaction on its own connection: the UI answers in worker threads and several
trainees practise at once, and WAL lets them read while one writes.

Progress steers the next draw (`weigher`, for `study.items.generate(weigh=...)`): a section the
trainee missed before is drawn more often, an item already answered right less often. It is kept
per `Item.section_key` (the document's content id and the section path) and per item id; both change
when the document changes, so progress on an old version can never be applied to new text. `prune`
drops it (callers run it when a session starts, with what the store holds now).
"""

from __future__ import annotations

import sqlite3
import time
import unicodedata
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.sqlite_db import open_db, transaction
from settings import Settings
from study.items import Item, StudyError, generate

STORE_FILE = "study.sqlite"
MAX_USER_CHARS = 40  # a name, not a note: also bounds what one UI field can put in the store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, item_id TEXT NOT NULL, type TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT '', doc_id TEXT NOT NULL, doc TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '',
  section_path TEXT NOT NULL, correct INTEGER NOT NULL, response TEXT NOT NULL DEFAULT '', answered_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_user ON attempts(user, item_id);
CREATE INDEX IF NOT EXISTS attempts_doc ON attempts(doc_id);
"""


@dataclass
class SectionProgress:
    """One section's record for one trainee; `accuracy` is correct / attempts."""

    doc: str
    title: str
    section_path: str
    doc_id: str
    attempts: int
    correct: int

    @property
    def key(self) -> str:
        return f"{self.doc_id}\x1f{self.section_path}"  # == Item.section_key

    @property
    def accuracy(self) -> float:
        return self.correct / self.attempts if self.attempts else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": round(self.accuracy, 4)}


@dataclass
class Summary:
    """A trainee's record: every attempt counted (a retried item counts each time), `items_seen`
    distinct items, `missed` items whose latest answer was wrong; `sections` weakest first."""

    user: str
    attempts: int = 0
    correct: int = 0
    items_seen: int = 0
    missed: int = 0
    sections: list[SectionProgress] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.attempts if self.attempts else 0.0

    @property
    def label(self) -> str:
        """One line for a status bar: 「已答 12 题，答对 9 题（75%），待复习 3 题」."""
        if not self.attempts:
            return "尚无答题记录"
        return (f"已答 {self.attempts} 题，答对 {self.correct} 题（{self.accuracy:.0%}），"
                f"待复习 {self.missed} 题")

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "attempts": self.attempts, "correct": self.correct,
                "accuracy": round(self.accuracy, 4), "items_seen": self.items_seen, "missed": self.missed,
                "sections": [s.to_json() for s in self.sections]}


def check_user(name: str) -> str:
    """The name progress is kept under. Stripped and NFC-normalised, so 「张三 」 typed in the tab and
    「张三」 passed to the CLI are one trainee; refused when empty, too long or holding control characters."""
    cleaned = unicodedata.normalize("NFC", (name or "").strip())
    if not cleaned:
        raise StudyError("请先填写姓名（学习进度按姓名保存）")
    if len(cleaned) > MAX_USER_CHARS:
        raise StudyError(f"姓名过长：{len(cleaned)} 个字符，最多 {MAX_USER_CHARS} 个")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in cleaned):
        raise StudyError("姓名不能包含控制字符")
    return cleaned


def store_path(settings: Settings) -> Path:
    return settings.data_path / STORE_FILE


@contextmanager
def _connect(settings: Settings) -> Iterator[sqlite3.Connection]:
    """One connection per operation (safe from any UI thread); WAL so readers never wait for a writer;
    a busy timeout so two trainees answering at the same moment both get recorded."""
    path = store_path(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudyError(f"{path}: 学习进度无法打开（{exc}）") from exc
    try:  # a read-only or damaged file: one line, never a traceback in the UI
        db = open_db(path, _SCHEMA)
    except sqlite3.Error as exc:
        raise StudyError(f"{path}: 学习进度无法读写（{exc}）") from exc
    try:
        yield db
    except sqlite3.Error as exc:
        raise StudyError(f"{path}: 学习进度无法读写（{exc}）") from exc
    finally:
        db.close()


_write = transaction


def record(settings: Settings, user: str, item: Item, correct: bool, response: str = "") -> None:
    """One attempt at `item`, in one transaction. `response` is what the trainee gave (for a review)."""
    user = check_user(user)
    src = item.source
    with _connect(settings) as db, _write(db):
        db.execute(
            "INSERT INTO attempts (user, item_id, type, kind, doc_id, doc, title, section_path, correct, response, "
            "answered_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (user, item.id, item.type, item.kind, src.doc_id, src.doc, src.title, src.section_path, int(bool(correct)),
             str(response)[:1000], time.time()),
        )


def _read(settings: Settings, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Reads never create the store: a trainee who has not answered anything has no file yet."""
    if not store_path(settings).exists():
        return []
    with _connect(settings) as db:
        return db.execute(query, args).fetchall()


def _latest(settings: Settings, user: str) -> list[tuple[str, bool]]:
    """(item id, whether its latest attempt was right), in the order of those latest attempts."""
    rows = _read(settings, "SELECT a.item_id, a.correct FROM attempts a JOIN (SELECT item_id, MAX(seq) AS seq "
                 "FROM attempts WHERE user=? GROUP BY item_id) l ON l.seq = a.seq ORDER BY a.seq", (user,))
    return [(item_id, bool(ok)) for item_id, ok in rows]


def _sections(settings: Settings, user: str) -> list[SectionProgress]:
    rows = _read(settings, "SELECT doc_id, section_path, MAX(doc), MAX(title), COUNT(*), SUM(correct) FROM attempts "
                 "WHERE user=? GROUP BY doc_id, section_path", (user,))
    return [SectionProgress(doc=r[2], title=r[3], section_path=r[1], doc_id=r[0], attempts=r[4], correct=r[5])
            for r in rows]


def _miss_rates(settings: Settings, user: str) -> dict[str, float]:
    """Per `Item.section_key` the trainee answered in: the share of attempts there that were wrong, over
    every attempt (a section missed and then practised right stays somewhat weak, not cleared at once)."""
    return {s.key: 1.0 - s.accuracy for s in _sections(settings, user)}


def section_weights(settings: Settings, user: str) -> dict[str, float]:
    """Per section answered in: 1 + (weak_weight − 1) × miss rate (the weights without a pool)."""
    boost = settings.study.weak_weight - 1.0
    return {key: 1.0 + boost * miss for key, miss in _miss_rates(settings, check_user(user)).items()}


def weigher(settings: Settings, user: str, pool: Sequence[Item] | None = None) -> Callable[[Item], float]:
    """The draw weight of an item for this trainee (`generate(weigh=...)`): its section's weight, from 1
    (never missed, or never answered) up to the boost for a section always missed, scaled by the miss
    rate; times `study.seen_weight` when the trainee's latest answer to this very item was right.

    Without `pool` the boost is `study.weak_weight`. A relative weight alone is lost in a large corpus
    (three weak sections among 846 drew 0.37 items of a 10-item session at weight 3, against 0.23
    unweighted), so given the pool the session is drawn from, the boost is raised until the weak
    sections hold `study.weak_share` of the pool's total weight (never below weak_weight). Progress is
    read once, here; the returned function only looks it up."""
    user = check_user(user)
    miss = {key: rate for key, rate in _miss_rates(settings, user).items() if rate > 0}
    answered_right = {item_id for item_id, ok in _latest(settings, user) if ok}
    seen = settings.study.seen_weight
    boost = settings.study.weak_weight - 1.0
    if pool and miss:
        base = {item.id: seen if item.id in answered_right else 1.0 for item in pool}
        weak_base = sum(base[i.id] for i in pool if i.section_key in miss)
        weak_rate = sum(base[i.id] * miss[i.section_key] for i in pool if i.section_key in miss)
        other = sum(base[i.id] for i in pool if i.section_key not in miss)
        share = settings.study.weak_share
        if weak_rate > 0 and other > 0:
            boost = max(boost, (share / (1.0 - share) * other - weak_base) / weak_rate)

    def weigh(item: Item) -> float:
        weight = 1.0 + boost * miss.get(item.section_key, 0.0)
        return weight * seen if item.id in answered_right else weight

    return weigh


def missed_ids(settings: Settings, user: str) -> list[str]:
    """Items whose latest attempt was wrong (「再练错题」), in the order they were last answered."""
    return [item_id for item_id, ok in _latest(settings, check_user(user)) if not ok]


def summary(settings: Settings, user: str) -> Summary:
    """The trainee's attempts, accuracy and sections, weakest first (lowest accuracy, then most tried)."""
    user = check_user(user)
    rows = _read(settings, "SELECT COUNT(*), COALESCE(SUM(correct), 0), COUNT(DISTINCT item_id) FROM attempts "
                 "WHERE user=?", (user,))
    attempts, correct, seen = rows[0] if rows else (0, 0, 0)
    missed = sum(1 for _, ok in _latest(settings, user) if not ok)
    sections = sorted(_sections(settings, user), key=lambda s: (s.accuracy, -s.attempts, s.doc, s.section_path))
    return Summary(user=user, attempts=attempts, correct=correct, items_seen=seen, missed=missed, sections=sections)


def users(settings: Settings) -> list[str]:
    """Every name with progress in this data dir (a name picker), most recently active first."""
    return [r[0] for r in _read(settings, "SELECT user FROM attempts GROUP BY user ORDER BY MAX(seq) DESC", ())]


def prune(settings: Settings, live_doc_ids: Collection[str], live_item_ids: Collection[str] | None = None) -> int:
    """Drop every trainee's progress on documents no longer stored (removed, or changed: a changed
    document has a new content id, so its old items and sections are gone). With `live_item_ids` (the
    current `item_pool`'s ids) also the attempts at items the generator no longer makes. Returns the
    rows dropped; run it when a session starts, with `{i.source.doc_id for i in pool}`."""
    if not store_path(settings).exists():
        return 0
    with _connect(settings) as db, _write(db):
        db.execute("CREATE TEMP TABLE live_docs (doc_id TEXT PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO live_docs VALUES (?)", ((d,) for d in live_doc_ids))
        dropped = db.execute("DELETE FROM attempts WHERE doc_id NOT IN (SELECT doc_id FROM live_docs)").rowcount
        if live_item_ids is not None:
            db.execute("CREATE TEMP TABLE live_items (item_id TEXT PRIMARY KEY)")
            db.executemany("INSERT OR IGNORE INTO live_items VALUES (?)", ((i,) for i in live_item_ids))
            dropped += db.execute(
                "DELETE FROM attempts WHERE item_id NOT IN (SELECT item_id FROM live_items)").rowcount
    return dropped


def draw(settings: Settings, user: str | None, pool: list[Item], *, missed: bool = False,
         **filters: Any) -> list[Item]:
    """A session for `user` from `pool` (the CLI and the 学习 tab): the user's stale progress pruned
    first, weak sections weighed up (`weigher`); `missed`: only the items last answered wrong (none
    left: an empty list). `filters` are `generate`'s (docs, section, n, types, seed, only_ids).
    Without a user, a plain draw that records nothing."""
    if user is None:
        return generate(settings, pool=pool, **filters)
    prune(settings, {i.source.doc_id for i in pool}, live_item_ids={i.id for i in pool})
    if missed:
        filters["only_ids"] = missed_ids(settings, user)
        if not filters["only_ids"]:
            return []
    return generate(settings, pool=pool, weigh=weigher(settings, user, pool=pool), **filters)
