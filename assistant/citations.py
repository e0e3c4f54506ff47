"""Check an answer's [n] citations against the passages they point at.

Every generator's output passes through here: markers that name no retrieved passage are
stripped (invented keys, as paper-qa does), each sentence is scored for support against the
passages it cites (character-bigram containment, with the embedding model as a second opinion
for paraphrases), unsupported sentences are dropped, and citations are renumbered 1..m in order
of first use with the span of the passage that supports them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from assistant.generators import Passage
from ingest.structure import split_sentences
from ingest.lexical import normalize

_MARKER = re.compile(r"\[(\d{1,3})\]")
_MARKERS_AT_END = re.compile(r"(?:\s*\[\d{1,3}\])+\s*$")
# An e5 cosine this far above the passage's floor counts as full support (scores are compressed).
_EMB_FLOOR, _EMB_FULL = 0.82, 0.92


@dataclass
class CheckedSentence:
    text: str  # without markers
    cites: list[int]  # passage numbers (as the generator used them)
    support: float
    line: int = 0  # the answer line it sits on (an enumeration's items keep their lines)


@dataclass
class CheckResult:
    answer: str  # final text with renumbered markers
    sentences: list[CheckedSentence] = field(default_factory=list)
    dropped: list[CheckedSentence] = field(default_factory=list)
    invalid_markers: list[int] = field(default_factory=list)
    numbering: dict[int, int] = field(default_factory=dict)  # generator's n -> final n
    spans: dict[int, tuple[int, int] | None] = field(default_factory=dict)  # final n -> span
    support: dict[int, float] = field(default_factory=dict)  # final n -> best support


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"[\W_]+", "", normalize(text))
    return {t[i : i + 2] for i in range(len(t) - 1)} if len(t) > 1 else {t} if t else set()


def lexical_support(sentence: str, passage: str) -> float:
    """Share of the sentence's character bigrams found in the passage (1.0 for a verbatim quote)."""
    grams = _bigrams(sentence)
    if not grams:
        return 0.0
    return len(grams & _bigrams(passage)) / len(grams)


def split_answer(text: str) -> list[tuple[str, list[int], int]]:
    """Answer sentences with the markers that follow (or sit inside) each, and their line number."""
    out: list[tuple[str, list[int], int]] = []
    for number, line in enumerate(text.split("\n")):
        line = line.strip()
        if not line:
            continue
        # Markers right after a sentence end belong to that sentence: move them before the split.
        line = re.sub(r"([。！？；!?;])((?:\s*\[\d{1,3}\])+)", r"\2\1", line)
        for s, e in split_sentences(line):
            piece = line[s:e].strip()
            cites = [int(m) for m in _MARKER.findall(piece)]
            clean = _MARKER.sub("", piece).strip()
            if re.sub(r"[\W_]", "", clean):
                out.append((clean, cites, number))
    return out


def best_span(sentence: str, passage: str) -> tuple[int, int] | None:
    """Where in the passage the sentence is supported: exact offsets, else the closest sentence."""
    idx = passage.find(sentence.rstrip("。；;"))
    if idx >= 0:
        return idx, idx + len(sentence.rstrip("。；;"))
    best, best_score = None, 0.0
    for s, e in split_sentences(passage):
        score = lexical_support(sentence, passage[s:e]) * 0.5 + lexical_support(passage[s:e], sentence) * 0.5
        if score > best_score:
            best, best_score = (s, e), score
    return best if best_score > 0.2 else None


def check(
    text: str,
    passages: list[Passage],
    min_support: float,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> CheckResult:
    """Validate markers, score and filter sentences, renumber citations (see module doc)."""
    by_n = {p.n: p for p in passages}
    result = CheckResult(answer="")
    kept: list[CheckedSentence] = []
    for sentence, cites, line in split_answer(text):
        valid = [n for n in dict.fromkeys(cites) if n in by_n]
        result.invalid_markers.extend(n for n in cites if n not in by_n)
        if not valid:
            # An uncited claim: keep it only if one passage clearly supports it, and cite that one.
            scored = [(lexical_support(sentence, p.chunk.text), p.n) for p in passages]
            score, n = max(scored, default=(0.0, 0))
            checked = CheckedSentence(sentence, [n] if score >= max(min_support, 0.8) else [], score, line)
        else:
            score = max(lexical_support(sentence, by_n[n].chunk.text) for n in valid)
            checked = CheckedSentence(sentence, valid, score, line)
        (kept if checked.cites else result.dropped).append(checked)
    # Paraphrases score low on bigrams: let the embedding model vouch for them.
    weak = [s for s in kept if s.support < min_support]
    if weak and embed is not None:
        vectors = embed([s.text for s in weak] + [by_n[s.cites[0]].chunk.text for s in weak])
        for i, s in enumerate(weak):
            cosine = float(np.dot(vectors[i], vectors[len(weak) + i]))
            semantic = min(1.0, max(0.0, (cosine - _EMB_FLOOR) / (_EMB_FULL - _EMB_FLOOR)))
            s.support = max(s.support, 0.5 * s.support + 0.5 * semantic)
    for s in list(kept):
        if s.support < min_support:
            kept.remove(s)
            result.dropped.append(s)
    parts: list[str] = []
    for i, s in enumerate(kept):
        if i and s.line != kept[i - 1].line:
            parts.append("\n")
        marks = []
        for n in s.cites:
            final = result.numbering.setdefault(n, len(result.numbering) + 1)
            marks.append(f"[{final}]")
            span = best_span(s.text, by_n[n].chunk.text)
            previous = result.spans.get(final)
            if span and previous:
                span = (min(span[0], previous[0]), max(span[1], previous[1]))
            result.spans[final] = span or previous
            result.support[final] = max(result.support.get(final, 0.0), s.support)
        text_out = s.text
        end = ""
        if text_out and text_out[-1] in "。！？；!?;：:":
            text_out, end = text_out[:-1], text_out[-1]
        parts.append(f"{text_out}{''.join(marks)}{end or '。'}")
    result.sentences = kept
    result.answer = "".join(parts)
    return result
