"""The stored documents as study mode reads them: chunks and requirements, straight from the data dir.

Practice items are made from text that is already stored: the knowledge base's manifest
(`<data_dir>/kb.sqlite`, the source of truth for chunk text and citations) and the requirements
checklist (`ingest.requirements.list_requirements`). Nothing here loads the embedding model or
opens Chroma: a session of items must start in well under a second (a trainee waits for it).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

from ingest import requirements as rq
from ingest.documents import Chunk
from settings import Settings

KB_FILE = "kb.sqlite"


@dataclass(frozen=True)
class Document:
    doc_id: str
    name: str  # the first name it was ingested under (「regulations/医疗废物管理条例.txt」)
    names: tuple[str, ...]
    title: str
    doc_type: str | None


@dataclass
class Corpus:
    """Every stored document with its chunks (reading order) and its requirements."""

    documents: list[Document]
    chunks: dict[str, list[Chunk]]  # doc_id -> chunks
    requirements: dict[str, list[rq.Requirement]] = field(default_factory=dict)  # doc_id -> rows

    @property
    def doc_ids(self) -> frozenset[str]:
        return frozenset(d.doc_id for d in self.documents)

    def all_chunks(self) -> Iterator[tuple[Document, Chunk]]:
        for doc in self.documents:
            for chunk in self.chunks.get(doc.doc_id, []):
                yield doc, chunk


class NoKnowledgeBase(Exception):
    """The data dir holds no knowledge base."""


def load(settings: Settings) -> Corpus:
    """Read the stored chunks and requirements (read-only; an ingest may be writing meanwhile)."""
    path = settings.data_path / KB_FILE
    if not path.exists():
        raise NoKnowledgeBase(str(settings.data_path))
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        names: dict[str, list[str]] = {}
        for name, doc_id in db.execute("SELECT name, doc_id FROM names ORDER BY name"):
            names.setdefault(doc_id, []).append(name)
        documents = [
            Document(doc_id, names[doc_id][0], tuple(names[doc_id]), title or "", doc_type)
            for doc_id, title, doc_type in db.execute("SELECT doc_id, title, doc_type FROM documents ORDER BY doc_id")
            if doc_id in names  # a document whose last name was removed is not shown anywhere
        ]
        chunks: dict[str, list[Chunk]] = {}
        for doc_id, text, meta in db.execute("SELECT doc_id, text, meta FROM chunks ORDER BY doc_id, ordinal"):
            chunks.setdefault(doc_id, []).append(Chunk.from_metadata(text, json.loads(meta)))
    requirements: dict[str, list[rq.Requirement]] = {}
    if rq.store_path(settings).exists():
        for req in rq.list_requirements(settings):
            requirements.setdefault(req.doc_id, []).append(req)
    else:  # a data dir ingested before the checklist existed: read the requirements off the chunks
        for doc in documents:
            requirements[doc.doc_id] = rq.extract(chunks.get(doc.doc_id, []), doc=doc.name)
    return Corpus(documents, chunks, requirements)
