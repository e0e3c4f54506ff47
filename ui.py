"""The Gradio app: streamed chat with clickable citations, a sources panel, uploads and a corpus view.

    app = build_app(assistant)      # gr.Blocks; the Assistant is shared by every session (thread-safe)
    serve(settings)                 # `qianxian serve`: loads the assistant once, launches, blocks

The API endpoint `/ask` (INTERFACES.md) takes `question: str, history: list[{role, content}] | None`
and returns the Answer JSON in one gr.JSON output. Every other event is private (internal to the page),
except `/upload` and `/ingest_status`, callable but undocumented (tests and scripts upload through them):
`/upload` stores and queues the files and returns at once; the ingest runs in a background thread
(IngestJobs), whose progress the documents tab polls with a gr.Timer and `/ingest_status` returns.

Citation clicks: answer markers are rendered as ``<a class="cite" data-n="N" href="#source-card-N">``
(the chat's HTML sanitizer keeps class and href but drops data-*, so the handler reads N from the
href). A document-level click handler, installed once by the sources panel's ``js_on_load`` and
running in the capture phase, cancels the navigation, scrolls card ``#source-card-N`` of the sources
panel into view and gives it the ``highlight`` class (removing it from the others).
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import logging
import os
import queue
import re
import sys
import threading
import time
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import Answer, AskOptions, Assistant, AssistantError, QuestionError, instruction_spans
from ingest.documents import LoadError
from ingest.loaders import decode_text
from settings import Settings, configure_offline

log = logging.getLogger("qianxian.ui")

TITLE = "千县工程政策问答助手"
GENERATORS = ["extractive", "openai", "llamacpp"]
EXAMPLES = [
    "医疗废物集中处置单位应当符合哪些条件？",
    "医疗废物暂时贮存的时间不得超过多久？",
    "甲类传染病有哪些？",
    "北京和上海的急救条例对救护车用于非急救活动分别怎么处罚？",
    "广西有多少家医院纳入千县工程？",
    "研修班是哪天在哪里举办的？",
]
UPLOAD_KINDS = {".pdf": "pdf", ".docx": "docx", ".html": "html", ".htm": "html", ".txt": "text", ".md": "text"}
KIND_NAMES = {"pdf": "PDF", "docx": "Word 文档（DOCX）", "html": "HTML 网页", "text": "文本"}
STATUS_TEXT = {"added": "已添加", "updated": "已更新", "unchanged": "未变化（知识库中已有相同内容）", "failed": "失败"}
CORPUS_HEADERS = ["标题", "文号", "日期", "页数", "段落数", "状态", "文件名"]
FAILURE_HEADERS = ["时间", "文件", "原因"]
_CITE = re.compile(r"\[(\d{1,3})\]")


class ServeError(Exception):
    """The app cannot be served as configured; the message is one readable line."""


class UploadError(Exception):
    """An uploaded file is refused; the message says why, in Chinese, for the user."""


# =================================================================================================
# uploads: type by content, safe names, storage under <data_dir>/uploads/


def uploads_dir(settings: Settings) -> Path:
    return settings.data_path / "uploads"


def safe_filename(name: str) -> str:
    """A file name without directories or unsafe characters; CJK and other letters are kept.

    '../../evil.txt' -> 'evil.txt'; 'C:\\x\\政策 文件?.pdf' -> '政策 文件_.pdf'; '.bashrc' -> 'bashrc'.
    """
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch.isprintable())
    name = re.sub(r"[^\w\-. ()（）《》〔〕【】、，·+]", "_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = stem.strip(" .") or "upload"
    while len(stem.encode("utf-8")) > 180:  # keep well inside the 255-byte file-name limit
        stem = stem[:-1]
    return f"{stem}.{ext.lower()}" if ext else stem


def _decodes_as_text(data: bytes) -> bool:
    """Text by the same strict rules the loader applies (BOMs, UTF-8, GB18030, no binary junk)."""
    try:
        return bool(decode_text(data).strip())
    except LoadError:
        return False


def sniff_kind(data: bytes) -> str | None:
    """What the bytes are: pdf, docx, zip, html, text, or None (binary/unknown)."""
    head = data[:1024]
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            import io

            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return "docx" if "word/document.xml" in zf.namelist() else "zip"
        except zipfile.BadZipFile:
            return None
    if _decodes_as_text(data):
        lowered = head.decode("utf-8", errors="ignore").lstrip("\ufeff \r\n\t").lower()
        if "<html" in lowered or "<!doctype html" in lowered:
            return "html"
        return "text"
    return None


def check_upload(name: str, data: bytes, max_bytes: int) -> str:
    """Refuse (UploadError) files that are too big, empty, unsupported or not what their extension says."""
    ext = Path(name).suffix.lower()
    if ext not in UPLOAD_KINDS:
        raise UploadError(f"不支持的文件类型 {ext or '（无扩展名）'}，仅支持 PDF、DOCX、HTML、TXT、MD")
    if len(data) > max_bytes:
        raise UploadError(f"文件过大（{len(data) / 1048576:.1f} MB），上限为 {max_bytes / 1048576:.0f} MB")
    if not data:
        raise UploadError("文件为空")
    expected = UPLOAD_KINDS[ext]
    actual = sniff_kind(data)
    ok = actual == expected or (expected == "text" and actual == "html")
    if not ok:
        what = KIND_NAMES.get(actual or "", "无法识别的二进制内容" if actual is None else actual)
        raise UploadError(f"文件内容与扩展名不符：扩展名为 {ext}，但内容是{what}")
    return expected


@dataclass
class StoredUpload:
    path: Path
    new: bool  # False: identical content was already stored under this name


_store_lock = threading.Lock()


def store_upload(src: Path | str, folder: Path, max_bytes: int, original_name: str | None = None) -> StoredUpload:
    """Check one uploaded file and copy it into `folder` under a safe, non-clashing name."""
    src = Path(src)
    name = original_name or src.name
    try:
        size = src.stat().st_size
        if size > max_bytes:  # refuse before reading a huge file into memory
            raise UploadError(f"文件过大（{size / 1048576:.1f} MB），上限为 {max_bytes / 1048576:.0f} MB")
        data = src.read_bytes()
    except OSError as exc:
        raise UploadError(f"无法读取上传的文件：{exc.strerror or exc}") from None
    check_upload(name, data, max_bytes)
    digest = hashlib.sha256(data).digest()
    safe = safe_filename(name)
    stem, ext = (safe.rsplit(".", 1) + [""])[:2] if "." in safe else (safe, "")
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    with _store_lock:
        for i in range(1, 1000):
            candidate = safe if i == 1 else (f"{stem} ({i}).{ext}" if ext else f"{stem} ({i})")
            target = root / candidate
            if target.parent != root:  # cannot happen after safe_filename; defence in depth
                raise UploadError("非法文件名")
            if target.exists():
                try:
                    if hashlib.sha256(target.read_bytes()).digest() == digest:
                        return StoredUpload(target, new=False)
                except OSError:
                    pass
                continue
            tmp = root / f".{candidate}.part"
            tmp.write_bytes(data)
            os.replace(tmp, target)
            return StoredUpload(target, new=True)
    raise UploadError("同名文件过多，请改名后再上传")


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
    lines += [f"- {_md_escape(r.message())}" for r in results]
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

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "running": self.running, "done": self.done, "total": self.total,
            "current": self.current, "queued": self.queued, "last": [r.message() for r in self.last],
        }

    def markdown(self) -> str:
        if self.running:
            waiting = f"，另有 {self.queued} 批排队" if self.queued else ""
            current = f"，当前：{_md_escape(self.current)}" if self.current else ""
            head = f"⏳ **正在入库：已完成 {self.done}/{self.total} 个文件{current}{waiting}**（期间可以继续提问）"
            return head + ("\n\n上一批：\n\n" + upload_report(self.last) if self.last else "")
        return upload_report(self.last) if self.last else ""


class IngestJobs:
    """Uploads are ingested here, one batch at a time, by one background thread.

    The Gradio event that receives an upload only checks and stores the files and returns, so a long
    ingest (a 500-page PDF) never holds a worker or the page while others ask; the documents tab polls
    `status()`. The knowledge base's writer lock still makes this the one writer: a CLI ingest or a
    delete waits for the batch in flight, and this thread for them."""

    def __init__(self, assistant: Assistant):
        self._assistant = assistant
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._version = 0
        self._running = False
        self._done = self._total = 0
        self._current: str | None = None
        self._last: list[UploadResult] = []

    def submit(self, files: list[Any]) -> list[UploadResult]:
        """Check and store `files`, queue what passed for ingest; the results so far (refusals final)."""
        results, stored = stage_uploads(self._assistant.settings, files)
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
                                self._jobs.qsize(), list(self._last))

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
                results = ingest_staged(self._assistant, job.results, job.stored, self._progress)
            except Exception as exc:  # never let the worker die: the batch fails, the next one runs
                log.exception("background ingest failed")
                results = [UploadResult(r.name, "failed", r.stored_as, f"入库出错：{exc}") for r in job.results]
            self._update(running=not self._jobs.empty(), current=None, last=results)

    def _progress(self, done: int, total: int, current: str | None) -> None:
        self._update(done=done, total=total, current=current)


# =================================================================================================
# corpus view


def document_names(assistant: Assistant) -> list[str]:
    return sorted({n for d in assistant.documents() for n in d.names})


def corpus_rows(assistant: Assistant) -> list[list[Any]]:
    folder = uploads_dir(assistant.settings)
    rows = []
    for d in sorted(assistant.documents(), key=lambda d: (d.date or "", d.title), reverse=True):
        uploaded = any((folder / n).is_file() for n in d.names)
        rows.append([
            d.title or (d.names[0] if d.names else ""), d.wenhao or "", d.date or "", d.n_pages, d.n_chunks,
            "已入库（上传）" if uploaded else "已入库", "；".join(d.names),
        ])
    return rows


def failure_rows(assistant: Assistant, limit: int = 20) -> list[list[Any]]:
    rows = []
    for f in reversed(assistant.ingest_failures(limit)):
        when = f.get("time")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) if isinstance(when, (int, float)) else str(when or "")
        warned = "（警告，文件已入库）" if f.get("level") == "warning" else ""
        rows.append([stamp, Path(str(f.get("path", ""))).name, warned + str(f.get("reason", ""))])
    return rows


def delete_document(assistant: Assistant, name: str | None) -> str:
    """Remove a document name from the knowledge base (and its uploaded copy, if it was an upload)."""
    if not name:
        return "请先选择要删除的文档。"
    removed = assistant.remove_document(name)
    copy = uploads_dir(assistant.settings) / safe_filename(name)
    if safe_filename(name) == name and copy.is_file():
        copy.unlink(missing_ok=True)
    if removed:
        return f"已删除：{name}"
    return f"未找到文档：{name}"


# =================================================================================================
# rendering answers and sources


def _md_escape(text: str) -> str:
    """Plain text safe inside the chat's markdown: HTML escaped, markdown emphasis characters neutral."""
    text = html.escape(text, quote=False)
    text = re.sub(r"([\\`*_~|\[\]])", r"\\\1", text)
    return re.sub(r"(?m)^(\s*)([#>+-])", r"\1\\\2", text)


