"""The shipped question sets are valid against corpus/, and --check reports broken items as FILE:LINE."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from evals.dataset import EvalError, check_questions, load_questions, run_check

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpus"
DEV = REPO / "evals" / "questions" / "dev.jsonl"
TEST = REPO / "evals" / "questions" / "test.jsonl"
NEWS_DEV = REPO / "evals" / "questions" / "news-dev.jsonl"
NEWS_TEST = REPO / "evals" / "questions" / "news-test.jsonl"
DEV_REFUSAL = REPO / "evals" / "questions" / "dev-refusal.jsonl"
DEV_REFUSAL2 = REPO / "evals" / "questions" / "dev-refusal2.jsonl"
DEV_REFUSAL3 = REPO / "evals" / "questions" / "dev-refusal3.jsonl"
NEWS_DEV2 = REPO / "evals" / "questions" / "news-dev2.jsonl"
DEV_REFUSAL4 = REPO / "evals" / "questions" / "dev-refusal4.jsonl"
NEWS_DEV3 = REPO / "evals" / "questions" / "news-dev3.jsonl"
TYPES = {"list", "numeric", "paraphrase", "multi_doc", "followup", "unanswerable", "news"}
# The least share of each type in either set (what the sets must be able to tell apart).
SHARES = {"list": 0.25, "numeric": 0.15, "paraphrase": 0.15, "multi_doc": 0.10, "followup": 0.10, "unanswerable": 0.12}


@pytest.mark.parametrize(
    "path", [DEV, TEST, NEWS_DEV, NEWS_TEST, DEV_REFUSAL, DEV_REFUSAL2, DEV_REFUSAL3, NEWS_DEV2, DEV_REFUSAL4, NEWS_DEV3],
    ids=["dev", "test", "news-dev", "news-test", "dev-refusal", "dev-refusal2", "dev-refusal3", "news-dev2", "dev-refusal4",
         "news-dev3"],
)
def test_shipped_sets_pass_check(path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_check(path, CORPUS) == 0, capsys.readouterr().err


def test_shipped_sets_size_and_coverage():
    dev, test = load_questions(DEV).items, load_questions(TEST).items
    assert len(dev) >= 120 and len(test) >= 60
    for items in (dev, test):
        counts = Counter(q["type"] for q in items)
        assert TYPES <= set(counts), f"missing types: {TYPES - set(counts)}"
        for kind, share in SHARES.items():
            assert counts[kind] / len(items) >= share, (kind, counts[kind], len(items))
        assert all(q["history"] for q in items if q["type"] == "followup")
        # most questions are about the official documents, not the two news articles
        assert sum(1 for q in items if any(e["doc"].startswith("regulations/") for e in q["evidence"])) >= 0.6 * len(items)
    assert not {q["id"] for q in dev} & {q["id"] for q in test}, "dev and test ids overlap"
    assert not {q["question"] for q in dev} & {q["question"] for q in test}, "dev and test share a question"


def _flat(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split())


def test_test_questions_use_provisions_no_dev_question_uses():
    """A test question is written from passages no dev question quotes: for the regulations, no article
    (or other structural unit) holds evidence of both sets."""
    from ingest.loaders import load_file
    from ingest.structure import parse

    def units(items: list[dict]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for q in items:
            for ev in q["evidence"]:
                if not ev["doc"].startswith("regulations/"):
                    continue
                blocks = parsed.setdefault(ev["doc"], parse(load_file(CORPUS / ev["doc"], ev["doc"])).blocks)
                quote = _flat(ev["quote"])
                holders = [b for b in blocks if quote in _flat("".join(line.text for g in b.groups for line in g.lines))]
                assert holders, (q["id"], ev["quote"])  # every regulation quote sits in a structural unit
                out.update((ev["doc"], " > ".join(b.path)) for b in holders)
        return out

    parsed: dict[str, list] = {}
    held_out = units(load_questions(TEST).items)
    for tuning in (DEV, DEV_REFUSAL, DEV_REFUSAL2, DEV_REFUSAL3, DEV_REFUSAL4):
        shared = units(load_questions(tuning).items) & held_out
        assert not shared, (tuning.name, shared)


def test_the_refusal_tuning_set_is_near_misses_with_answerable_twins():
    """dev-refusal.jsonl calibrates the refusal gate: mostly on-topic unanswerable questions, with answerable
    twins of the same shapes so that a stricter gate shows what it costs; none is a test question."""
    items = load_questions(DEV_REFUSAL).items
    counts = Counter(q["type"] for q in items)
    assert counts["unanswerable"] >= 30 and len(items) - counts["unanswerable"] >= 15, counts
    questions = {q["question"] for q in items}
    for other in (TEST, NEWS_TEST, DEV):
        assert not questions & {q["question"] for q in load_questions(other).items}, other.name


def _write(tmp_path: Path, items: list[dict]) -> Path:
    path = tmp_path / "qs.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    return path


def _good(qid: str = "x-1") -> dict:
    return {
        "id": qid, "type": "numeric", "question": "广西首批有几家县级医院纳入千县工程？", "answer": "44家。",
        "key_facts": [["44家", "四十四家"]],
        "evidence": [{"doc": "news/2023-09-27_guangxi_qianxian_exchange.txt", "quote": "目前全区首批44家县级医院纳入国家的“千县过程”"}],
    }


def test_good_item_passes(tmp_path: Path):
    _, problems = check_questions(_write(tmp_path, [_good()]), CORPUS)
    assert problems == []


def test_broken_quote_reported_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = _good("x-2")
    bad["evidence"] = [{"doc": bad["evidence"][0]["doc"], "quote": "全区首批45家县级医院纳入"}]
    path = _write(tmp_path, [_good(), bad])
    assert run_check(path, CORPUS) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: quote not found in news/2023-09-27_guangxi_qianxian_exchange.txt" in err
    assert f"{path}:1:" not in err


def test_check_reports_each_kind_of_problem(tmp_path: Path):
    missing_doc = {**_good("a"), "evidence": [{"doc": "news/nope.txt", "quote": "x"}]}
    unanswerable_with_evidence = {**_good("b"), "type": "unanswerable", "key_facts": []}
    answerable_without_evidence = {**_good("c"), "evidence": []}
    bad_type = {**_good("d"), "type": "Fact!"}
    bad_fact = {**_good("e"), "key_facts": ["四十五家"]}
    followup_no_history = {**_good("f"), "type": "followup"}
    path = _write(tmp_path, [missing_doc, unanswerable_with_evidence, answerable_without_evidence, bad_type, bad_fact,
                             followup_no_history, _good("a")])
    path.write_text(path.read_text(encoding="utf-8") + "{not json\n", encoding="utf-8")
    _, problems = check_questions(path, CORPUS)
    by_line = {p.line: p.reason for p in problems}
    assert "not found" in by_line[1]
    assert "unanswerable question has evidence" in by_line[2]
    assert "has no evidence" in by_line[3]
    assert "invalid type" in by_line[4]
    assert "key fact '四十五家' not found" in by_line[5]
    assert "followup question without history" in by_line[6]
    assert "duplicate id 'a'" in by_line[7]
    assert "invalid JSON" in by_line[8]


def test_load_errors_name_the_file(tmp_path: Path):
    with pytest.raises(EvalError, match="no such file"):
        load_questions(tmp_path / "missing.jsonl")
    path = _write(tmp_path, [_good()])
    path.write_text("[]\n", encoding="utf-8")
    with pytest.raises(EvalError, match=r"qs\.jsonl:1: not a JSON object"):
        load_questions(path)
