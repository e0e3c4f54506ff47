"""Answer-quality metrics, computed from raw fields only (a question-set item + an Answer JSON record).

Everything here is pure: no model, no store. `qianxian eval` stores the question items and every
system's Answer records in results.json, and `recompute(results)` gives back exactly the metrics
stored there.

Per question (`score_question`):
- retrieval (answerable questions): a retrieved chunk is *relevant* when its `doc` is an evidence
  doc and its text (NFKC, whitespace removed) contains one of that doc's quotes, or holds at least
  60% of the quote's character bigrams (quotes cut by a chunk boundary). hit@k: a relevant chunk in
  the top k; MRR: 1/rank of the first relevant chunk in the top 10 (0 if none).
- citation precision (answerable, answered with citations): share of citations whose doc is an
  evidence doc and whose passage overlaps a quote (as above) or contains a key fact.
- citation recall (answerable): share of evidence quotes covered by some cited passage (0 if refused).
- key-fact recall (answerable, with key facts): share of key facts (any alternative) present in the
  answer after `normalize_fact` (0 if refused).
- refusal: unanswerable questions should be refused, answerable ones answered.
- faithfulness (answered): share of answer sentences (split on 。！？；) supported by the passages
  they cite (markers in the sentence; a sentence without markers uses all the answer's
  citations): at least 60% of the sentence's character bigrams occur in those passages.
- latency: the Answer's `latency_ms` per stage.
- answer length (answered): characters of the answer without whitespace and markers; not a quality
  score, but key-fact recall rewards long answers, so it is shown next to it.

Aggregates (`aggregate`): means over the questions where a metric is defined (None when none is);
refusal rates over their question groups; latency p50/p95 per stage.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

OVERLAP = 0.6  # share of a quote's (or sentence's) character bigrams that counts as "contains most of it"
RETRIEVED_DEPTH = 10
HIT_KS = (1, 3, 5)
UNANSWERABLE = "unanswerable"

_WS_RE = re.compile(r"\s+")
_MARKER_RE = re.compile(r"\[\d+\]")
_SENT_SPLIT_RE = re.compile(r"(?<=[。！？；!?;])")

# ------------------------------------------------------------------------------------------------
# normalisation


def norm_text(text: str) -> str:
    """NFKC and no whitespace: the form quotes are matched in (PDF extraction spaces text unpredictably)."""
    return _WS_RE.sub("", unicodedata.normalize("NFKC", text or ""))


def strip_markers(text: str) -> str:
    """Remove [n] citation markers."""
    return _MARKER_RE.sub("", text or "")


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS) + "万"
_CN_RUN_RE = re.compile(f"[{_CN_CHARS}]+")
_PERCENT_RE = re.compile(f"百分之([{_CN_CHARS}]+|\\d+(?:\\.\\d+)?)")


def cn_to_int(text: str) -> int | None:
    """A Chinese numeral to its value: 0-9999 with 十百千 (十三, 二十, 三千零五十, 两百), digit
    strings (二〇二四 -> 2024) and 万 groups (一万三千 -> 13000). None if `text` is not a numeral."""
    if not text or any(ch not in _CN_CHARS for ch in text):
        return None
    if "万" in text:
        high, _, low = text.partition("万")
        if "万" in low:
            return None
        high_v = cn_to_int(high) if high else 1
        low_v = cn_to_int(low) if low else 0
        if high_v is None or low_v is None:
            return None
        if low and len(low) == 1 and low in _CN_DIGITS and low_v:  # 一万三 = 13000
            low_v *= 1000
        return high_v * 10000 + low_v
    if not any(ch in _CN_UNITS for ch in text):  # plain digit string: 二〇二四, 五
        return int("".join(str(_CN_DIGITS[ch]) for ch in text))
    total, digit, last_unit = 0, None, 10**9
    for ch in text:
        if ch in _CN_DIGITS:
            if digit is not None and _CN_DIGITS[ch] != 0 and digit != 0:
                return None  # two digits in a row inside a unit numeral (三四十) is a range, not a number
            digit = _CN_DIGITS[ch]
        else:
            unit = _CN_UNITS[ch]
            if unit >= last_unit:
                return None  # units must fall: 十百 is not a numeral
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    if digit:
        # 两百五 = 250: a trailing digit after a unit counts in the next lower unit
        total += digit * (last_unit // 10 if last_unit >= 100 and text[-2] in _CN_UNITS else 1)
    return total


def _convert_run(run: str) -> str:
    suffix = ""
    if run.endswith("万") and len(run) > 1 and "万" not in run[:-1]:
        run, suffix = run[:-1], "万"  # 六十万 -> 60万, matching how Arabic figures are written (60万)
    if run == "万":
        return run
    value = cn_to_int(run)
    if value is None:
        return run + suffix
    return str(value) + suffix


def normalize_numerals(text: str) -> str:
    """Chinese numerals to Arabic: 百分之九十 -> 90%, 四十四家 -> 44家, 两天 -> 2天, 13,000 -> 13000,
    2024年6月22日 / 2024.6.22 / 2024/06/22 -> 2024-06-22."""

    def percent(m: re.Match[str]) -> str:
        body = m.group(1)
        if body[0].isdigit():
            return body + "%"
        value = cn_to_int(body)
        return f"{value}%" if value is not None else m.group(0)

    text = _PERCENT_RE.sub(percent, text)
    text = _CN_RUN_RE.sub(lambda m: _convert_run(m.group(0)), text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    text = re.sub(
        r"(\d{4})年(\d{1,2})月(\d{1,2})[日号]",
        lambda m: f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}",
        text,
    )
    text = re.sub(
        r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)",
        lambda m: f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}",
        text,
    )
    return text


_QUOTES_RE = re.compile("[\"'“”‘’「」『』《》〈〉]")
_DASH_RE = re.compile("[—–―‐－]+")


def normalize_fact(text: str) -> str:
    """The form key facts and answers are compared in: NFKC (full/half width), no whitespace, no [n]
    markers, lower case, quotation and book-title marks dropped, dashes unified, numerals normalised."""
    text = norm_text(strip_markers(text)).lower()
    text = _QUOTES_RE.sub("", text)
    text = _DASH_RE.sub("-", text)
    return normalize_numerals(text)


def bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def containment(part: str, whole: str | set[str]) -> float:
    """Share of `part`'s character bigrams found in `whole` (a text or a bigram set); both normalised."""
    grams = bigrams(part)
    if not grams:
        return 1.0 if part and isinstance(whole, str) and part in whole else 0.0
    whole_grams = whole if isinstance(whole, set) else bigrams(whole)
    return len(grams & whole_grams) / len(grams)


