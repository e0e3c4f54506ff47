"""The knowledge base: what ingest writes and the assistant reads.

Three stores updated together under the data dir:
- ``kb.sqlite``: the manifest (documents, the names they were ingested under, chunk text, metadata
  and BM25 tokens) and a content-hash cache of embeddings. It is the source of truth: a document
  exists once its SQLite transaction commits, never before.
- a Chroma collection (embedded ``PersistentClient`` under ``chroma/``, or a server): the vectors.
  We always pass our own embeddings; Chroma's default embedding function is never used.
- ``lexical/``: the bm25s index, derived from the manifest and rebuilt when its generation is stale.

Write order for one document: vectors are upserted into Chroma first (deterministic ids, so a
repeat is harmless), then the manifest commits, then vectors of replaced chunks are deleted. A
kill at any point leaves either the old or the new document visible, never half of one; vectors
that belong to no committed chunk are removed the next time the store is opened for writing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.documents import Chunk, LoadedDocument
from ingest.embeddings import Embedder
from ingest.lexical import ChineseTokenizer, LexicalIndex
from settings import Settings

SCHEMA_VERSION = 1
_CHROMA_BATCH = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
  doc_id TEXT PRIMARY KEY, title TEXT, wenhao TEXT, issuer TEXT, date TEXT, doc_type TEXT, url TEXT,
  file_type TEXT, n_pages INTEGER, n_chunks INTEGER, chunking TEXT, added_at REAL);
CREATE TABLE IF NOT EXISTS names (
  name TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id), root TEXT, source_path TEXT,
  size INTEGER, mtime REAL, ingested_at REAL);
CREATE TABLE IF NOT EXISTS chunks (
  chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER, text TEXT NOT NULL,
  tokens TEXT NOT NULL, meta TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS names_doc ON names(doc_id);
CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL);
"""


class KnowledgeBaseError(Exception):
    """A store that cannot be used as configured; the message says what to do."""


class WriterBusy(KnowledgeBaseError):
    """Another process holds the writer lock and the caller chose not to wait."""


@dataclass
class Problem:
    """One inconsistency between the manifest, the vectors and the lexical index (`qianxian verify`)."""

    kind: str  # missing_vectors | orphan_vectors | stale_lexical | half_document | dangling_name
    doc: str  # the document's name (or doc id when it has none), "" for store-wide problems
    detail: str


@dataclass
class DocumentRecord:
    """A stored document as listed to users (corpus view, `ingest --json`)."""

    doc_id: str
    names: list[str]
    title: str
    wenhao: str | None
    issuer: str | None
    date: str | None
    doc_type: str | None
    file_type: str
    n_pages: int
    n_chunks: int
    chunking: str


@dataclass
class NameRecord:
    name: str
    doc_id: str
    root: str | None
    source_path: str | None
    size: int | None
    mtime: float | None


def _date_int(date: str | None) -> int | None:
    """yyyymmdd as an int: Chroma range filters ($gte/$lte) only compare numbers."""
    if not date:
        return None
    digits = date.replace("-", "")
    return int(digits) if digits.isdigit() and len(digits) == 8 else None


