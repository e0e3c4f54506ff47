"""Quality gate: the real eval on the held-out test set (ours vs plain llama-index) must stay above the
thresholds below, which sit a few points under the measured values; ours must beat the baseline."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from evals.metrics import recompute
from evals.runner import run_eval

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = REPO / "evals" / "questions" / "test.jsonl"
CORPUS = REPO / "corpus"

# Measured once on evals/questions/test.jsonl over corpus/ (112 questions, 94 answerable; 17 regulations
# and 2 news articles), extractive generator, default settings, 2026-12-03, after tuning on dev only.
# One question moves hit@5 and key-fact recall by about 0.011 and refusal accuracy by 0.009; the
# thresholds allow about two (one for false refusals: the bar is 5%).
MIN_HIT_AT_5 = 0.94  # measured 0.968 (llamaindex_default 0.904)
MIN_KEY_FACT_RECALL = 0.79  # measured 0.801 (llamaindex_default 0.778)
MIN_LIST_KEY_FACT_RECALL = 0.9  # measured 0.964 on the 28 list questions (llamaindex_default 0.839)
MIN_REFUSAL_ACCURACY = 0.91  # measured 0.929 (llamaindex_default 0.839: it never refuses)
MAX_FALSE_REFUSAL_RATE = 0.055  # measured 0.043 (4 of 94 answerable questions refused; 6 would fail)
MIN_UNANSWERABLE_REFUSED = 0.72  # measured 0.778 (14 of the 18 unanswerable questions refused; llamaindex_default 0)
MAX_MEDIAN_ANSWER_CHARS = 250  # measured 152 (llamaindex_default ~1,350 mean)


@pytest.fixture(scope="session")
def gate_results(tmp_path_factory: pytest.TempPathFactory, base_settings, embedder) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("eval-gate")
    code = run_eval(
        base_settings, QUESTIONS, CORPUS, out, ["ours", "llamaindex_default"], embedder=embedder, show_progress=False
    )
    assert code == 0
    assert (out / "report.html").stat().st_size > 100_000  # plotly.js embedded: works offline
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def _overall(results: dict[str, Any], system: str) -> dict[str, Any]:
    return results["metrics"][system]["overall"]


def test_results_shape(gate_results: dict[str, Any]):
    r = gate_results
    assert r["schema_version"] == 1
    assert set(r["systems"]) == {"ours", "llamaindex_default"} == set(r["metrics"])
    assert r["settings"]["openai"]["api_key"] != "not-needed"  # masked
    for system in r["systems"].values():
        assert len(system["questions"]) == 112
        for rec in system["questions"]:
            assert {"id", "type", "question", "answer", "refused", "citations", "retrieved", "latency_ms"} <= set(rec)
    # INTERFACES.md: at least the top 10 candidates
    for system in r["systems"].values():
        assert all(len(rec["retrieved"]) >= 10 for rec in system["questions"])
    assert {"overall", "by_type"} <= set(r["metrics"]["ours"])
    assert "unanswerable" in r["metrics"]["ours"]["by_type"]


def test_metrics_recomputable_from_raw_fields(gate_results: dict[str, Any]):
    raw = json.loads(json.dumps({k: gate_results[k] for k in ("questions", "systems")}))
    for system in raw["systems"].values():
        for rec in system["questions"]:
            rec.pop("scores", None)  # derived, not raw
    assert recompute(raw) == gate_results["metrics"]


def test_ours_above_thresholds(gate_results: dict[str, Any]):
    ours = _overall(gate_results, "ours")
    assert ours["hit@5"] >= MIN_HIT_AT_5
    assert ours["key_fact_recall"] >= MIN_KEY_FACT_RECALL
    assert ours["refusal_accuracy"] >= MIN_REFUSAL_ACCURACY
    assert ours["false_refusal_rate"] <= MAX_FALSE_REFUSAL_RATE
    assert ours["correct_refusal_rate"] >= MIN_UNANSWERABLE_REFUSED
    lists = gate_results["metrics"]["ours"]["by_type"]["list"]
    assert lists["key_fact_recall"] >= MIN_LIST_KEY_FACT_RECALL
    answered = [len(q["answer"]) for q in gate_results["systems"]["ours"]["questions"] if not q["refused"]]
    assert statistics.median(answered) <= MAX_MEDIAN_ANSWER_CHARS


def test_ours_beats_llamaindex_default_retrieval(gate_results: dict[str, Any]):
    """Strictly above plain llama-index at 1 and at 5 and in MRR (measured hit@1 0.851 vs 0.660, hit@5
    0.957 vs 0.904, MRR 0.891 vs 0.764)."""
    ours, base = _overall(gate_results, "ours"), _overall(gate_results, "llamaindex_default")
    assert ours["hit@5"] > base["hit@5"]
    assert ours["mrr"] > base["mrr"]
    assert ours["hit@1"] > base["hit@1"]


def test_every_shipped_document_is_in_the_eval_store(gate_results: dict[str, Any]):
    docs = {r["doc"] for q in gate_results["systems"]["ours"]["questions"] for r in q["retrieved"]}
    assert sum(1 for d in docs if d.startswith("regulations/")) >= 15 and any(d.startswith("news/") for d in docs)


def test_ours_beats_llamaindex_default_key_facts(gate_results: dict[str, Any]):
    """Measured 0.801 vs 0.778 (the baseline quotes two ~700-character chunks; ours one provision, or up to
    three whole passages when the question is a paraphrase: paraphrases 0.59 vs 0.75, lists 0.96 vs 0.84)."""
    ours, base = _overall(gate_results, "ours"), _overall(gate_results, "llamaindex_default")
    assert ours["key_fact_recall"] > base["key_fact_recall"]
