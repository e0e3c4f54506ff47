"""Rewording practice items with an LLM (study/phrasing.py) against a real OpenAI-compatible HTTP server
on 127.0.0.1 (tests/llmserver.py) through the product's own client (assistant.generators.OpenAIGenerator):
good rewrites are shown, every rewrite that could move the answer is refused, endpoint failures keep
the generated items with one line, and `qianxian study --format json` prints the reworded prompts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from llmserver import FakeLLM, serve

from assistant.generators import OpenAIGenerator
from ingest.chunking import chunk_document
from ingest.loaders import load_file
from ingest.requirements import extract
from settings import Settings
from study import corpus as store
from study import phrasing
from study.items import BLANK, Item, build_pool, violations

REPO = Path(__file__).resolve().parents[2]
DOCS = ["献血法(1997-12-29).md", "医疗废物管理条例(2011-01-08).md"]
FENCED = re.compile(r"<<<\n(.*)\n>>>", re.S)


@pytest.fixture
def llm_server() -> Iterator[FakeLLM]:
    with serve() as state:
        yield state


@pytest.fixture(scope="module")
def pool(base_settings: Settings) -> list[Item]:
    """Items of two shipped regulations, built in memory (no embedding, no data dir)."""
    docs, chunks, reqs = [], {}, {}
    for name in DOCS:
        doc = load_file(REPO / "corpus" / "regulations" / name, f"regulations/{name}", base_settings.ingest)
        parts = chunk_document(doc, base_settings.chunking)
        docs.append(store.Document(doc.doc_id, doc.doc, (doc.doc,), doc.meta.title or name, "law"))
        chunks[doc.doc_id], reqs[doc.doc_id] = parts, extract(parts)
    return build_pool(store.Corpus(docs, chunks, reqs))


def pick(pool: list[Item], test: Callable[[Item], bool]) -> Item:
    return next(it for it in pool if test(it))


@pytest.fixture(scope="module")
def items(pool: list[Item]) -> dict[str, Item]:
    return {
        "cloze_figure": pick(pool, lambda it: it.type == "cloze" and it.answer == "六个月"),
        "cloze_body": pick(pool, lambda it: it.type == "cloze" and it.kind == "body" and "应当" in it.prompt),
        "mc": pick(pool, lambda it: it.type == "mc" and it.kind == "figure"),
        "tf_true": pick(pool, lambda it: it.type == "tf" and it.answer is True and "医疗卫生机构应当" in it.prompt),
        "tf_false": pick(pool, lambda it: it.type == "tf" and it.kind == "number"),
    }


def openai_settings(settings: Settings, server: FakeLLM, **study: object) -> Settings:
    answer = settings.answer.model_copy(update={"generator": "openai"})
    openai = settings.openai.model_copy(update={"base_url": server.base_url, "timeout_s": 10.0})
    return settings.model_copy(update={"answer": answer, "openai": openai,
                                       "study": settings.study.model_copy(update=study)})


def client(settings: Settings) -> Callable[[str], str]:
    """The product's client, built as the CLI and the tab build it."""
    timeout = min(settings.study.rephrase_timeout_s, settings.openai.timeout_s)
    cfg = settings.openai.model_copy(update={"timeout_s": timeout})
    return OpenAIGenerator(cfg, settings.answer.refusal_sentence).complete


def asked(body: dict) -> str:
    """The prompt the request asks to reword (fenced as data in the instruction)."""
    return FENCED.search(body["messages"][-1]["content"]).group(1)


def exam_style(prompt: str) -> str:
    """What a model would write: the frame turned into an exam question, the provision as it was."""
    if "，判断下列说法是否正确：\n" in prompt:
        where, statement = prompt.removeprefix("根据").split("，判断下列说法是否正确：\n", 1)
        return f"请判断下面的说法是否符合{where}的规定：{statement}"
    where, provision = prompt.split("：", 1)
    return f"根据{where}的规定，{provision.replace(chr(10) + '横线处应填：', '横线处应填入的是：')}"


def test_wanted_only_with_an_openai_endpoint(base_settings: Settings, llm_server: FakeLLM) -> None:
    assert not phrasing.wanted(base_settings)  # extractive: nothing is sent anywhere
    configured = openai_settings(base_settings, llm_server)
    assert phrasing.wanted(configured)
    assert not phrasing.wanted(openai_settings(base_settings, llm_server, rephrase=False))


