"""Does the evidence support answering at all? The refusal gate and sentence scoring share it.

e5 cosine scores are compressed (right pairs 0.89-0.95, wrong ones up to 0.88), so a similarity
cut-off cannot tell answerable from unanswerable. What does: whether the question's specific
terms occur in the best passages, each weighted by how rare it is in the corpus (IDF). A term the
corpus never uses (报名费, 总投资) weighs most, so asking about it drops coverage sharply.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ingest.lexical import STOPWORDS, ChineseTokenizer, LexicalIndex, normalize

# Words that frame a question but carry no subject matter of their own.
_FRAME = frozenset(
    """问题 资料 文件 文档 内容 介绍 说明 具体 一下 哪些 什么 多少 是否 如何 怎样 哪里 哪个 哪家 哪位 时候 时间
    哪天 哪年 哪一年 几个 几家 几位 几天 几年 有关 相关 请问 告诉 知道 了解 提到 提及 根据 文中 文章 报道 新闻
    分别 一共 总共 共有 目前 主要 要求 重点""".split()
)
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


@dataclass
class Term:
    text: str
    weight: float


def key_terms(question: str, tokenizer: ChineseTokenizer, index: LexicalIndex) -> list[Term]:
    """The question's content words with IDF weights (unknown to the corpus = rarest)."""
    n = max(len(index), 1)
    seen: set[str] = set()
    terms: list[Term] = []
    for word, flag in tokenizer.tagged(question):
        if not _TOKEN.fullmatch(word):
            continue
        if word in STOPWORDS or word in _FRAME or word in seen:
            continue
        if len(word) == 1 and not _NUMBER.search(word):
            continue  # single characters are mostly function words
        seen.add(word)
        df = index.document_frequency(word)
        if df == 0:
            # jieba may split differently inside passages; count bigram presence instead.
            df = _substring_df(word, index)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        weight = pos_weight(word, flag)
        if weight > 0:
            terms.append(Term(word, idf * weight))
    return terms


def _substring_df(word: str, index: LexicalIndex) -> int:
    """Document frequency of a word via its rarest character bigram (0 when absent)."""
    grams = [word[i : i + 2] for i in range(len(word) - 1)] or [word]
    # Bigram tokens carry a '#' marker in the jieba+bigram mode and none in the bigram mode.
    counts = [max(index.document_frequency("#" + g), index.document_frequency(g)) for g in grams]
    return min(counts) if counts else 0


def coverage(terms: list[Term], texts: list[str]) -> float:
    """IDF-weighted share of the terms that occur in any of `texts` (1.0 when there are no terms)."""
    total = sum(t.weight for t in terms)
    if total <= 0:
        return 0.0
    haystack = normalize("\n".join(texts))
    found = sum(t.weight for t in terms if t.text in haystack)
    return found / total


def term_hits(terms: list[Term], text: str) -> set[str]:
    folded = normalize(text)
    return {t.text for t in terms if t.text in folded}


def soft_hits(terms: list[Term], text: str) -> dict[str, float]:
    """Per-term match strength in `text`: 1 for the exact term, else a discounted share of its
    character bigrams (县医院 ~ 县级医院, or a typo such as 千县过程 for 千县工程)."""
    folded = normalize(text)
    out: dict[str, float] = {}
    for t in terms:
        if t.text in folded:
            out[t.text] = 1.0
        elif len(t.text) >= 3:
            grams = [t.text[i : i + 2] for i in range(len(t.text) - 1)]
            share = sum(g in folded for g in grams) / len(grams)
            if share >= 0.3:
                out[t.text] = 0.6 * share
    return out
