"""HTML shared by the tabs: escaping for the chat's markdown, the sources card, highlighted passages.

The chat's sources panel and the requirements tab show a passage the same way (one card: title,
文号/section/page, the document, the passage with what matters in <mark>, text that addresses the
assistant struck through), so a reader recognises the card wherever it appears.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Any

from assistant import Answer, instruction_spans

INSTRUCTION_BADGE = "⚠ 此段含有指令性文字，已作为资料处理"


def md_escape(text: str) -> str:
    """Plain text safe inside the chat's markdown: HTML escaped, markdown emphasis characters neutral."""
    text = html.escape(text, quote=False)
    text = re.sub(r"([\\`*_~|\[\]])", r"\\\1", text)
    return re.sub(r"(?m)^(\s*)([#>+-])", r"\1\\\2", text)


def snippet(text: str, n: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n else text[:n] + "…"


def _valid_spans(passage: str, spans: Iterable[Any]) -> list[tuple[int, int]]:
    return [(int(s[0]), int(s[1])) for s in spans
            if s and len(s) == 2 and 0 <= s[0] < s[1] <= len(passage)]


def highlighted(passage: str, spans: Iterable[Any] = ()) -> str:
    """The passage as HTML: the given spans (an answer's support, a requirement's text) in <mark>, and
    every sentence that addresses the assistant in <span class="instruction"> (so a reader sees it is
    treated as data, not obeyed)."""
    marked: list[tuple[int, int, str]] = [(a, b, "instruction") for a, b in instruction_spans(passage)]
    marked += [(a, b, "mark") for a, b in _valid_spans(passage, spans)]
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


def instruction_badge(flagged: bool) -> str:
    return f'<div class="instruction-badge">{INSTRUCTION_BADGE}</div>' if flagged else ""


def source_card(
    *, card_id: str, label: str, title: str, doc: str, passage_html: str, meta: list[str] | None = None,
    flagged: bool = False, classes: str = "", attrs: str = "",
) -> str:
    """One passage card; `meta` parts (文号, date, section, page) are joined with « · »."""
    meta_text = " · ".join(html.escape(x) for x in (meta or []) if x)
    return (
        f'<div class="source-card{(" " + classes) if classes else ""}" id="{card_id}"{attrs}>'
        f'<div class="source-head"><span class="source-n">{html.escape(label)}</span> '
        f'<span class="source-title">{html.escape(title)}</span></div>'
        + (f'<div class="source-meta">{meta_text}</div>' if meta_text else "")
        + f'<div class="source-doc">{doc}</div>'
        + instruction_badge(flagged)
        + f'<div class="source-passage">{passage_html}</div></div>'
    )


def ocr_note(confidence: float | None) -> str:
    """Said of a passage read by OCR: its text may hold misread characters, so check the scan."""
    return f"OCR 识别（置信度 {confidence:.2f}），请以原件为准" if confidence is not None else ""


def render_sources(answer: Answer | None) -> str:
    """The sources panel: one card per citation (id="source-card-N"), or the closest passages after a refusal."""
    if answer is None:
        return '<div class="sources-empty">提问后，回答引用的原文段落会显示在这里。点击回答中的 [n] 可定位到对应来源。</div>'
    if answer.citations:
        cards = [
            source_card(
                card_id=f"source-card-{c.n}", label=f"[{c.n}]", title=c.title or c.doc, doc=html.escape(c.doc),
                meta=[c.wenhao or "", c.date or "", c.section_path or "", f"第 {c.page} 页" if c.page else "", ocr_note(c.ocr_confidence)],
                flagged=c.addresses_assistant, passage_html=highlighted(c.passage, [c.span]),
                attrs=f' data-n="{c.n}" data-doc="{html.escape(c.doc, quote=True)}"',
            )
            for c in answer.citations
        ]
        return f'<div class="sources-list"><div class="sources-title">引用来源（{len(cards)}）</div>{"".join(cards)}</div>'
    if answer.retrieved:
        cards = [
            source_card(
                card_id=f"related-card-{r.rank}", label=f"#{r.rank}", title=r.title or r.doc, classes="related",
                doc=html.escape(r.doc) + (f" · 第 {r.page} 页" if r.page else "") + (f" · {ocr_note(r.ocr_confidence)}" if r.ocr_confidence is not None else ""),
                flagged=r.addresses_assistant,
                passage_html=highlighted(snippet(r.text, 240)), attrs=f' data-rank="{r.rank}"',
            )
            for r in answer.retrieved[:5]
        ]
        head = "未找到足以回答的依据，以下是最接近的段落（未引用）" if answer.refused else "检索到的段落"
        return f'<div class="sources-list"><div class="sources-title">{head}</div>{"".join(cards)}</div>'
    return '<div class="sources-empty">没有可显示的来源。</div>'


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
#requirement-passage { max-height: 60vh; overflow-y: auto; }
#requirements-progress { font-size: .9em; max-height: 260px; overflow-y: auto; }
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
