"""What a practice item can test in a provision: figures, time limits, periods, named bodies, list items.

A provision states a few things a trainee must remember exactly: a quantity with its unit
(「不少于六个月」, 「400毫升」), a time limit (「二十四小时内」), a period (「每半年」), the body that acts
(「国务院卫生行政部门」), or the members of a list (「甲类传染病是指：鼠疫、霍乱。」). This module finds
them verbatim (their span in the text) together with a normalised value, so that items can blank
them, compare them across the corpus (distractors of the same kind) and change them (perturbations).

The units of measure and of time are the requirements checklist's (ingest/requirements.py): the
same concept, one list. Chinese numerals are read with cn2an (「二十四」 = 24, 「两」 = 2).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass

import cn2an

# The units the checklist reads figures and time limits with (one list for the product).
from ingest.requirements import FIGURE_UNIT, TIME_UNIT

# A number: digits, or a run of Chinese numerals (not 〇: 「二〇一九年」 is a year). A lone 百/千/万
# is a word (「百家」), not a number.
_CN_DIGITS = "一二三四五六七八九十百千万两零"
_NUM = rf"(?:\d+(?:\.\d+)?|[{_CN_DIGITS}]{{2,6}}|[一二三四五六七八九十两](?:点[一二三四五六七八九]+)?)"
# Not inside a longer number, an ordinal (第三十日), a date (5月1日) or a compound (统一、同一日).
_BEFORE = r"(?<![\d.第月〇零统同唯万千百十九八七六五四三二一两逐单])"
# 「上一年度」 is a calendar year, not a duration: 年 before 度 is no figure.
# The numeral that opens a quantity's text (「六」 of 「六个月」, 「20」 of 「20个工作日内」).
NUMERAL_RE = re.compile(r"\d+(?:\.\d+)?|[一二三四五六七八九十百千万两零点]+")
_QUANTITY_RE = re.compile(rf"{_BEFORE}({_NUM})\s*({FIGURE_UNIT})(?!度)")
_WITHIN_RE = re.compile(rf"{_BEFORE}({_NUM})\s*({TIME_UNIT})(以内|内)")
# 「每年1月1日」「每年年底前」 name a date each year, not how often something is done.
_PERIOD_RE = re.compile(rf"每(半年|季度|(?:{_NUM})?\s*(?:{TIME_UNIT}))(?![度前后内底末初\d一二三四五六七八九十年月])")
# The upper end of a range (「三至九人」): blanked alone it reads as a different figure.
RANGE_BEFORE_RE = re.compile(rf"{_NUM}(?:{FIGURE_UNIT})?(?:至|到|-|－|～|~)$")
# Counting units whose 「一」 is an article (「指定一名工作人员」), not a figure worth testing.
_COUNT_UNITS = frozenset({"名", "人", "人次", "家", "所", "台", "张", "辆", "床"})
TIME_UNITS = frozenset(u for u in TIME_UNIT.split("|"))
_UNIT_CANON = {"天": "日", "个月": "月", "个工作日": "工作日"}

# A named body: the heads of the organisations that act in laws and 公文 (a subset of the
# checklist's actor heads: people and categories of people are not bodies).
BODY_HEADS = ("委员会", "人民政府", "部门", "机关", "机构", "中心", "血站", "卫生院", "医院", "单位", "协会", "企业")
# A noun phrase that only points back or generalises (「该机构」「有关部门」「其他单位」) is no name.
_GENERIC_START_RE = re.compile(r"^(?:本|该|其|此|有关|相关|其他|其它|上述|前款|各|任何|所在|同级|上级|下级|上一级|下列|以下)")
_COORDINATION_RE = re.compile(r"[、和与及或，,]")
# A phrase that starts with a negation or a verb describes a body (「无医疗机构」「取得许可的单位」).
# A phrase with a verb of one body acting on another is a clause cut short (「税务机关责令用人单位」),
# one ending a list (「医疗保障等有关部门」) no single body.
_CLAUSE_IN_NAME_RE = re.compile(r"责令|会同|通知|要求|协助|配合|委托|等")
# So does one named by what it does in this provision (「组织编制部门」「受理申请部门」): it may be any office.
_NOT_A_NAME_RE = re.compile(
    r"^(?:无|非|未|不|取得|经|设置|设立|依法|具有|具备|承担|从事|负责|被|组织|编制|受理|实施|作出|审批|批准|指定|委托|举办|开办|提供)"
)


@dataclass(frozen=True)
class Quantity:
    """A figure, time limit or period found verbatim in a text."""

    start: int
    end: int
    text: str  # verbatim: 「六个月」「二十四小时内」「每半年」
    kind: str  # figure | deadline | period
    value: float | None  # the number (None for a period without one: 每年 counts 1)
    unit: str  # canonical unit: 日 for 天, 月 for 个月
    chinese: bool  # written in Chinese numerals (a changed value is written the same way)

    @property
    def key(self) -> tuple[str, str, float | None]:
        """What two mentions share when they state the same thing (「6个月」 = 「六个月」)."""
        return (self.kind, self.unit, self.value)


@functools.lru_cache(maxsize=4096)  # a pure function of short numerals, read thousands of times per pool
def number_value(text: str) -> float | None:
    """A numeral's value: digits or Chinese numerals (「二十四」 → 24, 「两」 → 2, 「零点五」 → 0.5)."""
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    try:
        return float(cn2an.cn2an(text.replace("两", "二"), "strict"))
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def write_number(value: float, chinese: bool) -> str:
    """A value written the way the provision writes its numbers (digits, or Chinese numerals)."""
    if value == int(value):
        value = int(value)
    return cn2an.an2cn(value) if chinese else str(value)


