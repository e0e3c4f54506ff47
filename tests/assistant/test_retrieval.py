"""Hybrid retrieval over the real store: fusion arithmetic, filters, BM25/dense switches, rerank."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from assistant import AskOptions, Assistant
from assistant.retrieval import Filters, fuse
from assistant.question import normalize_question
from settings import RetrievalSettings

EXCHANGE = "news/2023-09-27_guangxi_qianxian_exchange.txt"  # dated 2023-09-30
WORKSHOP = "news/2024-06-22_zsyy_guangxi_quality_workshop.txt"  # dated 2024-06-25

LEXICAL = [("a", 10.0), ("b", 5.0), ("c", 0.0)]
DENSE = [("b", 0.9), ("c", 0.8), ("d", 0.7)]


# --------------------------------------------------------------------------- fusion


def test_weighted_fusion_mixes_min_max_normalised_scores():
    fused = fuse(LEXICAL, DENSE, RetrievalSettings(fusion="weighted", dense_weight=0.4))
    # lexical a=1 b=.5 c=0; dense b=1 c=.5 d=0; weights .6/.4
    expected = [("b", 0.7), ("a", 0.6), ("c", 0.2), ("d", 0.0)]
    assert [cid for cid, _ in fused] == [cid for cid, _ in expected]
    for (_, got), (_, want) in zip(fused, expected):
        assert got == pytest.approx(want)


def test_rrf_fusion_uses_ranks_only():
    cfg = RetrievalSettings(fusion="rrf", dense_weight=0.4, rrf_k=60)
    fused = dict(fuse(LEXICAL, DENSE, cfg))
    assert fused["a"] == pytest.approx(0.6 / 61)
    assert fused["b"] == pytest.approx(0.6 / 62 + 0.4 / 61)
    assert fused["c"] == pytest.approx(0.6 / 63 + 0.4 / 62)
    assert fused["d"] == pytest.approx(0.4 / 63)
    # Unlike weighted fusion, c (ranked by both) beats a (top of one list only).
    assert [cid for cid, _ in fuse(LEXICAL, DENSE, cfg)] == ["b", "c", "a", "d"]
    # Raw scores do not matter to rrf: rescaling one list changes nothing.
    scaled = [(cid, s * 1000) for cid, s in LEXICAL]
    assert fuse(scaled, DENSE, cfg) == fuse(LEXICAL, DENSE, cfg)


def test_fusion_edge_cases():
    cfg = RetrievalSettings(fusion="weighted", dense_weight=0.4)
    assert fuse([], [], cfg) == []
    # One list only (the other retriever is switched off): its order is kept.
    assert [cid for cid, _ in fuse(LEXICAL, [], cfg)] == ["a", "b", "c"]
    # Equal scores normalise to 1, and ties are broken by id (deterministic).
    assert fuse([("y", 3.0), ("x", 3.0)], [], cfg) == [("x", pytest.approx(0.6)), ("y", pytest.approx(0.6))]
    assert fuse([], DENSE, RetrievalSettings(dense_weight=1.0))[0] == ("b", pytest.approx(1.0))


# --------------------------------------------------------------------------- filters


def test_filters_where_clause(corpus_assistant: Assistant):
    kb = corpus_assistant.kb
    assert Filters().where(kb) is None
    by_name = {n.name: n.doc_id for n in kb.names()}
    assert Filters(docs=[WORKSHOP]).where(kb) == {"doc_id": {"$in": [by_name[WORKSHOP]]}}
    assert Filters(date_from="2024-01-01", date_to="2024-12-31").where(kb) == {
        "$and": [{"date_int": {"$gte": 20240101}}, {"date_int": {"$lte": 20241231}}]
    }


def test_document_filter_restricts_results(corpus_assistant: Assistant):
    question = "千县工程 研修班 急诊急救五大中心"  # words from both documents
    unfiltered = {c.chunk.doc for c in corpus_assistant.retriever.retrieve(question, 10).candidates}
    assert unfiltered == {EXCHANGE, WORKSHOP}
    for name in (EXCHANGE, WORKSHOP):
        result = corpus_assistant.retriever.retrieve(question, 10, Filters(docs=[name]))
        assert result.candidates and {c.chunk.doc for c in result.candidates} == {name}
    # Doc ids work as well as names.
    doc_id = corpus_assistant.kb.name_record(WORKSHOP).doc_id
    result = corpus_assistant.retriever.retrieve(question, 10, Filters(docs=[doc_id]))
    assert {c.chunk.doc for c in result.candidates} == {WORKSHOP}


def test_date_filter_restricts_results(corpus_assistant: Assistant):
    question = "千县工程 研修班 急诊急救五大中心"
    retrieve = corpus_assistant.retriever.retrieve
    later = retrieve(question, 10, Filters(date_from="2024-01-01")).candidates
    assert later and {c.chunk.doc for c in later} == {WORKSHOP}
    earlier = retrieve(question, 10, Filters(date_to="2023-12-31")).candidates
    assert earlier and {c.chunk.doc for c in earlier} == {EXCHANGE}
    # Inclusive bounds: the exchange article is dated 2023-09-30.
    exact = retrieve(question, 10, Filters(date_from="2023-09-30", date_to="2023-09-30")).candidates
    assert exact and {c.chunk.doc for c in exact} == {EXCHANGE}
    assert retrieve(question, 10, Filters(date_from="2025-01-01")).candidates == []
    assert retrieve(question, 10, Filters(doc_type="policy")).candidates == []


def test_filters_through_ask_options(corpus_assistant: Assistant):
    answer = corpus_assistant.ask("承办单位是哪家？", options=AskOptions(docs=[EXCHANGE]))
    assert answer.retrieved and {r.doc for r in answer.retrieved} == {EXCHANGE}
    assert {c.doc for c in answer.citations} <= {EXCHANGE}
    nothing = corpus_assistant.ask("承办单位是哪家？", options=AskOptions(date_from="2030-01-01"))
    assert nothing.refused and nothing.retrieved == [] and nothing.citations == []


# --------------------------------------------------------------------------- bm25_only / dense_only


def test_bm25_only_and_dense_only(corpus_assistant: Assistant, tweak):
    question = "累计建成多少个急诊急救五大中心？"
    retriever = corpus_assistant.retriever
    hybrid = retriever.retrieve(question, 10)
    assert all(c.lexical_score is not None or c.dense_score is not None for c in hybrid.candidates)
    assert {"lexical", "embed", "dense"} <= set(hybrid.timings)

    base = corpus_assistant.settings.retrieval
    bm25 = retriever.retrieve(question, 10, cfg=base.model_copy(update={"use_dense": False}))
    assert bm25.candidates and all(c.dense_score is None and c.lexical_score is not None for c in bm25.candidates)
    assert "embed" not in bm25.timings and "dense" not in bm25.timings
    lexical_scores = [c.lexical_score for c in bm25.candidates]
    assert lexical_scores == sorted(lexical_scores, reverse=True)

    dense = retriever.retrieve(question, 10, cfg=base.model_copy(update={"use_lexical": False}))
    assert len(dense.candidates) == 10
    assert all(c.lexical_score is None and c.dense_score is not None for c in dense.candidates)
    assert "lexical" not in dense.timings
    dense_scores = [c.dense_score for c in dense.candidates]
    assert dense_scores == sorted(dense_scores, reverse=True)

    # Both find the passage here; the switch also works through settings.
    assert "135个" in bm25.candidates[0].chunk.text
    assert any("135个" in c.chunk.text for c in dense.candidates[:3])
    bm25_settings = tweak(corpus_assistant.settings, "retrieval", use_dense=False)
    answer = Assistant(bm25_settings, corpus_assistant.kb).ask(question)
    assert "135" in answer.answer and all(r.dense_score is None for r in answer.retrieved)


def test_retrieval_scores_in_rank_order(corpus_assistant: Assistant):
    result = corpus_assistant.retriever.retrieve("县域就诊率达到多少？", 10)
    scores = [c.score for c in result.candidates]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    assert len({c.chunk.chunk_id for c in result.candidates}) == 10
    assert "90%以上" in result.candidates[0].chunk.text


# --------------------------------------------------------------------------- rerank


@pytest.fixture(scope="module")
def tiny_cross_encoder(embedder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer BERT cross-encoder with the embedding model's tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    source = Path(embedder.info.path)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    tokenizer = embedder.model.tokenizer  # the same tokenizer files, already loaded
    torch.manual_seed(1234)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        vocab_size=len(tokenizer), num_labels=1, max_position_embeddings=514,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # spread the (otherwise nearly equal) scores so their order is clear
        model.classifier.weight.mul_(500.0)
    model.save_pretrained(str(folder))
    return folder


def test_cross_encoder_rerank_orders_by_its_scores(
    corpus_assistant: Assistant, corpus_settings, tiny_cross_encoder: Path, tweak
):
    from sentence_transformers import CrossEncoder

    settings = tweak(corpus_settings, "retrieval", rerank_model_path=tiny_cross_encoder, rerank_candidates=20)
    reranked = Assistant(settings, corpus_assistant.kb)
    assert reranked.retriever.reranker is not None

    question = "累计建成多少个急诊急救五大中心？"
    query = normalize_question(question)
    answer = reranked.ask(question)

    # What the cross-encoder says about the same fused candidates (the best 20, or all chunks of this
    # small corpus), without the rerank stage.
    fused = corpus_assistant.retriever.retrieve(query, 20).candidates
    assert len(fused) == min(20, corpus_assistant.kb.chunk_count()) > 10
    ce = CrossEncoder(str(tiny_cross_encoder), device="cpu")
    scores = ce.predict([(query, c.chunk.text) for c in fused], show_progress_bar=False)
    by_ce = [c for _, c in sorted(zip(scores, fused), key=lambda pair: -pair[0])]
    ce_score = {c.chunk.chunk_id: float(s) for s, c in zip(scores, fused)}
    assert len(set(ce_score.values())) == len(fused)  # a real ordering, no ties

    assert [r.chunk_id for r in answer.retrieved] == [c.chunk.chunk_id for c in by_ce[:10]]
    # The fused order is not the cross-encoder's: the stage really reorders.
    assert [c.chunk.chunk_id for c in fused[:10]] != [r.chunk_id for r in answer.retrieved]
    for r in answer.retrieved:
        assert r.score == pytest.approx(ce_score[r.chunk_id], abs=1e-3)
        assert r.rank == answer.retrieved.index(r) + 1
    assert answer.latency_ms["rerank"] > 0
    assert set(answer.latency_ms) >= {"rewrite", "retrieve", "rerank", "generate", "total"}
    assert answer.error is None and answer.answer
    assert not math.isnan(sum(r.score for r in answer.retrieved))

    # The answer is still produced, from the reranked top_k (a random cross-encoder's choice, but
    # nearly every passage of the workshop article names the hospital and the 研修班).
    answer = reranked.ask("中山一院广西医院承办了什么研修班？")
    assert answer.error is None and not answer.refused and answer.citations
    top_k = {r.text for r in answer.retrieved[: settings.retrieval.top_k]}
    assert all(c.passage in top_k for c in answer.citations)
    assert answer.latency_ms["rerank"] > 0
