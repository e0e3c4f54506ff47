"""The document's tree: law structure (编/章/节/条/款/项/目) and 公文 structure (一、（一）1.（1）/附件).

Chinese official documents carry their own answer units. A law's 第X条 (article) is one provision:
its paragraphs (款) and its items (项 （一）（二）…, 目 1. 2.) belong together, and an item list only
makes sense under its lead sentence (「…应当符合下列条件：」). A 公文 nests 一、 > （一） > 1. > （1）
headings over paragraphs, and closes with 附件. Everything else in a file (the title, adoption and
revision lines, 文号, a web page's navigation and image placeholders, the signature block) describes
the document rather than answering anything: it goes to the metadata, never into a chunk.

This module is the one place that knows these shapes: `parse` turns pages into `Block`s (an article,
or the body of a leaf section) made of `Group`s (a paragraph, or a lead with its items), the
chunker packs them, and `answer_units` cuts a stored chunk back into the units an extractive answer
quotes. `split_sentences` is the one sentence splitter of the product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.documents import LoadedDocument
from ingest.metadata import DATE_LINE_RE, _META_LABEL_RE, is_navigation_line, looks_like_body
from ingest.tables import is_row

CN_NUM = "一二三四五六七八九十百千零〇两"

# --- line shapes -------------------------------------------------------------------------------

# 「附件」「附件1」「附件2：县医院名单」 start an attachment; 「附件：1.名单 」 (the body's list of them) does not
ATTACHMENT_RE = re.compile(r"^附件\s*[\d一二三四五六七八九十]*(?!\s*[:：]\s*\d{1,2}\s*[.．、])\s*[:：]?\s*\S{0,40}$")
ATTACHMENT_LIST_RE = re.compile(r"^附件\s*[:：]\s*\d{1,2}\s*[.．、]")
_ATTACHMENT_MARK_RE = re.compile(r"^附件\s*[\d一二三四五六七八九十]*$")
_CAPTION_MAX = 60
PART_RE = re.compile(rf"^第[{CN_NUM}\d]+编")
CHAPTER_RE = re.compile(rf"^第[{CN_NUM}\d]+章")
SECTION_RE = re.compile(rf"^第[{CN_NUM}\d]+节")
ARTICLE_RE = re.compile(rf"^(第[{CN_NUM}\d]+条(?:之[{CN_NUM}]+)?)[\s　]*")
# 公文 numbering, outer to inner; inside an article the same marks are 项 and 目.
NUMBERED: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(rf"^[{CN_NUM}]+、")),
    (1, re.compile(rf"^[（(][{CN_NUM}]+[）)]")),
    (2, re.compile(r"^\d{1,2}[.．、](?!\d)")),
    (3, re.compile(r"^[（(]\d{1,2}[）)]")),
    (3, re.compile(r"^[①②③④⑤⑥⑦⑧⑨⑩]")),
]
# A lead that announces a list: 「…下列条件：」「…包括：」「…如下：」; the items follow on their own lines.
LEAD_END_RE = re.compile(r"[:：]$")
# A provision naming its own act (本法自2019年12月1日起施行, 本条例所称…): the words of the act's title are its words.
SELF_REFERENCE_RE = re.compile(r"本(?:法|条例|规定|办法|解释|细则|决定)")

# Front matter of a law as published (adoption, revision, promulgation, effect), and markdown chrome.
_ADOPTION_RE = re.compile(
    r"(通过|公布|修正|修订|施行|发布|颁布|批准|令第|主席令|会议|根据.{0,40}决定)"
)
_MD_COMMENT_RE = re.compile(r"^<!--.*-->$")
_MD_HEADING_RE = re.compile(r"^#{1,6}\s*")
_IMAGE_RE = re.compile(r"^(?:图片|图\d*|image|img|\[图片\]|【图片】|视频|点击播放)$", re.IGNORECASE)
_EDITOR_RE = re.compile(r"^(?:责任编辑|编辑|审核|校对|摄影|供稿|通讯员|记者|作者|来源)\s*[:：]")
_SENTENCE_END_RE = re.compile(r"[。！？；!?;]+[”’」』）)》]*")
_FULL_STOP_RE = re.compile(r"[。！？!?]+[”’」』）)》]*")
_HEADING_MAX = 30  # a 公文 heading's title part
_FIGURE_RE = re.compile(r"\d")


@dataclass
class Line:
    """A non-empty source line: stripped text and where it sits on its page."""

    text: str
    page: int | None
    start: int
    end: int


@dataclass
class Group:
    """What must stay together: one paragraph, or a lead sentence with all its items."""

    lines: list[Line]
    table: bool = False  # a table's rows (ingest/tables.py), after its caption when it has one

    @property
    def is_enumeration(self) -> bool:
        return len(self.lines) > 1

    @property
    def size(self) -> int:
        return sum(len(line.text) for line in self.lines) + len(self.lines) - 1


@dataclass
class Block:
    """One structural unit: an article (条) with its 款/项, or the body of a leaf 公文 section."""

    path: list[str]
    groups: list[Group] = field(default_factory=list)
    kind: str = "section"  # article | section


@dataclass
class Parsed:
    blocks: list[Block]
    front: list[str]  # title, adoption/source/date lines: document metadata
    dropped: list[str]  # navigation, image placeholders, signature lines


# --- sentences ---------------------------------------------------------------------------------


def split_sentences(text: str, full_stops_only: bool = False) -> list[tuple[int, int]]:
    """Offsets of sentences in one line; the tail without an end mark is a sentence too.

    With `full_stops_only`, clauses joined by ；stay one sentence (第一…；第二…；第三… is one list).
    """
    pattern = _FULL_STOP_RE if full_stops_only else _SENTENCE_END_RE
    spans: list[tuple[int, int]] = []
    pos = 0
    for match in pattern.finditer(text):
        if match.end() > pos:
            spans.append((pos, match.end()))
            pos = match.end()
    if pos < len(text) and text[pos:].strip():
        spans.append((pos, len(text)))
    return spans


# --- line classification -------------------------------------------------------------------------


def numbered_level(text: str) -> int | None:
    """The 公文 numbering depth of a line (0 = 一、 … 3 = （1）), or None."""
    for level, pattern in NUMBERED:
        if pattern.match(text):
            return level
    return None


def heading_rank(text: str) -> int | None:
    """Rank of a structural heading that is never body text: 附件 0, 编 1, 章 2, 节 3."""
    if ATTACHMENT_RE.match(text):
        return 0
    if PART_RE.match(text):
        return 1
    if CHAPTER_RE.match(text):
        return 2
    if SECTION_RE.match(text):
        return 3
    return None


def is_title_heading(text: str) -> bool:
    """Whether a numbered 公文 line is a heading (「二、重点任务」「（一）加强专科建设。…」) rather
    than a numbered statement (「二、每家县医院卒中中心建设补助经费为50万元」).

    A heading names a topic: its first phrase is short and carries no figure; a statement says a
    fact and reads as one clause or sentence.
    """
    body = NUMBERED_MARK_RE.sub("", text, count=1)
    match = _SENTENCE_END_RE.search(body)
    title = body[: match.start()] if match else body
    if not title or len(title) > _HEADING_MAX or _FIGURE_RE.search(title):
        return False
    if re.search(r"[，,：:]", title):
        return False
    return True


NUMBERED_MARK_RE = re.compile(rf"^(?:[{CN_NUM}]+、|[（(][{CN_NUM}\d]+[）)]|\d{{1,2}}[.．、](?!\d)|[①②③④⑤⑥⑦⑧⑨⑩])\s*")


def heading_label(text: str) -> str:
    """A heading's short label for the section path: up to its first sentence end, capped."""
    text = _MD_HEADING_RE.sub("", text)
    if ATTACHMENT_RE.match(text):  # 「附件2：县医院名单」 → 「附件2 县医院名单」
        return re.sub(r"\s*[:：]\s*|\s+", " ", text).strip()
    match = re.search(r"[。：:；;]", text)
    label = re.sub(r"[\s\u3000]+", " ", (text[: match.start()] if match else text)).strip()
    marker = re.match(rf"^(第[{CN_NUM}\d]+[编章节]|附件\s*[\d{CN_NUM}]*)\s*(.*)$", label)
    if marker:  # 「第一章　总　　则」 → 「第一章 总则」
        label = f"{marker.group(1)} {marker.group(2).replace(' ', '')}".strip()
    return label if len(label) <= 40 else label[:40] + "…"


