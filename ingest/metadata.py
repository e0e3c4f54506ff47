"""What a document says about itself: title, 文号, issuing body and date, read from its text.

Everything here is pure string work on the first and last few dozen lines, so it is cheap even
for a 500-page PDF. The heuristics follow how Chinese official documents (公文) and hospital /
government news pages are laid out:

- a 公文's own 文号 sits in its header, above or below the title; 文号 quoted later in the body
  belong to other documents;
- its date is the signature date (落款日期) under the issuing body at the end, while news pages
  label theirs (发布时间：…) in the header; dates inside sentences are usually event dates;
- its title often wraps over two or three lines and ends with the document type (通知, 方案…).
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata

import cn2an

from ingest.documents import DocMeta

# --- character classes -------------------------------------------------------------------------

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RE = re.compile(f"[{CJK}]")

HEAD_LINES = 15  # a document's header (文号, title, labelled date) lives in its first lines
LABEL_LINES = 30  # labelled dates / sources may sit a little lower on busy news pages
TAIL_LINES = 20  # the signature block (落款) lives in the last lines

# --- 文号 ----------------------------------------------------------------------------------------

_OPEN = "〔\\[［(（【"
_CLOSE = "〕\\]］)）】"
# prefix of 2-12 CJK chars, a year in any bracket, a number, 号: 国卫办医函〔2021〕538号
WENHAO_RE = re.compile(
    f"([{CJK}]{{2,12}})\\s*[{_OPEN}]\\s*((?:19|20)\\d{{2}})\\s*[{_CLOSE}]\\s*第?\\s*(\\d{{1,5}})\\s*号"
)
# words that precede a 文号 in running text but are not part of its prefix
_WENHAO_LEAD_RE = re.compile(r"^(?:根据|按照|依据|参照|详见|见|印发|转发|关于|和|及|与|以)")
_WENHAO_LABEL_RE = re.compile(r"(?:发文字号|发文号|文号)\s*[:：]")

# 文号 prefix → issuing body, for documents whose signature block was not found. Longest first.
WENHAO_ISSUERS: tuple[tuple[str, str], ...] = (
    ("国卫办", "国家卫生健康委办公厅"),
    ("国中医药办", "国家中医药管理局办公室"),
    ("国中医药", "国家中医药管理局"),
    ("国医保办", "国家医疗保障局办公室"),
    ("国医保", "国家医疗保障局"),
    ("国办", "国务院办公厅"),
    ("国卫", "国家卫生健康委员会"),
    ("国发", "国务院"),
)

# --- dates ---------------------------------------------------------------------------------------

_NUM_DATE = r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)\s*日?"
_CN_DIGITS = "〇○零OＯ0一二三四五六七八九"
_CN_DATE = (
    f"([{_CN_DIGITS}]{{4}})\\s*年\\s*(十[一二]?|[一二三四五六七八九])\\s*月\\s*"
    "(三十一?|三十|二十[一二三四五六七八九]?|十[一二三四五六七八九]?|[一二三四五六七八九])\\s*日"
)
DATE_RE = re.compile(f"{_NUM_DATE}|{_CN_DATE}")
_TIME = r"(?:\s*\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)?"
# a line that is nothing but a date (a signature date, or a news page's time stamp)
DATE_LINE_RE = re.compile(f"^[（(]?\\s*(?:{_NUM_DATE}|{_CN_DATE}){_TIME}\\s*[）)]?$")
_DATE_LABELS = "发布时间|发布日期|印发日期|成文日期|发文日期|更新时间|日期|时间"
# the label must not be the tail of a longer word: 会议时间 is an event, not a publication date
LABELLED_DATE_RE = re.compile(f"(?<![{CJK}])(?:{_DATE_LABELS})\\s*[:：]?\\s*(?:{_NUM_DATE}|{_CN_DATE})")

# --- issuer --------------------------------------------------------------------------------------

BODY_SUFFIXES = (
    "委员会", "办公厅", "办公室", "政府", "中心", "医院", "协会", "学会", "研究院", "研究所",
    "管理局", "卫健委", "卫健局", "领导小组", "小组", "局", "部", "委", "厅", "署", "院", "处", "科", "会",
)
_SOURCE_RE = re.compile(
    r"(?:来源|发文机关|发布机构|发布单位)\s*[:：]\s*(.{1,30}?)"
    r"(?=\s|编辑|作者|浏览|点击|发布|时间|日期|字号|审核|摄影|供稿|[|｜,，。;；)）]|$)"
)
_NOT_A_SOURCE = {"本站", "本网", "原创", "网络", "互联网", "未知"}

# --- title ---------------------------------------------------------------------------------------

_DOC_TYPES = (
    "通知|通报|方案|意见|办法|规定|指南|标准|规范|细则|决定|公告|批复|规划|要点|纲要|条例|计划|"
    "指引|清单|目录|制度|函|报告|解读|说明|指导原则|名单|决议|公报"
)
# ends like a document title: …的通知, …工作方案（2021-2025年）, …指南（试行）”
_TITLE_END_RE = re.compile(f"(?:{_DOC_TYPES})(?:\\s*[（(][^（()）]{{1,20}}[）)])?[”\"」』》]?$")
_SENTENCE_END = "。！？；：!?;:…"
_CLOSERS = "”’」』）)》】\"'"
_TITLE_BAD_PUNCT_RE = re.compile(r"[。；;！!？?]|[，,].*[，,]")
# header lines that are never a title
_HEADER_JUNK_RE = re.compile(
    r"^(?:[★☆]|机密|秘密|绝密|特急|加急|平急|急件|签发人|信息公开|公开方式|索引号|主题分类|"
    r"发文机关|发文字号|文号|成文日期|发布日期|发布时间|来源|作者|编辑|浏览|点击|阅读|[\d\s]+$)"
)
_META_LABEL_RE = re.compile(r"(?:发布时间|发布日期|来源|作者|责任编辑|编辑|浏览|点击数?|阅读)\s*[:：]")
# navigation / site chrome (used by the HTML loader to drop lines, and here to skip them)
_NAV_START_RE = re.compile(
    r"^(?:首页|主页|网站首页|您现在的位置|您的位置|当前位置|现在位置|所在位置|位置\s*[:：]|欢迎访问|欢迎来到|"
    r"上一篇|下一篇|上一条|下一条|上一页|下一页|相关链接|相关阅读|相关新闻|友情链接|热点新闻|"
    r"版权所有|Copyright|©|技术支持|主办单位|承办单位\s*[:：]|网站地图|设为首页|加入收藏|"
    r"浏览量|浏览次数|点击数|点击量|阅读量|访问量)",
    re.IGNORECASE,
)
_NAV_ANY_RE = re.compile(
    r"分享到|返回顶部|回到顶部|打印本页|关闭窗口|【打印】|【关闭】|\[打印\]|\[关闭\]|字号\s*[:：]?\s*[【\[]?\s*大|"
    r"【字体|扫一扫|收藏本页|ICP备|公网安备|分享至"
)
_BREADCRUMB_RE = re.compile(r"\S\s*(?:>|＞|»|›|→)\s*\S.*(?:>|＞|»|›|→)")
NAV_MAX_LEN = 60  # only short lines are chrome: an article sentence may well mention 首页

_JUNK_TITLE_RE = re.compile(
    r"^(?:microsoft\s+(?:word|powerpoint|excel)\s*-|untitled|无标题|新建|document\d*$|文档\d*$|"
    r"标题$|title$|slide\s*\d*$|powerpoint\s*演示文稿|幻灯片|wps)",
    re.IGNORECASE,
)
_FILE_EXT_RE = re.compile(r"\.(?:docx?|pdf|wps|txt|html?|xlsx?|pptx?|md|rtf)\s*$", re.IGNORECASE)
TITLE_MAX = 100


# =================================================================================================
# small predicates


def _nfkc(text: str) -> str:
    """Full-width digits and brackets (２０２１，（）) are common in 公文; matching works on NFKC."""
    return unicodedata.normalize("NFKC", text)


def has_cjk(text: str) -> bool:
    """True if any CJK ideograph occurs: tells Chinese text (and titles) from Latin junk."""
    return bool(_CJK_RE.search(text))


def is_navigation_line(line: str) -> bool:
    """A web page's chrome (breadcrumbs, share/print/close links, prev/next, footers), not content.

    Only short lines qualify, so a sentence that merely mentions 首页 survives.
    """
    s = line.strip()
    if not s or len(s) > NAV_MAX_LEN:
        return False
    return bool(_NAV_START_RE.match(s) or _NAV_ANY_RE.search(s) or _BREADCRUMB_RE.search(s))


def looks_like_body(line: str) -> bool:
    """An issuing body's name on its own line (落款): short, no sentence punctuation, a body suffix."""
    s = re.sub(r"\s+", " ", line.strip())
    if not s or len(s) > 30 or not has_cjk(s):
        return False
    if re.search(r"[。，,；;：:！!？?、\d]", s):
        return False
    last = s.split(" ")[-1]
    return last.endswith(BODY_SUFFIXES)


