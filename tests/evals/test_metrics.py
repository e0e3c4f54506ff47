"""Unit tests of evals.metrics: pure functions on hand-made question items and Answer records."""

from __future__ import annotations

import pytest

from evals.metrics import (
    aggregate,
    cn_to_int,
    fact_in,
    faithfulness,
    normalize_fact,
    normalize_numerals,
    percentile,
    quote_in,
    recompute,
    score_question,
    split_sentences,
    system_metrics,
)

DOC_A = "news/a.txt"
DOC_B = "news/b.txt"


def _q(qid="q1", qtype="fact", facts=None, evidence=None):
    return {
        "id": qid, "type": qtype, "question": "？", "answer": "",
        "key_facts": facts if facts is not None else ["44家"],
        "evidence": evidence if evidence is not None else [{"doc": DOC_A, "quote": "全区首批44家县级医院纳入"}],
        "history": [],
    }


def _r(rank, doc, text):
    return {"rank": rank, "doc_id": "x", "doc": doc, "text": text, "score": 1.0 / rank}


def _a(answer="", refused=False, citations=None, retrieved=None, latency=None):
    return {
        "question": "？", "answer": answer, "refused": refused, "citations": citations or [],
        "retrieved": retrieved or [], "latency_ms": latency or {"total": 10.0},
    }


def _c(n, doc, passage):
    return {"n": n, "doc_id": "x", "doc": doc, "title": "", "wenhao": None, "section_path": "", "page": None,
            "passage": passage, "span": None}


# ------------------------------------------------------------------ numerals


@pytest.mark.parametrize(
    "text,value",
    [("零", 0), ("五", 5), ("十", 10), ("十三", 13), ("二十", 20), ("四十四", 44), ("一百零五", 105), ("两百", 200),
     ("三千零五十", 3050), ("九千九百九十九", 9999), ("二〇二四", 2024), ("一万三千", 13000), ("千", 1000)],
)
def test_cn_to_int(text, value):
    assert cn_to_int(text) == value


@pytest.mark.parametrize("text", ["", "十百", "三四十", "abc", "十一五"])
def test_cn_to_int_rejects_non_numerals(text):
    assert cn_to_int(text) is None


def test_normalize_numerals_examples():
    assert normalize_numerals("四十四家") == "44家"
    assert normalize_numerals("百分之九十以上") == "90%以上"
    assert normalize_numerals("百分之35") == "35%"
    assert normalize_numerals("两天") == normalize_numerals("二天") == "2天"
    assert normalize_numerals("13,000多位") == "13000多位"
    assert normalize_numerals("六十万") == "60万"
    assert normalize_numerals("2024年6月22日") == "2024-06-22"
    assert normalize_numerals("二〇二四年六月二十二日") == "2024-06-22"
    assert normalize_numerals("2024/6/22") == normalize_numerals("2024.06.22") == "2024-06-22"
    assert normalize_numerals("2021-2025年") == "2021-2025年"


def test_normalize_fact_width_space_markers_quotes():
    assert normalize_fact("４４ 家[1]") == "44家"
    assert normalize_fact("“双中心”") == normalize_fact("双中心")
    assert normalize_fact("CACA指南") == normalize_fact("ｃａｃａ 指南")
    assert normalize_fact("6月22—23日") == normalize_fact("6月22-23日")


def test_fact_in_numeral_equivalents():
    assert fact_in("四十四家", "目前全区首批44家县级医院[1]")
    assert fact_in("44家", "全区首批四十四家县级医院")
    assert fact_in("百分之九十", "县域就诊率达90%以上")
    assert fact_in("90%", "县域就诊率达百分之九十以上")
    assert fact_in("两天", "课程为期2天")
    assert fact_in("2024-06-22", "2024年6月22日,研修班在南宁举行")
    assert fact_in(["135个", "一百三十五个"], "累计建成135个")
    assert not fact_in("45家", "目前全区首批44家县级医院")
    assert not fact_in(["九家", "9家"], "44家医院")


# ------------------------------------------------------------------ retrieval


def test_quote_in_exact_and_overlap():
    assert quote_in("全区首批44家", "目前 全区首批\n44家 县级医院")  # whitespace from PDF extraction
    # a quote cut by a chunk boundary: 7 of its 9 bigrams present
    assert quote_in("全区首批44家县级医", "目前全区首批44家县")
    assert not quote_in("全区首批44家县级医院纳入", "首批44")


def test_hit_at_k_and_mrr():
    q = _q()
    retrieved = [
        _r(1, DOC_B, "全区首批44家县级医院纳入"),  # right text, wrong doc: not relevant
        _r(2, DOC_A, "无关的内容"),
        _r(3, DOC_A, "目前全区首批44家县级医院纳入国家的千县工程"),
        _r(4, DOC_A, "全区首批44家县级医院纳入"),
    ]
    s = score_question(q, _a("44家[1]", citations=[_c(1, DOC_A, "全区首批44家县级医院纳入")], retrieved=retrieved))
    assert (s["hit@1"], s["hit@3"], s["hit@5"]) == (False, True, True)
    assert s["mrr"] == pytest.approx(1 / 3)
    miss = score_question(q, _a("x", retrieved=[_r(i, DOC_A, "无关") for i in range(1, 11)]))
    assert (miss["hit@5"], miss["mrr"]) == (False, 0.0)
    # a relevant chunk below rank 10 does not count
    deep = [_r(i, DOC_A, "无关") for i in range(1, 11)] + [_r(11, DOC_A, "全区首批44家县级医院纳入")]
    assert score_question(q, _a("x", retrieved=deep))["mrr"] == 0.0


