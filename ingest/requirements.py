"""The requirements checklist: every obligation, prohibition, target and deadline in the documents.

A hospital manager preparing for an assessment wants the list of what must be done, by whom, by
when and where it is written, and to tick it off. The list is read off the structure the chunker
already keeps (`ingest.structure.answer_units`): a law's provision is a sentence of a 款, or one 项
together with the lead it hangs from (「医院应当履行下列职责：」 + 「（二）建立健全…」); a lead on its
own is never listed, its items are. Structure decides first (what a unit is, what an item inherits
from its lead, the section's heading as category); word lists decide only what a unit says.

Extraction runs inside the ingest (`sync_requirements`, called once per run after the documents
are committed): documents new to the checklist are extracted from their stored chunks, removed
ones dropped. It lives in its own SQLite file, `<data_dir>/requirements.sqlite`, beside the
knowledge base rather than in it, with the users' statuses (未开始/进行中/已完成/不适用 and a note)
in their own table keyed by requirement id. An id is a hash of the document's content id, the
section and the text: it survives any re-ingest of an unchanged document, and a status whose
document changed is kept and listed as orphaned (with the text it was set on) instead of silently
moving to a different provision.

The UI and the CLI use only the public functions: `sync_requirements`, `list_requirements`,
`get_requirement`, `set_status`, `progress_by_document`, `orphaned_statuses`, `common_subjects`,
`text_spans`, `export_csv`, `export_xlsx`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cn2an

from ingest.documents import Chunk
from ingest.sqlite_db import open_db, transaction
from ingest.structure import ARTICLE_RE, NUMBERED_MARK_RE, answer_units, split_sentences
from settings import Settings

if TYPE_CHECKING:
    from ingest.knowledge_base import KnowledgeBase

SCHEMA_VERSION = 1
# Bump when the rules below change: every stored document is extracted again on the next ingest.
# A news report tells what was said or done (「2021年开始做了千县工程」), it obliges no one: only
# normative documents (laws, regulations, notices, plans) have requirements.
REPORT_TYPES = frozenset({"news"})
EXTRACTOR_VERSION = "2"  # 2: news reports yield no requirements
STORE_FILE = "requirements.sqlite"

KINDS = ("obligation", "prohibition", "target", "deadline")
KIND_LABELS = {"obligation": "义务", "prohibition": "禁止", "target": "目标", "deadline": "期限"}
STATUSES = ("未开始", "进行中", "已完成", "不适用")
DEFAULT_STATUS = STATUSES[0]


class RequirementsError(Exception):
    """A checklist operation that cannot be done (no store yet, unknown id, bad status)."""


# --- word lists ----------------------------------------------------------------------------------
# Each list is justified by a class of provisions; nothing else in the product repeats them.

# Prohibitions (law: 不得/禁止/严禁; 公文: 严禁/不准). 「禁止」 also names a list of things
# (「国家规定的禁止携带物品」「禁止、限制携带物品名录」): then it is a modifier, not a marker.
_PROHIBITION_RE = re.compile(r"不得|(?<!的)禁止(?!、限制)(?![^，。；]{0,4}(?:物品|名录|目录|清单))|严禁|不准|不允许|不应")
# Obligations (law: 应当/必须/须/有义务, the 公文 modal 要). 「应」 alone is the modal only outside the
# compounds it forms (相应, 应急, 供应…); 「要」 only outside 主要/需要/要求…; 「须」 outside 无须/须知.
_OBLIGATION_RE = re.compile(
    r"应当|必须|有义务"
    r"|(?<![相适响反供对呼感效顺照报答理])应(?![当急用对届聘邀征诉运变激予以])"
    r"|(?<![无毋必])须(?!知)"
    r"|(?<![需主重必首次纲摘只紧简扼提机显想将就快不])要(?![求素点件害么是闻员地职领务紧旨览])"
)
# Targets (公文 goals: 力争/争取/确保; quantified thresholds are found with their figure below).
_TARGET_RE = re.compile(r"力争|争取|确保")
# Not requirements although a marker may occur: purpose, definition, scope, entry into force,
# sanctions and liability (the 法律责任 chapter's 由…责令改正/罚款/追究刑事责任, 依法承担…责任).
_EXCLUDED_RE = re.compile(
    r"^为了?.{0,120}制定本(?:条例|法|规定|办法|细则|实施办法)"
    r"|是指|所称"
    r"|适用于|适用本(?:条例|法|规定|办法)|参照本(?:条例|法|规定|办法)执行"
    r"|自.{0,20}起施行"
    r"|由[^。；]{0,60}?(?:责令|予以取缔|没收|吊销|通报批评|依法从重|处警告|给予警告)"
    r"|罚款|依法追究刑事责任|(?:给予|依法给予)[^。；]{0,6}处分|承担[^。；]{0,8}责任|依法赔偿"
)
# The obligated subject: heads of actor noun phrases in laws and 公文 (bodies, offices, posts and
# categories of people). 「地区/城市」 stand for their governments (「各地区应当…」).
_ACTOR_HEADS = (
    "委员会", "人民政府", "政府", "部门", "机关", "机构", "单位", "医院", "卫生院", "中心", "血站", "站",
    "组织", "团体", "派出所", "企业", "公司", "军队", "媒体", "媒介", "红十字会", "协会", "学会", "人员", "医师",
    "护士", "民警", "个人", "公民", "市民", "家属", "患者", "病人", "者", "人", "科室", "地区", "城市",
)
# A one-character head ends its phrase (任何人不得, 献血者的) but is no head inside a word (人工检查).
_HEAD_RE = re.compile("|".join(
    h if len(h) > 1 else rf"{h}(?=$|[、和与及或的应必须不要禁严对在按根依向为从由经将把发有可，])"
    for h in sorted(_ACTOR_HEADS, key=len, reverse=True)
))
# What comes right before an actor that is an object or an adverbial, not the subject (血站对献血者…).
_OBJECT_BEFORE_RE = re.compile(r"(?:对|向|为|给|在|从|由|经|按照|根据|依照|交|将|把|发现|会同|除|设立|设置)$")
# A clause that opens like this is an adverbial (「对未设立警务室的医院，…」「在…期间」).
_ADVERBIAL_CLAUSE_RE = re.compile(r"^(?:对|在|按照|根据|依照|为了?|除|经|自|从(?!事)|因|于)")
_OBJECT_VERB_RE = re.compile(r"对|向|为|给|交|将|把|发现|会同|存入|报送|移交|通知|告知")
_CONNECTOR_RE = re.compile(r"^(?:、|和|与|及其|及|以及|或者|或|，)$")
_LEADING_RE = re.compile(r"^(?:但是?|并且?|同时|而且?|且|则)")

# Time limits and periods (X日内, 之日起三十日内, 每半年, 至少每2天, 到2025年底前).
TIME_UNIT = r"个工作日|工作日|小时|分钟|个月|日|天|周|月|年"
_WITHIN_RE = re.compile(rf"(\d+(?:\.\d+)?)\s*({TIME_UNIT})(?:以)?内")
_PERIOD_RE = re.compile(rf"每(半年|季度|(?:\d+\s*)?(?:{TIME_UNIT}))")
_BY_DATE_RE = re.compile(r"(?:到|至|于|在)((?:19|20)\d\d年(?:\d{1,2}月)?)(?:底|末)?(?:前|以前|之前)?|((?:19|20)\d\d年(?:\d{1,2}月)?)(?:底|末)?(?:前|以前|之前)")
# Figures: a quantity with a unit of measure (not 次: 「每半年报告一次」 counts the period).
FIGURE_UNIT = (
    r"%|‰|个工作日|小时|分钟|个月|周岁|岁|天|日|周|年|毫升|升|万元|元|名|人次|人|张|床|辆|台|家|所|平方米|米|公里|千米|倍"
)
_FIGURE_RE = re.compile(rf"(\d+(?:\.\d+)?)\s*({FIGURE_UNIT})(以上|以下|以内)?")
_AT_LEAST_RE = re.compile(r"(?:不少于|不低于|至少|不得少于|不得低于)[^，。；]{0,10}$")
_AT_MOST_RE = re.compile(r"(?:不超过|不得超过|不高于|不得高于|最多|最高)[^，。；]{0,10}$")
_LIANG_RE = re.compile(r"两(?=[个名人年次天日周小张床辆台家所倍])")


# --- records ---------------------------------------------------------------------------------------


@dataclass
class Requirement:
    """One checklist row; `to_json` is the `Requirement` object of docs/INTERFACES.md."""

    id: str
    text: str
    kind: str
    subject: str | None
    deadline: str | None  # the first time limit or period, digits: 「24小时内」「每半年」「2025年」
    figure: str | None  # the first quantity with its comparator: 「≥6个月」「≤400毫升」「80%」
    doc: str
    doc_id: str
    title: str
    wenhao: str | None
    section_path: str
    category: str  # the section heading(s) above the article: 「第四章 医疗废物的集中处置」
    page: int | None
    chunk_id: str
    ordinal: int = 0
    status: str = DEFAULT_STATUS
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("ordinal")
        return data


@dataclass
class Filters:
    """What the checklist view is narrowed to; every field empty lists everything."""

    doc: str | None = None  # a document's name (or part of it), or part of its title
    subject: str | None = None  # part of the obligated subject
    kind: str | None = None  # one of KINDS
    has_deadline: bool = False
    search: str | None = None  # every whitespace-separated term in the text, section, subject or note
    status: str | None = None  # one of STATUSES


@dataclass
class DocumentProgress:
    doc: str
    title: str
    total: int
    counts: dict[str, int] = field(default_factory=dict)  # status -> requirements

    @property
    def done(self) -> int:
        return self.counts.get("已完成", 0)

    @property
    def label(self) -> str:
        """「已完成 12 / 47」: what the per-document summary shows."""
        return f"已完成 {self.done} / {self.total}"


@dataclass
class OrphanedStatus:
    """A status whose requirement is gone (its document changed or was removed), kept as set."""

    id: str
    status: str
    note: str
    doc: str
    title: str
    section_path: str
    text: str
    updated_at: float


@dataclass
class SyncReport:
    extracted: int = 0  # documents (re-)extracted
    dropped: int = 0  # documents no longer in the knowledge base
    requirements: int = 0  # rows written
    seconds: float = 0.0


# --- extraction ------------------------------------------------------------------------------------


@dataclass
class _Unit:
    text: str  # verbatim: a sentence, or the lead and one item joined by a line break
    body: str  # what decides: the sentence, or the item
    lead: str | None


def _units(chunk_text: str) -> Iterator[_Unit]:
    """A chunk's provision units: sentences, and items with their lead (the lead alone is not one)."""
    units = answer_units(chunk_text)
    enumerations = [u for u in units if u.kind == "enumeration"]
    for unit in units:
        if unit.kind == "enumeration":
            continue
        enum = next((e for e in enumerations if e.start <= unit.start < e.end), None)
        if enum is None:
            yield _Unit(_strip_article(unit.text), _strip_article(unit.text), None)
            continue
        first = enum.text.split("\n", 1)[0]
        a, b = split_sentences(first, full_stops_only=True)[-1]
        if unit.start < enum.start + a:  # a sentence before the lead on the lead's line
            yield _Unit(_strip_article(unit.text), _strip_article(unit.text), None)
        elif unit.start >= enum.start + len(first):  # an item
            lead = _strip_article(first[a:b].strip())
            yield _Unit(f"{lead}\n{unit.text}", unit.text, lead)


