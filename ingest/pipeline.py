"""Files -> knowledge base: discovery, content hashing, incremental and atomic per-document commits.

A file is identified by its name (path relative to the folder given, or its file name) and its
content by sha256. Unchanged content under the same name is skipped; changed content replaces
all of the name's old chunks; the same content under a second name is stored once. Each
document commits on its own, so a run killed mid-way loses at most the document in flight.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ingest.chunking import chunk_document, chunking_fingerprint
from ingest.documents import DocMeta, LoadError, LoadedDocument
from ingest.knowledge_base import KnowledgeBase
from ingest.loaders import SUPPORTED_SUFFIXES, check_file_size, file_sha256, load_file

MANIFEST = "manifest.json"
INGEST_LOG = "ingest-log.jsonl"
_SKIPPED_NAMES = {MANIFEST, "readme.md"}
_EMBED_BATCH = 64


@dataclass
class Failure:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What one run did; `--json` prints it (INTERFACES.md)."""

    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    pages: int = 0
    failures: list[Failure] = field(default_factory=list)
    # (path, what was recovered around damage) for files that were ingested: not failures
    warnings: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {
            "schema_version": 1,
            "files": {k: getattr(self, k) for k in ("seen", "added", "updated", "unchanged", "removed", "failed")},
            "chunks_added": self.chunks_added,
            "chunks_removed": self.chunks_removed,
            "pages": self.pages,
            "failures": [asdict(f) for f in self.failures],
            "warnings": [asdict(w) for w in self.warnings],
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SourceFile:
    path: Path
    name: str
    root: Path | None  # the folder given on the command line, None for a single file


def _walk(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every entry under `root` (symlinked folders not entered), with why it cannot be read, if so.

    A symlink is followed only to a regular file inside `root`: one that leaves the folder (a link
    to /etc/hostname) is reported, never read; so are broken links, loops, FIFOs and devices."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files) + sorted(d for d in dirs if (Path(folder) / d).is_symlink()):
            path = Path(folder) / name
            yield path, _unreadable(path, root)


def _unreadable(path: Path, root: Path) -> str | None:
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except RuntimeError:
            return "symlink loop: not followed"
        except OSError:
            return "broken symlink: its target does not exist"
        if not target.is_relative_to(root):
            return f"symlink to {target} outside the ingested folder: not followed"
        if target.is_dir():
            return "symlink to a folder: not followed"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if stat.S_ISFIFO(mode):
        return "not a regular file (a FIFO): skipped"
    if not stat.S_ISREG(mode):
        return "not a regular file (a device or socket): skipped"
    if not os.access(path, os.R_OK):
        return "unreadable: permission denied"
    return None


def discover(paths: list[Path]) -> tuple[list[SourceFile], list[Failure]]:
    """Expand folders recursively; hidden files, manifest.json and a top README.md are not documents."""
    found: list[SourceFile] = []
    missing: list[Failure] = []
    for path in paths:
        if path.is_dir():
            root = path.resolve()
            for file, problem in _walk(root):
                rel = file.relative_to(root)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                if len(rel.parts) == 1 and rel.name.lower() in _SKIPPED_NAMES:
                    continue
                if problem:
                    missing.append(Failure(str(file), problem))
                    continue
                found.append(SourceFile(file, rel.as_posix(), root))
        elif path.is_file():
            found.append(SourceFile(path.resolve(), path.name, None))
        else:
            missing.append(Failure(str(path), "no such file or folder"))
    return found, missing


def read_manifest(root: Path) -> tuple[dict[str, DocMeta], Failure | None]:
    """Per-file metadata from `root/manifest.json` (title, publisher, date, url, type)."""
    path = root / MANIFEST
    if not path.is_file():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["documents"] if isinstance(data, dict) else data
        out: dict[str, DocMeta] = {}
        for entry in entries:
            out[entry["file"]] = DocMeta(
                title=entry.get("title") or "",
                wenhao=entry.get("wenhao"),
                issuer=entry.get("publisher") or entry.get("issuer"),
                date=entry.get("date"),
                doc_type=entry.get("type"),
                url=entry.get("url"),
            )
        return out, None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {}, Failure(str(path), f"unreadable manifest, ignored ({exc.__class__.__name__}: {exc})")


def _apply_manifest(doc: LoadedDocument, meta: DocMeta | None) -> None:
    """Manifest values win over what was guessed from the text; the text fills the gaps."""
    if meta is None:
        return
    for key, value in asdict(meta).items():
        if value:
            setattr(doc.meta, key, value)


def ingest_paths(
    kb: KnowledgeBase,
    paths: list[Path],
    *,
    prune: bool = False,
    show_progress: bool = True,
    console: Console | None = None,
    on_file: Callable[[str, str], None] | None = None,
    wait: bool = True,
) -> IngestReport:
    """Bring the knowledge base in line with the files under `paths`.

    `on_file(name, status)` is told of each file's outcome (added/updated/unchanged/failed) so a
    UI can show per-file progress. The run holds the knowledge base's writer lock: a concurrent
    ingest waits for it (saying so on the console) or, with `wait=False`, raises WriterBusy.
    """
    console = console or Console(stderr=True)
    with kb.writer(wait=wait, on_wait=lambda message: console.print(message)):
        return _ingest_paths(kb, paths, prune=prune, show_progress=show_progress, console=console, on_file=on_file)


def _ingest_paths(
    kb: KnowledgeBase,
    paths: list[Path],
    *,
    prune: bool,
    show_progress: bool,
    console: Console,
    on_file: Callable[[str, str], None] | None,
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport()
    files, missing = discover(paths)
    report.failures.extend(missing)
    manifests: dict[Path, dict[str, DocMeta]] = {}
    for root in {f.root for f in files if f.root is not None}:
        manifests[root], problem = read_manifest(root)
        if problem:
            report.failures.append(problem)
    fingerprint = chunking_fingerprint(kb.settings.chunking)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show_progress,
        transient=False,
    )
    with progress:
        task = progress.add_task("ingest", total=len(files), detail="")
        meter = _Meter(progress, task, report)
        for source in files:
            report.seen += 1
            status = _ingest_one(kb, source, manifests.get(source.root) if source.root else None, fingerprint, report, meter)
            if on_file:
                on_file(source.name, status)
            meter.file_done()
    if prune:
        _prune(kb, paths, files, report)
    kb.lexical()  # rebuild and persist the BM25 index once, not per document
    if kb.settings.requirements.extract:  # the requirements checklist follows the committed documents
        from ingest.requirements import sync_requirements

        sync_requirements(kb)
    report.failed = len([f for f in report.failures if not f.reason.startswith("unreadable manifest")])
    report.seconds = time.perf_counter() - started
    _log_failures(kb.root / INGEST_LOG, report)
    return report


def _log_failures(path: Path, report: IngestReport) -> None:
    """Append per-file errors and warnings to the data dir's ingest log (the UI's corpus view shows them)."""
    entries = [(f, "error") for f in report.failures] + [(w, "warning") for w in report.warnings]
    if not entries:
        return
    with path.open("a", encoding="utf-8") as fh:
        for f, level in entries:
            record = {"time": time.time(), "path": f.path, "reason": f.reason, "level": level}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_ingest_log(data_dir: Path, limit: int = 50) -> list[dict]:
    """The most recent per-file ingest errors, newest last."""
    path = data_dir / INGEST_LOG
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()[-limit:]
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill; the rest is still useful
    return out


class _Meter:
    """The progress bars: files with pages, chunks and chunk throughput while a (possibly
    500-page) document is embedded, and a second bar with the pages of the PDF being read, which
    is what a scanned PDF's OCR (seconds per page) spends its time on."""

    def __init__(self, progress: Progress, task: int, report: IngestReport):
        self.progress, self.task, self.report = progress, task, report
        self.embedded = 0
        self.seconds = 0.0
        self.in_flight = 0
        self.pages_task: int | None = None
        self._show()

    def _show(self) -> None:
        rate = f"{self.embedded / self.seconds:.1f}" if self.seconds > 0 else "-"
        chunks = self.report.chunks_added + self.in_flight
        detail = f"files · {self.report.pages} pages · {chunks} chunks · {rate} chunks/s"
        self.progress.update(self.task, detail=detail)

    def embedded_batch(self, n: int, seconds: float, in_flight: int) -> None:
        self.embedded += n
        self.seconds += seconds
        self.in_flight = in_flight
        self._show()

    def page(self, name: str, done: int, total: int) -> None:
        """A PDF page was read (and OCR'd if it needed it): shown as its own bar, pages done / total."""
        if self.pages_task is None:
            self.pages_task = self.progress.add_task(f"  {name}", total=total, detail="pages")
        self.progress.update(self.pages_task, completed=done, total=total)

    def file_done(self) -> None:
        if self.pages_task is not None:
            self.progress.remove_task(self.pages_task)
            self.pages_task = None
        self.in_flight = 0
        self.progress.update(self.task, advance=1)
        self._show()


def _ingest_one(
    kb: KnowledgeBase,
    source: SourceFile,
    manifest: dict[str, DocMeta] | None,
    fingerprint: str,
    report: IngestReport,
    meter: _Meter,
) -> str:
    limits = kb.settings.ingest
    try:
        check_file_size(source.path, limits)  # before hashing: a huge file is refused unread
        stat = source.path.stat()
        digest = file_sha256(source.path)
    except LoadError as exc:
        report.failures.append(Failure(str(source.path), exc.reason))
        return "failed"
    except OSError as exc:
        report.failures.append(Failure(str(source.path), f"unreadable: {exc.strerror or exc}"))
        return "failed"
    where = {
        "root": str(source.root) if source.root else None,
        "source_path": str(source.path),
        "size": stat.st_size,
        "mtime": stat.st_mtime,
    }
    previous = kb.name_record(source.name)
    stored_fp = kb.document_chunking(digest)
    if previous and previous.doc_id == digest and stored_fp == fingerprint:
        report.unchanged += 1
        return "unchanged"
    if stored_fp == fingerprint:
        # Same content already stored under another name: record the name, embed nothing.
        report.chunks_removed += kb.link_name(source.name, digest, **where)
        report.updated += 1 if previous else 0
        report.added += 0 if previous else 1
        return "updated" if previous else "added"
    try:
        doc = load_file(source.path, source.name, limits, on_page=lambda done, total: meter.page(source.name, done, total))
    except LoadError as exc:
        report.failures.append(Failure(str(source.path), exc.reason))
        return "failed"
    _apply_manifest(doc, (manifest or {}).get(source.name))
    chunks = chunk_document(doc, kb.settings.chunking)
    if not chunks:
        report.failures.append(Failure(str(source.path), "no text found"))
        return "failed"
    parts = []
    for batch in iter_batches([kb.index_text(c) for c in chunks]):
        t0 = time.perf_counter()
        parts.append(kb.embed_passages(batch))
        meter.embedded_batch(len(batch), time.perf_counter() - t0, sum(len(p) for p in parts))
    vectors = np.concatenate(parts)
    report.chunks_removed += kb.commit_document(
        source.name, doc, chunks, vectors, chunking=fingerprint, **where
    )
    report.pages += len(doc.pages)
    report.warnings.extend(Failure(str(source.path), w) for w in doc.warnings)
    report.chunks_added += len(chunks)
    if previous:
        report.updated += 1
    else:
        report.added += 1
    return "updated" if previous else "added"


def _prune(kb: KnowledgeBase, paths: list[Path], files: list[SourceFile], report: IngestReport) -> None:
    """Forget names that came from the given folders and whose files are gone."""
    roots = {str(p.resolve()) for p in paths if p.is_dir()}
    present = {f.name for f in files}
    for record in kb.names():
        if record.root in roots and record.name not in present:
            report.chunks_removed += kb.remove_name(record.name)
            report.removed += 1


def iter_batches(items: list, size: int = _EMBED_BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
