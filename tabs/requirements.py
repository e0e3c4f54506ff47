"""The 要求清单 tab: the requirements checklist extracted at ingest, as a table a team works through.

Filters (document, subject, kind, has a deadline, status) and a search box narrow the table; a row
click opens the passage in the same card the chat's sources panel uses, the requirement's text
highlighted; a status (未开始/进行中/已完成/不适用) and a note are saved through
`ingest.requirements.set_status` (SQLite in the data dir); the filtered view exports to CSV and XLSX.
Every rule lives in `ingest/requirements.py`; this module only lays out and converts.

Undocumented endpoints (tests and scripts call them): `/requirements` (filter), `/requirement`
(open one by id), `/requirement_status`, `/requirements_csv`, `/requirements_xlsx`.
"""

from __future__ import annotations

import html
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ingest import requirements as rq
from tabs.render import highlighted, md_escape, source_card
from tabs.state import AppState

TABLE_HEADERS = ["文档", "章节", "主体", "类型", "期限/指标", "要求原文", "状态", "备注", "编号"]
ID_COLUMN = TABLE_HEADERS.index("编号")
TEXT_COLUMN = TABLE_HEADERS.index("要求原文")
SHORT_ID = 8  # the table shows an id's first characters (the exports carry it whole)
ORPHAN_HEADERS = ["文档", "章节", "状态", "备注", "要求原文", "设置时间"]
ALL = ""  # a filter dropdown's 「全部」
KIND_CHOICES = [("全部类型", ALL), *((label, kind) for kind, label in rq.KIND_LABELS.items())]
STATUS_CHOICES = [("全部状态", ALL), *((s, s) for s in rq.STATUSES)]
EMPTY_CARD = '<div class="sources-empty">点击表格中的一行，这里会显示该要求所在的原文段落（要求原文高亮）。</div>'
UNDOCUMENTED = {"api_visibility": "undocumented"}
PRIVATE = {"api_visibility": "private"}


def filters_from(doc: str | None, subject: str | None, kind: str | None, has_deadline: bool | None,
                 status: str | None, search: str | None) -> rq.Filters:
    """The tab's filter controls as the checklist's Filters (an empty control filters nothing)."""
    return rq.Filters(doc=doc or None, subject=(subject or "").strip() or None, kind=kind or None,
                      has_deadline=bool(has_deadline), search=(search or "").strip() or None, status=status or None)


def _limits(req: rq.Requirement) -> str:
    return " · ".join(x for x in (req.deadline, req.figure) if x)


def table_rows(reqs: list[rq.Requirement]) -> list[list[Any]]:
    return [[r.title or r.doc, r.section_path, r.subject or "", rq.KIND_LABELS[r.kind], _limits(r), r.text,
             r.status, r.note, r.id[:SHORT_ID]] for r in reqs]


def orphan_rows(orphans: list[rq.OrphanedStatus]) -> list[list[Any]]:
    return [[o.title or o.doc, o.section_path, o.status, o.note, o.text,
             time.strftime("%Y-%m-%d %H:%M", time.localtime(o.updated_at))] for o in orphans]


def progress_markdown(progress: list[rq.DocumentProgress], orphans: int) -> str:
    """「已完成 12 / 47」 per document, all documents first; orphaned statuses counted apart."""
    if not progress:
        return "尚无要求清单：文档入库后会自动提取其中的义务、禁止、目标与期限。"
    done, total = sum(p.done for p in progress), sum(p.total for p in progress)
    lines = [f"**进度：已完成 {done} / {total}**（{len(progress)} 个文档）", ""]
    for p in progress:
        rest = " · ".join(f"{s} {p.counts[s]}" for s in ("进行中", "不适用") if p.counts.get(s))
        lines.append(f"- {p.label}{'（' + rest + '）' if rest else ''} — {md_escape(p.title or p.doc)}")
    if orphans:
        lines += ["", f"⚠ {orphans} 条状态已失效（原文档已更改或删除），见页面下方。"]
    return "\n".join(lines)


def requirement_card(req: rq.Requirement, passage: str | None) -> str:
    """The sources card of one requirement: its chunk with the requirement's text in <mark>."""
    text = passage if passage is not None else req.text
    facts = [f"主体：{req.subject}" if req.subject else "", f"期限：{req.deadline}" if req.deadline else "",
             f"指标：{req.figure}" if req.figure else ""]
    card = source_card(
        card_id="requirement-card", label=rq.KIND_LABELS[req.kind], title=req.title or req.doc,
        doc=html.escape(req.doc), meta=[req.wenhao or "", req.section_path, f"第 {req.page} 页" if req.page else "",
                                        *facts],
        passage_html=highlighted(text, rq.text_spans(text, req.text)), classes="highlight",
        attrs=f' data-id="{html.escape(req.id, quote=True)}"',
    )
    return f'<div class="sources-list"><div class="sources-title">要求所在原文</div>{card}</div>'


