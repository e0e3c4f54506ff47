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

Server mode (`chroma.server_url`): the server is the source of truth and holds everything an
instance needs (ingest/server_store.py): vectors with chunk text and metadata, the manifest in
`<collection>__manifest`, and a `revision` in the collection's metadata. The order becomes vectors,
then the document record, then the name record (the commit point), then the local cache, then the
revision, then deletions. Every instance's `kb.sqlite` (chunks, tokens, documents, names) and BM25
index is a cache, brought up to date from the server whenever the revision changes; only the chunks
of documents it does not hold yet are fetched. A writer holds the data dir's file lock and a lease
on the server.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.documents import Chunk, LoadedDocument
from ingest.embeddings import Embedder
from ingest.lexical import ChineseTokenizer, LexicalIndex
from ingest.server_store import Lease, LeaseLost, ManifestSnapshot, ServerManifest
from settings import Settings

SCHEMA_VERSION = 1
_CHROMA_BATCH = 2000
# The documents table's columns after doc_id, also the fields of a server document record
_DOCUMENT_FIELDS = (
    "title", "wenhao", "issuer", "date", "doc_type", "url", "file_type", "n_pages", "n_chunks", "chunking", "added_at",
)
_NAME_FIELDS = ("doc_id", "root", "source_path", "size", "mtime", "ingested_at")

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

    kind: str  # missing_vectors | orphan_vectors | stale_lexical | half_document | dangling_name | orphan_record
    doc: str  # the document's name (or doc id when it has none), "" for store-wide problems
    detail: str