def test_a_good_rewrite_is_accepted_and_the_answer_untouched(
        base_settings: Settings, llm_server: FakeLLM, items: dict[str, Item]) -> None:
    settings = openai_settings(base_settings, llm_server)
    llm_server.complete_reply = lambda body: exam_style(asked(body))
    originals = list(items.values())
    result = phrasing.rephrase(originals, settings, client(settings))
    assert result.message == "" and result.accepted == len(originals) == result.asked, result
    assert len(llm_server.requests) == len(originals)  # one request per item
    instruction = llm_server.requests[0]["messages"][-1]["content"]
    assert "不得改变" in instruction or "题意和答案不变" in instruction
    for before, after in zip(originals, result.items):
        assert after.prompt != before.prompt and after.prompt == exam_style(before.prompt)
        assert (after.id, after.type, after.answer, after.choices, after.source, after.explanation) == (
            before.id, before.type, before.answer, before.choices, before.source, before.explanation)
        assert after.meta["rephrased"] is True and after.meta["original_prompt"] == before.prompt
        assert after.to_json().keys() == before.to_json().keys()
    assert violations(result.items) == []
    # violations re-checks a rephrased prompt: the same item with its figure changed is refused
    figure = next(it for it in result.items if it.answer == "六个月")
    tampered = replace(figure, prompt=figure.prompt.replace("二百毫升", "三百毫升"))
    assert any("rephrased prompt: figures" in v for v in violations([tampered]))


def _drop_blank(item: Item, p: str) -> str:
    return p.replace(BLANK, "（  ）")


def _reveal(item: Item, p: str) -> str:
    return p.replace(BLANK, f"{BLANK}（{item.answer}）")


def _figure(item: Item, p: str) -> str:
    return p.replace("四百毫升", "三百毫升")


def _corrected(item: Item, p: str) -> str:
    """A model that puts a false statement right (「4年」 back to the document's 「3年」) flips its truth."""
    return p.replace(item.meta["new"], item.meta["old"])


def _flip(item: Item, p: str) -> str:
    return p.replace("应当", "不得", 1)


def _negate(item: Item, p: str) -> str:
    return p.replace("应当", "不应当", 1)


def _subject(item: Item, p: str) -> str:
    return p.replace("医疗卫生机构", "医疗废物集中处置单位", 1)


def _level(item: Item, p: str) -> str:
    return p.replace("县级以上地方人民政府卫生行政部门", "国务院卫生行政部门", 1)


def _explain(item: Item, p: str) -> str:
    return p + "（提示：答案见原文[1]）"


def _long(item: Item, p: str) -> str:
    return p + "请考生结合本单位实际工作情况认真思考后作答。" * 10


@pytest.mark.parametrize(("which", "bad", "check"), [
    ("cloze_figure", _drop_blank, "blank"),
    ("mc", _drop_blank, "blank"),
    ("cloze_figure", _reveal, "answer"),
    ("cloze_figure", _figure, "figures"),
    ("tf_false", _corrected, "figures"),
    ("tf_false", _corrected, "changed"),
    ("tf_true", _flip, "logic"),
    ("cloze_body", _flip, "logic"),
    ("tf_true", _negate, "logic"),
    ("tf_true", _subject, "bodies"),
    ("cloze_figure", _explain, "shape"),
    ("tf_true", _long, "shape"),
])
def test_a_rewrite_that_could_move_the_answer_is_refused(
        base_settings: Settings, llm_server: FakeLLM, items: dict[str, Item],
        which: str, bad: Callable[[Item, str], str], check: str) -> None:
    item = items[which]
    rewrite = exam_style(bad(item, item.prompt))
    assert rewrite != exam_style(item.prompt), "the bad rewrite must differ from the good one"
    settings = openai_settings(base_settings, llm_server)
    llm_server.complete_reply = lambda body: rewrite
    result = phrasing.rephrase([item], settings, client(settings))
    assert result.items == [item] and result.items[0].prompt == item.prompt and result.accepted == 0
    assert check in result.rejected, result.rejected
    assert result.message == ""  # a refused rewrite is no failure worth a line
    assert any(p.startswith(check) for p in phrasing.problems(item, rewrite))


def test_a_changed_level_is_a_changed_body(items: dict[str, Item], pool: list[Item]) -> None:
    item = pick(pool, lambda it: "县级以上地方人民政府卫生行政部门" in it.prompt and BLANK in it.prompt)
    found = phrasing.problems(item, exam_style(_level(item, item.prompt)))
    assert any(p.startswith("bodies") for p in found), found