def export_path(suffix: str) -> Path:
    """A fresh file for one download (Gradio serves it from its cache, then it may go)."""
    folder = Path(tempfile.mkdtemp(prefix="qianxian-export-"))
    return folder / f"要求清单-{time.strftime('%Y%m%d-%H%M%S')}.{suffix}"


@dataclass
class View:
    """Everything the table area shows for one set of filters."""

    rows: list[list[Any]]
    count: str
    progress: str
    orphans: list[list[Any]]


def _view(state: AppState, filters: rq.Filters) -> View:
    settings = state.settings
    if not settings.requirements.extract:
        return View([], "要求清单未启用（设置 requirements.extract）。", "", [])
    try:
        reqs = rq.list_requirements(settings, filters)
        total = len(rq.list_requirements(settings))
        progress = rq.progress_by_document(settings)
        orphans = rq.orphaned_statuses(settings)
    except rq.RequirementsError:  # no checklist yet: nothing ingested in this data dir
        return View([], "共 0 条要求。", progress_markdown([], 0), [])
    count = f"共 {total} 条要求，当前筛选 **{len(reqs)}** 条。" if len(reqs) != total else f"共 **{total}** 条要求。"
    return View(table_rows(reqs), count, progress_markdown(progress, len(orphans)), orphan_rows(orphans))