def write_quantity(value: float, like: str, chinese: bool) -> str | None:
    """A quantity written like `like` (its unit and suffix as written) with another value:
    「六个月」 with 3 → 「三个月」; 2 before 个 is 「两」 (「两个月」, not 「二个月」)."""
    numeral = NUMERAL_RE.match(like)
    if numeral is None:
        return None
    rest = like[numeral.end():]
    if rest.startswith("万"):  # 「5万元」: the value is counted in 万 (below 1万 in 元: 「2000元」)
        value, rest = (value / 10000, rest) if value >= 10000 else (value, rest[1:])
    written = write_number(value, chinese)
    if chinese and written == "二" and rest.startswith("个"):
        written = "两"
    return written + rest


def canonical_unit(unit: str) -> str:
    return _UNIT_CANON.get(unit, unit)


def quantities(text: str) -> list[Quantity]:
    """Every figure, time limit and period in the text, in order, not overlapping (a time limit
    wins over the figure inside it, a period over its count)."""
    found: list[Quantity] = []
    for m in _WITHIN_RE.finditer(text):
        value = number_value(m.group(1))
        if value is not None:
            found.append(Quantity(m.start(), m.end(), m.group(0), "deadline", value, canonical_unit(m.group(2)),
                                  not m.group(1)[0].isdigit()))
    for m in _PERIOD_RE.finditer(text):
        body = m.group(1).replace(" ", "")
        num = re.match(rf"{_NUM}", body)
        value = number_value(num.group(0)) if num else None
        unit = canonical_unit(body[num.end():] if num else body)
        found.append(Quantity(m.start(), m.end(), m.group(0), "period", value, unit, bool(num) and not body[0].isdigit()))
    for m in _QUANTITY_RE.finditer(text):
        value = number_value(m.group(1))
        unit = m.group(2)
        if value is None or (unit == "年" and value >= 1000):  # a year, not a duration
            continue
        chinese = not m.group(1)[0].isdigit()
        if value == 1 and chinese and unit in _COUNT_UNITS:
            continue
        if unit == "万元":  # 「5万元」 and 「五万元」 state the same sum
            value, unit = value * 10000, "元"
        found.append(Quantity(m.start(), m.end(), m.group(0), "figure", value, canonical_unit(unit), chinese))
    found.sort(key=lambda q: (q.start, -(q.end - q.start)))
    out: list[Quantity] = []
    for q in found:
        if out and q.start < out[-1].end:
            continue
        out.append(q)
    return out


def range_bounds(text: str, start: int, end: int, unit: str) -> tuple[float, float]:
    """The other end of a range the blank is one end of: 「五万元以上____以下」 keeps every choice
    above 五万元, 「____以上一万元以下」 below 一万元 (a choice outside the range is no choice)."""
    low, high = 0.0, math.inf
    before, after = text[max(0, start - 16) : start], text[end : end + 18]
    if before.endswith("以上"):
        found = [q for q in quantities(before[:-2]) if q.unit == unit and q.value is not None]
        if found and found[-1].end == len(before) - 2:
            low = found[-1].value or 0.0
    if after.startswith("以上"):
        found = [q for q in quantities(after[2:]) if q.unit == unit and q.value is not None]
        if found and found[0].start == 0:
            high = found[0].value or math.inf
    return low, high


def normalise(text: str) -> str:
    """What two spellings of the same answer share: NFKC, no spaces or punctuation, digits for
    Chinese numerals (「二十四小时内」 = 「24 小时内」). Only numeral runs are converted (cn2an on
    each run): both sides of a comparison go through the same function, so a word holding a
    numeral character (统一) stays comparable."""
    text = _NUMERAL_RUN_RE.sub(_digits, unicodedata.normalize("NFKC", text))
    return _NOISE_RE.sub("", text).lower()


# spaces and punctuation; a share's % and a decimal point between digits stay
_NOISE_RE = re.compile(r"(?<!\d)\.|\.(?!\d)|[^\w%‰.]|_")
_NUMERAL_RUN_RE = re.compile(r"[一二三四五六七八九十百千万两零〇]+(?:点[一二三四五六七八九零〇]+)?")


