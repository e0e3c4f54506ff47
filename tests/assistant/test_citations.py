"""citations.check: invented markers stripped, unsupported sentences dropped, spans, renumbering."""

from __future__ import annotations

from assistant.citations import best_span, check, lexical_support, split_answer
from assistant.generators import Passage
from ingest.documents import Chunk

P1 = "目前全区首批44家县级医院纳入国家的“千县工程”。累计建成“急诊急救五大中心”135个，县域就诊率达90%以上。"
P2 = "本次研修班的课程为期两天。研修班由中山大学附属第一医院广西医院承办。"
P3 = "中国抗癌协会组织13,000多位权威专家编写完成我国首部《肿瘤整合诊治指南》。"


def _passages(*texts: str) -> list[Passage]:
    out = []
    for i, text in enumerate(texts, start=1):
        chunk = Chunk(
            chunk_id=f"c{i}", doc_id=f"d{i}", doc=f"doc{i}.txt", ordinal=0, text=text, title=f"标题{i}",
            section_path="", page_start=None, page_end=None, char_start=0, char_end=len(text),
        )
        out.append(Passage(i, chunk, 1.0 / i))
    return out


PASSAGES = _passages(P1, P2, P3)


def test_invented_marker_is_stripped_and_its_unsupported_claim_dropped():
    text = "累计建成“急诊急救五大中心”135个[1]。千县工程由世界卫生组织全额资助并将于明年结束[9]。"
    result = check(text, PASSAGES, 0.5)
    assert result.invalid_markers == [9]
    assert "[9]" not in result.answer
    assert "世界卫生组织" not in result.answer
    assert result.answer == "累计建成“急诊急救五大中心”135个[1]。"
    assert [s.text.rstrip("。") for s in result.dropped] == ["千县工程由世界卫生组织全额资助并将于明年结束"]


def test_invented_marker_on_a_verbatim_sentence_is_replaced_by_the_supporting_passage():
    # The marker is invented, but the sentence is a quote of passage 2: it is kept and cited as such.
    result = check("本次研修班的课程为期两天[9]。", PASSAGES, 0.5)
    assert result.invalid_markers == [9]
    assert result.answer == "本次研修班的课程为期两天[1]。"
    assert result.numbering == {2: 1}


def test_sentence_without_support_in_its_cited_passage_is_dropped():
    text = "本次研修班的课程为期两天[2]。千县工程已经在全国范围内全面取消[1]。"
    result = check(text, PASSAGES, 0.5)
    assert result.answer == "本次研修班的课程为期两天[1]。"
    assert len(result.dropped) == 1
    assert result.dropped[0].text.rstrip("。") == "千县工程已经在全国范围内全面取消"
    assert result.dropped[0].support < 0.5


def test_cited_to_the_wrong_passage_is_dropped():
    # True in passage 1, but cited to passage 3, which does not say it.
    result = check("县域就诊率达90%以上[3]。", PASSAGES, 0.5)
    assert result.answer == ""
    assert not result.sentences and len(result.dropped) == 1


def test_verbatim_sentence_has_full_support_and_exact_span():
    sentence = "研修班由中山大学附属第一医院广西医院承办"
    result = check(f"{sentence}[2]。", PASSAGES, 0.5)
    assert result.sentences[0].support == 1.0
    assert result.support == {1: 1.0}
    start = P2.index(sentence)
    assert result.spans[1] == (start, start + len(sentence))
    assert P2[slice(*result.spans[1])] == sentence


def test_renumbering_by_first_use():
    text = "中国抗癌协会组织13,000多位权威专家编写完成我国首部《肿瘤整合诊治指南》[3]。累计建成“急诊急救五大中心”135个[1]。县域就诊率达90%以上[1]。"
    result = check(text, PASSAGES, 0.5)
    assert result.numbering == {3: 1, 1: 2}
    assert result.answer == (
        "中国抗癌协会组织13,000多位权威专家编写完成我国首部《肿瘤整合诊治指南》[1]。"
        "累计建成“急诊急救五大中心”135个[2]。县域就诊率达90%以上[2]。"
    )
    # Spans of one passage cited twice are merged to cover both sentences.
    s, e = result.spans[2]
    assert "累计建成" in P1[s:e] and "90%以上" in P1[s:e]


def test_markers_after_the_full_stop_belong_to_the_sentence_before():
    assert split_answer("本次研修班的课程为期两天。[2] 县域就诊率达90%以上。[1][3]") == [
        ("本次研修班的课程为期两天。", [2], 0),
        ("县域就诊率达90%以上。", [1, 3], 0),
    ]
    # an enumeration's items keep their lines in the checked answer
    assert [line for _, _, line in split_answer("下列条件：[1]\n（一）甲；[1]\n（二）乙。[1]")] == [0, 1, 2]
    result = check("本次研修班的课程为期两天。[2]", PASSAGES, 0.5)
    assert result.answer == "本次研修班的课程为期两天[1]。"


def test_multiple_markers_keep_only_valid_ones():
    result = check("累计建成“急诊急救五大中心”135个[1][7][2]。", PASSAGES, 0.5)
    assert result.invalid_markers == [7]
    assert result.answer == "累计建成“急诊急救五大中心”135个[1][2]。"
    assert result.spans[1] is not None


def test_uncited_verbatim_sentence_gets_its_passage():
    result = check("县域就诊率达90%以上。", PASSAGES, 0.5)
    assert result.answer == "县域就诊率达90%以上[1]。"


def test_lexical_support_and_span_helpers():
    assert lexical_support("本次研修班的课程为期两天", P2) == 1.0
    assert lexical_support("天气晴朗适合出游", P2) == 0.0
    assert best_span("天气晴朗适合出游", P2) is None
    # Full-width vs half-width does not matter for support (NFKC).
    assert lexical_support("累计建成“急诊急救五大中心”１３５个", P1) == 1.0


def test_paraphrase_rescued_by_embeddings(embedder):
    # Low bigram overlap, same meaning: the embedding model vouches for it (LLM generators only).
    text = "研修班一共开了两天的课[2]。"
    without = check(text, PASSAGES, 0.5)
    assert without.answer == ""
    with_embed = check(text, PASSAGES, 0.5, embedder.embed_passages)
    assert with_embed.answer == "研修班一共开了两天的课[1]。"
    assert 0.5 <= with_embed.support[1] < 1.0
