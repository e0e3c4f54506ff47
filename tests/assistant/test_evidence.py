"""The refusal gate's evidence measure: which question words must the passages contain?"""

from __future__ import annotations

import pytest

from assistant import Assistant
from assistant.evidence import SYNONYM_CREDIT, Synonyms, Term, answer_type_positions, coverage, key_terms


def test_answer_type_words_are_the_noun_right_after_an_interrogative(corpus_assistant: Assistant):
    tokenizer = corpus_assistant.kb.tokenizer

    def heads(question: str) -> set[str]:
        tagged = tokenizer.tagged(question)
        return {tagged[i][0] for i in answer_type_positions(tagged)}

    assert heads("交流会是在哪个城市召开的？") == {"城市"}
    assert heads("樊代明在致辞结尾提出了什么口号？") == {"口号"}
    assert heads("老百姓有多大比例在本县看病？") == {"比例"}
    # A measure word in between: 床位 is what is asked about, not the kind of answer.
    assert heads("医院目前开放了多少张床位？") == set()
    assert heads("指南哪天发布？") == set()  # a verb after the interrogative stays a term


def test_key_terms_weigh_answer_type_words_lightly(corpus_assistant: Assistant):
    kb = corpus_assistant.kb
    terms = {t.text: t.weight for t in key_terms("交流会是在哪个城市召开的？", kb.tokenizer, kb.lexical())}
    assert "交流会" in terms and "城市" in terms
    assert terms["城市"] < 0.5 * terms["交流会"]
    # Interrogative compounds and discourse positions are no terms at all.
    words = {t.text for t in key_terms("樊代明在致辞结尾讲了哪些方面？开了多长时间？", kb.tokenizer, kb.lexical())}
    assert words.isdisjoint({"结尾", "哪些方面", "多长时间"})
    assert "樊代明" in words


def test_cilin_synonyms_are_strict_groups_of_words():
    synonyms = Synonyms.cilin()
    assert "希望" in synonyms.of("期望")
    assert "就诊" in synonyms.of("看病")
    assert synonyms.of("学分") == ()  # a lone word in Cilin
    assert all(len(w) >= 2 for w in synonyms.of("办法"))  # one-character entries would match anything


def test_a_synonym_in_the_passage_counts_for_part_of_the_term():
    terms = [Term("期望", 1.0, ("希望", "盼望")), Term("研修班", 1.0)]
    assert coverage(terms, ["希望把研修班办出高水平"]) == pytest.approx((SYNONYM_CREDIT + 1.0) / 2)
    assert coverage(terms, ["期望把研修班办出高水平"]) == pytest.approx(1.0)
    assert coverage(terms, ["研修班为期两天"]) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        ("广西县域里的老百姓有多大比例是在本县看病的？", "90%以上"),  # 看病 ~ 就诊, a share wants a percentage
        ("县域医院综合能力提升项目医学专科交流会(广西站)是在哪个城市召开的？", "南宁"),  # not the headline
        ("黎甲文在交流会上一共讲了几点建议？", "三点建议"),  # 几点 asks for a count of 点
    ],
    ids=["share", "place", "count"],
)
def test_paraphrased_questions_are_answered(corpus_assistant: Assistant, question: str, fact: str):
    answer = corpus_assistant.ask(question)
    assert not answer.refused
    assert fact in answer.answer


def test_near_miss_with_a_synonym_free_term_is_still_refused(corpus_assistant: Assistant):
    # 床位 has only 铺位 as a synonym, and neither occurs: asking for it stays unanswerable.
    assert corpus_assistant.ask("中山一院广西医院目前开放了多少张床位？").refused
