"""Follow-up rewriting rules, question normalisation, and the LLM hook of the Rewriter."""

from __future__ import annotations

import pytest

from assistant.rewrite import Rewriter, is_followup, normalize_question
from ingest.lexical import ChineseTokenizer
from settings import LexicalSettings


@pytest.fixture(scope="module")
def rewriter() -> Rewriter:
    return Rewriter(ChineseTokenizer(LexicalSettings()))


def test_normalize_question_folds_full_width_and_spaces():
    assert normalize_question("ＤＲＧ　付费改革是什么？  ") == "DRG 付费改革是什么?"
    assert normalize_question("２０２４年（第一期）研修班，有几天？") == "2024年(第一期)研修班,有几天?"
    assert normalize_question("  县医院\n\t千县工程  ") == "县医院 千县工程"


def test_no_history_means_no_rewrite(rewriter: Rewriter):
    assert rewriter.rewrite("它的课程为期几天？", []) is None
    assert rewriter.rewrite("那研修班呢？", ["", "  "]) is None
    assert not is_followup("它的课程为期几天？", [])


def test_standalone_question_is_not_rewritten(rewriter: Rewriter):
    assert not is_followup("广西有多少家医院纳入千县工程？", ["研修班在哪里举行？"])
    assert rewriter.rewrite("广西有多少家医院纳入千县工程？", ["研修班在哪里举行？"]) is None


def test_followup_detection():
    history = ["研修班在哪里举行？"]
    assert is_followup("它为期几天？", history)  # pronoun
    assert is_followup("那交流会呢？", history)  # ellipsis 那X呢
    assert is_followup("几天？", history)  # too short to stand alone


def test_pronoun_is_replaced_by_the_subject(rewriter: Rewriter):
    out = rewriter.rewrite("它的重点工作任务是什么？", ["千县工程是哪一年开始设计的？"])
    assert out == "千县工程的重点工作任务是什么？"
    out = rewriter.rewrite("该会议有多少人参会？", ["县域医院综合能力提升项目医学专科交流会在哪里召开？"])
    assert out is not None and "该" not in out and "多少人参会" in out


def test_ellipsis_borrows_the_earlier_question(rewriter: Rewriter):
    out = rewriter.rewrite("那研修班呢？", ["交流会有多少人参会？"])
    assert out is not None
    assert "研修班" in out and "多少" in out and "参会" in out
    assert "那" not in out and "呢" not in out


def test_history_of_followups_is_resolved_in_order(rewriter: Rewriter):
    # The second history turn is itself a follow-up; its subject comes from the first.
    out = rewriter.rewrite("那交流会呢？", ["研修班在哪里举行？", "它为期几天？"])
    assert out is not None and "交流会" in out and "几天" in out


def test_llm_rewrite_is_used_first_line_only(rewriter: Rewriter):
    prompts: list[str] = []

    def llm(prompt: str) -> str:
        prompts.append(prompt)
        return "  研修班的课程为期几天？\n（说明：把“它”替换为研修班）"

    out = Rewriter(rewriter.tokenizer, llm).rewrite("它的课程为期几天？", ["研修班在哪里举行？"])
    assert out == "研修班的课程为期几天？"
    assert len(prompts) == 1
    assert "用户：研修班在哪里举行?" in prompts[0] and "它的课程为期几天？" in prompts[0]


def test_llm_failure_or_empty_reply_falls_back_to_rules(rewriter: Rewriter):
    def broken(prompt: str) -> str:
        raise TimeoutError("no answer")

    history = ["千县工程是哪一年开始设计的？"]
    expected = rewriter.rewrite("它的重点工作任务是什么？", history)
    assert Rewriter(rewriter.tokenizer, broken).rewrite("它的重点工作任务是什么？", history) == expected
    assert Rewriter(rewriter.tokenizer, lambda p: "   ").rewrite("它的重点工作任务是什么？", history) == expected
    # The LLM is not asked at all when the question stands alone.
    assert Rewriter(rewriter.tokenizer, broken).rewrite("千县工程的重点工作任务是什么？", history) is None


def test_subject_is_not_a_number(rewriter: Rewriter):
    assert rewriter.subject("2024年6月的高级研修班在哪里举行？") == "研修班"
    out = rewriter.rewrite("它的课程为期几天？", ["2024年6月的高级研修班在哪里举行？"])
    assert out is not None and "研修班" in out