def is_chrome(text: str) -> bool:
    """Web page navigation, image placeholders, editor/source labels: never content."""
    if len(text) > 60:
        return False
    return bool(
        is_navigation_line(text) or _IMAGE_RE.match(text) or _EDITOR_RE.match(text) or _META_LABEL_RE.search(text)
        or text in {"分享到", "分享到:", "分享到：", "打印", "关闭"}
    )


def _is_body_line(text: str) -> bool:
    """Where a document's body starts: a structural mark, or a line that reads as prose."""
    if heading_rank(text) is not None or ARTICLE_RE.match(text) or numbered_level(text) is not None:
        return True
    return len(text) > 60 or bool(_SENTENCE_END_RE.search(text)) or text.endswith(("：", ":"))


def _is_title(text: str, title: str) -> bool:
    """The document's title line (a title never ends like a sentence: 「第1段：…。」 is prose)."""
    text = _MD_HEADING_RE.sub("", text)
    if text.endswith(("。", "；", ";")):
        return False
    return bool(title) and (text == title or (len(text) >= 4 and text in title))


def _is_front(text: str, title: str) -> bool:
    """A front-matter line: the title, an adoption/revision/date line, a 文号 or site chrome."""
    if _MD_COMMENT_RE.match(text) or text.startswith("#") and not _is_body_line(_MD_HEADING_RE.sub("", text)):
        return True
    if _is_title(text, title):
        return True
    if DATE_LINE_RE.match(text) or is_chrome(text):
        return True
    return len(text) <= 120 and bool(_ADOPTION_RE.search(text)) and bool(re.search(r"\d{4}年|\d{4}-\d", text))