def build(app: gr.Blocks, state: AppState, kb_changed: gr.State) -> None:
    """The tab's layout and events; call inside `gr.Tab` of `app`."""

    def doc_choices() -> list[tuple[str, str]]:
        try:
            progress = rq.progress_by_document(state.settings)
        except rq.RequirementsError:
            progress = []
        return [("全部文档", ALL), *((f"{p.title or p.doc}（{p.total}）", p.doc) for p in progress)]

    def subject_choices() -> list[str]:
        try:
            return [ALL, *rq.common_subjects(rq.list_requirements(state.settings))]
        except rq.RequirementsError:
            return [ALL]

    def show(*controls: Any) -> tuple[Any, ...]:
        view = _view(state, filters_from(*controls))
        return view.rows, view.count, view.progress, view.orphans

    def reload(doc: str | None, *controls: Any) -> tuple[Any, ...]:
        """After an ingest or a delete: the documents may have changed, so the choices too."""
        choices = doc_choices()
        doc = doc if doc in {value for _, value in choices} else ALL
        return (gr.update(choices=choices, value=doc), gr.update(choices=subject_choices()),
                *show(doc, *controls))

    def open_requirement(req_id: str | None) -> tuple[Any, ...]:
        if not req_id:
            return "", EMPTY_CARD, gr.update(value=rq.DEFAULT_STATUS), ""
        try:
            req = rq.get_requirement(state.settings, req_id)
        except rq.RequirementsError:
            return "", '<div class="sources-empty">该要求已不在清单中（文档可能已更改或删除）。</div>', gr.skip(), gr.skip()
        chunks = state.assistant().kb.chunks([req.chunk_id]) if state.ready else []
        passage = chunks[0].text if chunks else None
        return req.id, requirement_card(req, passage), req.status, req.note

    def on_select(evt: gr.SelectData) -> tuple[Any, ...]:
        """A clicked row (its values, so sorting in the page does not matter) opened by its short id."""
        row = evt.row_value or []
        if len(row) <= ID_COLUMN:
            return open_requirement(None)
        try:
            found = [r.id for r in rq.list_requirements(state.settings)
                     if r.id.startswith(str(row[ID_COLUMN])) and r.text == row[TEXT_COLUMN]]
        except rq.RequirementsError:
            found = []
        return open_requirement(found[0] if found else None)

    def save(req_id: str | None, status: str, note: str | None, *controls: Any) -> tuple[Any, ...]:
        if not req_id:
            return ("请先在表格中点击一条要求。", *(gr.skip(),) * 4)
        try:
            req = rq.set_status(state.settings, req_id, status, note or "")
        except rq.RequirementsError as exc:
            return (f"✖ 保存失败：{md_escape(str(exc))}", *(gr.skip(),) * 4)
        saved = f"✔ 已保存：{req.status}" + (f"（备注：{md_escape(req.note)}）" if req.note else "")
        return (saved, *show(*controls))

    def export(kind: str, *controls: Any) -> str:
        try:
            reqs = rq.list_requirements(state.settings, filters_from(*controls))
        except rq.RequirementsError as exc:
            raise gr.Error(str(exc)) from None
        path = export_path(kind)
        if kind == "csv":
            rq.export_csv(reqs, path)
        else:
            rq.export_xlsx(reqs, path)
        return str(path)

    first = _view(state, rq.Filters())
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            with gr.Row():
                doc = gr.Dropdown(doc_choices(), value=ALL, label="文档（可输入名称的一部分）", allow_custom_value=True, scale=3,
                                  elem_id="req-doc")
                subject = gr.Dropdown(subject_choices(), value=ALL, label="主体（可输入）", allow_custom_value=True,
                                      scale=2, elem_id="req-subject")
                kind = gr.Dropdown(KIND_CHOICES, value=ALL, label="类型", scale=1, min_width=130, elem_id="req-kind")
                status = gr.Dropdown(STATUS_CHOICES, value=ALL, label="状态", scale=1, min_width=130,
                                     elem_id="req-status")
            with gr.Row(equal_height=True):
                search = gr.Textbox(placeholder="搜索要求原文、章节、主体或备注（空格分隔多个词），按回车", show_label=False,
                                    scale=4, elem_id="req-search")
                has_deadline = gr.Checkbox(label="只看有期限的", scale=1, min_width=150, elem_id="req-has-deadline")
                apply_btn = gr.Button("筛选", variant="primary", scale=1, min_width=80, elem_id="req-apply")
            count = gr.Markdown(first.count, elem_id="req-count")
            table = gr.Dataframe(
                first.rows, headers=TABLE_HEADERS, interactive=False, wrap=True, elem_id="requirements-table",
                column_count=len(TABLE_HEADERS), max_height=620, show_label=False,
                column_widths=["11%", "13%", "11%", "6%", "8%", "31%", "6%", "8%", "6%"],
            )
            with gr.Row():
                csv_btn = gr.Button("导出 CSV（当前筛选）", elem_id="req-export-csv")
                xlsx_btn = gr.Button("导出 XLSX（当前筛选）", elem_id="req-export-xlsx")
            download = gr.File(label="导出文件", interactive=False, height=70, elem_id="req-download")
        with gr.Column(scale=1):
            progress = gr.Markdown(first.progress, elem_id="requirements-progress")
            card = gr.HTML(EMPTY_CARD, elem_id="requirement-passage", padding=True)
            req_id = gr.Textbox(visible=False, label="requirement id")
            new_status = gr.Radio(list(rq.STATUSES), value=rq.DEFAULT_STATUS, label="状态", elem_id="req-new-status")
            note = gr.Textbox(label="备注", placeholder="例如：负责人、完成情况、证明材料位置", lines=2, elem_id="req-note")
            save_btn = gr.Button("保存状态与备注", variant="primary", elem_id="req-save")
            saved = gr.Markdown(elem_id="req-saved")
    orphans = gr.Dataframe(
        first.orphans, headers=ORPHAN_HEADERS, interactive=False, wrap=True, column_count=len(ORPHAN_HEADERS),
        label="已失效的状态（原文档已更改或删除；保留以免丢失）", elem_id="requirements-orphaned",
    )

    controls = [doc, subject, kind, has_deadline, status, search]
    shown = [table, count, progress, orphans]
    gr.on([apply_btn.click, search.submit], show, controls, shown, api_name="requirements", **UNDOCUMENTED)
    for control in (doc, subject, kind, has_deadline, status):
        control.change(show, controls, shown, **PRIVATE)
    table.select(on_select, None, [req_id, card, new_status, note], **PRIVATE)
    open_trigger = gr.Button(visible=False)
    open_trigger.click(open_requirement, [req_id], [req_id, card, new_status, note], api_name="requirement",
                       **UNDOCUMENTED)
    save_btn.click(save, [req_id, new_status, note, *controls], [saved, *shown], api_name="requirement_status",
                   concurrency_limit=1, concurrency_id="requirements-write", **UNDOCUMENTED)
    csv_btn.click(lambda *c: export("csv", *c), controls, download, api_name="requirements_csv", **UNDOCUMENTED)
    xlsx_btn.click(lambda *c: export("xlsx", *c), controls, download, api_name="requirements_xlsx", **UNDOCUMENTED)
    kb_changed.change(reload, controls, [doc, subject, *shown], **PRIVATE)
    app.load(reload, controls, [doc, subject, *shown], **PRIVATE)