def quote_in(quote: str, text: str) -> bool:
    """A quote is in a text when contained verbatim or by >= OVERLAP of its bigrams (both normalised)."""
    q, t = norm_text(quote), norm_text(text)
    return bool(q) and (q in t or containment(q, t) >= OVERLAP)


def fact_alternatives(fact: str | Sequence[str]) -> list[str]:
    return [fact] if isinstance(fact, str) else [str(a) for a in fact]


def fact_in(fact: str | Sequence[str], text: str) -> bool:
    """Any alternative of a key fact found in `text` after `normalize_fact`."""
    norm = normalize_fact(text)
    return any((alt_n := normalize_fact(alt)) and alt_n in norm for alt in fact_alternatives(fact))


# ------------------------------------------------------------------------------------------------
# per question


def is_answerable(question: Mapping[str, Any]) -> bool:
    return question.get("type") != UNANSWERABLE and bool(question.get("evidence"))


def relevant_chunk(doc: str, text: str, evidence: Iterable[Mapping[str, str]]) -> bool:
    """A retrieved chunk is relevant if it comes from an evidence doc and holds (most of) its quote."""
    return any(doc == ev["doc"] and quote_in(ev["quote"], text) for ev in evidence)


def split_sentences(answer: str) -> list[str]:
    """Answer sentences, split after 。！？；; markers right after a terminator stay with that sentence."""
    text = unicodedata.normalize("NFKC", answer or "")
    parts = [p for p in _SENT_SPLIT_RE.split(text) if p.strip()]
    out: list[str] = []
    for part in parts:
        lead = re.match(r"\s*((?:\[\d+\]\s*)+)", part)
        if lead and out:  # "……。[1]下一句" -> the [1] belongs to the sentence before
            out[-1] += lead.group(1)
            part = part[lead.end() :]
        if part.strip():
            out.append(part)
    return out


