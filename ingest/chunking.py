"""Pages -> citable chunks that follow the document's structure (see `ingest.structure`).

A chunk is one structural unit whenever it fits: a law's article (条) with its paragraphs (款)
and items (项), or the body of a leaf 公文 section. A unit longer than the cap is cut between its
paragraphs; an enumeration too long for one chunk is cut between its items and every piece
repeats the lead sentence, so no item is ever cited without what it is an item of. Only a single
paragraph longer than the cap is cut between sentences (with a little sentence overlap).

Every chunk carries the document title and its section path (「第四章 医疗废物的集中处置 >
第二十三条」); the knowledge base indexes them with the text as a contextual header.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from ingest.documents import Chunk, LoadedDocument
from ingest.structure import Block, Group, Line, parse, split_sentences
from settings import ChunkingSettings

_SOFT_BREAK = re.compile(r"[，,、：:]")


@dataclass
class _Piece:
    """A run of text on one page: a whole line or a part of a long one."""

    text: str
    page: int | None
    start: int
    end: int
    new_line: bool  # begins a new line in the source (joined with '\n')


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


def _line_piece(line: Line) -> _Piece:
    return _Piece(line.text, line.page, line.start, line.end, True)


def _sentence_pieces(line: Line, cap: int) -> list[_Piece]:
    """A paragraph too long for one chunk, as sentences (over-long sentences cut at commas)."""
    out: list[_Piece] = []
    for s, e in split_sentences(line.text):
        for ps, pe in _cut_long(s, e, line.text, cap):
            if line.text[ps:pe].strip():
                out.append(_Piece(line.text[ps:pe], line.page, line.start + ps, line.start + pe, not out))
    return out


def _size(pieces: list[_Piece]) -> int:
    """Length of the chunk text these pieces make, line breaks included."""
    return sum(len(p.text) for p in pieces) + sum(1 for i, p in enumerate(pieces) if i and p.new_line)


def _join(pieces: list[_Piece]) -> str:
    parts: list[str] = []
    for i, piece in enumerate(pieces):
        if i and piece.new_line:
            parts.append("\n")
        parts.append(piece.text)
    return "".join(parts)


def _group_parts(group: Group, cfg: ChunkingSettings) -> list[list[_Piece]]:
    """A group as indivisible parts: the whole group if it fits, else the enumeration cut between
    items with the lead repeated, else a long paragraph cut into sentence runs."""
    pieces = [_line_piece(line) for line in group.lines]
    if _size(pieces) <= cfg.max_chars:
        return [pieces]
    if group.is_enumeration:
        lead, items = pieces[0], pieces[1:]
        if len(lead.text) <= cfg.max_chars // 2:
            parts: list[list[_Piece]] = []
            current: list[_Piece] = [lead]
            for item in items:
                if len(current) > 1 and _size(current + [item]) > cfg.max_chars:
                    parts.append(current)
                    current = [lead]
                if _size(current + [item]) > cfg.max_chars:
                    current.extend(_sentence_pieces(Line(item.text, item.page, item.start, item.end), cfg.max_chars))
                else:
                    current.append(item)
            parts.append(current)
            return parts
    return _pack_sentences([p for line in group.lines for p in _sentence_pieces(line, cfg.max_chars)], cfg)


def _pack_sentences(pieces: list[_Piece], cfg: ChunkingSettings) -> list[list[_Piece]]:
    """Greedy packing of sentences up to max_chars, with whole trailing sentences as overlap."""
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    for piece in pieces:
        if current and _size(current + [piece]) > cfg.max_chars:
            groups.append(current)
            overlap: list[_Piece] = []
            for prev in reversed(current[1:]):  # never repeat the whole previous chunk
                if _size([prev] + overlap) > cfg.overlap_chars:
                    break
                overlap.insert(0, prev)
            current = overlap if _size(overlap + [piece]) <= cfg.max_chars else []
        current.append(piece)
    if current:
        groups.append(current)
    return groups


def _block_chunks(block: Block, cfg: ChunkingSettings) -> list[list[_Piece]]:
    """Pack a block's parts (paragraphs, enumerations) into chunks without splitting any part."""
    chunks: list[list[_Piece]] = []
    current: list[_Piece] = []
    for group in block.groups:
        parts = _group_parts(group, cfg)
        if len(parts) > 1:  # a part that had to be cut stands on its own
            if current:
                chunks.append(current)
                current = []
            chunks.extend(parts)
            continue
        part = parts[0]
        if current and _size(current + part) > cfg.max_chars:
            chunks.append(current)
            current = []
        current = current + part
    if current:
        if chunks and _size(current) < cfg.min_chars and _size(chunks[-1] + current) <= cfg.max_chars:
            chunks[-1].extend(current)
        else:
            chunks.append(current)
    return chunks


def chunking_fingerprint(cfg: ChunkingSettings) -> str:
    """Identifies the chunking rules; a stored document chunked under other rules is re-chunked."""
    # v3: table rows grouped under their caption, 附件 sections named by their titles (ingest/structure.py)
    blob = json.dumps({"v": 3, **cfg.model_dump()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _ocr_confidence(doc: LoadedDocument, pieces: list[_Piece]) -> float | None:
    """The lowest OCR confidence of the pages a chunk's pieces come from; None when none was OCR'd."""
    by_page = {p.number: p.ocr_confidence for p in doc.pages if p.ocr_confidence is not None}
    found = [by_page[p.page] for p in pieces if p.page in by_page]
    return round(min(found), 4) if found else None


def chunk_document(doc: LoadedDocument, cfg: ChunkingSettings) -> list[Chunk]:
    """Split a loaded document into chunks carrying title, section path, pages and offsets."""
    chunks: list[Chunk] = []
    for block in parse(doc).blocks:
        for group in _block_chunks(block, cfg):
            ordinal = len(chunks)
            first, last = group[0], group[-1]
            confidence = _ocr_confidence(doc, group)
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id[:32]}-{ordinal:05d}",
                    doc_id=doc.doc_id,
                    doc=doc.doc,
                    ordinal=ordinal,
                    text=_join(group),
                    title=doc.meta.title,
                    section_path=" > ".join(block.path),
                    page_start=first.page,
                    page_end=last.page,
                    char_start=first.start,
                    char_end=last.end,
                    wenhao=doc.meta.wenhao,
                    issuer=doc.meta.issuer,
                    date=doc.meta.date,
                    doc_type=doc.meta.doc_type,
                    ocr=True if confidence is not None else None,
                    ocr_confidence=confidence,
                )
            )
    return chunks