def _strip_article(text: str) -> str:
    """「第七条 医疗卫生机构…」 → 「医疗卫生机构…」: the article number is in the section path."""
    match = ARTICLE_RE.match(text)
    return text[match.end() :] if match else text


def _first_marker(text: str) -> tuple[int, str] | None:
    """Position and class of the first normative marker."""
    found = [(m.start(), cls) for cls, rx in (("prohibition", _PROHIBITION_RE), ("obligation", _OBLIGATION_RE),
                                                ("target", _TARGET_RE)) for m in [rx.search(text)] if m]
    return min(found) if found else None


def _normalise_numbers(text: str) -> str:
    """Chinese numerals as digits (二十四小时 → 24小时, 两年 → 2年), for deadlines and figures."""
    text = _LIANG_RE.sub("2", text)
    try:
        with warnings.catch_warnings():  # cn2an warns on every numeral-like character it skips (千 of 千县工程)
            warnings.simplefilter("ignore")
            return cn2an.transform(text, "cn2an")
    except Exception:  # cn2an rejects some numeral runs it cannot read; the text is still usable
        return text


def _deadline(norm: str) -> tuple[str | None, list[tuple[int, int]]]:
    """The first time limit or period in the (number-normalised) text, and where all of them are."""
    found: list[tuple[int, int, str]] = []
    for m in _WITHIN_RE.finditer(norm):
        found.append((m.start(), m.end(), f"{m.group(1)}{m.group(2)}内"))
    for m in _PERIOD_RE.finditer(norm):
        found.append((m.start(), m.end(), "每" + m.group(1).replace(" ", "")))
    for m in _BY_DATE_RE.finditer(norm):
        found.append((m.start(), m.end(), m.group(1) or m.group(2)))
    if not found:
        return None, []
    return min(found)[2], [(start, end) for start, end, _ in found]