def _sentence_supported(sentence: str, citations: Mapping[int, str], all_passages: list[str]) -> bool | None:
    markers = [int(m) for m in re.findall(r"\[(\d+)\]", sentence)]
    body = norm_text(strip_markers(sentence))
    body = re.sub(r"[^\w%]", "", body)  # punctuation carries no support
    if len(body) < 2:
        return None  # nothing to check (a lone mark or number)
    passages = [citations[n] for n in markers if n in citations] if markers else all_passages
    if not passages:
        return False
    grams: set[str] = set()
    for p in passages:
        grams |= bigrams(re.sub(r"[^\w%]", "", norm_text(p)))
    return containment(body, grams) >= OVERLAP


def faithfulness(answer: Mapping[str, Any]) -> float | None:
    """Share of supported sentences in an answered (not refused) Answer; None if nothing to check."""
    if answer.get("refused"):
        return None
    citations = {int(c["n"]): c.get("passage", "") for c in answer.get("citations") or []}
    all_passages = list(citations.values())
    verdicts = [_sentence_supported(s, citations, all_passages) for s in split_sentences(answer.get("answer", ""))]
    checked = [v for v in verdicts if v is not None]
    return sum(checked) / len(checked) if checked else None


def score_question(question: Mapping[str, Any], answer: Mapping[str, Any]) -> dict[str, Any]:
    """All per-question scores of one Answer record against one question-set item (None = not defined)."""
    answerable = is_answerable(question)
    refused = bool(answer.get("refused"))
    evidence = question.get("evidence") or []
    key_facts = question.get("key_facts") or []
    citations = answer.get("citations") or []
    scores: dict[str, Any] = {"answerable": answerable, "refused": refused}

    first: int | None = None
    if answerable:
        for r in (answer.get("retrieved") or [])[:RETRIEVED_DEPTH]:
            if relevant_chunk(r.get("doc", ""), r.get("text", ""), evidence):
                first = int(r.get("rank") or 0) or None
                break
        # ranks are 1-based and in order; fall back to the list position if a rank is missing
        if first is None:
            for i, r in enumerate((answer.get("retrieved") or [])[:RETRIEVED_DEPTH]):
                if relevant_chunk(r.get("doc", ""), r.get("text", ""), evidence):
                    first = i + 1
                    break
    for k in HIT_KS:
        scores[f"hit@{k}"] = (first is not None and first <= k) if answerable else None
    scores["mrr"] = (1.0 / first if first else 0.0) if answerable else None
    scores["first_relevant_rank"] = first

    evidence_docs = {ev["doc"] for ev in evidence}
    if answerable and citations:
        good = 0
        for c in citations:
            passage = c.get("passage", "")
            doc_quotes = [ev for ev in evidence if ev["doc"] == c.get("doc")]
            if c.get("doc") in evidence_docs and (
                any(quote_in(ev["quote"], passage) for ev in doc_quotes) or any(fact_in(f, passage) for f in key_facts)
            ):
                good += 1
        scores["citation_precision"] = good / len(citations)
    else:
        scores["citation_precision"] = None
    if answerable:
        covered = sum(
            1
            for ev in evidence
            if any(c.get("doc") == ev["doc"] and quote_in(ev["quote"], c.get("passage", "")) for c in citations)
        )
        scores["citation_recall"] = covered / len(evidence) if not refused else 0.0
    else:
        scores["citation_recall"] = None

    if answerable and key_facts:
        text = "" if refused else answer.get("answer", "")
        found = [fact_in(f, text) for f in key_facts]
        scores["key_fact_recall"] = sum(found) / len(key_facts)
        scores["missed_facts"] = [fact_alternatives(f)[0] for f, ok in zip(key_facts, found) if not ok]
    else:
        scores["key_fact_recall"] = None
        scores["missed_facts"] = []

    scores["refusal_correct"] = refused if not answerable else not refused
    scores["answer_chars"] = None if refused else len(norm_text(strip_markers(answer.get("answer", ""))))
    scores["faithfulness"] = faithfulness(answer)
    return scores


