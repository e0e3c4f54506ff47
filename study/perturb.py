"""False statements for true/false items: one controlled change to a verbatim requirement.

A false item must be false because of exactly one thing the trainee can learn, and the document
must say otherwise: a figure changed by a plausible amount (never to a value the document itself
states for the same unit), the modal flipped (应当 ↔ 不得) where the flip leaves a clear statement,
a period or the unit of a time limit changed (每年 → 每半年, 日 → 月), or the obligated body swapped
for another body the same document obliges. Each function returns None when its change cannot be
made safely; the caller then tries another kind.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from study.entities import NUMERAL_RE, RANGE_BEFORE_RE, Quantity, number_value, quantities, range_bounds, write_quantity

# The modal markers the checklist classifies by (ingest/requirements.py): obligation 应当, prohibition
# 不得. Only these two flip cleanly; 必须/禁止/严禁/可以 in the same clause make a flip ambiguous.
_OTHER_MODALS_RE = re.compile(r"必须|禁止|严禁|可以|不应|无须|不准|有权")
# Thresholds 「不得少于/超过…」 are figures, not prohibitions: 「应当少于」 is no statement.
_THRESHOLD_AFTER_RE = re.compile(r"^(?:少于|低于|超过|高于|迟于|早于|晚于|大于|小于|多于|短于|长于)")
# 「应当」 before a manner or a place (及时、依法、按照…、在…) negates into a muddle (「不得及时、准确、全面」):
# only 「应当」 + a verb flips into a clear prohibition (「应当建立」 → 「不得建立」).
_MANNER_AFTER_RE = re.compile(
    r"^(?:及时|立即|准确|全面|如实|真实|妥善|严格|依法|依照|按照|根据|遵照|在|于|自|向|对|为|与|同|会同|定期|主动|积极|认真|切实|"
    r"予以|给予|将|把|由|从|以|逐步|优先|尽快|当|同时|分别|共同|统一)"
)
# 「不得」 before misconduct (擅自、非法…) affirms into nonsense (「应当擅自停业」).
_MISCONDUCT_AFTER_RE = re.compile(r"^(?:擅自|私自|随意|任意|非法|违法|违规|无故|以任何|超|虚|伪造|弄虚作假)")
# A clause that already carves out an exception or a condition reads ambiguously once flipped.
_EXCEPTION_RE = re.compile(r"除外|但是|但|除[^，。；]{1,30}外|未经|不得不|应当不")

# Periods a provision states, and the neighbour each is changed to (a trainee confuses neighbours).
PERIOD_SWAPS = {
    "每年": "每半年", "每半年": "每年", "每季度": "每月", "每月": "每季度", "每个月": "每季度",
    "每周": "每月", "每日": "每周", "每天": "每周", "每两年": "每年", "每2年": "每年", "每三年": "每两年",
}
# Unit changes of a time limit that keep it plausible (「三日内」 → 「三个月内」, 「六个月内」 → 「六日内」).
_UNIT_SWAPS: list[tuple[str, str, float]] = [  # (from, to, largest value the change applies to)
    ("个月", "日", 1e9), ("小时", "日", 72), ("日", "个月", 12), ("天", "个月", 12), ("日", "小时", 7), ("年", "个月", 5),
]


@dataclass(frozen=True)
class Perturbation:
    statement: str  # the false statement
    kind: str  # number | negation | period | subject
    old: str  # what the document says (the changed part, verbatim)
    new: str  # what the false statement says instead
    start: int  # where the change starts in the original statement


def _replace(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def plausible_values(value: float, unit: str) -> list[float]:
    """Changes a trainee could mistake for the real figure: doubled, halved, one more or less for
    small counts, the neighbouring round figure; a share stays between 0 and 100."""
    out: list[float] = []
    if unit in ("%", "‰"):
        out = [value + 10, value - 10, value + 5, value - 5]
        return [v for v in out if 0 < v <= 100 and v != value]
    out.append(value * 2)
    if value >= 2 and value % 2 == 0:
        out.append(value / 2)
    if value <= 10:
        out += [value + 1, value - 1]
    if 10 <= value <= 50 and value % 5 == 0:
        out += [value + 5, value - 5]
    if value >= 100 and value % 100 == 0:
        out += [value + 100, value - 100]
    return [v for v in out if v > 0 and v != value and v == int(v)]


def change_number(statement: str, body_start: int, stated: Collection[tuple[str, str, float | None]],
                  pick: int) -> Perturbation | None:
    """The first figure or time limit of the statement's own clause, changed by a plausible amount to
    a value the document never states with that unit (`stated`: the keys of its quantities)."""
    for q in quantities(statement):
        if q.start < body_start or q.value is None or q.kind == "period":
            continue
        if RANGE_BEFORE_RE.search(statement[: q.start]) or re.match(r"(?:至|到|-|－|～|~)", statement[q.end:]):
            continue  # an end of 「三万到五万人」: changed alone it may cross the other end
        low, high = range_bounds(statement, q.start, q.end, q.unit)
        options = [v for v in plausible_values(q.value, q.unit) if low < v < high and (q.kind, q.unit, v) not in stated
                   and ("figure" if q.kind == "deadline" else "deadline", q.unit, v) not in stated]
        if not options:
            continue
        value = options[pick % len(options)]
        new_text = write_quantity(value, q.text, q.chinese)
        if new_text is None or not reads_as(new_text, q.kind, q.unit, value):
            continue  # 「两人」 → 「一人」 reads as an article, not a figure
        return Perturbation(_replace(statement, q.start, q.end, new_text), "number", q.text, new_text, q.start)
    return None


def reads_as(text: str, kind: str, unit: str, value: float) -> bool:
    """Whether a rewritten quantity is read back as that quantity (the checks see what a trainee sees)."""
    found = quantities(text)
    return len(found) == 1 and found[0].key == (kind, unit, value) and found[0].text == text


def flip_modal(statement: str, body_start: int) -> Perturbation | None:
    """应当 → 不得 or 不得 → 应当, when the clause has exactly one of them and no other modal, no
    threshold (不得少于) and no exception (但…除外) that would make the flipped sentence unclear."""
    body = statement[body_start:]
    marks = [m for m in re.finditer(r"应当|不得", body)]
    if len(marks) != 1 or _OTHER_MODALS_RE.search(body) or _EXCEPTION_RE.search(body):
        return None
    m = marks[0]
    if m.group(0) == "不得" and (_THRESHOLD_AFTER_RE.match(body[m.end():]) or _MISCONDUCT_AFTER_RE.match(body[m.end():])):
        return None
    if m.group(0) == "应当" and _MANNER_AFTER_RE.match(body[m.end():]):
        return None
    if body[max(0, m.start() - 1) : m.start()] == "不":
        return None
    new = "不得" if m.group(0) == "应当" else "应当"
    start = body_start + m.start()
    return Perturbation(_replace(statement, start, start + 2, new), "negation", m.group(0), new, start)


def change_period(statement: str, body_start: int, stated: Collection[tuple[str, str, float | None]]) -> Perturbation | None:
    """A period changed to its neighbour (每年 → 每半年), or a time limit's unit changed where the
    result is still a plausible limit (「三日内」 → 「三个月内」); never to one the document states."""
    for q in quantities(statement):
        if q.start < body_start:
            continue
        if q.kind == "period" and q.text in PERIOD_SWAPS:
            new = PERIOD_SWAPS[q.text]
            if any(p.text == new for p in quantities(statement)):
                continue
            return Perturbation(_replace(statement, q.start, q.end, new), "period", q.text, new, q.start)
        if q.kind == "deadline" and q.value is not None:
            for old_unit, new_unit, most in _UNIT_SWAPS:
                numeral = NUMERAL_RE.match(q.text)
                if numeral is None or not q.text[numeral.end():].startswith(old_unit) or q.value > most:
                    continue
                canon = {"个月": "月", "天": "日"}.get(new_unit, new_unit)
                if ("deadline", canon, q.value) in stated or ("figure", canon, q.value) in stated:
                    continue
                new = q.text[: numeral.end()] + new_unit + q.text[numeral.end() + len(old_unit):]
                return Perturbation(_replace(statement, q.start, q.end, new), "period", q.text, new, q.start)
    return None


def swap_subject(statement: str, body_start: int, subject: str, sibling: str) -> Perturbation | None:
    """The obligated body replaced by a sibling, where the subject is named once in the clause and
    opens a clause (a body named inside the predicate is an object: 「指导下级疾病预防控制机构」)."""
    body = statement[body_start:]
    if body.count(subject) != 1 or sibling in statement:
        return None
    at = body.index(subject)
    if not re.search(r"(?:^|[，；：:]|^[（(][一二三四五六七八九十\d]+[）)])$", body[:at]):
        return None
    if re.match(r"(?:、|和|与|及|或|以及|等)", body[at + len(subject):]):
        return None  # one of several bodies obliged together: swapping one leaves the others
    start = body_start + at
    return Perturbation(_replace(statement, start, start + len(subject), sibling), "subject", subject, sibling, start)


def numeral_value(text: str) -> float | None:
    """The value of a quantity's numeral (the head of 「六个月」), for explanations and checks."""
    m = NUMERAL_RE.match(text)
    return number_value(m.group(0)) if m else None


__all__ = ["Perturbation", "Quantity", "change_number", "flip_modal", "change_period", "swap_subject",
           "plausible_values", "PERIOD_SWAPS", "numeral_value"]