def _figure(norm: str, taken: list[tuple[int, int]]) -> str | None:
    """The first quantity with its unit and comparator (≥ for 至少/不少于, ≤ for 不超过/以下)."""
    for m in _FIGURE_RE.finditer(norm):
        if any(m.start() < end and m.end() > start for start, end in taken):
            continue
        value, unit, suffix = m.group(1), m.group(2), m.group(3)
        if unit == "年" and len(value) == 4:  # a year, not a duration
            continue
        before = norm[max(0, m.start() - 14) : m.start()]
        op = ""
        if suffix == "以上" or _AT_LEAST_RE.search(before):
            op = "≥"
        elif suffix in ("以下", "以内") or _AT_MOST_RE.search(before):
            op = "≤"
        return f"{op}{value}{unit}"
    return None


def _subject(text: str, marker: int) -> str | None:
    """The actor named before the marker, nearest clause first; after 禁止/严禁; after 应当由."""
    after = text[marker:]
    by = re.match(r"(?:应当|必须|须)由([^，。；]{1,40})", after)
    if by:
        phrase = _actor_phrase(by.group(1))
        if phrase:
            return phrase
    segment = NUMBERED_MARK_RE.sub("", re.split(r"[。；;]", text[:marker])[-1].strip(), count=1)
    clauses = [_LEADING_RE.sub("", c.strip()) for c in re.split(r"[，,：:]", segment)]
    for i in range(len(clauses) - 1, -1, -1):
        clause = clauses[i]
        if not clause or _ADVERBIAL_CLAUSE_RE.match(clause):
            continue
        phrase = _actor_phrase(clause)
        if phrase:
            # a subject listed across commas from the sentence's start:
            # 「市、区卫生健康部门与公安机关，医院与属地公安派出所应当」
            if i > 0 and all(c and _actor_phrase(c) == c for c in clauses[:i]):
                phrase = "，".join([*clauses[:i], phrase])
            return phrase
    banned = re.match(r"(?:严格)?(?:禁止|严禁)(任何[^，。；]{1,12}|[^，。；]{1,20})", after)
    if banned:
        phrase = _actor_phrase(banned.group(1), anchored=True)
        if phrase:
            return phrase
    return None


