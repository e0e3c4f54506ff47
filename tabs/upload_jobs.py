"""Uploads as the documents tab handles them: staged (checked and stored), then ingested by one
background thread, with the queue's progress for the tab's timer and `/ingest_status`."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant import Assistant
from ingest.uploads import StoredUpload, UploadError, store_upload, uploads_dir
from settings import Settings
from tabs.render import md_escape
from tabs.state import AppState

log = logging.getLogger("qianxian.ui")

STATUS_TEXT = {"added": "已添加", "updated": "已更新", "unchanged": "未变化（知识库中已有相同内容）", "failed": "失败"}


@dataclass
class UploadResult:
    """What happened to one uploaded file."""

    name: str  # as uploaded
    status: str  # pending / added / updated / unchanged / failed
    stored_as: str | None = None
    reason: str = ""
    warning: str = ""  # ingested, with something recovered around damage (a truncated PDF's lost pages)

    def message(self) -> str:
        if self.status == "failed":
            return f"✖ {self.name}：失败 — {self.reason}"
        icon = "✔" if self.status in ("added", "updated") else "–"
        saved = f"（保存为 {self.stored_as}）" if self.stored_as and self.stored_as != self.name else ""
        warned = f"（注意：{self.warning}）" if self.warning else ""
        return f"{icon} {self.name}：{STATUS_TEXT.get(self.status, self.status)}{saved}{warned}"


def _upload_name(item: Any) -> tuple[Path, str]:
    """(path, original name) from a gr.File value (a path string, or a FileData-like object)."""
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        return path, path.name
    if isinstance(item, dict):
        path = Path(item.get("path") or item.get("name"))
        return path, item.get("orig_name") or path.name
    path = Path(getattr(item, "path", None) or getattr(item, "name"))
    return path, getattr(item, "orig_name", None) or path.name


Staged = dict[str, tuple[UploadResult, StoredUpload]]  # stored name -> its result and stored copy
Progress = Callable[[int, int, "str | None"], None]  # (files done, files in all, file being ingested)


def stage_uploads(settings: Settings, files: list[Any]) -> tuple[list[UploadResult], Staged]:
    """Check and store uploaded files (quick: no parsing, no embedding); one result per file, in order.
    Refused files are failed results here and never stored."""
    max_bytes = settings.ui.max_upload_mb * 1024 * 1024
    folder = uploads_dir(settings)
    results: list[UploadResult] = []
    stored: Staged = {}
    for item in files or []:
        path, orig = _upload_name(item)
        try:
            up = store_upload(path, folder, max_bytes, orig)
        except UploadError as exc:
            results.append(UploadResult(orig, "failed", reason=str(exc)))
            continue
        result = UploadResult(orig, "pending", stored_as=up.path.name)
        results.append(result)
        if up.path.name in stored:  # the same file twice in one upload
            result.status = "unchanged"
            continue
        stored[up.path.name] = (result, up)
    return results, stored


def ingest_staged(
    assistant: Assistant, results: list[UploadResult], stored: Staged, progress: Progress | None = None
) -> list[UploadResult]:
    """Ingest staged uploads and fill in their results. Failed files are not kept.

    The pipeline takes the files in the order given and reports each when done, so the file being
    ingested is the one after the last reported."""
    if not stored:
        return results
    names = list(stored)
    done = [0]

    def on_file(name: str, status: str) -> None:
        entry = stored.get(Path(name).name)
        if entry:
            entry[0].status = status
        done[0] += 1
        if progress:
            progress(done[0], len(names), names[done[0]] if done[0] < len(names) else None)

    if progress:
        progress(0, len(names), names[0])
    warnings: dict[str, str] = {}
    try:
        report = assistant.add_documents([up.path for _, up in stored.values()], on_file=on_file)
        failures = {Path(f.path).name: f.reason for f in report.failures}
        warnings = {Path(w.path).name: w.reason for w in report.warnings}
    except Exception as exc:  # the store broke: every file of this batch failed
        log.exception("ingest of uploads failed")
        failures = {name: f"入库出错：{exc}" for name in stored}
    for name, (result, up) in stored.items():
        if name in failures:
            result.status, result.reason = "failed", failures[name]
        elif result.status == "pending":
            result.status = "unchanged"
        result.warning = warnings.get(name, "")
        if result.status == "failed" and up.new:
            up.path.unlink(missing_ok=True)  # nothing of a refused file stays behind
    for result in results:  # duplicates within one batch follow their first copy
        if result.status == "unchanged" and result.stored_as in failures:
            result.status, result.reason = "failed", failures[result.stored_as]
    return results


def process_uploads(assistant: Assistant, files: list[Any], progress: Progress | None = None) -> list[UploadResult]:
    """Check, store and ingest uploaded files, waiting for the ingest; one result per file, in order."""
    results, stored = stage_uploads(assistant.settings, files)
    return ingest_staged(assistant, results, stored, progress)


def upload_report(results: list[UploadResult]) -> str:
    if not results:
        return "请先选择要上传的文件。"
    ok = sum(r.status != "failed" for r in results)
    lines = [f"**上传结果：{ok} 个成功，{len(results) - ok} 个失败**", ""]
    lines += [f"- {md_escape(r.message())}" for r in results]
    return "\n".join(lines)


@dataclass
class _Job:
    results: list[UploadResult]
    stored: Staged


@dataclass
class IngestStatus:
    """The upload queue as the documents tab shows it (and `/ingest_status` returns it)."""

    version: int  # changes whenever anything below does
    running: bool
    done: int  # files of the running job ingested
    total: int  # files in the running job
    current: str | None  # the file being ingested
    queued: int  # jobs waiting behind it
    last: list[UploadResult]  # the results of the job finished last
    finished: int = 0  # batches ingested since the app started: the knowledge base may have changed

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "running": self.running, "done": self.done, "total": self.total,
            "current": self.current, "queued": self.queued, "last": [r.message() for r in self.last],
        }

    def markdown(self) -> str:
        if self.running:
            waiting = f"，另有 {self.queued} 批排队" if self.queued else ""
            current = f"，当前：{md_escape(self.current)}" if self.current else ""
            head = f"⏳ **正在入库：已完成 {self.done}/{self.total} 个文件{current}{waiting}**（期间可以继续提问）"
            return head + ("\n\n上一批：\n\n" + upload_report(self.last) if self.last else "")
        return upload_report(self.last) if self.last else ""


class IngestJobs:
    """Uploads are ingested here, one batch at a time, by one background thread.

    The Gradio event that receives an upload only checks and stores the files and returns, so a long
    ingest (a 500-page PDF) never holds a worker or the page while others ask; the documents tab polls
    `status()`. The knowledge base's writer lock still makes this the one writer: a CLI ingest or a
    delete waits for the batch in flight, and this thread for them."""

    def __init__(self, state: AppState):
        self._state = state
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._version = 0
        self._running = False
        self._done = self._total = 0
        self._current: str | None = None
        self._last: list[UploadResult] = []
        self._finished = 0

    def submit(self, files: list[Any]) -> list[UploadResult]:
        """Check and store `files`, queue what passed for ingest; the results so far (refusals final)."""
        results, stored = stage_uploads(self._state.settings, files)
        if not stored:  # nothing to ingest: the refusals are the whole outcome
            self._update(last=results)
            return results
        with self._lock:
            self._jobs.put(_Job(results, stored))
            self._version += 1
            if not self._running:  # shown as running from now on, not from when the thread wakes
                self._running, self._done, self._total, self._current = True, 0, len(stored), next(iter(stored))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="upload-ingest", daemon=True)
                self._thread.start()
        return results

    def status(self) -> IngestStatus:
        with self._lock:
            return IngestStatus(self._version, self._running, self._done, self._total, self._current,
                                self._jobs.qsize(), list(self._last), self._finished)

    def _update(self, **fields: Any) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(self, f"_{key}", value)
            self._version += 1

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=5)
            except queue.Empty:
                with self._lock:  # exit only when nothing was queued meanwhile; submit() restarts us
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            self._update(running=True, done=0, total=len(job.stored), current=next(iter(job.stored)))
            try:
                results = ingest_staged(self._state.assistant(), job.results, job.stored, self._progress)
            except Exception as exc:  # never let the worker die: the batch fails, the next one runs
                log.exception("background ingest failed")
                results = [UploadResult(r.name, "failed", r.stored_as, f"入库出错：{exc}") for r in job.results]
            self._update(running=not self._jobs.empty(), current=None, last=results, finished=self._finished + 1)

    def _progress(self, done: int, total: int, current: str | None) -> None:
        self._update(done=done, total=total, current=current)