def cite_link(n: int) -> str:
    return f'<a class="cite" data-n="{n}" href="#source-card-{n}" title="查看来源 {n}">[{n}]</a>'


def render_answer_text(answer: Answer) -> str:
    """The chat message for a final Answer: markers become citation links; refusals and errors stand out."""
    if answer.error:
        return f"✖ **生成回答时出错**\n\n{_md_escape(answer.error)}\n\n可以在“设置”中换用 extractive 生成器后重试。"
    if answer.refused:
        items = "".join(
            f"<li><b>{html.escape(r.title or r.doc)}</b>：{html.escape(_snippet(r.text, 80))}</li>"
            for r in answer.retrieved[:3]
        )
        related = f"<p><b>可能相关的段落：</b></p><ol>{items}</ol>" if items else ""
        return f'<div class="refusal"><p><b>⚠ {html.escape(answer.answer)}</b></p>{related}</div>'
    valid = {c.n for c in answer.citations}
    text = _md_escape(answer.answer)
    text = re.sub(r"\\\[(\d{1,3})\\\]", lambda m: cite_link(int(m[1])) if int(m[1]) in valid else m[0], text)
    total = answer.latency_ms.get("total")
    if total is not None:
        text += f'\n\n<span class="answer-meta">用时 {total / 1000:.2f} 秒 · 生成器 {html.escape(answer.generator)}</span>'
    return text