class KnowledgeBase:
    """Chroma collection + manifest + lexical index, opened once and shared (thread-safe)."""

    def __init__(self, settings: Settings, embedder: Embedder, *, rebuild: bool = False, wait: bool = True):
        self.settings = settings
        self.embedder = embedder
        self.tokenizer = ChineseTokenizer(settings.lexical)
        self.root = settings.data_path
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._writer_lock = threading.RLock()  # threads of this process take turns as the writer
        self._writer_depth = 0
        self._writer_file: Any = None
        self._db = sqlite3.connect(self.root / "kb.sqlite", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._client = self._connect_chroma()
        if rebuild:
            with self.writer(wait=wait, repair=False):  # everything goes: nothing to repair
                self._wipe()
        self._check_model()
        self._collection = self._client.get_or_create_collection(
            settings.chroma.collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"model_id": embedder.model_id, "dimension": embedder.dimension},
        )
        stored = (self._collection.metadata or {}).get("model_id")
        if stored and stored != embedder.model_id:
            raise KnowledgeBaseError(
                f"{self.root}: the vector store was built with model '{stored}', but '{embedder.model_id}' "
                "is configured; re-ingest with `qianxian ingest --rebuild PATH` (or configure the old model)"
            )
        self._lexical: LexicalIndex | None = None
        self._lexical_generation = -1
        # Opening never repairs: a reader must not take an ingest's in-flight vectors for orphans.
        # The writer repairs (`reconcile`) when it takes the writer lock.

    # ---------------------------------------------------------------- opening

    def _connect_chroma(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaConfig

        config = ChromaConfig(anonymized_telemetry=False, allow_reset=False)
        url = self.settings.chroma.server_url
        if url:
            from urllib.parse import urlparse

            parsed = urlparse(url)
            try:
                return chromadb.HttpClient(
                    host=parsed.hostname or "localhost",
                    port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                    ssl=parsed.scheme == "https",
                    settings=config,
                )
            except Exception as exc:  # chromadb raises several types for an unreachable server
                raise KnowledgeBaseError(f"{url}: cannot reach the Chroma server ({exc})") from exc
        return chromadb.PersistentClient(path=str(self.root / "chroma"), settings=config)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _check_model(self) -> None:
        stored = self._meta("model_id")
        if stored is None:
            self._set_meta("tokenizer", self.tokenizer.fingerprint)
            self._set_meta("model_id", self.embedder.model_id)
            self._set_meta("schema_version", str(SCHEMA_VERSION))
            self._set_meta("generation", "0")
        elif stored != self.embedder.model_id:
            raise KnowledgeBaseError(
                f"{self.root}: this knowledge base was built with model '{stored}', but "
                f"'{self.embedder.model_id}' is configured; re-ingest with `qianxian ingest --rebuild PATH` "
                "(or configure the old model)"
            )

    @contextmanager
    def writer(
        self, wait: bool = True, on_wait: Callable[[str], None] | None = None, *, repair: bool = True
    ) -> Iterator[None]:
        """Be the one writer of this data dir for the block: ingest, delete and repair hold it.

        An exclusive lock on `<data_dir>/writer.lock` (released by the OS if the process dies, so a
        kill -9 never leaves it stuck). Readers (ask, serve, eval over an existing store) never take
        it. A second writer waits (`on_wait` is told once why) or, with `wait=False`, gets
        WriterBusy at once. On taking it, vectors left by a killed writer are removed.
        """
        with self._writer_lock:
            if self._writer_depth == 0:
                handle = open(self.root / "writer.lock", "a+")  # noqa: SIM115 - held across the block
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    if not wait:
                        handle.close()
                        raise WriterBusy(
                            f"{self.root}: another process is writing to this knowledge base (an ingest or a "
                            "delete); try again when it has finished"
                        ) from None
                    if on_wait:
                        on_wait(f"{self.root}: another ingest is writing to this knowledge base; waiting for it to finish…")
                    fcntl.flock(handle, fcntl.LOCK_EX)
                self._writer_file = handle
                try:
                    if repair:
                        self.reconcile()
                except BaseException:
                    self._release_writer()
                    raise
            self._writer_depth += 1
            try:
                yield
            finally:
                self._writer_depth -= 1
                if self._writer_depth == 0:
                    self._release_writer()

    def _release_writer(self) -> None:
        if self._writer_file is not None:
            fcntl.flock(self._writer_file, fcntl.LOCK_UN)
            self._writer_file.close()
            self._writer_file = None

    # ---------------------------------------------------------------- verifying

    def problems(self) -> list[Problem]:
        """Every drift between manifest, vectors and lexical index, without changing anything."""
        with self._lock:
            names: dict[str, list[str]] = {}
            for name, doc_id in self._db.execute("SELECT name, doc_id FROM names"):
                names.setdefault(doc_id, []).append(name)
            label = lambda doc_id: (names.get(doc_id) or [doc_id[:12]])[0]  # noqa: E731
            out: list[Problem] = []
            docs = {row[0]: row[1] for row in self._db.execute("SELECT doc_id, n_chunks FROM documents")}
            for doc_id, listed in names.items():
                if doc_id not in docs:
                    out.append(Problem("dangling_name", listed[0], f"names a document that is not stored ({doc_id[:12]})"))
            by_doc: dict[str, list[str]] = {}
            for cid, doc_id in self._db.execute("SELECT chunk_id, doc_id FROM chunks"):
                by_doc.setdefault(doc_id, []).append(cid)
            for doc_id, n_chunks in docs.items():
                have = len(by_doc.get(doc_id, []))
                if have != n_chunks:
                    out.append(Problem("half_document", label(doc_id), f"{have} of {n_chunks} chunks stored"))
            known = {cid for ids in by_doc.values() for cid in ids}
            vectors = set(self._vector_ids())
            for doc_id, ids in by_doc.items():
                missing = [cid for cid in ids if cid not in vectors]
                if missing:
                    out.append(Problem("missing_vectors", label(doc_id), f"{len(missing)} of {len(ids)} chunks have no vector"))
            orphans = vectors - known
            if orphans:
                out.append(Problem("orphan_vectors", "", f"{len(orphans)} vectors belong to no stored chunk"))
            loaded = LexicalIndex.load(self.root / "lexical")
            if known and (loaded is None or loaded[1] != self.generation or set(loaded[0].ids) != known):
                state = "missing" if loaded is None else f"generation {loaded[1]}, store {self.generation}"
                out.append(Problem("stale_lexical", "", f"the BM25 index does not match the stored chunks ({state})"))
            return out

    def repair(self) -> None:
        """Fix what `problems` finds, from the manifest and the embedding cache.

        Orphan vectors are deleted; a chunk without its vector gets it again (from the cache, else
        the encoder); a half document or a dangling name is dropped, so the next ingest re-adds the
        file whole; the lexical index is rebuilt. Needs the writer lock (taken here)."""
        with self.writer(repair=False), self._lock:
            with self._transaction():
                for doc_id, n_chunks in self._db.execute("SELECT doc_id, n_chunks FROM documents").fetchall():
                    have = self._db.execute("SELECT COUNT(*) FROM chunks WHERE doc_id=?", (doc_id,)).fetchone()[0]
                    if have != n_chunks:
                        self._db.execute("DELETE FROM names WHERE doc_id=?", (doc_id,))
                        self._drop_if_orphan(doc_id)
                self._db.execute("DELETE FROM names WHERE doc_id NOT IN (SELECT doc_id FROM documents)")
                self._bump_generation()
            self.reconcile()  # vectors of the documents just dropped
            vectors = set(self._vector_ids())
            missing = [cid for cid in self.all_chunk_ids() if cid not in vectors]
            for start in range(0, len(missing), _CHROMA_BATCH):
                part = self.chunks(missing[start : start + _CHROMA_BATCH])
                self._collection.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=self.embed_passages([self.index_text(c) for c in part]),
                    documents=[c.text for c in part],
                    metadatas=[self._chroma_meta(c) for c in part],
                )
            shutil.rmtree(self.root / "lexical", ignore_errors=True)
            self._lexical, self._lexical_generation = None, -1
            self.lexical()

    def _vector_ids(self) -> Iterator[str]:
        offset = 0
        while True:
            ids = self._collection.get(include=[], limit=5000, offset=offset)["ids"]
            if not ids:
                return
            yield from ids
            offset += len(ids)

    def reconcile(self) -> int:
        """Delete vectors that no committed chunk owns (left by a run killed mid-document).

        Only the writer may do this (see `writer`): while an ingest runs, its next document's vectors
        are in Chroma before its manifest commit, and would look like orphans to anyone else."""
        with self._lock:
            known = {row[0] for row in self._db.execute("SELECT chunk_id FROM chunks")}
            orphans = [i for i in self._vector_ids() if i not in known]
            for start in range(0, len(orphans), _CHROMA_BATCH):
                self._collection.delete(ids=orphans[start : start + _CHROMA_BATCH])
            return len(orphans)

    def _wipe(self) -> None:
        """Drop everything stored (``--rebuild``), including the record of which model built it.

        The embedding cache stays: its keys name the model, so it can never serve wrong vectors.
        """
        try:
            self._client.delete_collection(self.settings.chroma.collection)
        except Exception:  # chromadb raises NotFoundError/ValueError by version when absent
            pass
        self._db.executescript("DELETE FROM chunks; DELETE FROM names; DELETE FROM documents; DELETE FROM meta;")
        shutil.rmtree(self.root / "lexical", ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ---------------------------------------------------------------- writing

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One atomic manifest change: committed whole, or rolled back on any error (or kill)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings for chunk texts, reusing any computed before (content-hash cache)."""
        keys = [self._embedding_key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                for key, blob in self._db.execute(
                    f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", part
                ):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            vectors = self.embedder.embed_passages([texts[i] for i in missing])
            with self._lock:
                self._db.execute("BEGIN")
                for i, vector in zip(missing, vectors):
                    blob = np.asarray(vector, dtype=np.float32).tobytes()
                    self._db.execute("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", (keys[i], blob))
                    found[keys[i]] = np.asarray(vector, dtype=np.float32)
                self._db.execute("COMMIT")
        if not keys:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.stack([found[k] for k in keys])

    def _embedding_key(self, text: str) -> str:
        return hashlib.sha256(f"{self.embedder.model_id}\x00{text}".encode()).hexdigest()

    def index_text(self, chunk: Chunk) -> str:
        """What is embedded and BM25-indexed: a contextual header (document title > section path)
        above the text, so 「第二十三条」 alone is still found as 医疗废物管理条例's provision on
        医疗废物的集中处置."""
        return f"{chunk.header}\n{chunk.text}" if chunk.header else chunk.text

    def commit_document(
        self,
        name: str,
        doc: LoadedDocument,
        chunks: list[Chunk],
        vectors: np.ndarray,
        *,
        chunking: str,
        root: str | None = None,
        source_path: str | None = None,
        size: int | None = None,
        mtime: float | None = None,
    ) -> int:
        """Store a document under `name` atomically, replacing what `name` held; returns chunks removed."""
        with self._lock:
            if chunks:
                for start in range(0, len(chunks), _CHROMA_BATCH):
                    part = chunks[start : start + _CHROMA_BATCH]
                    self._collection.upsert(
                        ids=[c.chunk_id for c in part],
                        embeddings=np.asarray(vectors[start : start + len(part)], dtype=np.float32),
                        documents=[c.text for c in part],
                        metadatas=[self._chroma_meta(c) for c in part],
                    )
            with self._transaction():
                old = self._db.execute("SELECT doc_id FROM names WHERE name=?", (name,)).fetchone()
                old_doc = old[0] if old else None
                existing = self._db.execute(
                    "SELECT chunking FROM documents WHERE doc_id=?", (doc.doc_id,)
                ).fetchone()
                if existing and existing[0] != chunking:
                    self._db.execute("DELETE FROM chunks WHERE doc_id=?", (doc.doc_id,))
                    self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc.doc_id,))
                    existing = None
                if not existing:
                    m = doc.meta
                    self._db.execute(
                        "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (doc.doc_id, m.title, m.wenhao, m.issuer, m.date, m.doc_type, m.url, doc.file_type,
                         len(doc.pages), len(chunks), chunking, time.time()),
                    )
                    self._db.executemany(
                        "INSERT INTO chunks VALUES (?,?,?,?,?,?)",
                        [
                            (c.chunk_id, c.doc_id, c.ordinal, c.text,
                             "\x1f".join(self.tokenizer.tokenize(self.index_text(c))),
                             json.dumps(c.metadata(), ensure_ascii=False))
                            for c in chunks
                        ],
                    )
                self._db.execute(
                    "INSERT OR REPLACE INTO names VALUES (?,?,?,?,?,?,?)",
                    (name, doc.doc_id, root, source_path, size, mtime, time.time()),
                )
                removed_ids = self._drop_if_orphan(old_doc) if old_doc and old_doc != doc.doc_id else []
                self._bump_generation()
            self._delete_vectors(removed_ids)
            return len(removed_ids)

    def link_name(self, name: str, doc_id: str, **source: Any) -> int:
        """Record `name` for content already stored (a duplicate file); returns chunks removed."""
        with self._lock:
            with self._transaction():
                old = self._db.execute("SELECT doc_id FROM names WHERE name=?", (name,)).fetchone()
                self._db.execute(
                    "INSERT OR REPLACE INTO names VALUES (?,?,?,?,?,?,?)",
                    (name, doc_id, source.get("root"), source.get("source_path"), source.get("size"),
                     source.get("mtime"), time.time()),
                )
                removed = self._drop_if_orphan(old[0]) if old and old[0] != doc_id else []
                self._bump_generation()
            self._delete_vectors(removed)
            return len(removed)

    def remove_name(self, name: str) -> int:
        """Forget `name`; its document goes when no other name holds it. Returns chunks removed."""
        with self.writer(), self._lock:
            with self._transaction():
                row = self._db.execute("SELECT doc_id FROM names WHERE name=?", (name,)).fetchone()
                self._db.execute("DELETE FROM names WHERE name=?", (name,))
                removed = self._drop_if_orphan(row[0]) if row else []
                self._bump_generation()
            self._delete_vectors(removed)
            return len(removed)

    def _drop_if_orphan(self, doc_id: str) -> list[str]:
        still = self._db.execute("SELECT 1 FROM names WHERE doc_id=? LIMIT 1", (doc_id,)).fetchone()
        if still:
            return []
        ids = [r[0] for r in self._db.execute("SELECT chunk_id FROM chunks WHERE doc_id=?", (doc_id,))]
        self._db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
        return ids

    def _delete_vectors(self, ids: list[str]) -> None:
        for start in range(0, len(ids), _CHROMA_BATCH):
            self._collection.delete(ids=ids[start : start + _CHROMA_BATCH])

    def _bump_generation(self) -> None:
        self._set_meta("generation", str(self.generation + 1))

    def _chroma_meta(self, chunk: Chunk) -> dict[str, Any]:
        meta = chunk.metadata()
        date = _date_int(chunk.date)
        if date is not None:
            meta["date_int"] = date
        return meta

    # ---------------------------------------------------------------- reading

    @property
    def generation(self) -> int:
        return int(self._meta("generation") or 0)

    def lexical(self) -> LexicalIndex:
        """The BM25 index matching the manifest, loaded or rebuilt as needed."""
        with self._lock:
            if self._meta("tokenizer") != self.tokenizer.fingerprint:
                self._retokenize()
            generation = self.generation
            if self._lexical is not None and self._lexical_generation == generation:
                return self._lexical
            folder = self.root / "lexical"
            loaded = LexicalIndex.load(folder)
            if loaded and loaded[1] == generation:
                self._lexical, self._lexical_generation = loaded
                return self._lexical
            cursor = self._db.execute("SELECT chunk_id, tokens FROM chunks ORDER BY chunk_id")
            index = LexicalIndex.build_streaming((cid, tokens.split("\x1f") if tokens else []) for cid, tokens in cursor)
            try:
                index.save(folder, generation)
            except OSError:
                pass  # a read-only data dir still answers; it rebuilds in memory next time
            self._lexical, self._lexical_generation = index, generation
            return index

    def _retokenize(self) -> None:
        """The tokenizer settings changed since the tokens were stored: recompute them all, once."""
        rows = self._db.execute("SELECT chunk_id, text, meta FROM chunks").fetchall()
        self._db.execute("BEGIN IMMEDIATE")
        for cid, text, meta in rows:
            chunk = Chunk.from_metadata(text, json.loads(meta))
            tokens = "\x1f".join(self.tokenizer.tokenize(self.index_text(chunk)))
            self._db.execute("UPDATE chunks SET tokens=? WHERE chunk_id=?", (tokens, cid))
        self._set_meta("tokenizer", self.tokenizer.fingerprint)
        self._bump_generation()
        self._db.execute("COMMIT")

    def lexical_search(self, query: str, k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        return self.lexical().search(self.tokenizer.tokenize(query), k, allowed)

    def dense_search(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Nearest chunks by cosine similarity (1 - Chroma's cosine distance)."""
        # No count() first: it cost more than the query at 50k chunks; Chroma caps n_results itself.
        result = self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where or None,
            include=["distances"],
        )
        ids = result["ids"][0] if result["ids"] else []
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, result["distances"][0])]

    def filter_ids(self, where: dict[str, Any]) -> set[str]:
        """Chunk ids matching a Chroma metadata filter (to restrict BM25 the same way)."""
        ids: set[str] = set()
        offset = 0
        while True:
            page = self._collection.get(where=where, include=[], limit=5000, offset=offset)
            if not page["ids"]:
                return ids
            ids.update(page["ids"])
            offset += len(page["ids"])

    def chunks(self, ids: Iterable[str]) -> list[Chunk]:
        """Stored chunks by id, in the order asked (unknown ids skipped)."""
        wanted = list(ids)
        if not wanted:
            return []
        rows: dict[str, Chunk] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                for cid, text, meta in self._db.execute(
                    f"SELECT chunk_id, text, meta FROM chunks WHERE chunk_id IN ({marks})", part
                ):
                    rows[cid] = Chunk.from_metadata(text, json.loads(meta))
        return [rows[i] for i in wanted if i in rows]

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        with self._lock:
            rows = self._db.execute(
                "SELECT text, meta FROM chunks WHERE doc_id=? ORDER BY ordinal", (doc_id,)
            ).fetchall()
        return [Chunk.from_metadata(t, json.loads(m)) for t, m in rows]

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors by chunk id (tests compare runs; the assistant scores sentences)."""
        if not ids:
            return {}
        got = self._collection.get(ids=ids, include=["embeddings"])
        return {cid: np.asarray(v, dtype=np.float32) for cid, v in zip(got["ids"], got["embeddings"])}

    def documents(self) -> list[DocumentRecord]:
        with self._lock:
            docs = self._db.execute(
                "SELECT doc_id, title, wenhao, issuer, date, doc_type, file_type, n_pages, n_chunks, chunking "
                "FROM documents ORDER BY added_at"
            ).fetchall()
            names: dict[str, list[str]] = {}
            for name, doc_id in self._db.execute("SELECT name, doc_id FROM names ORDER BY name"):
                names.setdefault(doc_id, []).append(name)
        return [
            DocumentRecord(d[0], names.get(d[0], []), d[1] or "", d[2], d[3], d[4], d[5], d[6], d[7] or 0, d[8] or 0, d[9])
            for d in docs
        ]

    def names(self) -> list[NameRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, doc_id, root, source_path, size, mtime FROM names ORDER BY name"
            ).fetchall()
        return [NameRecord(*r) for r in rows]

    def name_record(self, name: str) -> NameRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT name, doc_id, root, source_path, size, mtime FROM names WHERE name=?", (name,)
            ).fetchone()
        return NameRecord(*row) if row else None

    def document_chunking(self, doc_id: str) -> str | None:
        """The chunking fingerprint a stored document was cut with, or None if not stored."""
        with self._lock:
            row = self._db.execute("SELECT chunking FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return row[0] if row else None

    def chunk_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def all_chunk_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT chunk_id FROM chunks ORDER BY chunk_id")]