def _actor_phrase(clause: str, anchored: bool = False) -> str | None:
    """The first actor noun phrase of a clause, extended over coordinated and compound heads
    (「县级以上地方人民政府卫生行政主管部门、环境保护行政主管部门」) but not over a possessed noun
    (「医疗卫生机构产生的污水、传染病病人…」 → 医疗卫生机构)."""
    heads = [m for m in _HEAD_RE.finditer(clause)]
    start = 0
    first = None
    for m in heads:
        before = clause[start : m.start()]
        if _OBJECT_BEFORE_RE.search(clause[: m.start()]) or _OBJECT_VERB_RE.search(before):
            # an object: the subject, if any, begins after it
            start = m.end()
            continue
        first = m
        break
    if first is None or (anchored and start != 0):
        return None
    end = first.end()
    for m in heads:
        if m.start() < end:
            continue
        between = clause[end : m.start()].replace("所在", "")
        if (not between or _CONNECTOR_RE.match(between)
                or ("的" not in between and not re.search(r"[对向为在从由经将把交]", between) and len(between) <= 12)
                or (len(between) <= 5 and "、" not in between and not re.search(r"[对向为在从由经将把交]", between))):
            end = m.end()
            continue
        break
    phrase = clause[start:end].strip("，、 ")
    return phrase or None