# --- parsing -------------------------------------------------------------------------------------


def _lines(doc: LoadedDocument) -> list[Line]:
    out: list[Line] = []
    for page in doc.pages:
        offset = 0
        for raw in page.text.split("\n"):
            start = offset
            offset += len(raw) + 1
            text = raw.strip()
            if not text:
                continue
            lead = len(raw) - len(raw.lstrip())
            out.append(Line(text, page.number, start + lead, start + lead + len(text)))
    return out


def _split_front(lines: list[Line], title: str) -> tuple[list[Line], list[str]]:
    """Front matter ends at `<!-- INFO END -->` (law files as published) or at the first body line."""
    for i, line in enumerate(lines[:40]):
        if line.text.replace(" ", "") == "<!--INFOEND-->":
            return lines[i + 1 :], [x.text for x in lines[:i]]
    front: list[str] = []
    i = 0
    while i < len(lines) and i < 40 and _is_front(lines[i].text, title) and (
        not _is_body_line(_MD_HEADING_RE.sub("", lines[i].text)) or _is_title(lines[i].text, title)
    ):
        front.append(lines[i].text)
        i += 1
    # short non-prose lines above the first body line (column names, the headline) are front too
    j = i
    while j < len(lines) and j < 12 and not _is_body_line(_MD_HEADING_RE.sub("", lines[j].text)):
        j += 1
    if j < len(lines) and j < 12:
        front.extend(x.text for x in lines[i:j])
        i = j
    return lines[i:], front


def _strip_tail(lines: list[Line]) -> tuple[list[Line], list[str]]:
    """The signature block (issuing body, date) and page footer: metadata, not content."""
    dropped: list[str] = []
    while lines:
        text = lines[-1].text
        if DATE_LINE_RE.match(text) or is_chrome(text) or (looks_like_body(text) and len(lines) > 1):
            dropped.append(text)
            lines = lines[:-1]
            continue
        break
    return lines, dropped


