"""Choose chunk size, BM25 tokens, fusion and the refusal threshold by measurement on the DEV set.

The test set gates CI and is never tuned on; this script reads only the dev questions.

    .venv/bin/python bench/tune_dev.py [--questions evals/questions/dev.jsonl] [--corpus corpus]

Prints retrieval metrics (hit@1/3/5, MRR) per configuration, and for the chosen configuration the
refusal trade-off: correct-refusal rate on unanswerable questions vs false-refusal rate on
answerable ones, over a grid of the gate's three thresholds (`answer.min_coverage`,
`answer.min_unit_score`, `answer.paraphrase_coverage_below`) and over `answer.unknown_word_max_gain`,
computed with the product's own gate (`Assistant.evidence` / `Evidence.passes`). `--store DIR` reuses an ingested store (e.g. eval-out/store) for the sweep.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from settings import Settings, configure_offline, load_settings

configure_offline()

from assistant import Assistant  # noqa: E402
from assistant.assistant import Evidence  # noqa: E402
from assistant.generators import Passage  # noqa: E402
from evals.metrics import score_question  # noqa: E402
from ingest.embeddings import Embedder  # noqa: E402

console = Console(width=160)


def _with(settings: Settings, section: str, **values) -> Settings:
    return settings.model_copy(update={section: getattr(settings, section).model_copy(update=values)})


def retrieval_scores(assistant: Assistant, questions: list[dict]) -> dict[str, float]:
    """Mean hit@k / MRR over answerable questions, from the same Answer records the evals use."""
    rows = []
    for q in questions:
        if not q["evidence"]:
            continue
        answer = assistant.ask(q["question"], q.get("history")).to_json()
        rows.append(score_question(q, answer))
    n = len(rows) or 1
    return {k: sum(float(r[k] or 0) for r in rows) / n for k in ("hit@1", "hit@3", "hit@5", "mrr")}


def question_evidence(assistant: Assistant, q: dict) -> Evidence:
    """The refusal gate's inputs for one question, exactly as `Assistant.ask` computes them."""
    analyzed = assistant.analyze(q["question"], q.get("history"))
    result = assistant.retriever.retrieve(analyzed.standalone, assistant.settings.retrieval.top_k)
    passages = [Passage(i + 1, c.chunk, c.score) for i, c in enumerate(result.candidates)]
    return assistant.evidence(analyzed, passages, result.query_vector)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=Path, default=Path("evals/questions/dev.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--chunk-sizes", default="200,300,450")
    parser.add_argument("--sweep-only", action="store_true", help="skip the grid; sweep the refusal threshold "
                        "for the configured settings")
    parser.add_argument("--store", type=Path, help="with --sweep-only: an ingested data dir to reuse")
    args = parser.parse_args()
    questions = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    console.print(f"[bold]dev set[/]: {args.questions} ({len(questions)} questions, "
                  f"{sum(1 for q in questions if q['evidence'])} answerable)")
    base = load_settings()
    embedder = Embedder.from_settings(base)
    tmp = Path(tempfile.mkdtemp(prefix="qianxian-tune-"))
    if args.sweep_only:
        configured = base.model_copy(update={"data_dir": args.store or tmp / "configured"})
        if not args.store:
            Assistant.from_settings(configured, embedder).add_documents([args.corpus])
        refusal_sweep(Assistant.from_settings(configured, embedder), questions)
        return

    table = Table(title="retrieval on dev (answerable questions)")
    for col in ("chunk", "tokens", "fusion", "dense w", "hit@1", "hit@3", "hit@5", "MRR", "s"):
        table.add_column(col, justify="right")
    best: tuple[float, Settings] | None = None
    for size in [int(x) for x in args.chunk_sizes.split(",")]:
        sized = _with(base.model_copy(update={"data_dir": tmp / f"c{size}"}), "chunking", max_chars=size,
                      overlap_chars=max(30, size // 5))
        Assistant.from_settings(sized, embedder).add_documents([args.corpus])
        for tokens in ("jieba", "bigram", "jieba+bigram"):
            tokened = _with(sized, "lexical", tokenizer=tokens)
            configs = [("weighted", w) for w in (0.2, 0.3, 0.4, 0.5, 0.6)] + [("rrf", 0.5)]
            configs += [("bm25 only", None), ("dense only", None)] if tokens == "jieba+bigram" else []
            for fusion, weight in configs:
                if fusion == "bm25 only":
                    cfg = _with(tokened, "retrieval", use_dense=False)
                elif fusion == "dense only":
                    cfg = _with(tokened, "retrieval", use_lexical=False)
                else:
                    cfg = _with(tokened, "retrieval", fusion=fusion, dense_weight=weight)
                t0 = time.perf_counter()
                scores = retrieval_scores(Assistant.from_settings(cfg, embedder), questions)
                table.add_row(str(size), tokens, fusion, "-" if weight is None else f"{weight:.1f}",
                              *(f"{scores[k]:.3f}" for k in ("hit@1", "hit@3", "hit@5", "mrr")),
                              f"{time.perf_counter() - t0:.0f}")
                key = scores["mrr"] + scores["hit@5"]
                if weight is not None and (best is None or key > best[0]):
                    best = (key, cfg)
    console.print(table)
    assert best is not None
    chosen = best[1]
    r = chosen.retrieval
    console.print(f"[bold]chosen[/] (max MRR + hit@5): chunk {chosen.chunking.max_chars}, tokens "
                  f"{chosen.lexical.tokenizer}, fusion {r.fusion}, dense_weight {r.dense_weight}")

    refusal_sweep(Assistant.from_settings(chosen, embedder), questions)


def refusal_sweep(assistant: Assistant, questions: list[dict]) -> None:
    """Correct refusals vs false refusals over a grid of the gate's two thresholds."""
    rows = [(question_evidence(assistant, q), bool(q["evidence"])) for q in questions]
    n_un = sum(1 for _, a in rows if not a) or 1
    n_an = sum(1 for _, a in rows if a) or 1
    results = []
    for cov in [x / 100 for x in range(0, 31, 5)]:
        for unit in [x / 100 for x in range(0, 41, 5)]:
            for para in [x / 100 for x in range(0, 51, 5)]:
                cfg = assistant.settings.answer.model_copy(
                    update={"min_coverage": cov, "min_unit_score": unit, "paraphrase_coverage_below": para})
                correct = sum(1 for e, a in rows if not a and not e.passes(cfg))
                false = sum(1 for e, a in rows if a and not e.passes(cfg))
                # ties: more correct refusals, then the higher (stricter) thresholds, the lower paraphrase bound
                results.append(((correct + n_an - false) / len(rows), correct, -false, cov, unit, -para))
    sweep = Table(title="refusal gate on dev (best 15 by accuracy; ties: more refusals first)")
    for col in ("min_coverage", "min_unit_score", "paraphrase_coverage_below", "correct refusals (unanswerable)",
                "false refusals (answerable)", "accuracy"):
        sweep.add_column(col, justify="right")
    for acc, correct, neg_false, cov, unit, neg_para in sorted(results, reverse=True)[:15]:
        sweep.add_row(f"{cov:.2f}", f"{unit:.2f}", f"{-neg_para:.2f}", f"{correct}/{n_un} ({correct / n_un:.0%})",
                      f"{-neg_false}/{n_an} ({-neg_false / n_an:.0%})", f"{acc:.3f}")
    console.print(sweep)

    gains = Table(title="refusal gate on dev: answer.unknown_word_max_gain, the other thresholds as configured")
    for col in ("unknown_word_max_gain", "correct refusals (unanswerable)", "false refusals (answerable)"):
        gains.add_column(col, justify="right")
    for limit in (None, 0.005, 0.0075, 0.009, 0.01, 0.0125, 0.015, 0.02):
        cfg = assistant.settings.answer.model_copy(
            update={"unknown_word_check": limit is not None, "unknown_word_max_gain": limit or 0.0})
        correct = sum(1 for e, a in rows if not a and not e.passes(cfg))
        false = sum(1 for e, a in rows if a and not e.passes(cfg))
        gains.add_row("off" if limit is None else f"{limit:.4f}", f"{correct}/{n_un}", f"{false}/{n_an}")
    console.print(gains)


if __name__ == "__main__":
    main()