def _classify(unit: _Unit) -> tuple[str, str | None, str | None, str | None] | None:
    """(kind, subject, deadline, figure) of a requirement unit, or None for anything else."""
    own = _first_marker(unit.body)
    lead_marker = _first_marker(unit.lead) if unit.lead else None
    if unit.lead and _EXCLUDED_RE.search(unit.lead):
        return None  # a sanction's list: its items are the violations, not requirements
    if _EXCLUDED_RE.search(unit.body):
        return None
    norm = _normalise_numbers(unit.body)
    deadline, taken = _deadline(norm)
    figure = _figure(norm, taken)
    thresholded = figure is not None and figure[0] in "≥≤"
    if own is None and lead_marker is None and deadline is None and not thresholded:
        return None
    if own is not None:
        marker_pos, marker_cls = own
        subject = _subject(unit.body, marker_pos)
    elif lead_marker is not None:
        marker_pos, marker_cls = lead_marker
        subject = _subject(unit.lead, marker_pos)
    else:
        marker_pos, marker_cls = len(unit.body), "obligation"
        subject = _subject(unit.body, _first_verbish(unit.body))
    if subject is None and unit.lead and lead_marker is not None and own is not None:
        subject = _subject(unit.lead, lead_marker[0])
    if marker_cls == "prohibition":
        kind = "prohibition"
    elif deadline is not None:
        kind = "deadline"
    elif marker_cls == "target" or re.search(r"力争|争取", unit.body) or (figure or "").endswith("%"):
        kind = "target"
    else:
        kind = "obligation"
    return kind, subject, deadline, figure


def _first_verbish(text: str) -> int:
    """Where a marker-less threshold or period statement's predicate starts (for its subject)."""
    match = re.search(r"至少|不少于|不超过|每", text)
    return match.start() if match else len(text)


def _category(section_path: str) -> str:
    """The headings above the provision: the section path without its article (第X条)."""
    parts = [p for p in section_path.split(" > ") if p and not ARTICLE_RE.match(p)]
    return " > ".join(parts)


def requirement_id(doc_id: str, section_path: str, text: str) -> str:
    """Stable while the document is unchanged: its content id, the section and the verbatim text."""
    return hashlib.sha256(f"{doc_id}\n{section_path}\n{text}".encode()).hexdigest()[:16]


