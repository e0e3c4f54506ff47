"""The 文档管理 tab: upload (stored and queued, ingested in the background), the queue's progress,
the documents in the knowledge base, recent ingest errors, and delete.

`/upload` and `/ingest_status` are callable but undocumented (tests and scripts upload through
them). `kb_changed` (a gr.State) takes a new value whenever a batch finished or a document was
deleted, so other tabs (the requirements checklist) refresh on its change event.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import Assistant
from ingest.requirements import sync_requirements
from ingest.uploads import is_uploaded, remove_upload
from tabs.render import md_escape
from tabs.state import AppState
from tabs.upload_jobs import IngestJobs, upload_report

log = logging.getLogger("qianxian.ui")

CORPUS_HEADERS = ["标题", "文号", "日期", "页数", "段落数", "状态", "文件名"]
FAILURE_HEADERS = ["时间", "文件", "原因"]
PRIVATE = {"api_visibility": "private"}


def document_names(assistant: Assistant) -> list[str]:
    return sorted({n for d in assistant.documents() for n in d.names})


def corpus_rows(assistant: Assistant) -> list[list[Any]]:
    rows = []
    for d in sorted(assistant.documents(), key=lambda d: (d.date or "", d.title), reverse=True):
        uploaded = any(is_uploaded(assistant.settings, n) for n in d.names)
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
    """Remove a document name from the knowledge base (and its uploaded copy, if it was an upload).

    The requirements checklist is synced at once (as an ingest does at its end), so the deleted
    document's rows leave the checklist now and their statuses are listed as orphaned."""
    if not name:
        return "请先选择要删除的文档。"
    removed = assistant.remove_document(name)
    remove_upload(assistant.settings, name)
    if assistant.settings.requirements.extract:
        with assistant.kb.writer():
            sync_requirements(assistant.kb)
    if removed:
        return f"已删除：{name}"
    return f"未找到文档：{name}"


@dataclass
class DocumentsTab:
    jobs: IngestJobs


def build(
    app: gr.Blocks, state: AppState, names: list[str], doc_filter: gr.Dropdown, kb_changed: gr.State
) -> DocumentsTab:
    """The tab's layout and events; call inside `gr.Tab` of `app`. `doc_filter` is the chat's document scope."""
    settings = state.settings
    jobs = IngestJobs(state)

    def corpus_outputs(note: str | None = None, reset_filter: bool = False) -> tuple[Any, ...]:
        assistant = state.assistant()
        names = document_names(assistant)
        return (
            note if note is not None else gr.skip(),
            corpus_rows(assistant),
            failure_rows(assistant),
            gr.update(choices=names, value=[]) if reset_filter else gr.update(choices=names),
            gr.update(choices=names, value=None),
        )

    def upload(files: list[Any] | None) -> tuple[Any, ...]:
        """Store the files and queue them: the ingest runs in the background (IngestJobs)."""
        if not files:
            return corpus_outputs(upload_report([]))
        try:
            jobs.submit(files)
            note = jobs.status().markdown()
        except Exception as exc:
            log.exception("upload failed")
            note = f"✖ 上传失败：{md_escape(str(exc))}"
        return corpus_outputs(note)

    def poll(seen: int | None) -> tuple[Any, ...]:
        """The timer's refresh of the documents tab: nothing is sent while the queue is unchanged (or
        the assistant is still loading: the page-load refresh fills the tab then)."""
        status = jobs.status()
        if status.version == seen or not state.ready:
            return (gr.skip(),) * 7
        assistant = state.assistant()
        names = document_names(assistant)
        return (status.markdown(), corpus_rows(assistant), failure_rows(assistant), gr.update(choices=names),
                gr.update(choices=names), status.version, status.finished)

    def delete(name: str | None) -> tuple[Any, ...]:
        try:
            note = delete_document(state.assistant(), name)
        except Exception as exc:
            log.exception("delete failed")
            note = f"✖ 删除失败：{exc}"
        # a deleted name must not stay selected
        return (*corpus_outputs(md_escape(note), reset_filter=True), f"deleted:{time.monotonic()}")

    def refresh() -> tuple[Any, ...]:
        return corpus_outputs("")

    ready = state.ready
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
        corpus_rows(state.assistant()) if ready else [], headers=CORPUS_HEADERS, label="知识库中的文档",
        interactive=False, wrap=True, elem_id="corpus-table", column_count=len(CORPUS_HEADERS),
        column_widths=["30%", "13%", "10%", "6%", "7%", "11%", "23%"],
    )
    with gr.Row():
        to_delete = gr.Dropdown(names, value=None, label="选择要删除的文档（按文件名）", scale=3)
        delete_btn = gr.Button("删除", variant="stop", scale=1, elem_id="delete-button")
    failures = gr.Dataframe(
        failure_rows(state.assistant()) if ready else [], headers=FAILURE_HEADERS, label="最近的入库错误与警告",
        interactive=False, wrap=True, column_count=len(FAILURE_HEADERS),
    )
    api_status = gr.JSON(visible=False, label="ingest status")
    api_status_trigger = gr.Button(visible=False)

    corpus_out = [upload_note, corpus, failures, doc_filter, to_delete]
    upload_btn.click(
        upload, [files], corpus_out, api_name="upload", api_visibility="undocumented",
        concurrency_limit=1, concurrency_id="kb-upload",
    ).then(lambda: None, None, files, queue=False, **PRIVATE)
    # never queued behind answers: the refresh is cheap and skips when nothing changed
    ticker.tick(poll, [seen_version], [*corpus_out, seen_version, kb_changed], concurrency_limit=None,
                concurrency_id="ingest-status", **PRIVATE)
    api_status_trigger.click(
        lambda: jobs.status().to_json(), None, api_status, api_name="ingest_status",
        api_visibility="undocumented", concurrency_limit=None, concurrency_id="ingest-status",
    )
    delete_btn.click(delete, [to_delete], [*corpus_out, kb_changed], concurrency_limit=1, concurrency_id="kb-write",
                     **PRIVATE)
    refresh_btn.click(refresh, None, corpus_out, **PRIVATE)
    app.load(refresh, None, corpus_out, **PRIVATE)
    return DocumentsTab(jobs)
