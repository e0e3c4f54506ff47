"""Practice items: what they are, how they are drawn (generation rules live below this header)."""

from __future__ import annotations

import hashlib
import math
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from typing import Any, Literal

from ingest.documents import Chunk
from ingest.requirements import REPORT_TYPES, Requirement, text_spans
from ingest.structure import ARTICLE_RE, NUMBERED_MARK_RE, answer_units, split_sentences
from settings import Settings, StudySettings
from study import corpus as store
from study.entities import (InlineList, Quantity, body_core, cores_overlap, inline_lists, is_body, normalise, quantities,
                            same_function, write_quantity)
from study.entities import BODY_HEADS, RANGE_BEFORE_RE, range_bounds
from study.perturb import Perturbation, change_number, change_period, flip_modal, reads_as, swap_subject

ITEM_TYPES = ("cloze", "tf", "mc")
SCHEMA_VERSION = 1

ItemType = Literal["cloze", "tf", "mc"]


class StudyError(Exception):
    """A study request that cannot be served (no knowledge base, no document matches, bad type)."""


@dataclass(frozen=True)
class ItemSource:
    """Where an item comes from; `to_json` is the `citation` object of docs/INTERFACES.md."""

    doc: str  # the name as ingested (「regulations/医疗废物管理条例.txt」)
    title: str
    section_path: str
    page: int | None
    passage: str  # the structural unit (or chunk text) the item was made from, verbatim
    span: tuple[int, int]  # the answer's characters in `passage` (tf: the statement's source clause)
    doc_id: str = ""
    chunk_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "title": self.title, "section_path": self.section_path, "page": self.page,
                "passage": self.passage, "span": list(self.span)}


@dataclass(frozen=True)
class Item:
    """One practice item. `answer`: the blanked text (cloze), True/False (tf), the correct choice's
    text (mc, one of `choices`). `id` is a hash of the document's content id, the section, the
    source text, the type and the answer: stable while the document is unchanged, new when it changes."""

    id: str
    type: ItemType
    prompt: str
    answer: str | bool
    source: ItemSource
    choices: tuple[str, ...] | None = None
    explanation: str = ""  # shown after answering: for a false statement, what the document says
    kind: str = ""  # what was tested: figure, deadline, body, enumeration_item, negation, subject, ...
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def section_key(self) -> str:
        """What progress is kept per: the document and the section (weak sections are favoured)."""
        return f"{self.source.doc_id}\x1f{self.source.section_path}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "prompt": self.prompt,
                "choices": list(self.choices) if self.choices is not None else None,
                "answer": self.answer, "citation": self.source.to_json()}


# --- generation ------------------------------------------------------------------------------------

BLANK = "____"
GENERATOR_VERSION = "1"  # part of every id: items made by changed rules are new items
LETTERS = "ABCD"
# A provision that points back at another (「前款规定的…」「该机构…」) cannot be read on its own.
# So does a closing delegation (「具体办法由…规定」: the 办法 of the sentence before).
# A sentence opening with a connective (「但是…」「否则…」) continues the one before it.
_DEPENDENT_RE = re.compile(
    r"^(?:前款|前两款|前三款|前项|前款所列|上述|该|其|此|本款|依照前款|依照本条|具体(?:管理|实施)?(?:办法|标准|规定)"
    r"|但是?|否则|并且|而且|同时|对此|为此|对其)"
)
_TRUE_WORDS = {"true", "t", "对", "正确", "是", "√", "✓", "✔", "yes", "y", "1"}
_FALSE_WORDS = {"false", "f", "错", "错误", "否", "×", "✗", "✘", "x", "no", "n", "0"}
# Where a named body's phrase may start or end in a sentence (not inside a longer name).
_BODY_BEFORE_RE = re.compile(r"(?:^|[，、；：:（(“\s]|由|向|对|经|和|与|及|或|的|将|把|在|会同|报告|通知|报经|报请|授权|委托|请求|指定|组织|协助|配合)$")
_BODY_AFTER_RE = re.compile(r"^(?!人员|工作人员|负责人|及其|等|所属|内部|主要负责人|的[^，。；]{0,4}(?:人员|负责人))")
# One member of a list of bodies (「A、____、C应当」) could be any of them: never blanked.
_COORDINATED_BEFORE_RE = re.compile(r"(?:、|和|与|及|或|以及|或者)$")
_COORDINATED_AFTER_RE = re.compile(r"^(?:、|和|与|及|或|以及|或者|等)")


@dataclass(frozen=True)
class _Provision:
    """What an item quotes: one sentence of a chunk, or one item of a list with the list's lead."""

    chunk: Chunk
    start: int  # the tested part's span in the chunk text (the sentence, or the item)
    end: int
    lead: str | None  # the list's lead sentence for an item (shown above it)
    cut_before: bool = False  # a long sentence narrowed to the clause that holds the blank
    cut_after: bool = False

    @property
    def text(self) -> str:
        return self.chunk.text[self.start : self.end]

    @property
    def display(self) -> str:
        body = _strip_article(self.text)
        return f"{self.lead}\n{body}" if self.lead else body

    @property
    def body_offset(self) -> int:
        """Where the tested part starts in `display`."""
        return len(self.lead) + 1 if self.lead else 0

    @property
    def article_cut(self) -> int:
        return len(self.text) - len(_strip_article(self.text))