def is_junk_title(title: str | None, text_is_chinese: bool = False) -> bool:
    """Format metadata titles are often template leftovers: 'Microsoft Word - x.doc', 'Document1'.

    In a Chinese document a title with no Chinese character at all is junk too (e.g. 'tmp123').
    """
    if title is None:
        return True
    t = title.strip()
    if len(t) < 2 or not re.search(r"\w", t):
        return True
    if _JUNK_TITLE_RE.match(t) or _FILE_EXT_RE.search(t):
        return True
    if re.fullmatch(r"[\W\d_]+", t):
        return True
    return text_is_chinese and not has_cjk(t)


# =================================================================================================
# 文号


def _canonical_wenhao(match: re.Match[str]) -> str | None:
    """Rebuild a 文号 with 〔〕, dropping words of the sentence that crept into the prefix."""
    prefix = _WENHAO_LEAD_RE.sub("", match.group(1))
    if len(prefix) < 2:
        return None
    return f"{prefix}〔{match.group(2)}〕{int(match.group(3))}号"


def find_wenhao(lines: list[str]) -> str | None:
    """The document's own 文号: the first one in its header lines (or after a 文号/发文字号 label).

    A 文号 in the body cites another document, so only the first HEAD_LINES lines are searched
    (plus labelled ones a little lower, as on government sites' info tables), and lines that
    read as sentences are skipped even there.
    """
    for i, line in enumerate(lines[:LABEL_LINES]):
        norm = _nfkc(line)
        labelled = bool(_WENHAO_LABEL_RE.search(norm))
        if i >= HEAD_LINES and not labelled:
            continue
        # a sentence citing another document ('为贯彻落实《…》（国卫医政发〔2023〕12号）精神，…')
        # is not the header; the own 文号 stands alone, under a label, or after the title
        if not labelled and (len(norm) > 100 or re.search(r"[。，,；;]", norm)):
            continue
        m = WENHAO_RE.search(norm)
        if m:
            wenhao = _canonical_wenhao(m)
            if wenhao:
                return wenhao
    return None