def test_the_blank_keeps_its_context(items: dict[str, Item]) -> None:
    """「最多不得超过____」 moved into another clause would take another answer."""
    item = items["cloze_figure"]  # …不少于____。
    moved = exam_style(item.prompt).replace(f"不少于{BLANK}。", f"不少于六个。{BLANK}")
    assert any(p.startswith("context") or p.startswith("figures") for p in phrasing.problems(item, moved))


def test_what_models_wrap_a_rewrite_in_is_removed(items: dict[str, Item]) -> None:
    item = items["cloze_figure"]
    good = exam_style(item.prompt)
    assert phrasing.clean(f"<think>先想一想</think>\n润色后的题干：“{good}”\n") == good
    assert phrasing.problems(item, phrasing.clean(f"```\n{good}\n```")) == []


def test_an_http_500_keeps_the_items_with_one_line(
        base_settings: Settings, llm_server: FakeLLM, items: dict[str, Item]) -> None:
    settings = openai_settings(base_settings, llm_server)
    llm_server.mode = "error500"
    originals = list(items.values())
    result = phrasing.rephrase(originals, settings, client(settings))
    assert result.items == originals and [it.prompt for it in result.items] == [it.prompt for it in originals]
    assert len(llm_server.requests) == 1  # the first failure ends the pass: one message, not five
    assert "\n" not in result.message and "HTTP 500" in result.message and "未改写" in result.message


def test_a_timeout_keeps_the_items_with_one_line(
        base_settings: Settings, llm_server: FakeLLM, items: dict[str, Item]) -> None:
    settings = openai_settings(base_settings, llm_server, rephrase_timeout_s=0.5)
    llm_server.mode, llm_server.sleep_s = "sleep", 3.0
    originals = list(items.values())
    started = time.monotonic()
    result = phrasing.rephrase(originals, settings, client(settings))
    assert time.monotonic() - started < 2.5  # the request's timeout is the study budget, not openai's 10 s
    assert result.items == originals and result.accepted == 0
    assert "超时" in result.message and "\n" not in result.message


def test_the_budget_ends_the_pass_and_says_how_many_kept_their_wording(
        base_settings: Settings, llm_server: FakeLLM, items: dict[str, Item]) -> None:
    settings = openai_settings(base_settings, llm_server, rephrase_timeout_s=1.0)
    llm_server.complete_reply = lambda body: exam_style(asked(body))
    ticks = iter([0.0, 0.1, 0.2, 5.0, 5.0, 5.0])  # the third item is asked after the budget is spent
    result = phrasing.rephrase(list(items.values()), settings, client(settings), clock=lambda: next(ticks))
    assert result.accepted == 2 and len(llm_server.requests) == 2
    assert "study.rephrase_timeout_s" in result.message and "其余 3 题" in result.message


def test_cli_json_prints_rephrased_prompts_with_the_openai_generator(
        shipped_settings: Settings, cache_dir: Path, llm_server: FakeLLM) -> None:
    llm_server.complete_reply = lambda body: exam_style(asked(body))
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    env.update(QIANXIAN_CACHE_DIR=str(cache_dir), QIANXIAN_ANSWER__GENERATOR="openai",
               QIANXIAN_OPENAI__BASE_URL=llm_server.base_url)
    args = [sys.executable, "-m", "cli", "study", "--data-dir", str(shipped_settings.data_path), "--format", "json",
            "--n", "8", "--seed", "3"]

    def items_of(*extra: str) -> list[dict]:
        done = subprocess.run([*args, *extra], env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
        return json.loads(done.stdout)["items"]

    plain = items_of("--no-rephrase")
    assert llm_server.requests == []
    reworded = items_of()
    assert llm_server.requests  # one per item with a blank or a statement
    assert [it.keys() for it in reworded] == [it.keys() for it in plain]  # the contract's fields unchanged
    changed = 0
    for before, after in zip(plain, reworded):
        assert {k: v for k, v in after.items() if k != "prompt"} == {k: v for k, v in before.items() if k != "prompt"}
        if after["prompt"] != before["prompt"]:
            changed += 1
            assert after["prompt"] == exam_style(before["prompt"])
    assert changed == len(llm_server.requests) >= 5