def _strip_article(text: str) -> str:
    match = ARTICLE_RE.match(text)
    return text[match.end() :] if match else text


def _provisions(chunk: Chunk) -> list[_Provision]:
    """The chunk's sentences, and its list items each with their lead (as the checklist reads them)."""
    units = answer_units(chunk.text)
    enums = [u for u in units if u.kind == "enumeration"]
    out: list[_Provision] = []
    for unit in units:
        if unit.kind == "enumeration":
            continue
        enum = next((e for e in enums if e.start <= unit.start < e.end), None)
        if enum is None:
            out.append(_Provision(chunk, unit.start, unit.end, None))
            continue
        first = enum.text.split("\n", 1)[0]
        a, b = split_sentences(first, full_stops_only=True)[-1]
        if unit.start < enum.start + a:
            out.append(_Provision(chunk, unit.start, unit.end, None))
        elif unit.start >= enum.start + len(first):
            out.append(_Provision(chunk, unit.start, unit.end, _strip_article(first[a:b].strip())))
    return out


def _article(section_path: str) -> str:
    """The citation a prompt names: the article (第十二条), or the 公文 section path."""
    parts = [p for p in section_path.split(" > ") if p]
    if parts and ARTICLE_RE.match(parts[-1]):
        return parts[-1]
    return " > ".join(parts)


def _where(doc: store.Document, chunk: Chunk) -> str:
    article = _article(chunk.section_path)
    return f"《{doc.title}》{article}" if article else f"《{doc.title}》"


def _item_id(chunk: Chunk, source: str, type_: str, answer: object, variant: str = "") -> str:
    """Stable while the document is unchanged (its content id is part of it), new when it changes."""
    key = f"{GENERATOR_VERSION}\n{chunk.doc_id}\n{chunk.section_path}\n{source}\n{type_}\n{answer}\n{variant}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _source(doc: store.Document, chunk: Chunk, start: int, end: int) -> ItemSource:
    return ItemSource(doc=doc.name, title=doc.title, section_path=chunk.section_path, page=chunk.page_start,
                      passage=chunk.text, span=(start, end), doc_id=chunk.doc_id, chunk_id=chunk.chunk_id)


def _occurrences(needle: str, haystack: str) -> int:
    """How often a text occurs, also spelt differently (「6个月」 in 「六个月」)."""
    n = normalise(needle)
    return normalise(haystack).count(n) if n else 0


def _rng(*parts: object) -> random.Random:
    """A generator seeded by content: the same store always yields the same items and choices."""
    return random.Random(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest())


# --- what the corpus holds of each kind (distractor and sibling sources) -----------------------------


@dataclass
class _Index:
    """Entities of the whole corpus by kind: distractors are drawn from here."""

    quantities: dict[tuple[str, str], dict[float | None, str]] = field(default_factory=dict)  # (kind, unit) -> value -> text
    periods: dict[str, str] = field(default_factory=dict)  # normalised -> verbatim
    bodies: list[str] = field(default_factory=list)
    cores: dict[str, str] = field(default_factory=dict)  # body -> its function (`body_core`)
    groups: dict[str, int] = field(default_factory=dict)  # body -> its kind (`_body_group`)
    doc_subjects: dict[str, list[str]] = field(default_factory=dict)  # doc_id -> bodies it obliges
    doc_quantities: dict[str, set[tuple[str, str, float | None]]] = field(default_factory=dict)
    texts: str = ""  # every chunk's text, for "does this statement occur anywhere" checks
    cfg: StudySettings = field(default_factory=StudySettings)  # the length and distance limits


def _index(corpus: store.Corpus, cfg: StudySettings) -> _Index:
    idx = _Index(cfg=cfg)
    texts: list[str] = []
    bodies: dict[str, None] = {}
    for doc, chunk in corpus.all_chunks():
        texts.append(chunk.text)
        keys = idx.doc_quantities.setdefault(doc.doc_id, set())
        for q in quantities(chunk.text):
            keys.add(q.key)
            if q.kind == "period":
                idx.periods.setdefault(normalise(q.text), q.text)
            else:
                idx.quantities.setdefault((q.kind, q.unit), {}).setdefault(q.value, q.text)
    for doc_id, reqs in corpus.requirements.items():
        subjects: dict[str, None] = {}
        for req in reqs:
            if req.subject and is_body(req.subject):
                subjects[req.subject] = None
                bodies[req.subject] = None
        idx.doc_subjects[doc_id] = list(subjects)
    idx.bodies = sorted(bodies, key=lambda b: (-len(b), b))
    idx.cores = {b: body_core(b) for b in idx.bodies}
    idx.groups = {b: _body_group(b) for b in idx.bodies}
    idx.texts = "\x00".join(texts)
    return idx


# --- cloze and multiple choice: blanks -----------------------------------------------------------


@dataclass(frozen=True)
class _Blank:
    provision: _Provision
    start: int  # in the chunk text
    end: int
    kind: str  # figure | deadline | period | body | enumeration_item
    quantity: Quantity | None = None

    @property
    def answer(self) -> str:
        return self.provision.chunk.text[self.start : self.end]


