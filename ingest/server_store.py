"""What a Chroma server holds beside the vectors, so that instances on other machines share one store.

In server mode the main collection keeps what it keeps in embedded mode (vectors, chunk text as
Chroma `documents`, chunk metadata) and its collection metadata carries a `revision` that the writer
bumps after every commit. The manifest (document and name records) and the writer lease live in a
second collection, `<collection>__manifest`, rather than as records of the main one: the main
collection is searched by nearest neighbour and filtered by metadata on every question, so foreign
records there would need a filter on every query, 384-dimensional dummy vectors, and skipping in
every vector listing; a separate collection keeps both clean. Manifest records carry one fixed
one-dimensional embedding, so Chroma never calls its default embedding function (which downloads a
model) and the records are never searched.

Chroma has no compare-and-set, so the lease is taken by write-then-confirm: a contender writes its
claim only within `_SETTLE_S / 2` of seeing the lease free, then waits `_SETTLE_S` and reads it back;
of two contenders, the earlier one sees the later one's claim and backs off. This holds while
requests take less than `_SETTLE_S / 2` and no holder stalls for longer than the lease's TTL
(a stalled holder notices on renewal and stops writing); expiry compares wall clocks of different
machines, so keep them NTP-synchronised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MANIFEST_SUFFIX = "__manifest"
LEASE_ID = "lease"
_TINY = [1.0]  # the fixed embedding of every manifest record
_SETTLE_S = 0.5
_PAGE = 5000


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata cannot hold None; a missing key reads back as None."""
    return {k: v for k, v in fields.items() if v is not None}


@dataclass
class ManifestSnapshot:
    """The server's manifest at one moment: document records by doc id, name records by name."""

    documents: dict[str, dict[str, Any]]
    names: dict[str, dict[str, Any]]

    def named_documents(self) -> dict[str, dict[str, Any]]:
        """Documents some name points to: an unnamed record is a commit in flight or a kill's leftover."""
        named = {n["doc_id"] for n in self.names.values()}
        return {d: f for d, f in self.documents.items() if d in named}


class ServerManifest:
    """Document and name records, and the lease, in `<collection>__manifest`."""

    def __init__(self, client: Any, collection: str):
        self._client = client
        self.name = collection + MANIFEST_SUFFIX
        self._collection = client.get_or_create_collection(
            self.name, embedding_function=None, metadata={"qianxian": "manifest"}
        )

    def _upsert(self, ids: list[str], metadatas: list[dict[str, Any]]) -> None:
        self._collection.upsert(ids=ids, embeddings=[_TINY] * len(ids), metadatas=[_clean(m) for m in metadatas])

    def put_document(self, doc_id: str, fields: dict[str, Any]) -> None:
        self._upsert(["doc:" + doc_id], [fields])

    def put_name(self, name: str, fields: dict[str, Any]) -> None:
        self._upsert(["name:" + name], [fields])

    def delete_documents(self, doc_ids: list[str]) -> None:
        if doc_ids:
            self._collection.delete(ids=["doc:" + d for d in doc_ids])

    def delete_names(self, names: list[str]) -> None:
        if names:
            self._collection.delete(ids=["name:" + n for n in names])

    def _records(self) -> Iterator[tuple[str, dict[str, Any]]]:
        offset = 0
        while True:
            page = self._collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
            if not page["ids"]:
                return
            yield from zip(page["ids"], page["metadatas"])
            offset += len(page["ids"])

    def snapshot(self) -> ManifestSnapshot:
        documents: dict[str, dict[str, Any]] = {}
        names: dict[str, dict[str, Any]] = {}
        for record_id, meta in self._records():
            kind, _, key = record_id.partition(":")
            if kind == "doc":
                documents[key] = dict(meta or {})
            elif kind == "name":
                names[key] = dict(meta or {})
        return ManifestSnapshot(documents, names)

    def wipe(self) -> None:
        """Every document and name record goes (`--rebuild`); the lease, held by the caller, stays."""
        ids = [rid for rid, _ in self._records() if rid != LEASE_ID]
        for start in range(0, len(ids), _PAGE):
            self._collection.delete(ids=ids[start : start + _PAGE])

    # ------------------------------------------------------------------ lease

    def read_lease(self) -> dict[str, Any] | None:
        got = self._collection.get(ids=[LEASE_ID], include=["metadatas"])
        return dict(got["metadatas"][0]) if got["ids"] else None

    def write_lease(self, holder: str, instance: str, expires: float) -> None:
        self._upsert([LEASE_ID], [{"holder": holder, "instance": instance, "expires": expires}])

    def delete_lease(self) -> None:
        self._collection.delete(ids=[LEASE_ID])


class LeaseLost(Exception):
    """Another writer took the lease while we held it (we stalled past its TTL)."""


class Lease:
    """The server-wide writer lease: one holder at a time across every machine.

    `instance` names the data dir the holder writes through (a random id kept in it): a lease left
    by a killed process of the same data dir is taken over at once, because the caller already
    holds that data dir's file lock, which the OS released when the holder died.
    """

    def __init__(self, manifest: ServerManifest, holder: str, instance: str, ttl: float):
        self._manifest, self.holder, self.instance, self.ttl = manifest, holder, instance, ttl
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._expires = 0.0
        self.lost = False

    def _free_for_us(self, current: dict[str, Any] | None) -> bool:
        if current is None or current.get("holder") == self.holder:
            return True
        if current.get("instance") == self.instance:
            return True  # a dead process of our own data dir (we hold its file lock)
        return float(current.get("expires") or 0) < time.time()

    def try_acquire(self) -> str | None:
        """Take the lease, or say who holds it (None when taken)."""
        seen_at = time.monotonic()
        current = self._manifest.read_lease()
        if not self._free_for_us(current):
            return str(current.get("holder")) if current else "?"
        if time.monotonic() - seen_at > _SETTLE_S / 2:
            return "(the server answered too slowly to claim the lease safely)"
        self._expires = time.time() + self.ttl
        self._manifest.write_lease(self.holder, self.instance, self._expires)
        time.sleep(_SETTLE_S)
        current = self._manifest.read_lease()
        if current and current.get("holder") == self.holder:
            self.lost = False
            self._stop.clear()
            self._thread = threading.Thread(target=self._renew, name="qianxian-lease", daemon=True)
            self._thread.start()
            return None
        return str(current.get("holder")) if current else "?"

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                current = self._manifest.read_lease()
                if not current or current.get("holder") != self.holder:
                    self.lost = True
                    return
                self._expires = time.time() + self.ttl
                self._manifest.write_lease(self.holder, self.instance, self._expires)
            except Exception:  # the server is briefly unreachable: retry until our lease would lapse
                if time.time() > self._expires:
                    self.lost = True
                    return

    def check(self) -> None:
        """Raise before a manifest write if the lease is no longer ours."""
        if self.lost or time.time() > self._expires:
            self.lost = True
            raise LeaseLost(f"lost the writer lease on the Chroma server (held now by another writer)")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            current = self._manifest.read_lease()
            if current and current.get("holder") == self.holder:
                self._manifest.delete_lease()
        except Exception:  # unreachable server: the lease lapses by itself
            pass
