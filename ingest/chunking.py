"""Pages -> citable chunks that follow the structure of Chinese official documents.

Official documents nest 一、 > （一） > 1. > （1）, with 第X章/第X条 in regulations and 附件 at the end.
A chunk never spans two sections, so every chunk carries one section path such as
``三、重点任务 > （二）提升核心专科能力``. Inside a section we split on sentence ends and pack
whole sentences up to a size cap, repeating a few trailing sentences as overlap; only a single
sentence longer than the cap is ever cut.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from ingest.documents import Chunk, LoadedDocument
from settings import ChunkingSettings

_CN_NUM = "一二三四五六七八九十百零〇两"

# (level, pattern). Lower levels are outer. A line that matches starts a new section.
HEADING_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(r"^附件\s*[\d一二三四五六七八九十]*\s*[:：]?\s*\S{0,40}$")),
    (1, re.compile(rf"^第[{_CN_NUM}\d]+[编章]")),
    (2, re.compile(rf"^第[{_CN_NUM}\d]+节")),
    (3, re.compile(rf"^[{_CN_NUM}]+、")),
    (4, re.compile(rf"^[（(][{_CN_NUM}]+[）)]")),
    (5, re.compile(r"^\d{1,2}[.．、](?!\d)")),
    (6, re.compile(r"^[（(]\d{1,2}[）)]")),
    (6, re.compile(rf"^第[{_CN_NUM}\d]+条")),
]

_SENTENCE_END = re.compile(r"[。！？；!?;]+[”’」』）)》]*")
_SOFT_BREAK = re.compile(r"[，,、：:]")
_HEADING_TITLE_END = re.compile(r"[。：:；;]")
_MAX_TITLE = 40


@dataclass
class _Unit:
    """A sentence (or a piece of an over-long one) with its location on its page."""

    text: str
    page: int | None
    start: int
    end: int
    new_line: bool  # begins a new line (paragraph) in the source


@dataclass
class _Section:
    path: list[str]
    units: list[_Unit]


def heading_level(line: str) -> int | None:
    """The nesting level of a heading line, or None for body text."""
    for level, pattern in HEADING_PATTERNS:
        if pattern.match(line):
            # A long line that merely starts like a list item is still a heading: official
            # documents put "（二）加强专科建设。具体内容……" on one line.
            return level
    return None


def heading_title(line: str) -> str:
    """The short label of a heading line: up to its first sentence end, capped."""
    match = _HEADING_TITLE_END.search(line)
    title = line[: match.start()] if match else line
    title = title.strip()
    return title if len(title) <= _MAX_TITLE else title[:_MAX_TITLE] + "…"


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Offsets of sentences in one line; the tail without an end mark is a sentence too."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() > pos:
            spans.append((pos, match.end()))
            pos = match.end()
    if pos < len(text) and text[pos:].strip():
        spans.append((pos, len(text)))
    return spans


def _cut_long(start: int, end: int, text: str, cap: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than `cap`, preferring commas, so no piece exceeds it."""
    pieces: list[tuple[int, int]] = []
    while end - start > cap:
        window = text[start : start + cap]
        soft = [m.end() for m in _SOFT_BREAK.finditer(window)]
        cut = start + (soft[-1] if soft and soft[-1] > cap // 3 else cap)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def _sections(doc: LoadedDocument, cap: int) -> list[_Section]:
    """Walk the lines of all pages, keeping a heading stack, and cut lines into units."""
    sections: list[_Section] = [_Section(path=[], units=[])]
    stack: list[tuple[int, str]] = []
    for page in doc.pages:
        offset = 0
        for raw in page.text.split("\n"):
            line_start = offset
            offset += len(raw) + 1
            stripped = raw.strip()
            if not stripped:
                continue
            lead = len(raw) - len(raw.lstrip())
            level = heading_level(stripped)
            if level is not None:
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, heading_title(stripped)))
                sections.append(_Section(path=[t for _, t in stack], units=[]))
            first = True
            for s, e in split_sentences(stripped):
                for ps, pe in _cut_long(s, e, stripped, cap):
                    piece = stripped[ps:pe]
                    if not piece.strip():
                        continue
                    base = line_start + lead
                    sections[-1].units.append(
                        _Unit(piece, page.number, base + ps, base + pe, new_line=first)
                    )
                    first = False
    return sections