def _display_with_blank(blank: _Blank) -> str:
    """The provision as shown, the answer replaced by the one blank."""
    p = blank.provision
    offset = p.body_offset - p.start - p.article_cut
    shown = p.display
    a, b = blank.start + offset, blank.end + offset
    return shown[:a] + BLANK + shown[b:]


def _narrowed(blank: _Blank, shown_max: int) -> _Blank:
    """A long provision (a penalty article's one sentence of 300 characters) shown as the ；-clause
    that holds the blank, marked 「……」 where it was cut; the article is still named."""
    p = blank.provision
    if len(p.display) <= shown_max or blank.kind == "enumeration_item":
        return blank  # a list item is blanked among all its siblings, or not at all
    text = p.chunk.text
    base = p.start + p.article_cut
    end = p.end
    stops = [base] + [base + m.end() for m in re.finditer(r"；", text[base:end])] + [end]
    after = next(at for at in stops if at >= blank.end)
    end = after
    starts = [at for at in stops if at <= blank.start]
    start = starts[-1]
    for earlier in reversed(starts[:-1]):  # the clauses before it too, while the whole stays short
        if end - earlier > shown_max:
            break
        start = earlier
    narrowed = _Provision(p.chunk, start, end, p.lead, start > p.start + p.article_cut, end < p.end)
    return _Blank(narrowed, blank.start, blank.end, blank.kind, blank.quantity)


def _prompt_text(blank: _Blank) -> str:
    p = blank.provision
    shown = _display_with_blank(blank)
    if p.cut_before:
        shown = f"{p.lead}\n……{shown[p.body_offset:]}" if p.lead else f"……{shown}"
    return shown + ("……" if p.cut_after else "")


def _clear(blank: _Blank, shown_max: int) -> bool:
    """The answer is in the tested part, named once in what the prompt shows (else the prompt
    gives it away or the blank is ambiguous), and the sentence stands on its own."""
    p = blank.provision
    if not (p.start + p.article_cut <= blank.start and blank.end <= p.end):
        return False
    if _DEPENDENT_RE.match(_strip_article(p.text)) or len(p.display) > shown_max:
        return False
    return _occurrences(blank.answer, p.display) == 1


def _quantity_blanks(p: _Provision) -> list[_Blank]:
    base = p.start
    return [_Blank(p, base + q.start, base + q.end, q.kind, q) for q in quantities(p.text)
            if not RANGE_BEFORE_RE.search(p.text[: q.start])]


def _body_blanks(p: _Provision, bodies: Sequence[str]) -> list[_Blank]:
    """Named bodies in the provision, longest name first, only where the phrase is the whole name."""
    text = p.text
    taken: list[tuple[int, int]] = []
    out: list[_Blank] = []
    for body in bodies:
        at = text.find(body)
        while at >= 0:
            end = at + len(body)
            if not any(at < e and end > s for s, e in taken):
                taken.append((at, end))
                before = text[p.article_cut : at]
                if (not before or _BODY_BEFORE_RE.search(before)) and not _COORDINATED_BEFORE_RE.search(before):
                    if _BODY_AFTER_RE.match(text[end:]) and not _COORDINATED_AFTER_RE.match(text[end:]):
                        out.append(_Blank(p, p.start + at, p.start + end, "body"))
            at = text.find(body, end)
    return out


def _list_blanks(p: _Provision) -> list[tuple[_Blank, InlineList]]:
    out = []
    for lst in inline_lists(p.text):
        for s, e, _ in lst.members:
            out.append((_Blank(p, p.start + s, p.start + e, "enumeration_item"), lst))
    return out


def _numbered_item_blanks(chunk: Chunk) -> list[_Blank]:
    """A short item of a numbered list (「（三）麻疹；」) blanked inside the whole list."""
    out = []
    for unit in answer_units(chunk.text):
        if unit.kind != "enumeration":
            continue
        lines = unit.text.split("\n")
        items = lines[1:]
        if len(items) < 3:
            continue
        lead = _strip_article(split_sentences(lines[0], full_stops_only=True)[-1:] and
                              lines[0][split_sentences(lines[0], full_stops_only=True)[-1][0]:].strip())
        pos = unit.start + len(lines[0]) + 1
        bodies = []
        for line in items:
            mark = NUMBERED_MARK_RE.match(line)
            body = line[mark.end() if mark else 0 :].rstrip("；;。，,")
            bodies.append((pos + (mark.end() if mark else 0), body))
            pos += len(line) + 1
        if any(len(b) > 14 for _, b in bodies):
            continue
        prov = _Provision(chunk, unit.start + len(lines[0]) + 1, unit.end, lead)
        for s, body in bodies:
            out.append(_Blank(prov, s, s + len(body), "enumeration_item"))
    return out


def _cloze(doc: store.Document, blank: _Blank) -> Item:
    p = blank.provision
    prompt = f"{_where(doc, p.chunk)}：{_prompt_text(blank)}"
    return Item(
        id=_item_id(p.chunk, p.display, "cloze", blank.answer, str(blank.start)), type="cloze", prompt=prompt,
        answer=blank.answer, source=_source(doc, p.chunk, blank.start, blank.end),
        explanation=f"答案：{blank.answer}。{_where(doc, p.chunk)}原文：{p.display}", kind=blank.kind,
        meta={"unit": p.display, "blanked": _display_with_blank(blank)},
    )