def extract(chunks: Iterable[Chunk], doc: str | None = None) -> list[Requirement]:
    """The requirements of one document's chunks, in reading order, each unit once (long articles
    cut into several chunks repeat their lead; sentence overlap repeats a sentence)."""
    out: list[Requirement] = []
    seen: set[tuple[str, str]] = set()
    for chunk in chunks:
        if chunk.doc_type in REPORT_TYPES:
            continue
        for unit in _units(chunk.text):
            key = (chunk.section_path, unit.text)
            if key in seen:
                continue
            seen.add(key)
            found = _classify(unit)
            if found is None:
                continue
            kind, subject, deadline, figure = found
            out.append(Requirement(
                id=requirement_id(chunk.doc_id, chunk.section_path, unit.text), text=unit.text, kind=kind,
                subject=subject, deadline=deadline, figure=figure, doc=doc or chunk.doc, doc_id=chunk.doc_id,
                title=chunk.title, wenhao=chunk.wenhao, section_path=chunk.section_path,
                category=_category(chunk.section_path), page=chunk.page_start, chunk_id=chunk.chunk_id,
                ordinal=len(out),
            ))
    return out


# --- storage ---------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
  doc_id TEXT PRIMARY KEY, names TEXT NOT NULL, title TEXT, wenhao TEXT,
  extractor TEXT NOT NULL, extracted_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS requirements (
  id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL, text TEXT NOT NULL,
  kind TEXT NOT NULL, subject TEXT, deadline TEXT, figure TEXT, section_path TEXT NOT NULL,
  category TEXT NOT NULL, page INTEGER, chunk_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS requirements_doc ON requirements(doc_id, ordinal);
CREATE TABLE IF NOT EXISTS statuses (
  id TEXT PRIMARY KEY, status TEXT NOT NULL, note TEXT NOT NULL DEFAULT '', updated_at REAL NOT NULL,
  doc_id TEXT, doc TEXT, title TEXT, section_path TEXT, text TEXT);
"""


def store_path(settings: Settings) -> Path:
    return settings.data_path / STORE_FILE


@contextmanager
def _connect(settings: Settings, *, create: bool = False) -> Iterator[sqlite3.Connection]:
    """One connection per operation: WAL (readers never block the writer), a busy timeout so the UI
    and an ingest can write at the same time, and each change in one BEGIN IMMEDIATE transaction."""
    path = store_path(settings)
    if not create and not path.exists():
        raise RequirementsError(
            f"{settings.data_path}: no requirements checklist here (run `qianxian ingest` on your documents)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    db = open_db(path, _SCHEMA)
    try:
        yield db
    finally:
        db.close()


_write = transaction


def sync_requirements(kb: KnowledgeBase) -> SyncReport:
    """Bring the checklist in line with the knowledge base: extract documents it lacks (or that an
    older extractor read), drop documents that are gone, refresh names and titles. Called by the
    ingest inside its writer lock; a document killed mid-ingest is extracted by the next run."""
    started = time.perf_counter()
    report = SyncReport()
    live = {d.doc_id: d for d in kb.documents()}
    with _connect(kb.settings, create=True) as db:
        stored = dict(db.execute("SELECT doc_id, extractor FROM documents").fetchall())
        for doc_id in set(stored) - set(live):
            with _write(db):
                db.execute("DELETE FROM requirements WHERE doc_id=?", (doc_id,))
                db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
            report.dropped += 1
        for doc_id, record in live.items():
            names = json.dumps(record.names, ensure_ascii=False)
            if stored.get(doc_id) == EXTRACTOR_VERSION:
                with _write(db):
                    db.execute("UPDATE documents SET names=?, title=?, wenhao=? WHERE doc_id=?",
                               (names, record.title, record.wenhao, doc_id))
                continue
            rows = extract(kb.document_chunks(doc_id))
            with _write(db):
                db.execute("DELETE FROM requirements WHERE doc_id=?", (doc_id,))
                db.executemany(
                    "INSERT OR REPLACE INTO requirements VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    [(r.id, doc_id, r.ordinal, r.text, r.kind, r.subject, r.deadline, r.figure, r.section_path,
                      r.category, r.page, r.chunk_id) for r in rows],
                )
                db.execute("INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?)",
                           (doc_id, names, record.title, record.wenhao, EXTRACTOR_VERSION, time.time()))
            report.extracted += 1
            report.requirements += len(rows)
    report.seconds = time.perf_counter() - started
    return report


def _rows(db: sqlite3.Connection) -> list[Requirement]:
    query = (
        "SELECT r.id, r.text, r.kind, r.subject, r.deadline, r.figure, d.names, r.doc_id, d.title, d.wenhao, "
        "r.section_path, r.category, r.page, r.chunk_id, r.ordinal, s.status, s.note "
        "FROM requirements r JOIN documents d ON d.doc_id = r.doc_id LEFT JOIN statuses s ON s.id = r.id "
        "ORDER BY d.names, r.ordinal"
    )
    out = []
    for row in db.execute(query):
        names = json.loads(row[6]) or [""]
        out.append(Requirement(
            id=row[0], text=row[1], kind=row[2], subject=row[3], deadline=row[4], figure=row[5], doc=names[0],
            doc_id=row[7], title=row[8] or "", wenhao=row[9], section_path=row[10], category=row[11], page=row[12],
            chunk_id=row[13], ordinal=row[14], status=row[15] or DEFAULT_STATUS, note=row[16] or "",
        ))
    return out


def _matches(req: Requirement, filters: Filters, names: list[str]) -> bool:
    if filters.doc and not any(filters.doc in n for n in names) and filters.doc not in req.title:
        return False
    if filters.subject and filters.subject not in (req.subject or ""):
        return False
    if filters.kind and req.kind != filters.kind:
        return False
    if filters.has_deadline and not req.deadline:
        return False
    if filters.status and req.status != filters.status:
        return False
    if filters.search:
        haystack = " ".join([req.text, req.section_path, req.subject or "", req.note, req.title])
        if not all(term in haystack for term in filters.search.split()):
            return False
    return True


def list_requirements(settings: Settings, filters: Filters | None = None) -> list[Requirement]:
    """The checklist as stored, with statuses, narrowed by `filters`, in document then reading order."""
    filters = filters or Filters()
    if filters.kind and filters.kind not in KINDS:
        raise RequirementsError(f"kind must be one of {', '.join(KINDS)}, not {filters.kind!r}")
    if filters.status and filters.status not in STATUSES:
        raise RequirementsError(f"status must be one of {'/'.join(STATUSES)}, not {filters.status!r}")
    with _connect(settings) as db:
        names = {doc_id: json.loads(n) for doc_id, n in db.execute("SELECT doc_id, names FROM documents")}
        return [r for r in _rows(db) if _matches(r, filters, names.get(r.doc_id, []))]


def set_status(settings: Settings, req_id: str, status: str, note: str | None = None) -> Requirement:
    """Record a status (and optionally a note; None keeps the old one) in one transaction."""
    if status not in STATUSES:
        raise RequirementsError(f"status must be one of {'/'.join(STATUSES)}, not {status!r}")
    with _connect(settings) as db:
        with _write(db):
            reqs = {r.id: r for r in _rows(db) if r.id == req_id}
            if req_id not in reqs:
                raise RequirementsError(f"no requirement with id {req_id!r}")
            req = reqs[req_id]
            old = db.execute("SELECT note FROM statuses WHERE id=?", (req_id,)).fetchone()
            kept = note if note is not None else (old[0] if old else "")
            db.execute(
                "INSERT OR REPLACE INTO statuses VALUES (?,?,?,?,?,?,?,?,?)",
                (req_id, status, kept, time.time(), req.doc_id, req.doc, req.title, req.section_path, req.text),
            )
    req.status, req.note = status, kept
    return req


def get_requirement(settings: Settings, req_id: str) -> Requirement:
    """One requirement with its status, for a view that opened it by id (a clicked table row)."""
    with _connect(settings) as db:
        for req in _rows(db):
            if req.id == req_id:
                return req
    raise RequirementsError(f"no requirement with id {req_id!r}")


def common_subjects(reqs: Iterable[Requirement], limit: int = 40) -> list[str]:
    """The obligated subjects named most often (ties by first appearance): a subject filter's choices."""
    counts: dict[str, int] = {}
    for req in reqs:
        if req.subject:
            counts[req.subject] = counts.get(req.subject, 0) + 1
    return sorted(counts, key=lambda s: -counts[s])[:limit]


def text_spans(passage: str, text: str) -> list[tuple[int, int]]:
    """Where a requirement's verbatim text lies in its chunk, to highlight it: an item's lead and the
    item are separate lines of the text and need not be adjacent in the chunk (other items between)."""
    spans: list[tuple[int, int]] = []
    at = 0
    for part in (p.strip() for p in text.split("\n")):
        if not part:
            continue
        found = passage.find(part, at)
        if found < 0:
            found = passage.find(part)
        if found >= 0:
            spans.append((found, found + len(part)))
            at = found + len(part)
    return spans


def orphaned_statuses(settings: Settings) -> list[OrphanedStatus]:
    """Statuses whose requirement no longer exists: its document changed (new content, new ids) or
    was removed. They are kept so the team's work is not lost, and shown apart."""
    with _connect(settings) as db:
        rows = db.execute(
            "SELECT s.id, s.status, s.note, s.doc, s.title, s.section_path, s.text, s.updated_at FROM statuses s "
            "WHERE s.id NOT IN (SELECT id FROM requirements) ORDER BY s.doc, s.updated_at"
        ).fetchall()
    return [OrphanedStatus(r[0], r[1], r[2], r[3] or "", r[4] or "", r[5] or "", r[6] or "", r[7]) for r in rows]


def progress_by_document(settings: Settings) -> list[DocumentProgress]:
    """Per document: how many requirements, and how many in each status (已完成 12 / 47)."""
    out: dict[str, DocumentProgress] = {}
    for req in list_requirements(settings):
        item = out.setdefault(req.doc_id, DocumentProgress(req.doc, req.title, 0, {s: 0 for s in STATUSES}))
        item.total += 1
        item.counts[req.status] += 1
    return list(out.values())


# --- export ----------------------------------------------------------------------------------------

# (header, field, XLSX column width): the columns of every export, in order.
COLUMNS: list[tuple[str, str, int]] = [
    ("编号", "id", 18), ("文档", "doc", 28), ("标题", "title", 24), ("文号", "wenhao", 18),
    ("章节", "section_path", 30), ("类别", "category", 22), ("主体", "subject", 22), ("类型", "kind", 8),
    ("期限", "deadline", 10), ("指标", "figure", 10), ("要求原文", "text", 80), ("页码", "page", 6),
    ("状态", "status", 8), ("备注", "note", 30),
]


def export_row(req: Requirement) -> list[Any]:
    """A requirement as export cells: Chinese kind labels, empty cells for what is not stated."""
    values = []
    for _, name, _ in COLUMNS:
        value = getattr(req, name)
        if name == "kind":
            value = KIND_LABELS[value]
        values.append("" if value is None else value)
    return values


def export_csv(reqs: list[Requirement], path: Path | None = None) -> str:
    """CSV with Chinese headers (UTF-8 with BOM when written to a file, so Excel reads it as UTF-8)."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([h for h, _, _ in COLUMNS])
    for req in reqs:
        writer.writerow(export_row(req))
    text = buffer.getvalue()
    if path is not None:
        path.write_text(text, encoding="utf-8-sig", newline="")
    return text


def export_xlsx(reqs: list[Requirement], path: Path) -> Path:
    """A real XLSX: Chinese headers in bold, column widths, the header row frozen, wrapped text."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "要求清单"
    sheet.append([h for h, _, _ in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for req in reqs:
        sheet.append(export_row(req))
    for i, (_, name, width) in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
        if name in ("text", "note", "section_path"):
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    book.save(path)
    return path