def test_retrieval_not_scored_for_unanswerable():
    s = score_question(_q(qtype="unanswerable", facts=[], evidence=[]), _a("拒答", refused=True))
    assert s["hit@5"] is None and s["mrr"] is None and s["key_fact_recall"] is None


# ------------------------------------------------------------------ citations, key facts


def test_citation_precision_and_recall():
    q = _q(facts=["44家", "135个"], evidence=[
        {"doc": DOC_A, "quote": "全区首批44家县级医院纳入"},
        {"doc": DOC_B, "quote": "累计建成急诊急救五大中心135个"},
    ])
    cites = [
        _c(1, DOC_A, "目前全区首批44家县级医院纳入国家的千县工程"),  # quote
        _c(2, DOC_A, "无关的段落"),  # nothing
        _c(3, DOC_B, "另有135个中心"),  # key fact, right doc, no quote
    ]
    s = score_question(q, _a("44家[1]，135个[3]", citations=cites))
    assert s["citation_precision"] == pytest.approx(2 / 3)
    assert s["citation_recall"] == pytest.approx(1 / 2)
    refused = score_question(q, _a("无法回答", refused=True))
    assert refused["citation_precision"] is None and refused["citation_recall"] == 0.0


def test_key_fact_recall_with_alternatives():
    q = _q(facts=[["44家", "四十四家"], "90%以上", "三级综合医院"])
    s = score_question(q, _a("首批四十四家[1]，县域就诊率达百分之九十以上[1]。"))
    assert s["key_fact_recall"] == pytest.approx(2 / 3)
    assert s["missed_facts"] == ["三级综合医院"]
    assert score_question(q, _a("首批44家", refused=True))["key_fact_recall"] == 0.0


# ------------------------------------------------------------------ refusal


def test_refusal_rates():
    ans_q, un_q = _q("a"), _q("u", "unanswerable", [], [])
    pairs = [
        (ans_q, _a("44家")),  # answered answerable: right
        (ans_q, _a("无法回答", refused=True)),  # false refusal
        (un_q, _a("无法回答", refused=True)),  # correct refusal
        (un_q, _a("瞎说")),  # answered an unanswerable question
        (un_q, _a("无法回答", refused=True)),
    ]
    agg = aggregate([score_question(q, a) for q, a in pairs], [a for _, a in pairs])
    assert agg["correct_refusal_rate"] == pytest.approx(2 / 3)
    assert agg["answer_rate"] == pytest.approx(1 / 2)
    assert agg["false_refusal_rate"] == pytest.approx(1 / 2)
    assert agg["refusal_accuracy"] == pytest.approx(3 / 5)
    assert (agg["n"], agg["n_answerable"], agg["n_unanswerable"]) == (5, 2, 3)


# ------------------------------------------------------------------ faithfulness


def test_split_sentences_keeps_trailing_markers():
    assert split_sentences("第一句。[1]第二句[2]！第三句；") == ["第一句。[1]", "第二句[2]!", "第三句;"]  # NFKC form


def test_faithfulness():
    passages = [_c(1, DOC_A, "目前全区首批44家县级医院纳入国家的千县工程。"), _c(2, DOC_A, "县域就诊率达90%以上。")]
    good = _a("目前全区首批44家县级医院纳入千县工程[1]。县域就诊率达90%以上[2]。", citations=passages)
    assert faithfulness(good) == 1.0
    # the second sentence cites [1], which does not hold it
    wrong = _a("目前全区首批44家县级医院纳入千县工程[1]。县域就诊率达90%以上[1]。", citations=passages)
    assert faithfulness(wrong) == 0.5
    # unmarked sentences are checked against all cited passages; an invented one fails
    assert faithfulness(_a("县域就诊率达90%以上。全国已有两千家医院完成改造。", citations=passages)) == 0.5
    assert faithfulness(_a("无法回答", refused=True)) is None
    assert faithfulness(_a("没有引用的回答。")) == 0.0


# ------------------------------------------------------------------ aggregation


def test_percentile_and_latency():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10.0], 95) == 10.0
    assert percentile([], 50) is None
    agg = aggregate([score_question(_q(), _a("44家"))] * 3,
                    [_a(latency={"total": t, "retrieve": t / 2}) for t in (10.0, 20.0, 30.0)])
    assert agg["latency_ms"]["total"] == {"p50": 20.0, "p95": pytest.approx(29.0)}
    assert agg["latency_ms"]["retrieve"]["p50"] == 10.0


def test_system_metrics_by_type_and_recompute():
    questions = [_q("q1"), _q("q2", "numeric"), _q("q3", "unanswerable", [], [])]
    records = [
        {"id": "q1", "type": "fact", **_a("44家[1]", citations=[_c(1, DOC_A, "全区首批44家县级医院纳入")],
                                          retrieved=[_r(1, DOC_A, "全区首批44家县级医院纳入")])},
        {"id": "q2", "type": "numeric", **_a("不知道", refused=True)},
        {"id": "q3", "type": "unanswerable", **_a("不知道", refused=True)},
    ]
    m = system_metrics(questions, records)
    assert set(m["by_type"]) == {"fact", "numeric", "unanswerable"}
    assert m["overall"]["hit@1"] == 0.5 and m["by_type"]["fact"]["hit@1"] == 1.0
    assert m["overall"]["key_fact_recall"] == 0.5
    assert m["overall"]["refusal_accuracy"] == pytest.approx(2 / 3)
    results = {"questions": questions, "systems": {"s": {"questions": records}}, "metrics": {"s": m}}
    assert recompute(results) == results["metrics"]
