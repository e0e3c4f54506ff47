"""The 问答 tab: the streamed chat with clickable citations, its settings, the sources panel, and the
handler behind the `/ask` API (INTERFACES.md).

Citation clicks: answer markers are rendered as ``<a class="cite" data-n="N" href="#source-card-N">``
(the chat's HTML sanitizer keeps class and href but drops data-*, so the handler reads N from the
href). A document-level click handler, installed once by the sources panel's ``js_on_load`` and
running in the capture phase, cancels the navigation, scrolls card ``#source-card-N`` of the sources
panel into view and gives it the ``highlight`` class (removing it from the others).
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from assistant import Answer, AskOptions, Assistant, AssistantError, QuestionError
from tabs.render import CITE_JS, md_escape, render_sources, snippet
from tabs.state import AppState

log = logging.getLogger("qianxian.ui")

GENERATORS = ["extractive", "openai", "llamacpp"]
EXAMPLES = [
    "医疗废物集中处置单位应当符合哪些条件？",
    "医疗废物暂时贮存的时间不得超过多久？",
    "甲类传染病有哪些？",
    "北京和上海的急救条例对救护车用于非急救活动分别怎么处罚？",
    "广西有多少家医院纳入千县工程？",
    "研修班是哪天在哪里举办的？",
]
PRIVATE = {"api_visibility": "private"}


def cite_link(n: int) -> str:
    return f'<a class="cite" data-n="{n}" href="#source-card-{n}" title="查看来源 {n}">[{n}]</a>'


def render_answer_text(answer: Answer) -> str:
    """The chat message for a final Answer: markers become citation links; refusals and errors stand out."""
    if answer.error:
        return f"✖ **生成回答时出错**\n\n{md_escape(answer.error)}\n\n可以在“设置”中换用 extractive 生成器后重试。"
    if answer.refused:
        items = "".join(
            f"<li><b>{html.escape(r.title or r.doc)}</b>：{html.escape(snippet(r.text, 80))}</li>"
            for r in answer.retrieved[:3]
        )
        related = f"<p><b>可能相关的段落：</b></p><ol>{items}</ol>" if items else ""
        return f'<div class="refusal"><p><b>⚠ {html.escape(answer.answer)}</b></p>{related}</div>'
    valid = {c.n for c in answer.citations}
    text = md_escape(answer.answer)
    text = re.sub(r"\\\[(\d{1,3})\\\]", lambda m: cite_link(int(m[1])) if int(m[1]) in valid else m[0], text)
    total = answer.latency_ms.get("total")
    if total is not None:
        text += f'\n\n<span class="answer-meta">用时 {total / 1000:.2f} 秒 · 生成器 {html.escape(answer.generator)}</span>'
    return text


def _retrieved_thought(retrieved: list[Any], top_k: int) -> str:
    lines = []
    for r in retrieved[:top_k]:
        lines.append(f"{r.rank}. **{md_escape(r.title or r.doc)}**（得分 {r.score:.3f}）：{md_escape(snippet(r.text, 60))}")
    return "\n".join(lines) or "没有检索到段落。"


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
    chat.append({"role": "user", "content": md_escape(question)})
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
                    "role": "assistant", "content": f"结合上文，问题改写为：{md_escape(event.text)}",
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
                    reply["content"] = md_escape("".join(pieces)) + " ▌"
            elif event.kind == "answer":
                final = event.answer
            yield chat, history, gr.skip(), ""
    except QuestionError as exc:  # the user's input: say what is wrong, no traceback in the log
        step["metadata"] = {"title": "检索", "status": "done"}
        step["content"] = "未开始。"
        chat.append({"role": "assistant", "content": f"✖ {md_escape(str(exc))}"})
        yield chat, history, render_sources(None), ""
        return
    except Exception as exc:  # never a traceback in the chat; the app keeps running
        log.exception("answering %r failed", question)
        if step["metadata"].get("status") == "pending":
            step["metadata"] = {"title": "检索", "status": "done"}
            step["content"] = "未完成。"
        text = f"✖ **出错了**：{md_escape(str(exc) or exc.__class__.__name__)}\n\n请稍后重试，或在“设置”中换用 extractive 生成器。"
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


def options_text(generator: str, top_k: int, docs: list[str] | None) -> str:
    scope = "、".join(docs) if docs else "全部文档"
    return f"**当前设置：** 生成器 `{generator}` · top-k {int(top_k)} · 范围：{md_escape(scope)}"


def clean_history(history: Any) -> list[dict[str, str]] | list[str] | None:
    """The API's history as the assistant takes it; anything else is one readable error."""
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


@dataclass
class ChatTab:
    doc_filter: gr.Dropdown  # the documents tab keeps its choices current


def build(state: AppState, names: list[str]) -> ChatTab:
    """The tab's layout and events; call inside `gr.Tab`."""
    settings = state.settings
    default_gen = settings.answer.generator
    default_k = settings.retrieval.top_k

    def respond(message: str, chat: list, history: list, generator: str, top_k: float, docs: list[str] | None
                ) -> Iterator[tuple[Any, ...]]:
        yield from chat_stream(state.assistant(), message, chat, history, generator, top_k, docs)

    def new_chat() -> tuple[Any, ...]:
        return [], [], render_sources(None), ""

    history = gr.State([])
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
            active = gr.Markdown(options_text(default_gen, default_k, None), elem_id="active-settings")
            sources = gr.HTML(
                render_sources(None), label="来源", elem_id="sources-panel", js_on_load=CITE_JS, padding=True,
            )

    chat_io = dict(
        fn=respond, inputs=[msg, chatbot, history, generator, top_k, doc_filter],
        outputs=[chatbot, history, sources, msg], show_progress="hidden", **PRIVATE,
    )
    msg.submit(**chat_io)
    send.click(**chat_io)
    clear.click(new_chat, None, [chatbot, history, sources, msg], queue=False, **PRIVATE)
    chatbot.clear(new_chat, None, [chatbot, history, sources, msg], queue=False, **PRIVATE)
    for control in (generator, top_k, doc_filter):
        control.change(options_text, [generator, top_k, doc_filter], active, queue=False, **PRIVATE)
    return ChatTab(doc_filter)


def add_ask_api(state: AppState) -> None:
    """The hidden components behind `/ask`, exactly as INTERFACES.md describes it."""

    def api_ask(question: str, history: Any) -> dict[str, Any]:
        if not isinstance(question, str) or not question.strip():
            raise gr.Error("问题不能为空。")
        try:
            return state.assistant().ask(question.strip(), clean_history(history)).to_json()
        except AssistantError as exc:
            raise gr.Error(str(exc)) from None

    api_question = gr.Textbox(visible=False, label="question")
    api_history = gr.JSON(visible=False, label="history")
    api_answer = gr.JSON(visible=False, label="answer")
    api_trigger = gr.Button(visible=False)
    api_trigger.click(
        api_ask, [api_question, api_history], api_answer, api_name="ask",
        api_description="Answer one question with citations (INTERFACES.md Answer JSON).",
    )