def issuer_from_wenhao(wenhao: str | None) -> str | None:
    """Map well-known 文号 prefixes (国卫办, 国办 …) to the issuing body."""
    if not wenhao:
        return None
    for prefix, body in WENHAO_ISSUERS:
        if wenhao.startswith(prefix):
            return body
    return None


# =================================================================================================
# dates


def _cn_number(text: str) -> int:
    """Chinese numerals as used in dates (十二 → 12, 二十三 → 23, 二〇二一 → 2021), via cn2an."""
    try:
        return int(cn2an.cn2an(re.sub("[○零OＯ0]", "〇", text), "smart"))
    except (ValueError, KeyError, IndexError):
        return 0


def _iso(match: re.Match[str], offset: int = 0) -> str | None:
    """ISO date from a DATE_RE-shaped match (numeric groups first, then Chinese-numeral groups)."""
    g = match.groups()[offset : offset + 6]
    try:
        if g[0]:
            y, m, d = int(g[0]), int(g[1]), int(g[2])
        else:
            y, m, d = _cn_number(g[3]), _cn_number(g[4]), _cn_number(g[5])
        if not 1949 <= y <= 2100:
            return None
        return _dt.date(y, m, d).isoformat()
    except (TypeError, ValueError):
        return None


def parse_date(text: str) -> str | None:
    """The first valid date in `text` as 'YYYY-MM-DD' (2024-06-25, 2024年6月25日, 二〇二一年十月九日)."""
    for m in DATE_RE.finditer(_nfkc(text)):
        iso = _iso(m)
        if iso:
            return iso
    return None