@dataclass
class _ServerAudit:
    """What `_audit_server` found; `labels` names a document by one of its names."""

    labels: dict[str, str]
    dangling_names: list[str]
    unnamed_documents: list[str]
    half_documents: dict[str, tuple[int, int]] = field(default_factory=dict)  # doc_id -> (have, n_chunks)
    half_names: list[str] = field(default_factory=list)
    orphan_vectors: list[str] = field(default_factory=list)


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


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]


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
        self._seen_generation = self.generation
        self._server = bool(settings.chroma.server_url)
        self._collection: Any = None
        self._manifest: ServerManifest | None = None
        self._lease: Lease | None = None
        self._last_poll = float("-inf")
        self._lexical: LexicalIndex | None = None
        self._lexical_generation = -1
        self._client = self._connect_chroma()
        if self._server:
            self._manifest = self._on_server(lambda: ServerManifest(self._client, settings.chroma.collection))
        if rebuild:
            with self.writer(wait=wait, repair=False):  # everything goes: nothing to repair
                self._wipe()
        self._check_model()
        self._collection = self._on_server(self._open_collection)
        self._seen_generation = self.generation
        # Opening never repairs: a reader must not take an ingest's in-flight vectors for orphans.
        # The writer repairs (`reconcile`) when it takes the writer lock.

    # ---------------------------------------------------------------- opening

    def _open_collection(self) -> Any:
        collection = self._client.get_or_create_collection(
            self.settings.chroma.collection,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=self._collection_metadata(0),
        )
        self._check_stored_model((collection.metadata or {}).get("model_id"))
        return collection

    def _collection_metadata(self, revision: int) -> dict[str, Any]:
        """All of it each time: Chroma's `modify(metadata=)` replaces the whole dict."""
        return {"model_id": self.embedder.model_id, "dimension": self.embedder.dimension, "revision": revision}

    def _check_stored_model(self, stored: str | None) -> None:
        if stored and stored != self.embedder.model_id:
            raise KnowledgeBaseError(
                f"{self.root}: the vector store was built with model '{stored}', but '{self.embedder.model_id}' "
                "is configured; re-ingest with `qianxian ingest --rebuild PATH` (or configure the old model)"
            )

    def _on_server(self, call: Callable[[], Any]) -> Any:
        """Run a Chroma call; in server mode a failure becomes one line naming the server."""
        if not self._server:
            return call()
        try:
            return call()
        except (KnowledgeBaseError, LeaseLost):
            raise
        except Exception as exc:  # chromadb raises many types for a server that is down or wrong
            raise KnowledgeBaseError(f"{self.settings.chroma.server_url}: Chroma server error ({_first_line(exc)})") from exc

    def _connect_chroma(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaConfig

        config = ChromaConfig(anonymized_telemetry=False, allow_reset=False)
        url = self.settings.chroma.server_url
        if not url:
            return chromadb.PersistentClient(path=str(self.root / "chroma"), settings=config)
        from urllib.parse import urlparse

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise KnowledgeBaseError(f"{url}: chroma.server_url must look like http://host:8000")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=config,
            )
            version = str(client.get_version())
        except Exception as exc:  # chromadb raises several types for an unreachable or foreign server
            raise KnowledgeBaseError(
                f"{url}: cannot reach a Chroma 1.x server there ({_first_line(exc)}); start one with "
                "`chroma run --host 0.0.0.0 --port 8000 --path DIR`"
            ) from exc
        if not version.startswith("1."):
            raise KnowledgeBaseError(
                f"{url}: the Chroma server is version {version}, but this client ({chromadb.__version__}) needs "
                "a 1.x server (install chromadb 1.5.x where it runs)"
            )
        return client

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
        WriterBusy at once. On taking it, vectors left by a killed writer are removed. In server
        mode the writer also holds the server's lease (writers on other machines wait for it) and
        first brings its cache up to date with the server.
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
                    if self._server:
                        self._take_lease(wait, on_wait)
                        if self._collection is not None:
                            changed = self._sync(force=True)
                            if repair:
                                changed = self.reconcile() > 0 or changed
                            if changed:  # a killed writer's commit that no revision announced yet
                                self._bump_revision()
                    else:
                        self._follow_other_writers()
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
        if self._lease is not None:
            self._lease.release()
            self._lease = None
        if self._writer_file is not None:
            fcntl.flock(self._writer_file, fcntl.LOCK_UN)
            self._writer_file.close()
            self._writer_file = None

    def _take_lease(self, wait: bool, on_wait: Callable[[str], None] | None) -> None:
        """The server-wide half of the writer lock (the file lock only covers this data dir)."""
        assert self._manifest is not None
        holder = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"
        lease = Lease(self._manifest, holder, self._instance_id(), self.settings.chroma.lease_ttl_s)
        told = False
        while True:
            busy = self._on_server(lease.try_acquire)
            if busy is None:
                self._lease = lease
                return
            url = self.settings.chroma.server_url
            if not wait:
                raise WriterBusy(
                    f"{url}: another process is writing to this knowledge base ({busy}, from another data dir or "
                    "machine); try again when it has finished"
                )
            if on_wait and not told:
                on_wait(f"{url}: another ingest ({busy}) is writing to this knowledge base; waiting for it to finish…")
                told = True
            time.sleep(min(1.0, self.settings.chroma.lease_ttl_s / 4))

    def _instance_id(self) -> str:
        """A random id of this data dir: a lease left by one of its killed processes is ours to take."""
        path = self.root / "instance-id"
        try:
            return path.read_text(encoding="utf-8").strip() or self._new_instance_id(path)
        except FileNotFoundError:
            return self._new_instance_id(path)

    @staticmethod
    def _new_instance_id(path: Path) -> str:
        value = os.urandom(8).hex()
        path.write_text(value, encoding="utf-8")
        return value

    def _check_lease(self) -> None:
        """Before each manifest write on the server: stop if another writer took the lease meanwhile."""
        if self._server:
            if self._lease is None:
                raise KnowledgeBaseError("server mode: writing needs the writer lease (use `writer()`)")
            try:
                self._lease.check()
            except LeaseLost as exc:
                raise KnowledgeBaseError(f"{self.settings.chroma.server_url}: {exc}; nothing more was written") from exc

    # ---------------------------------------------------------------- following other writers

    def refresh(self) -> None:
        """Bring this reader up to date with other writers' committed changes, without a restart.

        Embedded mode: the embedded Chroma client caches its index segments per process, so when
        another process has committed (the manifest's generation moved) the client is reopened.
        Server mode: at most every `chroma.refresh_interval_s`, one request reads the server's
        revision; a change is copied into the local cache (`_sync`). A writer of this process skips
        this: it is the source of the changes.
        """
        if self._writer_depth:
            return
        if not self._server:
            self._follow_other_writers()
            return
        now = time.monotonic()
        if now - self._last_poll < self.settings.chroma.refresh_interval_s:
            return
        self._last_poll = now
        self._on_server(lambda: self._sync(force=False))

    def _follow_other_writers(self) -> None:
        with self._lock:
            generation = self.generation
            if generation == self._seen_generation:
                return
            from chromadb.api.shared_system_client import SharedSystemClient

            # A fresh System for this path: chromadb would otherwise hand back the cached one.
            path = str(self.root / "chroma")
            with SharedSystemClient._refcount_lock:
                SharedSystemClient._identifier_to_system.pop(path, None)
                SharedSystemClient._identifier_to_refcount.pop(path, None)
            self._client = self._connect_chroma()
            self._collection = self._open_collection()
            self._seen_generation = generation

    def _server_state(self) -> tuple[str, int]:
        """(collection id : revision, revision) as the server has them now (one request)."""
        collection = self._on_server(
            lambda: self._client.get_collection(self.settings.chroma.collection, embedding_function=None)
        )
        meta = collection.metadata or {}
        self._check_stored_model(meta.get("model_id"))
        if self._collection is None or collection.id != self._collection.id:
            self._collection = collection  # rebuilt by another instance (`--rebuild`)
        revision = int(meta.get("revision") or 0)
        return f"{collection.id}:{revision}", revision

    def _bump_revision(self) -> None:
        """Announce a commit to every instance: the last step of each write (see the module doc)."""
        _, revision = self._server_state()
        metadata = self._collection_metadata(revision + 1)
        self._on_server(lambda: self._collection.modify(metadata=metadata))
        with self._lock:
            self._set_meta("server_state", f"{self._collection.id}:{revision + 1}")

    def _sync(self, *, force: bool) -> bool:
        """Copy the server's manifest and new documents' chunks into the local cache; True if it changed.

        Readers sync only when no writer of this data dir is active (they try its file lock): that
        writer keeps the cache itself, and both writing the cache at once would collide. A document
        whose chunks are not all on the server yet (a commit in flight) is left out, and the revision
        is then not recorded, so the next refresh tries again.
        """
        state, _ = self._server_state()
        with self._lock:
            if not force and state == self._meta("server_state"):
                return False
            with self._cache_lock() as mine:
                if not mine:
                    return False
                return self._apply_server(state)

    @contextmanager
    def _cache_lock(self) -> Iterator[bool]:
        if self._writer_depth or self._writer_file is not None:
            yield True
            return
        handle = open(self.root / "writer.lock", "a+")  # noqa: SIM115
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    def _apply_server(self, state: str) -> bool:
        assert self._manifest is not None
        snapshot: ManifestSnapshot = self._on_server(self._manifest.snapshot)
        wanted = snapshot.named_documents()
        local = dict(self._db.execute("SELECT doc_id, chunking FROM documents").fetchall())
        drop = [d for d, chunking in local.items() if d not in wanted or wanted[d].get("chunking") != chunking]
        add = [d for d, fields in wanted.items() if d not in local or fields.get("chunking") != local[d]]
        fetched = self._on_server(lambda: self._fetch_documents(add, wanted))
        present = (set(local) - set(drop)) | set(fetched)
        names = sorted(
            (name, f["doc_id"], f.get("root"), f.get("source_path"), f.get("size"), f.get("mtime"), f.get("ingested_at"))
            for name, f in snapshot.names.items() if f.get("doc_id") in present
        )
        old_names = sorted(self._db.execute("SELECT * FROM names").fetchall())
        changed = bool(drop or fetched) or names != old_names
        with self._transaction():
            for doc_id in drop:
                self._db.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
                self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,))
            for doc_id, chunks in fetched.items():
                self._insert_document(doc_id, wanted[doc_id], chunks)
            if names != old_names:
                self._db.execute("DELETE FROM names")
                self._db.executemany("INSERT INTO names VALUES (?,?,?,?,?,?,?)", names)
            if changed:
                self._bump_generation()
            complete = len(fetched) == len(add)
            self._set_meta("server_state", state if complete else "")
        if changed:
            self._lexical, self._lexical_generation = None, -1
        return changed

    def _fetch_documents(self, doc_ids: list[str], fields: dict[str, dict[str, Any]]) -> dict[str, list[Chunk]]:
        """The chunks of these documents from the server, only for documents whose chunks are all there."""
        found: dict[str, dict[int, Chunk]] = {d: {} for d in doc_ids}
        for start in range(0, len(doc_ids), 100):
            part = doc_ids[start : start + 100]
            offset = 0
            while True:
                page = self._collection.get(
                    where={"doc_id": {"$in": part}}, include=["documents", "metadatas"], limit=_CHROMA_BATCH,
                    offset=offset,
                )
                if not page["ids"]:
                    break
                for text, meta in zip(page["documents"], page["metadatas"]):
                    meta = {k: v for k, v in (meta or {}).items() if k != "date_int"}
                    chunk = Chunk.from_metadata(text or "", meta)
                    if chunk.ordinal < int(fields[chunk.doc_id].get("n_chunks") or 0):
                        found[chunk.doc_id][chunk.ordinal] = chunk
                offset += len(page["ids"])
        return {
            d: [by_ordinal[i] for i in sorted(by_ordinal)]
            for d, by_ordinal in found.items()
            if len(by_ordinal) == int(fields[d].get("n_chunks") or 0) > 0
        }

    def _insert_document(self, doc_id: str, fields: dict[str, Any], chunks: list[Chunk]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (doc_id, *(fields.get(k) for k in _DOCUMENT_FIELDS)),
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?)",
            [
                (c.chunk_id, c.doc_id, c.ordinal, c.text,
                 "\x1f".join(self.tokenizer.tokenize(self.index_text(c))),
                 json.dumps(c.metadata(), ensure_ascii=False))
                for c in chunks
            ],
        )

    # ---------------------------------------------------------------- verifying

    def problems(self) -> list[Problem]:
        """Every drift between manifest, vectors and lexical index, without changing anything.

        Server mode checks the server's records (and this instance's BM25 index against its cache,
        which is brought up to date first: a cache is not the knowledge base)."""
        if self._server:
            return self._server_problems()
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
        if self._server:
            self._repair_server()
            return
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
        """Every vector id. Every writer runs this on taking the lock (reconcile), so it must stay
        linear: paging with offset re-reads the skipped rows for each page, quadratic in the store
        (embedded, 200k vectors: 10.4 s paged by 5,000, 1.1 s in one call; bench/scale.py). The
        embedded store is read in one call; a server stays paged, so no response grows with it."""
        if not self.settings.chroma.server_url:
            yield from self._collection.get(include=[])["ids"]
            return
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
        are in Chroma before its manifest commit, and would look like orphans to anyone else.
        Server mode (after the writer's sync): also document records no name points to."""
        if self._server:
            return self._reconcile_server()
        with self._lock:
            known = {row[0] for row in self._db.execute("SELECT chunk_id FROM chunks")}
            orphans = [i for i in self._vector_ids() if i not in known]
            for start in range(0, len(orphans), _CHROMA_BATCH):
                self._collection.delete(ids=orphans[start : start + _CHROMA_BATCH])
            return len(orphans)

    # ---------------------------------------------------------------- verifying a server

    def _audit_server(self) -> _ServerAudit:
        """The server's records against each other: what a kill or a hand edit can leave."""
        assert self._manifest is not None
        snapshot: ManifestSnapshot = self._on_server(self._manifest.snapshot)
        named = snapshot.named_documents()
        audit = _ServerAudit(
            labels={f["doc_id"]: n for n, f in sorted(snapshot.names.items(), reverse=True)},
            dangling_names=sorted(n for n, f in snapshot.names.items() if f.get("doc_id") not in snapshot.documents),
            unnamed_documents=sorted(d for d in snapshot.documents if d not in named),
        )
        have: dict[str, int] = {}
        for cid, meta in self._on_server(lambda: list(self._vector_metadatas())):
            fields = named.get(meta.get("doc_id"))
            if fields is not None and 0 <= int(meta.get("ordinal", -1)) < int(fields.get("n_chunks") or 0):
                have[meta["doc_id"]] = have.get(meta["doc_id"], 0) + 1
            else:
                audit.orphan_vectors.append(cid)
        for doc_id, fields in named.items():
            if have.get(doc_id, 0) != int(fields.get("n_chunks") or 0):
                audit.half_documents[doc_id] = (have.get(doc_id, 0), int(fields.get("n_chunks") or 0))
        audit.half_names = sorted(n for n, f in snapshot.names.items() if f.get("doc_id") in audit.half_documents)
        return audit

    def _vector_metadatas(self) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = 0
        while True:
            page = self._collection.get(include=["metadatas"], limit=5000, offset=offset)
            if not page["ids"]:
                return
            yield from zip(page["ids"], (m or {} for m in page["metadatas"]))
            offset += len(page["ids"])

    def _server_problems(self) -> list[Problem]:
        if self._sync(force=True):
            self.lexical()  # the cache caught up, as the next question would have made it
        audit = self._audit_server()
        label = lambda doc_id: audit.labels.get(doc_id, doc_id[:12])  # noqa: E731
        out = [Problem("dangling_name", n, "names a document the server does not hold") for n in audit.dangling_names]
        out += [Problem("half_document", label(d), f"{have} of {n} chunks on the server")
                for d, (have, n) in sorted(audit.half_documents.items())]
        if audit.orphan_vectors:
            out.append(Problem("orphan_vectors", "", f"{len(audit.orphan_vectors)} vectors belong to no stored chunk"))
        if audit.unnamed_documents:
            out.append(Problem("orphan_record", "", f"{len(audit.unnamed_documents)} document records no name points to"))
        with self._lock:
            known = set(self.all_chunk_ids())
            loaded = LexicalIndex.load(self.root / "lexical")
            if known and (loaded is None or loaded[1] != self.generation or set(loaded[0].ids) != known):
                state = "missing" if loaded is None else f"generation {loaded[1]}, cache {self.generation}"
                out.append(Problem("stale_lexical", "", f"the BM25 index does not match the cached chunks ({state})"))
        return out

    def _repair_server(self) -> None:
        """Half documents and dangling names go (the next ingest re-adds the file whole: a chunk's
        text lives only with its vector on the server); then orphans go, as every writer does."""
        with self.writer(repair=False):
            assert self._manifest is not None
            audit = self._audit_server()
            self._check_lease()
            self._on_server(lambda: self._manifest.delete_names(audit.dangling_names + audit.half_names))
            self._on_server(lambda: self._manifest.delete_documents(sorted(audit.half_documents)))
            self._sync(force=True)
            self.reconcile()
            self._bump_revision()
            shutil.rmtree(self.root / "lexical", ignore_errors=True)
            self._lexical, self._lexical_generation = None, -1
            self.lexical()

    def _reconcile_server(self) -> int:
        assert self._manifest is not None
        with self._lock:
            known = set(self.all_chunk_ids())
            orphans = [i for i in self._on_server(lambda: list(self._vector_ids())) if i not in known]
            snapshot: ManifestSnapshot = self._on_server(self._manifest.snapshot)
            unnamed = [d for d in snapshot.documents if d not in snapshot.named_documents()]
            self._check_lease()
            self._on_server(lambda: self._delete_vectors(orphans))
            self._on_server(lambda: self._manifest.delete_documents(unnamed))
            return len(orphans) + len(unnamed)

    def _wipe(self) -> None:
        """Drop everything stored (``--rebuild``), including the record of which model built it.

        The embedding cache stays: its keys name the model, so it can never serve wrong vectors.
        """
        try:
            self._client.delete_collection(self.settings.chroma.collection)
        except Exception:  # chromadb raises NotFoundError/ValueError by version when absent
            pass
        if self._manifest is not None:
            self._on_server(self._manifest.wipe)
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
            self._check_lease()
            if chunks:
                for start in range(0, len(chunks), _CHROMA_BATCH):
                    part = chunks[start : start + _CHROMA_BATCH]
                    self._on_server(lambda: self._collection.upsert(
                        ids=[c.chunk_id for c in part],
                        embeddings=np.asarray(vectors[start : start + len(part)], dtype=np.float32),
                        documents=[c.text for c in part],
                        metadatas=[self._chroma_meta(c) for c in part],
                    ))
            existing = self._db.execute("SELECT chunking FROM documents WHERE doc_id=?", (doc.doc_id,)).fetchone()
            m = doc.meta
            fields = dict(zip(_DOCUMENT_FIELDS, (m.title, m.wenhao, m.issuer, m.date, m.doc_type, m.url, doc.file_type,
                                                 len(doc.pages), len(chunks), chunking, time.time())))
            name_row = (name, doc.doc_id, root, source_path, size, mtime, time.time())
            if self._server:  # the document record, then the name record: the commit point
                self._check_lease()
                if not existing or existing[0] != chunking:
                    self._on_server(lambda: self._manifest.put_document(doc.doc_id, fields))
                self._on_server(lambda: self._manifest.put_name(name, dict(zip(_NAME_FIELDS, name_row[1:]))))
            with self._transaction():
                old = self._db.execute("SELECT doc_id FROM names WHERE name=?", (name,)).fetchone()
                old_doc = old[0] if old else None
                if existing and existing[0] != chunking:
                    self._db.execute("DELETE FROM chunks WHERE doc_id=?", (doc.doc_id,))
                    self._db.execute("DELETE FROM documents WHERE doc_id=?", (doc.doc_id,))
                    existing = None
                if not existing:
                    self._db.execute(
                        "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (doc.doc_id, *(fields[k] for k in _DOCUMENT_FIELDS)),
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
                self._db.execute("INSERT OR REPLACE INTO names VALUES (?,?,?,?,?,?,?)", name_row)
                removed_ids = self._drop_if_orphan(old_doc) if old_doc and old_doc != doc.doc_id else []
                self._bump_generation()
            self._after_commit(removed_ids, [old_doc] if old_doc and old_doc != doc.doc_id else [])
            return len(removed_ids)

    def link_name(self, name: str, doc_id: str, **source: Any) -> int:
        """Record `name` for content already stored (a duplicate file); returns chunks removed."""
        with self._lock:
            row = (name, doc_id, source.get("root"), source.get("source_path"), source.get("size"),
                   source.get("mtime"), time.time())
            if self._server:
                self._check_lease()
                self._on_server(lambda: self._manifest.put_name(name, dict(zip(_NAME_FIELDS, row[1:]))))
            with self._transaction():
                old = self._db.execute("SELECT doc_id FROM names WHERE name=?", (name,)).fetchone()
                self._db.execute("INSERT OR REPLACE INTO names VALUES (?,?,?,?,?,?,?)", row)
                removed = self._drop_if_orphan(old[0]) if old and old[0] != doc_id else []
                self._bump_generation()
            self._after_commit(removed, [old[0]] if old and old[0] != doc_id else [])
            return len(removed)

    def remove_name(self, name: str) -> int:
        """Forget `name`; its document goes when no other name holds it. Returns chunks removed."""
        with self.writer(), self._lock:
            if self._server:  # deleting the name record is the commit point
                self._check_lease()
                self._on_server(lambda: self._manifest.delete_names([name]))
            with self._transaction():
                row = self._db.execute("SELECT doc_id FROM names WHERE name=?", (name,)).fetchone()
                self._db.execute("DELETE FROM names WHERE name=?", (name,))
                removed = self._drop_if_orphan(row[0]) if row else []
                self._bump_generation()
            self._after_commit(removed, [row[0]] if row else [])
            return len(removed)

    def _after_commit(self, removed_ids: list[str], old_docs: list[str]) -> None:
        """After the manifest commit: announce it (server mode), then delete what it replaced."""
        if self._server:
            self._bump_revision()
            gone = [d for d in old_docs if not self._db.execute(
                "SELECT 1 FROM documents WHERE doc_id=?", (d,)).fetchone()]
            self._on_server(lambda: self._manifest.delete_documents(gone))
        self._on_server(lambda: self._delete_vectors(removed_ids))

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
        self._seen_generation = self.generation + 1
        self._set_meta("generation", str(self._seen_generation))

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
        self.refresh()
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
        self.refresh()
        result = self._on_server(lambda: self._collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where or None,
            include=["distances"],
        ))
        ids = result["ids"][0] if result["ids"] else []
        return [(cid, 1.0 - float(d)) for cid, d in zip(ids, result["distances"][0])]

    def filter_ids(self, where: dict[str, Any]) -> set[str]:
        """Chunk ids matching a Chroma metadata filter (to restrict BM25 the same way)."""
        ids: set[str] = set()
        offset = 0
        while True:
            page = self._on_server(lambda: self._collection.get(where=where, include=[], limit=5000, offset=offset))
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
        self.refresh()
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
