"""Question sets (JSONL, INTERFACES.md): loading, structural validation, and `--check` against a corpus.

Each line: {"id", "type", "question", "answer", "key_facts", "evidence", "history"?}. `--check`
reports every problem as `FILE:LINE: reason`:
- the line is not a JSON object, a field is missing or has the wrong type, an id repeats;
- `type` is not a lower-case identifier (the known types are listed in KNOWN_TYPES; others are
  allowed by the contract), or a followup has no history;
- unanswerable <=> empty evidence (and no key facts);
- an evidence doc is not a loadable file in the corpus, or its quote is not in the doc's text as
  `ingest.loaders.load_file` extracts it, after NFKC and removing all whitespace;
- a key-fact alternative is not found in the question's evidence documents after the key-fact
  normalisation the metrics use (so 四十四家 counts when the text says 44家).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.metrics import UNANSWERABLE, fact_alternatives, normalize_fact, norm_text

KNOWN_TYPES = ("fact", "list", "numeric", "paraphrase", "multi_doc", "followup", "unanswerable")
_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class EvalError(Exception):
    """An eval input cannot be used; the message reads `path: reason` (or `path:line: reason`)."""


@dataclass
class Problem:
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class QuestionSet:
    path: Path
    items: list[dict[str, Any]] = field(default_factory=list)  # the JSON objects, as written
    lines: dict[str, int] = field(default_factory=dict)  # id -> 1-based line number


def _structure_problems(obj: Any) -> list[str]:
    if not isinstance(obj, dict):
        return ["not a JSON object"]
    out: list[str] = []
    for key in ("id", "type", "question", "answer"):
        if not isinstance(obj.get(key), str) or (key != "answer" and not obj.get(key, "").strip()):
            out.append(f"'{key}' must be a non-empty string" if key != "answer" else "'answer' must be a string")
    qtype = obj.get("type")
    if isinstance(qtype, str) and qtype and not _TYPE_RE.match(qtype):
        out.append(f"invalid type '{qtype}' (a lower-case identifier such as {', '.join(KNOWN_TYPES)})")
    facts = obj.get("key_facts")
    if not isinstance(facts, list) or not all(
        (isinstance(f, str) and f.strip())
        or (isinstance(f, list) and f and all(isinstance(a, str) and a.strip() for a in f))
        for f in facts
    ):
        out.append("'key_facts' must be a list of strings or of non-empty lists of strings")
    evidence = obj.get("evidence")
    if not isinstance(evidence, list) or not all(
        isinstance(e, dict) and isinstance(e.get("doc"), str) and isinstance(e.get("quote"), str) and e["quote"].strip()
        for e in evidence
    ):
        out.append("'evidence' must be a list of {\"doc\", \"quote\"} objects with non-empty quotes")
    history = obj.get("history", [])
    if history is not None and (not isinstance(history, list) or not all(isinstance(h, str) for h in history)):
        out.append("'history' must be a list of strings")
    if out:
        return out
    if qtype == UNANSWERABLE:
        if evidence:
            out.append("unanswerable question has evidence (must be empty)")
        if facts:
            out.append("unanswerable question has key_facts (must be empty)")
    elif not evidence:
        out.append(f"type '{qtype}' has no evidence (only unanswerable questions may have none)")
    if qtype == "followup" and not history:
        out.append("followup question without history")
    return out


def parse_questions(path: Path) -> tuple[QuestionSet, list[Problem]]:
    """Read a JSONL question set; structural problems are returned, not raised."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalError(f"{path}: cannot read ({exc.__class__.__name__}: {exc})") from None
    qs = QuestionSet(path)
    problems: list[Problem] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            problems.append(Problem(str(path), lineno, f"invalid JSON ({exc})"))
            continue
        reasons = _structure_problems(obj)
        if reasons:
            problems.extend(Problem(str(path), lineno, r) for r in reasons)
            continue
        if obj["id"] in qs.lines:
            problems.append(Problem(str(path), lineno, f"duplicate id '{obj['id']}' (first on line {qs.lines[obj['id']]})"))
            continue
        obj.setdefault("history", [])
        if obj["history"] is None:
            obj["history"] = []
        qs.items.append(obj)
        qs.lines[obj["id"]] = lineno
    if not qs.items and not problems:
        problems.append(Problem(str(path), 1, "no questions"))
    return qs, problems


def load_questions(path: Path) -> QuestionSet:
    """A valid question set, or EvalError naming the first problems as `FILE:LINE: reason`."""
    qs, problems = parse_questions(path)
    if problems:
        more = f" (and {len(problems) - 3} more; run with --check)" if len(problems) > 3 else ""
        raise EvalError("; ".join(str(p) for p in problems[:3]) + more)
    return qs


class CorpusTexts:
    """Normalised text of corpus documents, loaded on demand with the product's loader."""

    def __init__(self, corpus: Path):
        self.corpus = Path(corpus)
        self._texts: dict[str, str | None] = {}
        self._errors: dict[str, str] = {}

    def get(self, doc: str) -> tuple[str | None, str | None]:
        """(normalised text, None) or (None, reason)."""
        if doc not in self._texts:
            from ingest.documents import LoadError
            from ingest.loaders import load_file

            path = self.corpus / doc
            if not path.is_file():
                self._texts[doc], self._errors[doc] = None, f"evidence doc '{doc}' not found in {self.corpus}"
            else:
                try:
                    loaded = load_file(path, doc)
                    self._texts[doc] = norm_text("\n".join(p.text for p in loaded.pages))
                except LoadError as exc:
                    self._texts[doc], self._errors[doc] = None, f"evidence doc '{doc}' cannot be loaded: {exc.reason}"
        return self._texts[doc], self._errors.get(doc)


def check_questions(path: Path, corpus: Path) -> tuple[QuestionSet, list[Problem]]:
    """All problems of a question set against a corpus (see the module docstring)."""
    if not Path(corpus).is_dir():
        raise EvalError(f"{corpus}: no such folder")
    qs, problems = parse_questions(path)
    texts = CorpusTexts(corpus)
    for item in qs.items:
        line = qs.lines[item["id"]]
        doc_texts: list[str] = []
        for ev in item["evidence"]:
            text, error = texts.get(ev["doc"])
            if text is None:
                problems.append(Problem(str(path), line, error or "unreadable evidence doc"))
                continue
            doc_texts.append(text)
            quote = norm_text(ev["quote"])
            if quote not in text:
                problems.append(Problem(str(path), line, f"quote not found in {ev['doc']}: {ev['quote'][:40]}"))
        if doc_texts:
            joined = normalize_fact("\n".join(doc_texts))
            for fact in item["key_facts"]:
                for alt in fact_alternatives(fact):
                    if normalize_fact(alt) not in joined:
                        problems.append(Problem(str(path), line, f"key fact '{alt}' not found in the evidence docs"))
    problems.sort(key=lambda p: p.line)
    return qs, problems


def run_check(questions: Path, corpus: Path) -> int:
    """`qianxian eval --check`: print each problem as FILE:LINE: reason (stderr); 0 if clean, else 2."""
    qs, problems = check_questions(questions, corpus)
    for p in problems:
        print(str(p), file=sys.stderr)
    counts: dict[str, int] = {}
    for item in qs.items:
        counts[item["type"]] = counts.get(item["type"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{questions}: {len(qs.items)} questions ({summary}); {len(problems)} problem(s)")
    return 2 if problems else 0
