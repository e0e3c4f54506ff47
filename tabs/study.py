"""The 学习 tab: practice items generated from the stored documents, one at a time, every answer cited.

A trainee gives a name (or is the auth user), picks documents, a section, a count and item types,
and answers one item at a time: 「提交」 shows ✓/✗ with the explanation and the cited passage (the
chat's sources card, the answer highlighted), 「下一题」 moves on; at the end come the score, a review
of the mistakes and 「再练错题」 (a session of just those items). Every answer is recorded for the
user (`study.progress.record`), and the next session draws weak sections more often
(`study.progress.weigher`). Every rule lives in `study/`; this module only lays out and converts.

The item pool is built on the first 「开始练习」, never at app build (start-up stays fast), and kept
by the app while the stored documents are unchanged (`PoolCache`). A browser session's practice is
its own gr.State.

Undocumented endpoints (tests and scripts call them): `/study_start` (name, documents, section, n,
types), `/study_submit` (the 对/错 radio, the choice radio, the cloze text), `/study_next`,
`/study_retry`; each returns the tab's whole view.
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from assistant import Assistant, AssistantError
from ingest.knowledge_base import DocumentRecord
from settings import Settings
from study import items as study_items
from study import phrasing, progress
from study.items import ITEM_TYPES, Item, StudyError
from tabs.render import highlighted, md_escape, source_card
from tabs.state import AppState

log = logging.getLogger("qianxian.ui")

TYPE_LABELS = {"cloze": "填空", "tf": "判断", "mc": "选择"}
TYPE_CHOICES = [(TYPE_LABELS[t], t) for t in ITEM_TYPES]
TF_CHOICES = ["对", "错"]
LETTERS = "ABCDEFGH"
NAME_LABEL = "姓名（学习进度按姓名保存）"
EMPTY_KB = "知识库中还没有文档：请先在「文档管理」中上传文档，或用 `qianxian ingest` 入库。"
NO_RESPONSE = "请先作答，再点击「提交」。"
NO_SESSION = "请先点击「开始练习」。"
SUMMARY_EMPTY = "填写姓名后开始练习，这里会显示你的学习进度（正确率、薄弱章节）。"
WEAK_SECTIONS_SHOWN = 5
UNDOCUMENTED = {"api_visibility": "undocumented"}
PRIVATE = {"api_visibility": "private"}

CSS = """
#study-item { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 12px 14px;
  background: var(--background-fill-secondary); }
