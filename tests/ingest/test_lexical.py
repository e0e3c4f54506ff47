"""The BM25 index's document frequencies, which weight every question's terms (the refusal gate)."""

from __future__ import annotations

import numpy as np

from ingest.lexical import LexicalIndex


def test_document_frequency_counts_the_chunks_holding_a_token() -> None:
    docs = [["医疗", "废物", "医疗"], ["废物", "处置"], ["医疗"], []]
    index = LexicalIndex.build_streaming((f"c{i}", tokens) for i, tokens in enumerate(docs))
    assert index.document_frequency("医疗") == 2  # counted once per chunk, not per occurrence
    assert index.document_frequency("废物") == 2
    assert index.document_frequency("处置") == 1
    assert index.document_frequency("未知") == 0
    assert LexicalIndex([], None).document_frequency("医疗") == 0


def test_document_frequency_agrees_with_scoring_every_chunk() -> None:
    """The posting-list count equals what scoring all chunks for the token found (the old way)."""
    rng = np.random.default_rng(3)
    vocab = [f"t{i}" for i in range(40)]
    docs = [list(rng.choice(vocab, size=int(rng.integers(1, 12)))) for _ in range(300)]
    index = LexicalIndex.build_streaming((f"c{i}", tokens) for i, tokens in enumerate(docs))
    for token in vocab:
        scored = int(np.count_nonzero(index._bm25.get_scores([token])))  # noqa: SLF001
        assert index.document_frequency(token) == scored == sum(token in d for d in docs)