def parse(doc: LoadedDocument) -> Parsed:
    """The document's blocks in reading order, with its front matter and dropped chrome."""
    lines = _lines(doc)
    body, front = _split_front(lines, doc.meta.title)
    body, dropped = _strip_tail(body)
    blocks: list[Block] = [Block(path=[])]
    ranked: list[tuple[int, str]] = []  # 附件/编/章/节 stack
    numbered: list[tuple[int, str]] = []  # 公文 heading stack
    in_article = False
    lead_open = False  # the last line announced a list: numbered lines that follow are its items
    item_level: int | None = None  # the numbering depth of those items; an outer number ends the list
    attachment_title = False  # an attachment's mark stood alone: its title may follow on the next line

    def path() -> list[str]:
        return [label for _, label in ranked] + [label for _, label in numbered]

    for line in body:
        text = _MD_HEADING_RE.sub("", line.text) if line.text.startswith("#") else line.text
        if text != line.text:
            line = Line(text, line.page, line.end - len(text), line.end)
        if is_chrome(text) or _MD_COMMENT_RE.match(text):
            dropped.append(text)
            continue
        if attachment_title:
            attachment_title = False
            if _is_attachment_title(text):  # 「附件1」 then 「千县工程县医院名单」: the section is named by both
                ranked[-1] = (0, f"{ranked[-1][1]} {heading_label(text)}")
                blocks[-1].path = path()
                continue
        rank = heading_rank(text)
        if rank is not None:
            if rank == 0:  # the signature above an attachment closes the body, it is not content
                dropped.extend(_pop_signature(blocks[-1]))
            while ranked and ranked[-1][0] >= rank:
                ranked.pop()
            ranked.append((rank, heading_label(text)))
            numbered.clear()
            in_article, lead_open = False, False
            attachment_title = rank == 0 and bool(_ATTACHMENT_MARK_RE.match(ranked[-1][1]))
            blocks.append(Block(path=path()))
            continue
        if is_row(text):  # a table row joins the table, or starts one under its caption
            _add_row(blocks[-1], line)
            lead_open, item_level = False, None
            continue
        article = ARTICLE_RE.match(text)
        if article:
            numbered.clear()
            in_article = True
            blocks.append(Block(path=path() + [article.group(1)], kind="article"))
            _add(blocks[-1], line)
            lead_open, item_level = bool(LEAD_END_RE.search(text)), None
            continue
        level = numbered_level(text)
        if lead_open and level == 0 and not in_article and is_title_heading(text):
            lead_open, item_level = False, None  # 「一、总体要求」 after 「各有关单位：」 is a heading, not an item
        if lead_open and not in_article and level is not None:
            item_level = level if item_level is None else item_level
            if level < item_level:  # 「二、保障措施」 after the items 1. 2. 3.: the list is over
                lead_open, item_level = False, None
        if level is not None and not in_article and not lead_open and is_title_heading(text):
            while numbered and numbered[-1][0] >= level:
                numbered.pop()
            numbered.append((level, heading_label(text)))
            blocks.append(Block(path=path()))
            label_only = heading_label(text) == NUMBERED_MARK_RE.sub("", text).rstrip("。") or text == heading_label(text)
            if not label_only:
                _add(blocks[-1], line)  # 「（一）加强专科建设。具体内容……」: the heading line has content
            continue
        if level is not None and (in_article or lead_open) and blocks[-1].groups:
            blocks[-1].groups[-1].lines.append(line)  # an item (项/目) joins its lead
            continue
        _add(blocks[-1], line)
        lead_open, item_level = bool(LEAD_END_RE.search(text) or ATTACHMENT_LIST_RE.match(text)), None
    return Parsed([b for b in blocks if b.groups], front, dropped)


def _add(block: Block, line: Line) -> None:
    block.groups.append(Group([line]))