def _digits(match: re.Match[str]) -> str:
    value = number_value(match.group(0))
    if value is None:
        return match.group(0)
    return str(int(value)) if value == int(value) else str(value)


def is_body(phrase: str) -> bool:
    """A named body: one organisation (not a list of them), named specifically, with a body head,
    written in plain characters (a subject cut inside a quoted name, 「取得《医疗机构」, is none)."""
    if not 4 <= len(phrase) <= 24 or _COORDINATION_RE.search(phrase) or _GENERIC_START_RE.match(phrase):
        return False
    if not re.fullmatch(r"[\u4e00-\u9fff]+", phrase) or _NOT_A_NAME_RE.match(phrase) or _CLAUSE_IN_NAME_RE.search(phrase):
        return False
    if _GENERIC_START_RE.match(body_core(phrase)):  # 「国务院有关部门」: a level, then no name
        return False
    return phrase.endswith(BODY_HEADS) and "的" not in phrase


_LEVEL_RE = re.compile(
    r"^(?:国务院|中央|国家|全国|省、自治区、直辖市|省级|省|自治区|直辖市|设区的市级?|市、区|市级|市|区|县级以上地方|县级以上|县级|"
    r"乡镇|乡、镇|地方各级|地方|各级|本级|本市|本省|人民政府|政府|所在地|当地)+"
)


def body_core(phrase: str) -> str:
    """A body's function without its level (「县级以上地方人民政府卫生行政部门」 → 「卫生行政部门」)
    or its kind (「公立医疗机构」 → 「医疗机构」: a kind of a body is that body too)."""
    core = _LEVEL_RE.sub("", phrase) or phrase
    return _SUBTYPE_RE.sub("", core) or core


def same_function(a: str, b: str) -> bool:
    """Whether two bodies may be the same office under two names or at two levels: their functions
    start with the same word (「卫生行政部门」 and 「卫生健康主管部门」). Such a pair is never a
    distractor for the other, nor a sibling to swap in (it could also be right)."""
    return cores_overlap(body_core(a), body_core(b))


def cores_overlap(ca: str, cb: str) -> bool:
    """`same_function` on functions already stripped of their level and kind (`body_core`). A body
    whose name holds another's in order is a kind of it (「院内医疗急救机构」 is a 「医疗机构」)."""
    return ca[:2] == cb[:2] or _within(ca, cb) or _within(cb, ca)


def _within(short: str, long: str) -> bool:
    """Whether `short`'s characters occur in `long` in order (「医疗机构」 in 「院内医疗急救机构」)."""
    chars = iter(long)
    return len(short) <= len(long) and all(ch in chars for ch in short)


# Qualifiers that name a kind of a body (a 公立医疗机构 is a 医疗机构): compared without them.
_SUBTYPE_RE = re.compile(r"^(?:公立|综合性|军队|定点|基层|专科|非营利性|营利性|民营|社会办|二级|三级|承担[^的]*的)")


# --- inline lists --------------------------------------------------------------------------------

# 「甲类传染病是指：鼠疫、霍乱。」「…包括：A、B、C等。」: a lead naming a class, and its members.
_INLINE_LIST_RE = re.compile(
    r"(?P<lead>[^，。；：:、]{2,24}?)(?P<verb>是指|包括|分为|主要有|主要包括)[:：]?(?P<items>[^。；：:]+)"
)
_ITEM_MAX = 14


@dataclass(frozen=True)
class InlineList:
    """A lead and the members it lists, each member with its span in the text."""

    start: int
    end: int
    lead: str  # 「甲类传染病」
    members: tuple[tuple[int, int, str], ...]


def inline_lists(text: str) -> list[InlineList]:
    """Lists written in one sentence: the members of the first clause after the lead, split at 、
    (a clause that carves out an exception, 「除霍乱…以外的感染性腹泻病」, is not a member)."""
    out: list[InlineList] = []
    for m in _INLINE_LIST_RE.finditer(text):
        items_start = m.start("items")
        first_clause = re.split(r"[，,]", m.group("items"))[0]
        members: list[tuple[int, int, str]] = []
        pos = items_start
        for raw in first_clause.split("、"):
            piece = raw.strip()
            start = text.find(piece, pos) if piece else -1
            pos += len(raw) + 1
            if "等" in piece:  # 「担架员等急救人员」: the member, then the list's summary noun
                piece = piece.split("等", 1)[0]
            if not piece or start < 0 or len(piece) > _ITEM_MAX or re.search(r"除|以外|其他|其它|的$", piece):
                continue
            members.append((start, start + len(piece), piece))
        if len(members) >= 2:
            lead = re.sub(r"^(?:本法|本条例|本规定|本办法)(?:规定|所称)?的?", "", m.group("lead").strip())
            out.append(InlineList(m.start(), m.end(), lead, tuple(members)))
    return out