def _snippet(text: str, n: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[:n] + "…"


INSTRUCTION_BADGE = "⚠ 此段含有指令性文字，已作为资料处理"


def _highlighted(passage: str, span: Any = None) -> str:
    """The passage as HTML: the answer's supporting span in <mark>, and every sentence that addresses
    the assistant in <span class="instruction"> (so a reader sees it is treated as data, not obeyed)."""
    marked: list[tuple[int, int, str]] = [(a, b, "instruction") for a, b in instruction_spans(passage)]
    if span and len(span) == 2 and 0 <= span[0] < span[1] <= len(passage):
        marked.append((int(span[0]), int(span[1]), "mark"))
    cuts = sorted({0, len(passage), *(x for a, b, _ in marked for x in (a, b))})
    out: list[str] = []
    for a, b in zip(cuts, cuts[1:]):
        piece = html.escape(passage[a:b])
        kinds = {kind for start, end, kind in marked if start <= a and b <= end}
        if "mark" in kinds:
            piece = f"<mark>{piece}</mark>"
        if "instruction" in kinds:
            piece = f'<span class="instruction" title="指令性文字：仅作为资料显示，不作为回答">{piece}</span>'
        out.append(piece)
    return "".join(out)


def _instruction_badge(flagged: bool) -> str:
    return f'<div class="instruction-badge">{INSTRUCTION_BADGE}</div>' if flagged else ""


def render_sources(answer: Answer | None) -> str:
    """The sources panel: one card per citation (id="source-card-N"), or the closest passages after a refusal."""
    if answer is None:
        return '<div class="sources-empty">提问后，回答引用的原文段落会显示在这里。点击回答中的 [n] 可定位到对应来源。</div>'
    if answer.citations:
        cards = []
        for c in answer.citations:
            meta = " · ".join(
                html.escape(x) for x in [c.wenhao or "", c.date or "", c.section_path or "", f"第 {c.page} 页" if c.page else ""] if x
            )
            cards.append(
                f'<div class="source-card" id="source-card-{c.n}" data-n="{c.n}" data-doc="{html.escape(c.doc, quote=True)}">'
                f'<div class="source-head"><span class="source-n">[{c.n}]</span> '
                f'<span class="source-title">{html.escape(c.title or c.doc)}</span></div>'
                + (f'<div class="source-meta">{meta}</div>' if meta else "")
                + f'<div class="source-doc">{html.escape(c.doc)}</div>'
                + _instruction_badge(c.addresses_assistant)
                + f'<div class="source-passage">{_highlighted(c.passage, c.span)}</div></div>'
            )
        return f'<div class="sources-list"><div class="sources-title">引用来源（{len(cards)}）</div>{"".join(cards)}</div>'
    if answer.retrieved:
        cards = [
            f'<div class="source-card related" id="related-card-{r.rank}" data-rank="{r.rank}">'
            f'<div class="source-head"><span class="source-n">#{r.rank}</span> '
            f'<span class="source-title">{html.escape(r.title or r.doc)}</span></div>'
            f'<div class="source-doc">{html.escape(r.doc)}{f" · 第 {r.page} 页" if r.page else ""}</div>'
            + _instruction_badge(r.addresses_assistant)
            + f'<div class="source-passage">{_highlighted(_snippet(r.text, 240))}</div></div>'
            for r in answer.retrieved[:5]
        ]
        head = "未找到足以回答的依据，以下是最接近的段落（未引用）" if answer.refused else "检索到的段落"
        return f'<div class="sources-list"><div class="sources-title">{head}</div>{"".join(cards)}</div>'
    return '<div class="sources-empty">没有可显示的来源。</div>'


def _retrieved_thought(retrieved: list[Any], top_k: int) -> str:
    lines = []
    for r in retrieved[:top_k]:
        lines.append(f"{r.rank}. **{_md_escape(r.title or r.doc)}**（得分 {r.score:.3f}）：{_md_escape(_snippet(r.text, 60))}")
    return "\n".join(lines) or "没有检索到段落。"


# =================================================================================================
# the app

CSS = """
#sources-panel { max-height: 78vh; overflow-y: auto; padding-right: 4px; }
.sources-title { font-weight: 600; margin: 2px 0 8px; }
.sources-empty { color: var(--body-text-color-subdued); padding: 8px; }
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px;
  margin-bottom: 10px; background: var(--background-fill-secondary); transition: box-shadow .3s, border-color .3s, background .3s;
  scroll-margin: 12px; }
.source-card.highlight { border-color: #d97706; box-shadow: 0 0 0 3px rgba(217,119,6,.35); background: #fffbeb; color: #1f2937; }
.source-card.related { opacity: .9; border-style: dashed; }
.source-head { font-weight: 600; }
.source-n { color: var(--color-accent); margin-right: 4px; }
.source-meta, .source-doc { font-size: .85em; color: var(--body-text-color-subdued); margin-top: 2px; }
.source-passage { margin-top: 6px; font-size: .92em; line-height: 1.6; white-space: pre-wrap; }
.source-passage mark { background: #fde68a; color: #1f2937; padding: 0 1px; border-radius: 2px; }
.instruction-badge { display: inline-block; margin-top: 6px; padding: 1px 8px; border-radius: 10px; font-size: .82em;
  background: #fee2e2; color: #991b1b; border: 1px solid #fca5a5; }
.source-passage .instruction { text-decoration: line-through wavy #dc2626; background: #fef2f2; color: #7f1d1d; }
a.cite { color: var(--color-accent); font-weight: 600; text-decoration: none; cursor: pointer; margin: 0 1px; }
a.cite:hover { text-decoration: underline; }
.refusal { border-left: 4px solid #d97706; background: #fffbeb; color: #1f2937; padding: 6px 12px; border-radius: 6px; }
.answer-meta { font-size: .8em; color: var(--body-text-color-subdued); }
#active-settings { font-size: .9em; }
"""

# Installed once per page by the sources panel (js_on_load): event delegation on the whole document,
# in the capture phase so that the chat's own link handling never opens the anchor elsewhere.
CITE_JS = """
if (!window.__qxCiteHandler) {
  window.__qxCiteHandler = function (event) {
    const link = event.target && event.target.closest ? event.target.closest('a.cite, .cite[data-n]') : null;
    if (!link) return;
    const n = link.getAttribute('data-n') || (link.getAttribute('href') || '').replace(/^.*#source-card-/, '');
    const card = document.getElementById('source-card-' + n);
    event.preventDefault();
    event.stopPropagation();
    if (!card) return;
    document.querySelectorAll('.source-card.highlight').forEach(function (c) { c.classList.remove('highlight'); });
    card.classList.add('highlight');
    card.scrollIntoView({behavior: 'smooth', block: 'center'});
  };
  document.addEventListener('click', window.__qxCiteHandler, true);
}
"""


def chat_stream(
    assistant: Assistant, message: str, chat: list | None, history: list | None, generator: str | None = None,
    top_k: float | None = None, docs: list[str] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """One chat turn, streamed: yields (chat messages, history, sources HTML or gr.skip(), textbox value)."""
    question = (message or "").strip()
    chat = list(chat or [])
    history = list(history or [])
    if not question:
        yield chat, history, gr.skip(), ""
        return
    chat.append({"role": "user", "content": _md_escape(question)})
    step = {"role": "assistant", "content": "正在检索相关段落…", "metadata": {"title": "检索中", "status": "pending"}}
    chat.append(step)
    yield chat, history, render_sources(None), ""
    k = int(top_k or assistant.settings.retrieval.top_k)
    options = AskOptions(top_k=k, generator=generator or None, docs=list(docs) if docs else None)
    reply: dict[str, Any] | None = None
    pieces: list[str] = []
    final: Answer | None = None
    started = time.perf_counter()
    try:
        for event in assistant.ask_stream(question, history, options):
            if event.kind == "rewrite":
                chat.insert(len(chat) - 1, {
                    "role": "assistant", "content": f"结合上文，问题改写为：{_md_escape(event.text)}",
                    "metadata": {"title": "问题改写", "status": "done"},
                })
            elif event.kind == "retrieved":
                hits = event.retrieved or []
                step["content"] = _retrieved_thought(hits, k)
                step["metadata"] = {
                    "title": f"检索到 {len(hits)} 个段落（前 {min(k, len(hits))} 个交给生成器）",
                    "status": "done", "duration": round(time.perf_counter() - started, 2),
                }
                reply = {"role": "assistant", "content": "正在生成回答…"}
                chat.append(reply)
            elif event.kind == "delta":
                pieces.append(event.text)
                if reply is not None:
                    reply["content"] = _md_escape("".join(pieces)) + " ▌"
            elif event.kind == "answer":
                final = event.answer
            yield chat, history, gr.skip(), ""
    except QuestionError as exc:  # the user's input: say what is wrong, no traceback in the log
        step["metadata"] = {"title": "检索", "status": "done"}
        step["content"] = "未开始。"
        chat.append({"role": "assistant", "content": f"✖ {_md_escape(str(exc))}"})
        yield chat, history, render_sources(None), ""
        return
    except Exception as exc:  # never a traceback in the chat; the app keeps running
        log.exception("answering %r failed", question)
        if step["metadata"].get("status") == "pending":
            step["metadata"] = {"title": "检索", "status": "done"}
            step["content"] = "未完成。"
        text = f"✖ **出错了**：{_md_escape(str(exc) or exc.__class__.__name__)}\n\n请稍后重试，或在“设置”中换用 extractive 生成器。"
        if reply is None:
            chat.append({"role": "assistant", "content": text})
        else:
            reply["content"] = text
        yield chat, history, render_sources(None), ""
        return
    if final is None:
        return
    content = render_answer_text(final)
    if reply is None:
        chat.append({"role": "assistant", "content": content})
    else:
        reply["content"] = content
    history += [{"role": "user", "content": question}, {"role": "assistant", "content": final.answer}]
    yield chat, history, render_sources(final), ""



def _theme() -> gr.themes.Base:
    # System fonts only: the default theme would fetch Google Fonts, which an offline site cannot reach.
    fonts = [gr.themes.Font("system-ui"), "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", "sans-serif"]
    mono = [gr.themes.Font("ui-monospace"), "SFMono-Regular", "Menlo", "monospace"]
    return gr.themes.Soft(primary_hue="teal", font=fonts, font_mono=mono)


def launch_options() -> dict[str, Any]:
    """theme/css for launch() (Gradio 6 takes them there, not in Blocks())."""
    return {"theme": _theme(), "css": CSS}


class QianxianApp(gr.Blocks):
    """gr.Blocks whose launch() brings our theme and CSS unless the caller passes others."""

    def launch(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        for key, value in launch_options().items():
            kwargs.setdefault(key, value)
        return super().launch(*args, **kwargs)


def _options_text(generator: str, top_k: int, docs: list[str] | None) -> str:
    scope = "、".join(docs) if docs else "全部文档"
    return f"**当前设置：** 生成器 `{generator}` · top-k {int(top_k)} · 范围：{_md_escape(scope)}"


def _clean_history(history: Any) -> list[dict[str, str]] | list[str] | None:
    if history is None or history == "":
        return None
    if not isinstance(history, list):
        raise gr.Error("history 必须是消息列表（[{\"role\": \"user\", \"content\": \"…\"}]）或 null")
    out: list[Any] = []
    for item in history:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("content"), str):
            out.append({"role": str(item.get("role", "user")), "content": item["content"]})
        else:
            raise gr.Error("history 中的每一项必须含有 role 和 content（字符串）")
    return out


class LoadingAssistant:
    """Stands in for the Assistant while the model and store load in a background thread.

    The page is served at once; the first call that needs the assistant (the page-load refresh,
    a question) waits for the load. `settings` is available immediately.
    """

    def __init__(self, settings: Settings):
        self.settings = settings
        self._done = threading.Event()
        self._assistant: Assistant | None = None
        self._error: Exception | None = None
        threading.Thread(target=self._load, name="assistant-load", daemon=True).start()

    def _load(self) -> None:
        try:
            self._assistant = Assistant.from_settings(self.settings)
        except Exception as exc:  # reported by wait() to serve() and to any handler
            self._error = exc
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self._assistant is not None

    def wait(self) -> Assistant:
        self._done.wait()
        if self._assistant is None:
            err = self._error
            raise err if isinstance(err, AssistantError) else AssistantError(f"加载失败：{err}")
        return self._assistant

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wait(), name)


def _ready(assistant: Any) -> bool:
    return getattr(assistant, "ready", True)


def build_app(assistant: Assistant) -> gr.Blocks:
    """The whole UI around one shared Assistant."""
    settings = assistant.settings
    default_gen = settings.answer.generator
    default_k = settings.retrieval.top_k
    private = {"api_visibility": "private"}

    # ------------------------------------------------------------------ handlers

    def respond(message: str, chat: list, history: list, generator: str, top_k: float, docs: list[str] | None
                ) -> Iterator[tuple[Any, ...]]:
        yield from chat_stream(assistant, message, chat, history, generator, top_k, docs)

    def new_chat() -> tuple[Any, ...]:
        return [], [], render_sources(None), ""

    def api_ask(question: str, history: Any) -> dict[str, Any]:
        if not isinstance(question, str) or not question.strip():
            raise gr.Error("问题不能为空。")
        try:
            return assistant.ask(question.strip(), _clean_history(history)).to_json()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from None

    def corpus_outputs(note: str | None = None, reset_filter: bool = False) -> tuple[Any, ...]:
        names = document_names(assistant)
        return (
            note if note is not None else gr.skip(),
            corpus_rows(assistant),
            failure_rows(assistant),
            gr.update(choices=names, value=[]) if reset_filter else gr.update(choices=names),
            gr.update(choices=names, value=None),
        )

    jobs = IngestJobs(assistant)

    def upload(files: list[Any] | None) -> tuple[Any, ...]:
        """Store the files and queue them: the ingest runs in the background (IngestJobs)."""
        if not files:
            return corpus_outputs(upload_report([]))
        try:
            jobs.submit(files)
            note = jobs.status().markdown()
        except Exception as exc:
            log.exception("upload failed")
            note = f"✖ 上传失败：{_md_escape(str(exc))}"
        return corpus_outputs(note)

    def poll(seen: int | None) -> tuple[Any, ...]:
        """The timer's refresh of the documents tab: nothing is sent while the queue is unchanged."""
        status = jobs.status()
        if status.version == seen:
            return (gr.skip(),) * 6
        names = document_names(assistant)
        return (status.markdown(), corpus_rows(assistant), failure_rows(assistant), gr.update(choices=names),
                gr.update(choices=names), status.version)

    def delete(name: str | None) -> tuple[Any, ...]:
        try:
            note = delete_document(assistant, name)
        except Exception as exc:
            log.exception("delete failed")
            note = f"✖ 删除失败：{exc}"
        return corpus_outputs(_md_escape(note), reset_filter=True)  # a deleted name must not stay selected

    def refresh() -> tuple[Any, ...]:
        return corpus_outputs("")

    # ------------------------------------------------------------------ layout

    names = document_names(assistant) if _ready(assistant) else []  # else filled by app.load
    with QianxianApp(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\n基于已入库的政策文件与新闻回答问题，每句回答都标注来源；资料不足时会明确拒答。")
        history = gr.State([])
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="对话", height=560, elem_id="chat", buttons=["copy"], feedback_options=None,
                            placeholder="请在下方输入问题，或点击示例问题。",
                        )
                        with gr.Row():
                            msg = gr.Textbox(
                                placeholder="请输入关于千县工程的问题，按回车发送", show_label=False, scale=5,
                                elem_id="question-box", autofocus=True, max_lines=4,
                            )
                            send = gr.Button("发送", variant="primary", scale=1, elem_id="send-button", min_width=80)
                            clear = gr.Button("新对话", scale=1, elem_id="new-chat-button", min_width=80)
                        gr.Examples(EXAMPLES, inputs=[msg], label="示例问题（点击填入）")
                    with gr.Column(scale=2):
                        with gr.Accordion("设置", open=False, elem_id="settings"):
                            generator = gr.Dropdown(
                                GENERATORS, value=default_gen, label="生成器",
                                info="extractive：离线、逐句引用原文；openai / llamacpp：需要先配置大模型",
                            )
                            top_k = gr.Slider(1, 20, value=default_k, step=1, label="交给生成器的段落数（top-k）")
                            doc_filter = gr.Dropdown(
                                names, value=[], multiselect=True, label="只在这些文档中检索（留空 = 全部）",
                            )
                        active = gr.Markdown(_options_text(default_gen, default_k, None), elem_id="active-settings")
                        sources = gr.HTML(
                            render_sources(None), label="来源", elem_id="sources-panel", js_on_load=CITE_JS,
                            padding=True,
                        )
            with gr.Tab("文档管理", id="docs"):
                gr.Markdown(
                    f"上传 PDF、DOCX、HTML、TXT、MD 文件（每个不超过 {settings.ui.max_upload_mb} MB）。"
                    "文件会先检查类型，再保存到数据目录，然后在后台建立索引：进度显示在下方，期间可以继续提问。"
                )
                with gr.Row():
                    files = gr.File(file_count="multiple", label="选择文件", scale=3, elem_id="upload-files")
                    with gr.Column(scale=1):
                        upload_btn = gr.Button("上传并入库", variant="primary", elem_id="upload-button")
                        refresh_btn = gr.Button("刷新列表")
                upload_note = gr.Markdown(elem_id="upload-result")
                seen_version = gr.State(None)
                ticker = gr.Timer(1.0)
                corpus = gr.Dataframe(
                    corpus_rows(assistant) if _ready(assistant) else [], headers=CORPUS_HEADERS, label="知识库中的文档", interactive=False,
                    wrap=True, elem_id="corpus-table", column_count=len(CORPUS_HEADERS),
                    column_widths=["30%", "13%", "10%", "6%", "7%", "11%", "23%"],
                )
                with gr.Row():
                    to_delete = gr.Dropdown(names, value=None, label="选择要删除的文档（按文件名）", scale=3)
                    delete_btn = gr.Button("删除", variant="stop", scale=1, elem_id="delete-button")
                failures = gr.Dataframe(
                    failure_rows(assistant) if _ready(assistant) else [], headers=FAILURE_HEADERS, label="最近的入库错误与警告", interactive=False,
                    wrap=True, column_count=len(FAILURE_HEADERS),
                )

        # hidden API components: /ask exactly as INTERFACES.md
        api_question = gr.Textbox(visible=False, label="question")
        api_history = gr.JSON(visible=False, label="history")
        api_answer = gr.JSON(visible=False, label="answer")
        api_trigger = gr.Button(visible=False)
        api_status = gr.JSON(visible=False, label="ingest status")
        api_status_trigger = gr.Button(visible=False)

        # ------------------------------------------------------------------ events
        chat_io = dict(
            fn=respond, inputs=[msg, chatbot, history, generator, top_k, doc_filter],
            outputs=[chatbot, history, sources, msg], show_progress="hidden", **private,
        )
        msg.submit(**chat_io)
        send.click(**chat_io)
        clear.click(new_chat, None, [chatbot, history, sources, msg], queue=False, **private)
        chatbot.clear(new_chat, None, [chatbot, history, sources, msg], queue=False, **private)
        for control in (generator, top_k, doc_filter):
            control.change(_options_text, [generator, top_k, doc_filter], active, queue=False, **private)

        corpus_out = [upload_note, corpus, failures, doc_filter, to_delete]
        upload_btn.click(
            upload, [files], corpus_out, api_name="upload", api_visibility="undocumented",
            concurrency_limit=1, concurrency_id="kb-upload",
        ).then(lambda: None, None, files, queue=False, **private)
        # never queued behind answers: the refresh is cheap and skips when nothing changed
        ticker.tick(poll, [seen_version], [*corpus_out, seen_version], concurrency_limit=None,
                    concurrency_id="ingest-status", **private)
        api_status_trigger.click(
            lambda: jobs.status().to_json(), None, api_status, api_name="ingest_status",
            api_visibility="undocumented", concurrency_limit=None, concurrency_id="ingest-status",
        )
        delete_btn.click(delete, [to_delete], corpus_out, concurrency_limit=1, concurrency_id="kb-write", **private)
        refresh_btn.click(refresh, None, corpus_out, **private)
        app.load(refresh, None, corpus_out, **private)

        api_trigger.click(
            api_ask, [api_question, api_history], api_answer, api_name="ask",
            api_description="Answer one question with citations (INTERFACES.md Answer JSON).",
        )
    return app


# =================================================================================================
# serve


def _is_loopback(host: str) -> bool:
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse_auth(entries: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user or not password:
            raise ServeError("ui.auth: each login must look like 'user:password'")
        pairs.append((user, password))
    return pairs


def _url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(settings: Settings) -> int:
    """`qianxian serve`: load the assistant once, serve the app, print its URL, block until interrupted."""
    configure_offline()
    ui = settings.ui
    if not _is_loopback(ui.host) and not ui.auth:
        raise ServeError(
            f"refusing to serve on {ui.host} without a login: set ui.auth (e.g. QIANXIAN_UI__AUTH='[\"user:password\"]') "
            "or bind to 127.0.0.1"
        )
    auth = _parse_auth(ui.auth) or None
    assistant = LoadingAssistant(settings)  # the model loads while Gradio starts; the page is up at once
    app = build_app(assistant)  # type: ignore[arg-type]
    app.queue(default_concurrency_limit=ui.concurrency_limit)
    try:
        app.launch(
            server_name=ui.host, server_port=ui.port or None, auth=auth, show_error=False,
            prevent_thread_lock=True, quiet=True, max_file_size=f"{ui.max_upload_mb}mb",
            footer_links=["api"], ssr_mode=False, mcp_server=False,
        )
    except OSError as exc:
        raise ServeError(f"cannot serve on {ui.host}:{ui.port}: {exc}") from exc
    print(_url(ui.host, app.server_port or ui.port), flush=True)
    try:
        assistant.wait()
    except AssistantError as exc:
        app.close()
        raise ServeError(str(exc)) from exc
    try:
        app.block_thread()  # returns on Ctrl-C (Gradio catches it and closes the server)
    finally:
        app.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - `qianxian serve` is the entry point
    from settings import load_settings

    sys.exit(serve(load_settings()))