def _is_caption(group: Group) -> bool:
    """A table's caption: the one short line right above it (「表1 2025年县医院主要指标」, 「主要指标如下：」)."""
    if group.table or group.is_enumeration:
        return False
    text = group.lines[0].text
    return len(text) <= _CAPTION_MAX and not text.endswith(("。", "；", ";"))


def _add_row(block: Block, line: Line) -> None:
    """A table is one group, caption first: the chunker never separates them (a long table is cut
    between rows, every piece repeating the caption)."""
    last = block.groups[-1] if block.groups else None
    if last is not None and (last.table or _is_caption(last)):
        last.lines.append(line)
        last.table = True
    else:
        block.groups.append(Group([line], table=True))


def _is_attachment_title(text: str) -> bool:
    """The line naming an attachment under its bare mark: short, not a sentence, not a structural line."""
    return (
        len(text) <= 40
        and not _SENTENCE_END_RE.search(text)
        and not text.endswith(("：", ":"))
        and heading_rank(text) is None
        and ARTICLE_RE.match(text) is None
        and numbered_level(text) is None
        and not is_row(text)
    )


def _pop_signature(block: Block) -> list[str]:
    """The issuing body and date lines closing the body before its attachments."""
    popped: list[str] = []
    while block.groups and not block.groups[-1].is_enumeration and not block.groups[-1].table:
        text = block.groups[-1].lines[0].text
        if not (DATE_LINE_RE.match(text) or looks_like_body(text)):
            break
        popped.append(text)
        block.groups.pop()
    return popped[::-1]


# --- answer units ----------------------------------------------------------------------------------


@dataclass
class Unit:
    """A span of a chunk's text that can answer on its own: a sentence, or a lead with its items."""

    start: int
    end: int
    kind: str  # sentence | enumeration
    text: str


def answer_units(text: str) -> list[Unit]:
    """Cut a chunk's text into answer units.

    A line ending in a colon and followed by numbered lines is an enumeration: the lead and all its
    items are one unit (and each item is also a unit, for questions about one item). Every other
    line is split into full sentences (；-joined clauses stay together: they are one list).
    """
    units: list[Unit] = []
    lines: list[tuple[int, int]] = []
    pos = 0
    for raw in text.split("\n"):
        lines.append((pos, pos + len(raw)))
        pos += len(raw) + 1
    i = 0
    while i < len(lines):
        s, e = lines[i]
        line = text[s:e]
        if LEAD_END_RE.search(line.strip()) and i + 1 < len(lines) and numbered_level(text[lines[i + 1][0] : lines[i + 1][1]].strip()) is not None:
            j = i + 1
            while j < len(lines) and numbered_level(text[lines[j][0] : lines[j][1]].strip()) is not None:
                j += 1
            end = lines[j - 1][1]
            units.append(Unit(s, end, "enumeration", text[s:end]))
            for k in range(i, j):
                ks, ke = lines[k]
                units.extend(_sentence_units(text, ks, ke))
            i = j
            continue
        units.extend(_sentence_units(text, s, e))
        i += 1
    return units


def _sentence_units(text: str, s: int, e: int) -> list[Unit]:
    out = []
    line = text[s:e]
    for a, b in split_sentences(line, full_stops_only=True):
        piece = line[a:b]
        lead = len(piece) - len(piece.lstrip())
        piece = piece.strip()
        if piece:
            out.append(Unit(s + a + lead, s + a + lead + len(piece), "sentence", piece))
    return out


def paragraph(text: str, unit: Unit) -> str:
    """The 款 a unit belongs to: the lines it spans, and for a numbered item also the lines above it up to
    its lead. A sentence's subject is often set earlier in its 款 (「职工基本医疗保险费由…缴纳。用人单位按照
    …的比例缴纳。」), rarely in another 款 or article."""
    start = text.rfind("\n", 0, unit.start) + 1
    end = text.find("\n", unit.end)
    end = len(text) if end < 0 else end
    while start > 0 and numbered_level(text[start:end].lstrip()) is not None:
        start = text.rfind("\n", 0, start - 1) + 1
    return text[start:end]