def _labelled_date(lines: list[str]) -> str | None:
    """发布时间：2024-06-25 and friends in the header (or the last lines): the page says its date."""
    for line in lines[:LABEL_LINES] + lines[-10:]:
        for m in LABELLED_DATE_RE.finditer(_nfkc(line)):
            iso = _iso(m)
            if iso:
                return iso
    return None


def _main_part(lines: list[str]) -> list[str]:
    """Lines before the first attachment page ('附件' / '附件2' alone on a line, past the top).

    The signature block closes the main document; attachments that follow must not hide it.
    """
    for i in range(2, len(lines)):
        if re.fullmatch(r"附件\s*\d{0,2}", lines[i].strip()):
            return lines[:i]
    return lines


def _signature(lines: list[str]) -> tuple[str | None, str | None]:
    """(date, issuer) from the signature block, looked for in the main part, then everywhere."""
    main = _main_part(lines)
    found = _signature_in(main)
    if found[0] is None and len(main) < len(lines):
        found = _signature_in(lines)
    return found


def _signature_in(lines: list[str]) -> tuple[str | None, str | None]:
    """The last date-only line and the body line(s) above it; else a line starting with a date
    right under a body line near the end ('国家卫生健康委办公厅' / '2021年10月9日印发')."""
    for i in range(len(lines) - 1, -1, -1):
        if len(lines[i]) > 40:  # cheap skip: a date-only line is short; normalising costs
            continue
        m = DATE_LINE_RE.match(_nfkc(lines[i].strip()))
        if m:
            iso = _iso(m)
            if iso:
                return iso, _issuer_above(lines, i)
    for i in range(len(lines) - 1, max(0, len(lines) - TAIL_LINES), -1):
        m = DATE_RE.match(_nfkc(lines[i].strip()))
        if m and looks_like_body(lines[i - 1]):
            iso = _iso(m)
            if iso:
                return iso, _clean_body(lines[i - 1])
    return None, None


def _clean_body(line: str) -> str:
    return re.sub(r"\s+", " ", line.strip())


def _issuer_above(lines: list[str], index: int) -> str | None:
    """Body lines right above a signature date; joint documents stack several (joined with 、)."""
    bodies: list[str] = []
    j = index - 1
    while j >= 0 and len(bodies) < 3 and looks_like_body(lines[j]):
        bodies.insert(0, _clean_body(lines[j]))
        j -= 1
    return "、".join(bodies) if bodies else None


def find_date(lines: list[str]) -> str | None:
    """Labelled date first, else the signature date; never the first date of the body text."""
    return _labelled_date(lines) or _signature(lines)[0]


# =================================================================================================
# issuer


def _source_label(lines: list[str]) -> str | None:
    """'来源：医务部' (news pages) in the header or the last lines."""
    for line in lines[:LABEL_LINES] + lines[-10:]:
        for m in _SOURCE_RE.finditer(line):
            value = m.group(1).strip(" :：")
            if value and value not in _NOT_A_SOURCE:
                return value
    return None


def find_issuer(lines: list[str], wenhao: str | None = None) -> str | None:
    """Signature body, else a 来源 label, else what the 文号 prefix says."""
    return _signature(lines)[1] or _source_label(lines) or issuer_from_wenhao(wenhao)