def failed(scores: Mapping[str, Any]) -> list[str]:
    """Why a question counts as failed (empty list: passed): wrong refusal, missed facts, retrieval miss."""
    reasons = []
    if not scores["refusal_correct"]:
        reasons.append("wrongly refused" if scores["answerable"] else "answered an unanswerable question")
    if scores["answerable"] and scores.get("hit@5") is False:
        reasons.append("retrieval miss (no relevant chunk in top 5)")
    if scores.get("missed_facts") and not scores["refused"]:
        reasons.append("missed key facts: " + "、".join(scores["missed_facts"]))
    return reasons


# ------------------------------------------------------------------------------------------------
# aggregates

MEAN_KEYS = ["hit@1", "hit@3", "hit@5", "mrr", "citation_precision", "citation_recall", "key_fact_recall", "faithfulness"]


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), q in 0..100."""
    vals = sorted(values)
    if not vals:
        return None
    pos = (len(vals) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def aggregate(scores: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Metrics over a group of questions (scores and answers in the same order)."""
    out: dict[str, Any] = {"n": len(scores)}
    answerable = [s for s in scores if s["answerable"]]
    unanswerable = [s for s in scores if not s["answerable"]]
    out["n_answerable"], out["n_unanswerable"] = len(answerable), len(unanswerable)
    for key in MEAN_KEYS:
        out[key] = _mean(s[key] for s in scores)
    out["refusal_accuracy"] = _mean(s["refusal_correct"] for s in scores)
    out["answer_chars"] = _mean(s["answer_chars"] for s in scores)  # context: key-fact recall favours long answers
    out["correct_refusal_rate"] = _mean(s["refused"] for s in unanswerable)
    out["answer_rate"] = _mean(not s["refused"] for s in answerable)
    out["false_refusal_rate"] = _mean(s["refused"] for s in answerable)
    stages: dict[str, list[float]] = {}
    for a in answers:
        for stage, ms in (a.get("latency_ms") or {}).items():
            if isinstance(ms, (int, float)):
                stages.setdefault(stage, []).append(float(ms))
    out["latency_ms"] = {st: {"p50": percentile(v, 50), "p95": percentile(v, 95)} for st, v in stages.items()}
    return out


def system_metrics(questions: Sequence[Mapping[str, Any]], records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """{"overall": {...}, "by_type": {type: {...}}} for one system; records matched to questions by id."""
    by_id = {r["id"]: r for r in records}
    pairs = [(q, by_id[q["id"]]) for q in questions if q["id"] in by_id]
    scores = [score_question(q, r) for q, r in pairs]
    result: dict[str, Any] = {"overall": aggregate(scores, [r for _, r in pairs]), "by_type": {}}
    for qtype in dict.fromkeys(q["type"] for q, _ in pairs):
        idx = [i for i, (q, _) in enumerate(pairs) if q["type"] == qtype]
        result["by_type"][qtype] = aggregate([scores[i] for i in idx], [pairs[i][1] for i in idx])
    return result


def recompute(results: Mapping[str, Any]) -> dict[str, Any]:
    """The `metrics` of a results.json, recomputed from its `questions` and `systems` raw fields."""
    questions = results["questions"]
    return {name: system_metrics(questions, sys["questions"]) for name, sys in results["systems"].items()}


# What the side-by-side table shows, in order: (key, label, higher_is_better)
TABLE_ROWS: list[tuple[str, str, bool]] = [
    ("hit@1", "hit@1", True),
    ("hit@3", "hit@3", True),
    ("hit@5", "hit@5", True),
    ("mrr", "MRR", True),
    ("key_fact_recall", "key-fact recall", True),
    ("citation_precision", "citation precision", True),
    ("citation_recall", "citation recall", True),
    ("faithfulness", "faithfulness", True),
    ("refusal_accuracy", "refusal accuracy", True),
    ("correct_refusal_rate", "correct refusal rate (unanswerable)", True),
    ("answer_rate", "answer rate (answerable)", True),
    ("false_refusal_rate", "false refusal rate", False),
]


def latency_value(overall: Mapping[str, Any], stage: str, pct: str) -> float | None:
    return ((overall.get("latency_ms") or {}).get(stage) or {}).get(pct)