def _quantity_distractors(q: Quantity, passage: str, idx: _Index, rng: random.Random,
                          bounds: tuple[float, float] = (0.0, math.inf)) -> list[str] | None:
    """Three figures of the same kind and unit stated elsewhere in the corpus, nearest in size first,
    none of them stated anywhere in the source passage, inside the range the blank closes; written
    like the answer."""
    stated = {x.key for x in quantities(passage)}
    if q.kind == "period":
        pool = [t for n, t in idx.periods.items() if n != normalise(q.text)
                and not any(x.kind == "period" and normalise(x.text) == n for x in quantities(passage))]
        if len(pool) < 3:
            return None
        return rng.sample(sorted(pool), 3)
    values = [v for v in idx.quantities.get((q.kind, q.unit), {}) if v is not None and v != q.value
              and (q.kind, q.unit, v) not in stated and ("figure" if q.kind == "deadline" else "deadline", q.unit, v) not in stated]
    if q.value is None or q.value <= 0:
        return None
    # within a factor of ten: 「两年」 against 「三十年」 is no choice a trainee weighs
    values = sorted((v for v in values if bounds[0] < v < bounds[1] and 1 / idx.cfg.figure_distractor_ratio <= v / q.value <= idx.cfg.figure_distractor_ratio),
                    key=lambda v: (abs(math.log(v / q.value)), v))
    if len(values) < 3:
        return None
    written = [write_quantity(v, q.text, q.chinese) for v in values[:6]]
    readable = [w for w, v in zip(written, values) if w and reads_as(w, q.kind, q.unit, v)]
    return rng.sample(readable, 3) if len(readable) >= 3 else None


def _distractor_bodies(passage: str, idx: _Index) -> list[str]:
    """The corpus's bodies that may stand as wrong answers for a blank in this passage: none named
    in it, none possibly the same office as one it names, none told apart only by its level."""
    named_cores = [idx.cores[b] for b in idx.bodies if b in passage]
    return [b for b in idx.bodies if b not in passage and not _LEVEL_ONLY_RE.search(idx.cores[b])
            and not any(cores_overlap(idx.cores[b], c) for c in named_cores)]


def _body_distractors(answer: str, candidates: list[str], doc_bodies: Collection[str], idx: _Index,
                      rng: random.Random) -> list[str] | None:
    """Three other bodies the corpus obliges, none named in the passage, none possibly the same
    office as the answer or as each other (「卫生行政部门」 vs 「卫生健康主管部门」). The same
    document's bodies first, then those with the same head (部门 for a 部门), then any."""
    cores = idx.cores
    answer_core = body_core(answer)
    if _LEVEL_ONLY_RE.search(answer):
        return None  # 「县级以上人民政府」: only its level tells it from another government
    pool = [b for b in candidates if not cores_overlap(cores[b], answer_core)]
    group = _body_group(answer)
    ranked = sorted(pool, key=lambda b: (idx.groups[b] != group, b not in doc_bodies, rng.random()))
    chosen: list[str] = []
    for b in ranked:
        if not any(cores_overlap(cores[b], cores[c]) for c in chosen):
            chosen.append(b)
        if len(chosen) == 3:
            return chosen
    return None


# Kinds of body a distractor should share with the answer (an office for an office).
_BODY_GROUPS = (("部门", "机关", "人民政府", "委员会"), ("机构", "中心", "血站", "卫生院", "医院"), ("单位", "企业", "协会"))


def _body_group(body: str) -> int:
    return next((i for i, heads in enumerate(_BODY_GROUPS) if body.endswith(heads)), len(_BODY_GROUPS))


# A government named only by its level (「市人民政府」「县级以上地方人民政府」).
_LEVEL_ONLY_RE = re.compile(r"^(?:[^部机中委]*人民政府|[^部机中委]*政府)$")


def _mc(doc: store.Document, blank: _Blank, distractors: list[str], rng: random.Random,
        prompt: str | None = None, meta: dict[str, Any] | None = None) -> Item:
    p = blank.provision
    choices = [blank.answer, *distractors]
    rng.shuffle(choices)
    prompt = prompt or f"{_where(doc, p.chunk)}：{_prompt_text(blank)}\n横线处应填："
    return Item(
        id=_item_id(p.chunk, p.display, "mc", blank.answer, f"{blank.kind}:{blank.start}"), type="mc", prompt=prompt,
        answer=blank.answer, source=_source(doc, p.chunk, blank.start, blank.end), choices=tuple(choices),
        explanation=f"答案：{blank.answer}。{_where(doc, p.chunk)}原文：{p.display}", kind=blank.kind,
        meta=meta or {"unit": p.display, "blanked": _display_with_blank(blank)},
    )