.study-progress { font-size: .85em; color: var(--body-text-color-subdued); margin-bottom: 6px; }
.study-prompt { font-size: 1.08em; line-height: 1.7; white-space: pre-wrap; }
.study-verdict { font-weight: 600; font-size: 1.05em; margin: 4px 0 6px; }
.study-verdict.right { color: #047857; }
.study-verdict.wrong { color: #b91c1c; }
.study-explanation { margin: 4px 0 8px; line-height: 1.6; }
.study-review-item { border-top: 1px solid var(--border-color-primary); padding-top: 10px; margin-top: 10px; }
.study-review-item .study-answers { margin: 4px 0 8px; line-height: 1.7; }
#study-summary { font-size: .9em; }
"""


# =================================================================================================
# what the tab holds


class PoolCache:
    """The app's item pool: built on the first session, rebuilt when the stored documents change.

    Shared by every browser session (the pool is the same for all users; only the draw and the
    progress are per user); one lock, so two first sessions do not build it twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._pool: list[Item] = []

    def get(self, settings: Settings, documents: Sequence[DocumentRecord]) -> list[Item]:
        key = tuple(sorted((d.doc_id, tuple(d.names)) for d in documents))
        with self._lock:
            if key != self._key:
                self._pool = study_items.item_pool(settings)
                self._key = key
            return self._pool


class Rewording:
    """The LLM client that rewords drawn items (study/phrasing.py), built on the first session that
    wants it (llama-index is imported only then), with study.rephrase_timeout_s as its timeout."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._complete: Callable[[str], str] | None = None

    def complete(self) -> tuple[Callable[[str], str] | None, str]:
        """The completion callable (None: no rewording), and one line when it cannot be built."""
        settings = self._settings
        if not phrasing.wanted(settings):
            return None, ""
        with self._lock:
            if self._complete is None:
                try:
                    from assistant.generators import OpenAIGenerator

                    cfg = phrasing.client_settings(settings)
                    self._complete = OpenAIGenerator(cfg, settings.answer.refusal_sentence).complete
                except Exception as exc:  # a missing package or endpoint: the items stay as generated
                    return None, f"题目改写未启用：{exc}"
            return self._complete, ""


@dataclass
class Attempt:
    item: Item
    response: str
    correct: bool


@dataclass
class Session:
    """One practice session of one browser session: the drawn items, the current one, the answers."""

    user: str
    items: list[Item]
    attempts: list[Attempt] = field(default_factory=list)
    current: int = 0
    note: str = ""  # one line about the drawing (the LLM's rewording failed or ran out of time)

    @property
    def finished(self) -> bool:
        return self.current >= len(self.items)

    @property
    def answered(self) -> bool:
        """The current item has been answered (its feedback is showing)."""
        return len(self.attempts) > self.current

    @property
    def item(self) -> Item | None:
        return None if self.finished else self.items[self.current]

    @property
    def missed(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.correct]

    @property
    def score(self) -> int:
        return sum(a.correct for a in self.attempts)


# =================================================================================================
# conversion between the controls and study/


def document_choices(documents: Sequence[DocumentRecord]) -> list[tuple[str, str]]:
    """(title, name) per stored document, by title; a title two documents share names the file too."""
    labelled = [(d.title or d.names[0], d.names[0]) for d in documents if d.names]
    titles = [t for t, _ in labelled]
    return sorted((t if titles.count(t) == 1 else f"{t}（{n}）", n) for t, n in labelled)


def user_of(name: str | None, auth_user: str | None) -> str:
    """The auth user when auth is on (the name box is then theirs), else the typed name."""
    return progress.check_user(auth_user or name or "")


def count_of(n: float | int | str | None) -> int | None:
    """The count box as an int (empty: the configured default); the bounds are study's rule."""
    if n is None or (isinstance(n, str) and not n.strip()):
        return None
    try:
        return int(float(n))
    except ValueError:
        raise StudyError(f"题目数量应为整数：{n}") from None


def start_session(
    settings: Settings, pools: PoolCache, assistant: Assistant, user: str, docs: Sequence[str] | None,
    section: str | None, n: float | int | str | None, types: Sequence[str] | None,
    only_ids: Collection[str] | None = None, complete: Callable[[str], str] | None = None,
) -> Session:
    """Draw a session for `user`: stale progress pruned first, weak sections weighed up; with `complete`
    (the configured LLM), the items reworded where study/phrasing.py's checks allow."""
    documents = assistant.documents()
    if not documents:
        raise StudyError(EMPTY_KB)
    pool = pools.get(settings, documents)
    drawn = progress.draw(
        settings, user, pool, docs=list(docs) if docs else None, section=(section or "").strip() or None,
        n=count_of(n), types=list(types) if types is not None else ITEM_TYPES, only_ids=only_ids,
    )
    if complete is None:
        return Session(user=user, items=list(drawn))
    result = phrasing.rephrase(drawn, settings, complete)
    return Session(user=user, items=result.items, note=result.message)


def response_of(item: Item, tf: str | None, mc: str | None, cloze: str | None) -> str:
    """The control that belongs to the item's type, as the text is_correct reads."""
    value = {"tf": tf, "mc": mc, "cloze": cloze}[item.type]
    return (value or "").strip()


def answer(settings: Settings, session: Session, response: str) -> Attempt:
    """Check and record the current item's answer (once: a second 提交 returns the first attempt)."""
    if session.answered:
        return session.attempts[session.current]
    item = session.items[session.current]
    correct = study_items.is_correct(item, response)
    progress.record(settings, session.user, item, correct, response)
    attempt = Attempt(item, response, correct)
    session.attempts.append(attempt)
    return attempt


# =================================================================================================
# rendering


def answer_text(item: Item, value: str | bool) -> str:
    """An answer as the trainee sees it: 对/错, 「B. choice」, or the cloze text."""
    if item.type == "tf":
        if isinstance(value, bool):
            return "对" if value else "错"
        return str(value)
    if item.type == "mc" and item.choices and value in item.choices:
        return f"{LETTERS[item.choices.index(value)]}. {value}"
    return str(value)


def mc_choices(item: Item) -> list[tuple[str, str]]:
    return [(f"{LETTERS[i]}. {c}", c) for i, c in enumerate(item.choices or ())]


def item_html(session: Session) -> str:
    """The current item's prompt; `data-id` names the item (tests and scripts read it)."""
    item = session.item
    if item is None:
        return ""
    head = f"第 {session.current + 1} / {len(session.items)} 题 · {TYPE_LABELS[item.type]}题"
    return (f'<div id="study-item" data-id="{html.escape(item.id, quote=True)}" data-type="{item.type}">'
            f'<div class="study-progress">{head}</div>'
            f'<div class="study-prompt">{html.escape(item.prompt)}</div></div>')


def source_html(item: Item, card_id: str) -> str:
    """The cited passage in the sources card, the answer (ItemSource.span) highlighted."""
    src = item.source
    return source_card(
        card_id=card_id, label="出处", title=src.title or src.doc, doc=html.escape(src.doc),
        meta=[src.section_path, f"第 {src.page} 页" if src.page else ""],
        passage_html=highlighted(src.passage, [src.span]), classes="highlight",
        attrs=f' data-id="{html.escape(item.id, quote=True)}"',
    )


def verdict_html(attempt: Attempt) -> str:
    if attempt.correct:
        return '<div class="study-verdict right">✓ 回答正确</div>'
    right = html.escape(answer_text(attempt.item, attempt.item.answer))
    return f'<div class="study-verdict wrong">✗ 回答错误，正确答案：{right}</div>'


def feedback_html(attempt: Attempt) -> str:
    explanation = attempt.item.explanation
    return (f'<div id="study-feedback-body">{verdict_html(attempt)}'
            + (f'<div class="study-explanation">{html.escape(explanation)}</div>' if explanation else "")
            + f'<div class="sources-list"><div class="sources-title">出处原文</div>'
            f'{source_html(attempt.item, "study-source")}</div></div>')


def score_markdown(session: Session) -> str:
    total, missed = len(session.attempts), len(session.missed)
    tail = "全部答对！" if not missed else f"答错 {missed} 题，回顾见下方；点击「再练错题」只练这些题。"
    return f"### 得分 {session.score} / {total}\n{tail}"


def review_html(session: Session) -> str:
    """Each mistake: the prompt, the trainee's answer, the correct answer, the cited passage."""
    if not session.missed:
        return ""
    parts = []
    for k, a in enumerate(session.missed, 1):
        item = a.item
        parts.append(
            f'<div class="study-review-item" data-id="{html.escape(item.id, quote=True)}">'
            f'<div class="study-progress">错题 {k} · {TYPE_LABELS[item.type]}题</div>'
            f'<div class="study-prompt">{html.escape(item.prompt)}</div>'
            f'<div class="study-answers">你的答案：{html.escape(answer_text(item, a.response) or "（未作答）")}<br>'
            f'正确答案：<b>{html.escape(answer_text(item, item.answer))}</b></div>'
            + (f'<div class="study-explanation">{html.escape(item.explanation)}</div>' if item.explanation else "")
            + source_html(item, f"study-review-card-{k}") + "</div>"
        )
    return f'<div class="sources-list" id="study-review-list"><div class="sources-title">错题回顾（{len(parts)}）</div>{"".join(parts)}</div>'


def summary_markdown(settings: Settings, user: str | None) -> str:
    """The user's progress: attempts, accuracy, the weakest sections."""
    if not user:
        return SUMMARY_EMPTY
    try:
        s = progress.summary(settings, user)
    except StudyError as exc:  # an unreadable study.sqlite: one line in the progress panel
        return f"✖ {md_escape(str(exc))}"
    lines = [f"**{md_escape(user)}** 的学习进度：{s.label}。"]
    weak = [sec for sec in s.sections if sec.correct < sec.attempts][:WEAK_SECTIONS_SHOWN]
    if weak:
        lines += ["", "薄弱章节（下次练习会多出这些章节的题）："]
        lines += [f"- {md_escape(sec.title or sec.doc)} · {md_escape(sec.section_path or '全文')}："
                  f"答对 {sec.correct} / {sec.attempts}" for sec in weak]
    return "\n".join(lines)


# =================================================================================================
# the tab


def build(app: gr.Blocks, state: AppState, kb_changed: gr.State) -> None:
    """The tab's layout and events; call inside `gr.Tab` of `app`."""
    settings = state.settings
    pools = PoolCache()
    rewording = Rewording(settings)

    def view(session: Session | None, message: str = "") -> tuple[Any, ...]:
        """Every output of the tab's events, for the session's current state."""
        note = f"✖ {md_escape(message)}" if message else ""
        summary = summary_markdown(settings, session.user) if session else gr.skip()
        if session is None:
            return (None, note, gr.update(visible=False), "", gr.update(), gr.update(), gr.update(), gr.update(),
                    "", gr.update(), gr.update(visible=False), "", "", gr.update(), summary)
        if session.finished:
            return (session, note, gr.update(visible=False), "", gr.update(visible=False), gr.update(visible=False),
                    gr.update(visible=False), gr.update(visible=False), "", gr.update(visible=False),
                    gr.update(visible=True), score_markdown(session), review_html(session),
                    gr.update(visible=bool(session.missed)), summary)
        item = session.item
        assert item is not None
        done = session.answered
        last = session.current == len(session.items) - 1
        fresh = {} if done else {"value": None}
        return (
            session, note, gr.update(visible=True), item_html(session),
            gr.update(visible=item.type == "tf", interactive=not done, **fresh),
            gr.update(visible=item.type == "mc", interactive=not done,
                      **({"choices": mc_choices(item), "value": None} if not done else {})),
            gr.update(visible=item.type == "cloze", interactive=not done, **({"value": ""} if not done else {})),
            gr.update(visible=not done),
            feedback_html(session.attempts[session.current]) if done else "",
            gr.update(visible=done, value="查看得分" if last else "下一题"),
            gr.update(visible=False), "", "", gr.update(visible=False), summary,
        )

    def failed(session: Session | None, message: str) -> tuple[Any, ...]:
        """One line in the tab; the session on screen (if any) stays as it was."""
        return (session, f"✖ {md_escape(message)}", *(gr.skip(),) * 13)

    def begin(name: str | None, docs: list[str] | None, section: str | None, n: Any, types: list[str] | None,
              session: Session | None, only_ids: Collection[str] | None, request: gr.Request | None) -> tuple[Any, ...]:
        try:
            user = user_of(name, getattr(request, "username", None))
            complete, note = rewording.complete()
            fresh = start_session(settings, pools, state.assistant(), user, docs, section, n, types, only_ids,
                                  complete)
        except (StudyError, AssistantError) as exc:
            return failed(session, str(exc))
        except Exception as exc:  # never a traceback in the tab
            log.exception("study session failed to start")
            return failed(session, f"出题失败：{exc}")
        return view(fresh, fresh.note or note)

    def on_start(name: str | None, docs: list[str] | None, section: str | None, n: Any, types: list[str] | None,
                 session: Session | None, request: gr.Request) -> tuple[Any, ...]:
        return begin(name, docs, section, n, types, session, None, request)

    def on_retry(session: Session | None) -> tuple[Any, ...]:
        """A session of just the items this session missed (all types, every document)."""
        if session is None or not session.missed:
            return failed(session, "本次练习没有错题。")
        ids = [a.item.id for a in session.missed]
        return begin(session.user, None, None, len(ids), list(ITEM_TYPES), session, ids, None)

    def on_submit(tf: str | None, mc: str | None, cloze: str | None, session: Session | None) -> tuple[Any, ...]:
        if session is None or session.finished:
            return failed(session, NO_SESSION)
        item = session.item
        assert item is not None
        response = response_of(item, tf, mc, cloze)
        if not response and not session.answered:
            return failed(session, NO_RESPONSE)
        try:
            answer(settings, session, response)
        except Exception as exc:
            log.exception("recording a study answer failed")
            return failed(session, f"保存作答记录失败：{exc}")
        return view(session)

    def on_next(session: Session | None) -> tuple[Any, ...]:
        if session is None:
            return failed(session, NO_SESSION)
        if not session.answered and not session.finished:
            return failed(session, NO_RESPONSE)
        session.current = min(session.current + 1, len(session.items))
        return view(session)

    def on_load(name: str | None, request: gr.Request) -> tuple[Any, ...]:
        """The documents (the assistant may still be loading at build) and, with auth, the user."""
        user = getattr(request, "username", None)
        name_update = gr.update(value=user, interactive=False) if user else gr.update()
        return (gr.update(choices=document_choices(state.assistant().documents())), name_update,
                show_summary(user or name))

    def on_kb_changed(docs: list[str] | None) -> Any:
        """New choices after an ingest or a delete; a selection that no longer names anything is dropped."""
        choices = document_choices(state.assistant().documents())
        kept = [d for d in docs or [] if any(d in value or d in label for label, value in choices)]
        return gr.update(choices=choices, value=kept)

    def show_summary(name: str | None) -> str:
        try:
            return summary_markdown(settings, progress.check_user(name or ""))
        except StudyError:
            return SUMMARY_EMPTY

    study = settings.study
    session = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row():
                name = gr.Textbox(label=NAME_LABEL, placeholder="例如：张三", scale=2, elem_id="study-user", max_lines=1)
                docs = gr.Dropdown(
                    document_choices(state.assistant().documents()) if state.ready else [], value=[],
                    multiselect=True, allow_custom_value=True, label="文档（可多选，可输入名称的一部分；留空 = 全部）",
                    scale=4, elem_id="study-docs",
                )
            with gr.Row():
                section = gr.Textbox(label="章节（包含该文字，可留空）", placeholder="例如：第四章", scale=2,
                                     elem_id="study-section", max_lines=1)
                count = gr.Number(study.default_n, label=f"题目数量（最多 {study.max_n}）", precision=0, scale=1,
                                  min_width=120, elem_id="study-n")
                types = gr.CheckboxGroup(TYPE_CHOICES, value=list(ITEM_TYPES), label="题型", scale=2,
                                         elem_id="study-types")
                start = gr.Button("开始练习", variant="primary", scale=1, min_width=110, elem_id="study-start")
            message = gr.Markdown(elem_id="study-message")
            with gr.Column(visible=False, elem_id="study-quiz") as quiz:
                prompt = gr.HTML(padding=False, elem_id="study-prompt")
                tf = gr.Radio(TF_CHOICES, label="判断正误", elem_id="study-tf")
                mc = gr.Radio([], label="选择正确的一项", elem_id="study-mc")
                cloze = gr.Textbox(label="填写空缺处", placeholder="输入答案后点击「提交」", max_lines=1, elem_id="study-cloze")
                with gr.Row():
                    submit = gr.Button("提交", variant="primary", elem_id="study-submit")
                    next_btn = gr.Button("下一题", visible=False, elem_id="study-next")
                feedback = gr.HTML(padding=False, elem_id="study-feedback")
            with gr.Column(visible=False, elem_id="study-result") as result:
                score = gr.Markdown(elem_id="study-score")
                retry = gr.Button("再练错题", variant="primary", elem_id="study-retry")
                review = gr.HTML(padding=False, elem_id="study-review")
        with gr.Column(scale=1):
            summary = gr.Markdown(SUMMARY_EMPTY, elem_id="study-summary")

    outputs = [session, message, quiz, prompt, tf, mc, cloze, submit, feedback, next_btn, result, score, review,
               retry, summary]
    gr.on([start.click], on_start, [name, docs, section, count, types, session], outputs, api_name="study_start",
          **UNDOCUMENTED)
    gr.on([submit.click, cloze.submit], on_submit, [tf, mc, cloze, session], outputs, api_name="study_submit",
          **UNDOCUMENTED)
    next_btn.click(on_next, [session], outputs, api_name="study_next", **UNDOCUMENTED)
    retry.click(on_retry, [session], outputs, api_name="study_retry", **UNDOCUMENTED)
    gr.on([name.submit, name.blur], show_summary, [name], summary, **PRIVATE)
    kb_changed.change(on_kb_changed, [docs], docs, **PRIVATE)
    app.load(on_load, [name], [docs, name, summary], **PRIVATE)