# =================================================================================================
# title


def _is_wenhao_line(line: str) -> bool:
    """A line that is (mostly) a 文号, possibly with 签发人: never the title."""
    norm = _nfkc(line.strip())
    m = WENHAO_RE.search(norm)
    return bool(m) and len(norm) - (m.end() - m.start()) <= 12


def _meaningful(line: str) -> bool:
    """A candidate title line: real words, not chrome, labels, 文号, a bare date or a page number."""
    s = line.strip()
    if len(s) < 2 or not (has_cjk(s) or re.search(r"[A-Za-z]{4}", s)):
        return False
    if is_navigation_line(s) or _HEADER_JUNK_RE.match(s) or _is_wenhao_line(s):
        return False
    if DATE_LINE_RE.match(_nfkc(s)) or _META_LABEL_RE.search(s):
        return False
    if s.endswith("文件") and len(s) <= 25:  # red-header '国家卫生健康委员会文件'
        return False
    return True


def _ends_sentence(line: str) -> bool:
    """Whether a line ends a sentence (so the next line cannot continue a title)."""
    s = line.rstrip().rstrip(_CLOSERS)
    return not s or s[-1] in _SENTENCE_END


def _official_title(cands: list[tuple[int, str]]) -> str | None:
    """A 公文-shaped title (…关于…的通知), possibly wrapped over up to three consecutive lines."""
    for k, (idx, first) in enumerate(cands):
        joined, best = first, None
        for step in range(3):
            if step:
                if k + step >= len(cands) or cands[k + step][0] != idx + step:
                    break  # only physically consecutive lines are joined
                if _ends_sentence(joined) or len(joined) > 60:
                    break
                joined += cands[k + step][1]
            if (
                8 <= len(joined) <= TITLE_MAX
                and _TITLE_END_RE.search(joined)
                and not _TITLE_BAD_PUNCT_RE.search(joined)
                and not joined.startswith(("为", "根据", "按照"))
            ):
                best = joined  # keep going: '…工作方案' may continue with '（2021-2025年）的通知'
        if best:
            return best
    return None


def _title_before_label(lines: list[str], cands: list[tuple[int, str]]) -> str | None:
    """News pages: the headline is the line right above '发布时间：… 来源：…'."""
    for i, line in enumerate(lines[:HEAD_LINES]):
        if _META_LABEL_RE.search(line) or LABELLED_DATE_RE.search(_nfkc(line)):
            before = [s for idx, s in cands if idx < i]
            return before[-1] if before else None
    return None


def find_title(lines: list[str]) -> str:
    """Official title shape first, then the headline above a news page's labels, else the first
    meaningful line (capped); '' when nothing qualifies."""
    cands = [(i, line.strip()) for i, line in enumerate(lines[:HEAD_LINES]) if _meaningful(line)]
    title = _official_title(cands) or _title_before_label(lines, cands)
    if title:
        return title[:TITLE_MAX]
    return cands[0][1][:80] if cands else ""


# =================================================================================================
# entry point


def _nonempty_lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]


def extract_meta(text: str, title_hint: str | None = None) -> DocMeta:
    """Read title, 文号, issuer and date from a document's text.

    `title_hint` (format metadata, a DOCX Title paragraph, an HTML headline) wins unless it is junk.
    """
    lines = _nonempty_lines(text)
    chinese = has_cjk(text[:5000])
    wenhao = find_wenhao(lines)
    if title_hint is not None and not is_junk_title(title_hint, chinese):
        title = re.sub(r"\s+", " ", title_hint.strip())[:TITLE_MAX]
    else:
        title = find_title(lines)
    signed_date, signed_by = _signature(lines)
    return DocMeta(
        title=title,
        wenhao=wenhao,
        issuer=signed_by or _source_label(lines) or issuer_from_wenhao(wenhao),
        date=_labelled_date(lines) or signed_date,
    )