def _merge_heading_only(sections: list[_Section]) -> list[_Section]:
    """A section that is only its heading line joins the next section when that one is its child.

    Its words stay in the text for BM25 while the chunk is cited under the deeper path; a short
    heading-only section followed by a sibling stays on its own.
    """
    merged: list[_Section] = []
    pending: _Section | None = None
    for section in sections:
        if not section.units:
            continue
        heading_only = len(section.units) == 1 and len(section.units[0].text) <= _MAX_TITLE and bool(section.path)
        if pending is not None:
            if section.path[: len(pending.path)] == pending.path and len(section.path) > len(pending.path):
                section = _Section(section.path, pending.units + section.units)
            else:
                merged.append(pending)
            pending = None
        if heading_only:
            pending = section
            continue
        merged.append(section)
    if pending is not None:
        merged.append(pending)
    return merged


def _pack(units: list[_Unit], cfg: ChunkingSettings) -> list[list[_Unit]]:
    """Greedy packing of whole sentences up to max_chars (as joined), with sentence-level overlap."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    for unit in units:
        if current and _size(current + [unit]) > cfg.max_chars:
            groups.append(current)
            overlap: list[_Unit] = []
            for prev in reversed(current[1:]):  # never repeat the whole previous chunk
                if _size([prev] + overlap) > cfg.overlap_chars:
                    break
                overlap.insert(0, prev)
            current = overlap if _size(overlap + [unit]) <= cfg.max_chars else []
        current.append(unit)
    if current:
        fresh = current[_overlap_len(groups[-1], current) :] if groups else current
        if groups and _size(fresh) < cfg.min_chars and _size(groups[-1] + fresh) <= cfg.max_chars:
            groups[-1].extend(fresh)  # a short tail joins its neighbour only if that stays within the cap
        else:
            groups.append(current)
    return groups


def _overlap_len(previous: list[_Unit], current: list[_Unit]) -> int:
    """How many sentences `current` repeats from the end of `previous`."""
    for k in range(min(len(previous), len(current)), 0, -1):
        if all(a is b for a, b in zip(previous[-k:], current[:k])):
            return k
    return 0


def _size(units: list[_Unit]) -> int:
    """Length of the chunk text these units make, line breaks included."""
    return sum(len(u.text) for u in units) + sum(1 for i, u in enumerate(units) if i and u.new_line)


def _join(units: list[_Unit]) -> str:
    parts: list[str] = []
    for i, unit in enumerate(units):
        if i and unit.new_line:
            parts.append("\n")
        parts.append(unit.text)
    return "".join(parts)


def chunking_fingerprint(cfg: ChunkingSettings) -> str:
    """Identifies the chunking rules; a stored document chunked under other rules is re-chunked."""
    blob = json.dumps({"v": 1, **cfg.model_dump()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def chunk_document(doc: LoadedDocument, cfg: ChunkingSettings) -> list[Chunk]:
    """Split a loaded document into chunks carrying title, section path, pages and offsets."""
    chunks: list[Chunk] = []
    for section in _merge_heading_only(_sections(doc, cfg.max_chars)):
        for group in _pack(section.units, cfg):
            ordinal = len(chunks)
            first, last = group[0], group[-1]
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id[:32]}-{ordinal:05d}",
                    doc_id=doc.doc_id,
                    doc=doc.doc,
                    ordinal=ordinal,
                    text=_join(group),
                    title=doc.meta.title,
                    section_path=" > ".join(section.path),
                    page_start=first.page,
                    page_end=last.page,
                    char_start=first.start,
                    char_end=last.end,
                    wenhao=doc.meta.wenhao,
                    issuer=doc.meta.issuer,
                    date=doc.meta.date,
                    doc_type=doc.meta.doc_type,
                )
            )
    return chunks