def _sibling_lists(lists: list[tuple[_Provision, InlineList]]) -> list[tuple[_Provision, InlineList, list[InlineList]]]:
    """Lists of the same kind in one provision group: leads that differ only in their first
    characters (「甲类传染病」「乙类传染病」「丙类传染病」)."""
    out = []
    for p, lst in lists:
        sibs = [o for _, o in lists if o is not lst and o.lead != lst.lead and len(lst.lead) >= 3
                and len(o.lead) == len(lst.lead) and _common_suffix(o.lead, lst.lead) >= max(2, len(lst.lead) - 2)]
        if sibs:
            out.append((p, lst, sibs))
    return out


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _class_member_items(doc: store.Document, chunk: Chunk, provisions: list[_Provision]) -> list[Item]:
    """「下列哪项属于甲类传染病？」: the answer a member of the list, the distractors members of
    its sibling lists that this list does not name (they are wrong, not also right)."""
    lists = [(p, lst) for p in provisions for lst in inline_lists(p.text)]
    out = []
    for p, lst, sibs in _sibling_lists(lists):
        named = p.text[lst.start : lst.end]
        pool = sorted({m for s in sibs for _, _, m in s.members if m not in named
                       and not any(m in x or x in m for _, _, x in lst.members)})
        if len(pool) < 3:
            continue
        for s, e, member in lst.members:
            blank = _Blank(p, p.start + s, p.start + e, "class_member")
            rng = _rng(chunk.doc_id, chunk.chunk_id, member, "class")
            prompt = f"根据{_where(doc, chunk)}，下列哪项属于{lst.lead}？"
            meta = {"unit": p.display, "enumeration": named, "lead": lst.lead}
            out.append(_mc(doc, blank, rng.sample(pool, 3), rng, prompt=prompt, meta=meta))
    return out


def _blank_items(doc: store.Document, chunk: Chunk, idx: _Index) -> list[Item]:
    provisions = _provisions(chunk)
    normative = doc.doc_type not in REPORT_TYPES
    out: list[Item] = []
    blanks: list[_Blank] = []
    for p in provisions:
        # a report's 「一」 + unit is an expression (「最后一公里」「一天会议」), not a figure it reports
        blanks += [b for b in _quantity_blanks(p) if normative or not (b.quantity and b.quantity.chinese
                                                                       and b.quantity.value == 1)]
        if normative:
            blanks += _body_blanks(p, idx.bodies)
            blanks += [b for b, _ in _list_blanks(p)]
    if normative:
        blanks += _numbered_item_blanks(chunk)
    candidates: list[str] | None = None  # body distractors for this passage, found once when needed
    doc_bodies = set(idx.doc_subjects.get(doc.doc_id, []))
    shown_max = idx.cfg.shown_max_chars
    for blank in (_narrowed(b, shown_max) for b in blanks):
        if not _clear(blank, shown_max):
            continue
        out.append(_cloze(doc, blank))
        rng = _rng(chunk.doc_id, chunk.chunk_id, blank.start, blank.kind)
        if blank.quantity is not None:
            bounds = range_bounds(chunk.text, blank.start, blank.end, blank.quantity.unit)
            distractors = _quantity_distractors(blank.quantity, chunk.text, idx, rng, bounds)
        elif blank.kind == "body":
            if candidates is None:
                candidates = _distractor_bodies(chunk.text, idx)
            distractors = _body_distractors(blank.answer, candidates, doc_bodies, idx, rng)
        else:
            distractors = None  # other members of the same list are right too: no "fill the blank" choice
        if distractors:
            out.append(_mc(doc, blank, distractors, rng))
    if normative:
        out += _class_member_items(doc, chunk, provisions)
    return out


# --- true/false ----------------------------------------------------------------------------------


def _statement_parts(req: Requirement) -> tuple[str, int]:
    """The statement as shown and where its own clause starts (after the lead of a list item)."""
    text = req.text
    if "\n" in text:
        lead, body = text.split("\n", 1)
        return f"{lead}\n{body}", len(lead) + 1
    return text, 0


def _sibling_subjects(req: Requirement, passage: str, idx: _Index) -> list[str]:
    """Bodies the same document obliges that are not this one (nor possibly the same office), not
    named in the passage, and not obliged to anything like this statement elsewhere in the document."""
    subjects = idx.doc_subjects.get(req.doc_id, [])
    if _LEVEL_ONLY_RE.search(req.subject or ""):
        return []
    # a government stands above every office of its level: swapped in, the statement may be true of it
    return [s for s in subjects if s != req.subject and not same_function(s, req.subject or "") and s not in passage
            and not _LEVEL_ONLY_RE.search(s)]


