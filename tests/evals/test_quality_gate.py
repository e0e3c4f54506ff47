"""Quality gate: the real eval on the held-out test set (ours vs plain llama-index) must stay above the
thresholds below, which sit a few points under the measured values; ours must beat the baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.metrics import recompute
from evals.runner import run_eval

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = REPO / "evals" / "questions" / "test.jsonl"
CORPUS = REPO / "corpus"

# Measured on evals/questions/test.jsonl over corpus/ (36 questions, 30 answerable), extractive
# generator, default settings, 2026-11-29 (after the dev tuning: 450-char chunks, dense weight 0.2,
# min_coverage 0.55 with answer-type words and Cilin synonyms). One question more or less moves
# hit@5 by 0.033, key-fact recall by up to 0.033 and refusal accuracy by 0.028; the thresholds
# allow about one and a half.
MIN_HIT_AT_5 = 0.95  # measured 1.000 (llamaindex_default 1.000)
MIN_KEY_FACT_RECALL = 0.77  # measured 0.817 (llamaindex_default 0.801)
MIN_REFUSAL_ACCURACY = 0.85  # measured 0.889 (llamaindex_default 0.833: it never refuses, 30/36 answerable)


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
        assert len(system["questions"]) == 36
        for rec in system["questions"]:
            assert {"id", "type", "question", "answer", "refused", "citations", "retrieved", "latency_ms"} <= set(rec)
    # INTERFACES.md: at least the top 10 (llama-index's default splitter makes only 9 chunks of this corpus)
    assert all(len(rec["retrieved"]) >= 10 for rec in r["systems"]["ours"]["questions"])
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


def test_ours_beats_llamaindex_default_retrieval(gate_results: dict[str, Any]):
    """hit@5 cannot be strictly above here: llama-index's default splitter cuts this corpus into 9
    chunks of ~750 characters, so its top 5 hold over half the corpus and it reaches hit@5 = 1.0.
    Ours must match it at 5 and rank better (measured MRR 0.933 vs 0.697, hit@1 0.867 vs 0.500)."""
    ours, base = _overall(gate_results, "ours"), _overall(gate_results, "llamaindex_default")
    assert ours["hit@5"] >= base["hit@5"]
    assert ours["mrr"] > base["mrr"]
    assert ours["hit@1"] > base["hit@1"]


def test_ours_beats_llamaindex_default_key_facts(gate_results: dict[str, Any]):
    """Measured 0.817 vs 0.801, with answers a sixth as long (201 vs 1319 characters) and 4 of 6
    unanswerable questions refused where the baseline refuses none."""
    ours, base = _overall(gate_results, "ours"), _overall(gate_results, "llamaindex_default")
    assert ours["key_fact_recall"] > base["key_fact_recall"]
