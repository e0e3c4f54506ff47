"""Hybrid retrieval: Chinese BM25 + dense (Chroma), fused, optionally reranked by a cross-encoder.

Fusion is our own small function rather than llama-index's QueryFusionRetriever: its
``relative_score`` mode is the same min-max arithmetic, but it keeps only the fused score, and
the refusal gate and the sources panel need each retriever's own score per passage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ingest.documents import Chunk
from ingest.knowledge_base import KnowledgeBase
from settings import RetrievalSettings


@dataclass
class Filters:
    """Restrict retrieval to some documents, a type, or a date range (ISO dates, inclusive)."""

    docs: list[str] | None = None  # document names (as ingested) or doc ids
    doc_type: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def where(self, kb: KnowledgeBase) -> dict[str, Any] | None:
        """The Chroma metadata filter, or None when nothing is restricted."""
        clauses: list[dict[str, Any]] = []
        if self.docs:
            by_name = {r.name: r.doc_id for r in kb.names()}
            ids = sorted({by_name.get(d, d) for d in self.docs})
            clauses.append({"doc_id": {"$in": ids}})
        if self.doc_type:
            clauses.append({"doc_type": self.doc_type})
        if self.date_from:
            clauses.append({"date_int": {"$gte": int(self.date_from.replace("-", ""))}})
        if self.date_to:
            clauses.append({"date_int": {"$lte": int(self.date_to.replace("-", ""))}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class Candidate:
    chunk: Chunk
    score: float
    lexical_score: float | None = None
    dense_score: float | None = None
    rerank_score: float | None = None


@dataclass
class RetrievalResult:
    candidates: list[Candidate]
    timings: dict[str, float] = field(default_factory=dict)  # ms: embed, lexical, dense, fuse, rerank
    query_vector: np.ndarray | None = None  # the query's embedding (None without dense retrieval)


def _minmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo < 1e-12:
        return {k: 1.0 for k in scores}
    return {k: (v - lo) / (hi - lo) for k, v in scores.items()}


def fuse(
    lexical: list[tuple[str, float]],
    dense: list[tuple[str, float]],
    cfg: RetrievalSettings,
) -> list[tuple[str, float]]:
    """Combine two ranked lists: weighted min-max normalised scores, or reciprocal-rank fusion."""
    fused: dict[str, float] = {}
    if cfg.fusion == "rrf":
        for ranked, weight in ((lexical, 1 - cfg.dense_weight), (dense, cfg.dense_weight)):
            for rank, (cid, _) in enumerate(ranked):
                fused[cid] = fused.get(cid, 0.0) + weight / (cfg.rrf_k + rank + 1)
    else:
        for ranked, weight in ((lexical, 1 - cfg.dense_weight), (dense, cfg.dense_weight)):
            for cid, norm in _minmax(dict(ranked)).items():
                fused[cid] = fused.get(cid, 0.0) + weight * norm
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


class Reranker:
    """A cross-encoder from a local folder (none ships; see MODELS.md), loaded once."""

    def __init__(self, path: str):
        from sentence_transformers import CrossEncoder

        self.model = CrossEncoder(path, device="cpu")

    def scores(self, query: str, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.predict([(query, t) for t in texts], show_progress_bar=False), dtype=np.float32)


class HybridRetriever:
    """BM25 and dense candidates from the knowledge base, fused and optionally reranked."""

    def __init__(self, kb: KnowledgeBase, cfg: RetrievalSettings, reranker: Reranker | None = None):
        self.kb = kb
        self.cfg = cfg
        self.reranker = reranker
        if reranker is None and cfg.rerank_model_path:
            self.reranker = Reranker(str(cfg.rerank_model_path))

    def retrieve(
        self,
        query: str,
        top_n: int,
        filters: Filters | None = None,
        cfg: RetrievalSettings | None = None,
    ) -> RetrievalResult:
        """The best `top_n` passages for `query` (after fusion and rerank), with timings."""
        cfg = cfg or self.cfg
        timings: dict[str, float] = {}
        where = filters.where(self.kb) if filters else None
        lexical: list[tuple[str, float]] = []
        dense: list[tuple[str, float]] = []
        vector: np.ndarray | None = None
        depth = max(cfg.candidates, top_n)
        if cfg.use_lexical:
            t0 = time.perf_counter()
            allowed = self.kb.filter_ids(where) if where else None
            lexical = self.kb.lexical_search(query, depth, allowed)
            timings["lexical"] = (time.perf_counter() - t0) * 1000
        if cfg.use_dense:
            t0 = time.perf_counter()
            vector = self.kb.embedder.embed_queries([query])[0]
            timings["embed"] = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            dense = self.kb.dense_search(vector, depth, where)
            timings["dense"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        fused = fuse(lexical, dense, cfg)
        lex_map, dense_map = dict(lexical), dict(dense)
        keep = fused[: max(top_n, cfg.rerank_candidates if self.reranker else top_n)]
        chunks = {c.chunk_id: c for c in self.kb.chunks([cid for cid, _ in keep])}
        candidates = [
            Candidate(chunks[cid], score, lex_map.get(cid), dense_map.get(cid))
            for cid, score in keep
            if cid in chunks
        ]
        timings["fuse"] = (time.perf_counter() - t0) * 1000
        if self.reranker and candidates:
            t0 = time.perf_counter()
            scores = self.reranker.scores(query, [c.chunk.text for c in candidates])
            for cand, s in zip(candidates, scores):
                cand.rerank_score = float(s)
                cand.score = float(s)
            candidates.sort(key=lambda c: -c.score)
            timings["rerank"] = (time.perf_counter() - t0) * 1000
        return RetrievalResult(candidates[:top_n], timings, vector)

    def retrieve_each(
        self,
        query: str,
        facets: tuple[str, ...],
        top_n: int,
        filters: Filters | None = None,
    ) -> RetrievalResult:
        """The passages for a comparison: `query`'s and each facet's (`Question.facets`) ranked lists taken in turn
        (the whole question's best, the first side's best, the second side's best, then each one's second…),
        so every side's best passage is in the top few. The query vector is the whole question's."""
        whole = self.retrieve(query, top_n, filters)
        if not facets:
            return whole
        lists = [whole.candidates] + [self.retrieve(f, top_n, filters).candidates for f in facets]
        merged: list[Candidate] = []
        seen: set[str] = set()
        for rank in range(top_n):
            for ranked in lists:
                if rank < len(ranked) and ranked[rank].chunk.chunk_id not in seen:
                    seen.add(ranked[rank].chunk.chunk_id)
                    merged.append(ranked[rank])
        return RetrievalResult(merged[:top_n], whole.timings, whole.query_vector)