def _tf_items(doc: store.Document, req: Requirement, chunk: Chunk, idx: _Index, siblings_text: dict[str, list[str]]) -> list[Item]:
    statement, body_start = _statement_parts(req)
    body = statement[body_start:]
    if len(statement) > idx.cfg.statement_max_chars or _DEPENDENT_RE.match(statement) or _DEPENDENT_RE.match(body.lstrip("（(一二三四五六七八九十)）、. 0123456789")):
        return []
    spans = text_spans(chunk.text, req.text)
    if not spans:
        return []
    span = spans[-1]
    where = _where(doc, chunk)
    out = [Item(
        id=_item_id(chunk, req.text, "tf", True), type="tf", prompt=f"根据{where}，判断下列说法是否正确：\n{statement}",
        answer=True, source=_source(doc, chunk, *span), explanation=f"正确。{where}原文：{statement}", kind="verbatim",
        meta={"statement": statement, "original": statement},
    )]
    stated = idx.doc_quantities.get(req.doc_id, set())
    pick = int(hashlib.sha256(req.id.encode()).hexdigest(), 16)
    candidates: list[Perturbation | None] = [
        change_number(statement, body_start, stated, pick),
        flip_modal(statement, body_start),
        change_period(statement, body_start, stated),
    ]
    if req.subject and is_body(req.subject):
        siblings = _sibling_subjects(req, chunk.text, idx)
        for sibling in siblings[pick % len(siblings):] + siblings[: pick % len(siblings)] if siblings else []:
            predicate = body.split(req.subject, 1)[-1]
            if any(SequenceMatcher(None, predicate, t).find_longest_match(0, len(predicate), 0, len(t)).size >= 8
                   for t in siblings_text.get(sibling, [])):
                continue  # the sibling is obliged to something like this too: the swap could be true
            candidates.append(swap_subject(statement, body_start, req.subject, sibling))
            break
    for pert in candidates:
        if pert is None or pert.statement == statement:
            continue
        window = pert.statement[max(0, pert.start - 12) : pert.start + len(pert.new) + 12]
        if any(part and part in idx.texts for part in pert.statement.split("\n")[-1:]) or window in idx.texts:
            continue  # the changed statement is written somewhere: it may be true there
        out.append(Item(
            id=_item_id(chunk, req.text, "tf", False, pert.kind), type="tf",
            prompt=f"根据{where}，判断下列说法是否正确：\n{pert.statement}", answer=False, source=_source(doc, chunk, *span),
            explanation=f"错误。{where}原文：{statement}（题中“{pert.new}”，原文为“{pert.old}”）", kind=pert.kind,
            meta={"statement": pert.statement, "original": statement, "old": pert.old, "new": pert.new},
        ))
    return out


# --- the pool ------------------------------------------------------------------------------------


def _no_store(settings: Settings) -> StudyError:
    return StudyError(f"{settings.data_path}: no knowledge base here (run `qianxian ingest` first)")


def item_pool(settings: Settings) -> list[Item]:
    """Every item the stored documents yield, checked by `violations`, in document then reading order."""
    try:
        corpus = store.load(settings)
    except store.NoKnowledgeBase:
        raise _no_store(settings) from None
    if not corpus.documents:
        raise _no_store(settings)
    return build_pool(corpus, settings.study)


def build_pool(corpus: store.Corpus, cfg: StudySettings | None = None) -> list[Item]:
    idx = _index(corpus, cfg or StudySettings())
    by_chunk = {c.chunk_id: (d, c) for d, c in corpus.all_chunks()}
    siblings_text: dict[str, list[str]] = defaultdict(list)
    for reqs in corpus.requirements.values():
        for req in reqs:
            if req.subject:
                siblings_text[req.subject].append(req.text)
    items: list[Item] = []
    for doc in sorted(corpus.documents, key=lambda d: d.name):
        for chunk in corpus.chunks.get(doc.doc_id, []):
            items += _blank_items(doc, chunk, idx)
        if doc.doc_type in REPORT_TYPES:
            continue
        for req in corpus.requirements.get(doc.doc_id, []):
            found = by_chunk.get(req.chunk_id)
            if found is not None:
                items += _tf_items(doc, req, found[1], idx, siblings_text)
    return _dedup([it for it in items if not violations([it])])


def _dedup(items: Iterable[Item]) -> list[Item]:
    """One item per question: the same sentence repeated (chunk overlap, a repeated provision) once."""
    seen: set[tuple[str, str, str, str]] = set()
    ids: set[str] = set()
    out = []
    for item in items:
        key = (item.source.doc_id, item.type, item.prompt, str(item.answer))
        if key in seen or item.id in ids:
            continue
        seen.add(key)
        ids.add(item.id)
        out.append(item)
    return out


# --- drawing a session -----------------------------------------------------------------------------


def _doc_matches(item: Item, wanted: str, titles: dict[str, str]) -> bool:
    return wanted in item.source.doc or wanted in item.source.title


