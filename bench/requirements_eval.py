"""Requirement extraction against the hand-labelled provisions (tests/data/requirements_labels.jsonl).

    .venv/bin/python bench/requirements_eval.py [--split dev|heldout|all] [--errors] [--json]
    .venv/bin/python bench/requirements_eval.py --ingest-overhead     # corpus/ ingest vs extraction time

Each labelled document is loaded and chunked the way the ingest does it and extracted with
`ingest.requirements.extract`. A predicted requirement is matched to a labelled provision by
document, section path and verbatim text (an item's text is its lead and the item). Precision
counts every requirement predicted in a labelled section (a prediction that is no labelled unit
at all, a lead listed on its own, is a false positive too); recall counts every labelled
requirement. Subject, kind and deadline/figure accuracy are over the requirements found.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.chunking import chunk_document  # noqa: E402
from ingest.loaders import load_file  # noqa: E402
from ingest.requirements import Requirement, extract  # noqa: E402
from settings import load_settings  # noqa: E402

LABELS = REPO / "tests" / "data" / "requirements_labels.jsonl"
CORPUS = REPO / "corpus"


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    subject_ok: int = 0
    kind_ok: int = 0
    value_ok: int = 0  # deadline and figure both as labelled
    errors: list[str] = field(default_factory=list)

    def add(self, other: "Score") -> None:
        for name in ("tp", "fp", "fn", "subject_ok", "kind_ok", "value_ok"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def figures(self) -> dict[str, float | int]:
        def ratio(a: int, b: int) -> float:
            return round(a / b, 3) if b else 0.0

        return {
            "labelled_requirements": self.tp + self.fn, "predicted": self.tp + self.fp,
            "precision": ratio(self.tp, self.tp + self.fp), "recall": ratio(self.tp, self.tp + self.fn),
            "subject_accuracy": ratio(self.subject_ok, self.tp), "deadline_figure_accuracy": ratio(self.value_ok, self.tp),
            "kind_accuracy": ratio(self.kind_ok, self.tp),
        }


def load_labels(split: str = "all") -> list[dict]:
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def gold_text(label: dict) -> str:
    return f"{label['lead']}\n{label['text']}" if label["lead"] else label["text"]


def predictions(doc: str) -> list[Requirement]:
    """The document extracted the way the ingest does it: loader, chunker, extractor."""
    settings = load_settings()
    loaded = load_file(CORPUS / doc, doc, settings.ingest)
    return extract(chunk_document(loaded, settings.chunking), doc)


def _same_subject(predicted: str | None, gold: str | None) -> bool:
    def norm(s: str | None) -> str:
        return "".join((s or "").split())

    return norm(predicted) == norm(gold)


def score_document(doc: str, labels: list[dict]) -> Score:
    score = Score()
    predicted = {(r.section_path, r.text): r for r in predictions(doc)}
    sections = {label["section_path"] for label in labels}
    matched: set[tuple[str, str]] = set()
    for label in labels:
        key = (label["section_path"], gold_text(label))
        pred = predicted.get(key)
        where = f"{doc} {label['section_path'].split(' > ')[-1]} 「{label['text'][:30]}」"
        if pred is not None:
            matched.add(key)
        if label["requirement"] and pred is None:
            score.fn += 1
            score.errors.append(f"missed     {where}")
        elif not label["requirement"] and pred is not None:
            score.fp += 1
            score.errors.append(f"false pos  {where} ({label['why']})")
        elif label["requirement"] and pred is not None:
            score.tp += 1
            if _same_subject(pred.subject, label["subject"]):
                score.subject_ok += 1
            else:
                score.errors.append(f"subject    {where}: {pred.subject!r} vs {label['subject']!r}")
            if pred.kind == label["kind"]:
                score.kind_ok += 1
            else:
                score.errors.append(f"kind       {where}: {pred.kind} vs {label['kind']}")
            if (pred.deadline, pred.figure) == (label["deadline"], label["figure"]):
                score.value_ok += 1
            else:
                score.errors.append(
                    f"value      {where}: {pred.deadline!r}/{pred.figure!r} vs {label['deadline']!r}/{label['figure']!r}"
                )
    for key, pred in predicted.items():  # predicted in a labelled section but no labelled unit
        if key not in matched and pred.section_path in sections:
            score.fp += 1
            score.errors.append(f"unlabelled {doc} {pred.section_path} 「{pred.text[:30]}」")
    return score


def evaluate(split: str = "all") -> tuple[dict[str, Score], Score]:
    by_doc: dict[str, list[dict]] = defaultdict(list)
    for label in load_labels(split):
        by_doc[label["doc"]].append(label)
    per_doc = {doc: score_document(doc, labels) for doc, labels in by_doc.items()}
    total = Score()
    for score in per_doc.values():
        total.add(score)
    return per_doc, total


def ingest_overhead(corpus: Path = CORPUS) -> dict[str, float | int]:
    """Ingest `corpus` into a fresh data dir with extraction off, then time the extraction the ingest
    would have run at its end (`sync_requirements`, all documents): the overhead it adds."""
    import tempfile
    import time

    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase
    from ingest.pipeline import ingest_paths
    from ingest.requirements import list_requirements, sync_requirements
    from settings import configure_offline

    configure_offline()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides={"data_dir": tmp, "requirements": {"extract": False}})
        kb = KnowledgeBase(settings, Embedder.from_settings(settings))
        started = time.perf_counter()
        report = ingest_paths(kb, [corpus], show_progress=False)
        ingest_s = time.perf_counter() - started
        with kb.writer():
            sync = sync_requirements(kb)
        n = len(list_requirements(settings))
        kb.close()
    return {"documents": sync.extracted, "chunks": report.chunks_added, "requirements": n,
            "ingest_s": round(ingest_s, 2), "extraction_s": round(sync.seconds, 3),
            "overhead": round(sync.seconds / ingest_s, 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "heldout", "all"], default="all")
    parser.add_argument("--errors", action="store_true", help="list every miss, false positive and wrong field")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--ingest-overhead", action="store_true", help="time the ingest of corpus/ and its extraction")
    args = parser.parse_args()
    if args.ingest_overhead:
        figures = ingest_overhead()
        print(json.dumps(figures, ensure_ascii=False) if args.json else
              f"{figures['documents']} documents, {figures['chunks']} chunks, {figures['requirements']} requirements: "
              f"ingest without extraction {figures['ingest_s']}s, extraction {figures['extraction_s']}s "
              f"(+{figures['overhead']:.1%})")
        return 0
    splits = ["dev", "heldout"] if args.split == "all" else [args.split]
    result = {}
    for split in splits:
        per_doc, total = evaluate(split)
        result[split] = {"overall": total.figures(), "by_document": {d: s.figures() for d, s in per_doc.items()}}
        if args.json:
            continue
        print(f"== {split}: {sum(1 for _ in load_labels(split))} labelled provisions")
        print(f"{'document':<48} {'req':>4} {'P':>6} {'R':>6} {'subj':>6} {'dl/fig':>6} {'kind':>6}")
        for doc, score in [*per_doc.items(), ("overall", total)]:
            f = score.figures()
            print(f"{doc[:48]:<48} {f['labelled_requirements']:>4} {f['precision']:>6.3f} {f['recall']:>6.3f} "
                  f"{f['subject_accuracy']:>6.3f} {f['deadline_figure_accuracy']:>6.3f} {f['kind_accuracy']:>6.3f}")
        if args.errors:
            print("\n".join(total.errors))
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