def generate(
    settings: Settings,
    *,
    docs: Sequence[str] | None = None,
    section: str | None = None,
    n: int | None = None,
    types: Sequence[str] = ITEM_TYPES,
    seed: int | None = None,
    weigh: Callable[[Item], float] | None = None,
    only_ids: Collection[str] | None = None,
    pool: list[Item] | None = None,
) -> list[Item]:
    """A session's items: balanced across the requested types, then documents, then sections (each
    draw takes the least-used document and an unused section where it can), tf about half true."""
    unknown = [t for t in types if t not in ITEM_TYPES]
    if unknown:
        raise StudyError(f"types：未知题型 '{unknown[0]}'（可选 {'、'.join(ITEM_TYPES)}）")
    if not types:
        raise StudyError(f"types：未选择题型（可选 {'、'.join(ITEM_TYPES)}）")
    limit = settings.study.max_n
    if n is not None and not 1 <= n <= limit:
        raise StudyError(f"n：题目数量应在 1–{limit} 之间（study.max_n），收到 {n}")
    items = pool if pool is not None else item_pool(settings)
    if isinstance(docs, str):
        docs = [docs]  # one name, not its characters
    if docs:
        wanted = [d.strip() for d in docs if d and d.strip()]
        items = [it for it in items if any(w in it.source.doc or w in it.source.title for w in wanted)]
        if not items:
            raise StudyError(f"doc：没有与「{'」「'.join(wanted)}」匹配的文档")
    if section:
        items = [it for it in items if section in it.source.section_path]
        if not items:
            raise StudyError(f"section：没有与「{section}」匹配的章节")
    items = [it for it in items if it.type in types]
    if only_ids is not None:
        ids = set(only_ids)
        items = [it for it in items if it.id in ids]
        if n is None:
            n = min(len(items), limit)
    if not items:
        raise StudyError("所选文档、章节和题型下没有可出的题目（请换文档、章节或题型）")
    count = n if n is not None else settings.study.default_n
    rng = random.Random(seed) if seed is not None else random.Random()
    return _draw(items, min(count, len(items)), list(dict.fromkeys(types)), rng, weigh)


def _draw(items: list[Item], n: int, types: list[str], rng: random.Random, weigh: Callable[[Item], float] | None) -> list[Item]:
    # each item's random key (weighted: a larger weight draws a larger key), fixed for the draw
    keys = {}
    for item in items:
        w = max(weigh(item), 1e-9) if weigh else 1.0
        keys[item.id] = rng.random() ** (1.0 / w)
    by_type: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_type[item.type].append(item)
    order = [t for t in types if by_type.get(t)]
    doc_use: Counter[str] = Counter()
    section_use: Counter[str] = Counter()
    kind_use: Counter[tuple[str, str]] = Counter()
    sources: set[str] = set()
    chosen: list[Item] = []
    taken: set[str] = set()
    turn = rng.randrange(len(order)) if order else 0
    while len(chosen) < n:
        live = [t for t in order if any(it.id not in taken for it in by_type[t])]
        if not live:
            break
        type_ = live[turn % len(live)]
        turn += 1
        candidates = [it for it in by_type[type_] if it.id not in taken]
        best = min(candidates, key=lambda it: (
            kind_use[(type_, _stratum(it))], doc_use[it.source.doc_id], section_use[it.section_key],
            _unit_key(it) in sources, kind_use[(type_, it.kind)], -keys[it.id]))
        chosen.append(best)
        taken.add(best.id)
        doc_use[best.source.doc_id] += 1
        section_use[best.section_key] += 1
        kind_use[(type_, _stratum(best))] += 1
        kind_use[(type_, best.kind)] += 1
        sources.add(_unit_key(best))
    rng.shuffle(chosen)
    return chosen


def _stratum(item: Item) -> str:
    """What a session keeps even: tf true against false (about half each); any other type is one."""
    if item.type == "tf":
        return "true" if item.answer is True else "false"
    return ""


def _unit_key(item: Item) -> str:
    """Items on the same provision give each other away: a session asks about a provision once."""
    return f"{item.source.chunk_id}:{item.meta.get('original') or item.meta.get('unit', '')}"


# --- answers -------------------------------------------------------------------------------------


def is_correct(item: Item, response: str | bool | int) -> bool:
    """Whether a response answers the item: cloze by normalised text (「二十四小时」 = 「24小时」),
    tf by True/False or 对/错, mc by the choice's text, its letter or its index."""
    if item.type == "tf":
        value = _truth(response)
        return value is not None and value is bool(item.answer)
    if item.type == "mc":
        choices = list(item.choices or ())
        if isinstance(response, bool):
            return False
        if isinstance(response, int):
            return 0 <= response < len(choices) and choices[response] == item.answer
        text = unicodedata.normalize("NFKC", str(response)).strip()
        if len(text) == 1 and text.upper() in LETTERS[: len(choices)]:
            return choices[LETTERS.index(text.upper())] == item.answer
        if text.isdigit() and int(text) < len(choices) and normalise(text) not in {normalise(c) for c in choices}:
            return choices[int(text)] == item.answer
        return normalise(text) == normalise(str(item.answer))
    if isinstance(response, bool):
        return False
    got, want = normalise(str(response)), normalise(str(item.answer))
    if not got:
        return False
    if got == want or (want.endswith(("以内", "内")) and got == re.sub(r"(?:以内|内)$", "", want)):
        return True
    return _same_quantity(str(response), str(item.answer))


def _same_quantity(response: str, answer: str) -> bool:
    """「三十天」 for 「三十日」, 「6个月」 for 「六个月」: one quantity each, the same value in the same
    canonical unit (entities.quantities), nothing else written."""
    ours, theirs = quantities(response.strip()), quantities(answer.strip())
    if len(ours) != 1 or len(theirs) != 1 or ours[0].value is None:
        return False
    a, b = ours[0], theirs[0]
    whole = a.text == response.strip() and b.text == answer.strip()
    return whole and (a.value, a.unit) == (b.value, b.unit) and (a.kind == b.kind or "period" not in (a.kind, b.kind))


def _truth(response: str | bool | int) -> bool | None:
    if isinstance(response, bool):
        return response
    if isinstance(response, int):
        return {1: True, 0: False}.get(response)
    word = unicodedata.normalize("NFKC", str(response)).strip().lower().rstrip("。.!！")
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


# --- the checks ----------------------------------------------------------------------------------


def violations(items: Iterable[Item]) -> list[str]:
    """Every broken rule, one message each (an empty list: the items may be shown)."""
    out: list[str] = []
    ids: set[str] = set()
    for item in items:
        where = f"{item.id} ({item.type}/{item.kind})"
        if item.id in ids:
            out.append(f"{where}: duplicate id")
        ids.add(item.id)
        src = item.source
        a, b = src.span
        if item.type not in ITEM_TYPES:
            out.append(f"{where}: unknown type")
            continue
        if not src.passage or not 0 <= a < b <= len(src.passage):
            out.append(f"{where}: span {src.span} outside the passage")
            continue
        if not item.prompt.strip() or not item.explanation:
            out.append(f"{where}: empty prompt or explanation")
        if item.type in ("cloze", "mc"):
            out += _blank_violations(item, where)
        else:
            out += _tf_violations(item, where)
        if "original_prompt" in item.meta:
            out += _rephrase_violations(item, where)
    return out


def _generated_prompt(item: Item) -> str:
    """The prompt as generated (a rephrased item keeps it in `meta`): what the verbatim checks read."""
    return str(item.meta.get("original_prompt", item.prompt))


def _rephrase_violations(item: Item, where: str) -> list[str]:
    """A prompt reworded by an LLM (study.phrasing) passes its checks against the generated prompt,
    with the limits it was accepted under: the same answer, figures, modal words, bodies and blank."""
    from study.phrasing import check_rewrite  # phrasing builds on this module

    limits, defaults = item.meta.get("rephrase_limits") or {}, StudySettings()
    generated = replace(item, prompt=_generated_prompt(item))
    found = check_rewrite(generated, item.prompt, float(limits.get("max_ratio", defaults.rephrase_max_ratio)),
                          int(limits.get("context_chars", defaults.rephrase_context_chars)))
    return [f"{where}: rephrased prompt: {p}" for p in found]


def _blank_violations(item: Item, where: str) -> list[str]:
    src, out = item.source, []
    answer = item.answer
    if not isinstance(answer, str) or not answer:
        return [f"{where}: answer is not text"]
    if src.passage[src.span[0] : src.span[1]] != answer:
        out.append(f"{where}: answer {answer!r} is not at its span in the passage")
    unit = str(item.meta.get("unit", ""))
    if item.kind != "class_member":
        if item.prompt.count(BLANK) != 1:
            out.append(f"{where}: the prompt has {item.prompt.count(BLANK)} blanks, not 1")
        if normalise(answer) in normalise(item.prompt.replace(BLANK, "")):
            out.append(f"{where}: the prompt gives the answer {answer!r} away")
        blanked = str(item.meta.get("blanked", ""))
        if not blanked or blanked.replace(BLANK, answer, 1) != unit or blanked not in _generated_prompt(item):
            out.append(f"{where}: the prompt is not its provision with the answer blanked")
        if _occurrences(answer, unit) != 1:
            out.append(f"{where}: the answer occurs {_occurrences(answer, unit)} times in the provision")
    lines = [ln.strip() for ln in unit.split("\n") if ln.strip()]
    if not all(ln in src.passage for ln in lines):
        out.append(f"{where}: the provision is not verbatim in the passage")
    if item.type == "mc":
        choices = list(item.choices or ())
        if len(choices) != 4 or len({normalise(c) for c in choices}) != 4:
            out.append(f"{where}: needs 4 distinct choices, has {choices}")
        if choices.count(answer) != 1:
            out.append(f"{where}: the answer is not exactly one of the choices")
        scope = normalise(str(item.meta.get("enumeration", "")) if item.kind == "class_member" else src.passage)
        for choice in choices:
            if choice != answer and normalise(choice) in scope:
                out.append(f"{where}: distractor {choice!r} is also in the source provision (also correct)")
            if item.kind == "body" and choice != answer and same_function(choice, answer):
                out.append(f"{where}: distractor {choice!r} may be the same body as {answer!r}")
    return out


def _tf_violations(item: Item, where: str) -> list[str]:
    src, out = item.source, []
    if not isinstance(item.answer, bool):
        return [f"{where}: a tf answer must be True or False"]
    statement, original = str(item.meta.get("statement", "")), str(item.meta.get("original", ""))
    if not statement or statement not in _generated_prompt(item):
        out.append(f"{where}: the prompt does not show its statement")
    if not all(part.strip() in src.passage for part in original.split("\n") if part.strip()):
        out.append(f"{where}: the statement's original is not verbatim in the passage")
    if item.answer and statement != original:
        out.append(f"{where}: a true statement must be the provision verbatim")
    if not item.answer:
        if statement == original:
            out.append(f"{where}: a false statement equals the provision")
        if statement.split("\n")[-1] in src.passage:
            out.append(f"{where}: the false statement occurs in the passage")
        if original not in item.explanation:
            out.append(f"{where}: the explanation does not say what the document says")
    return out
