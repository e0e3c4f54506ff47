"""Fixtures for the assistant tests: the sample corpus ingested once, and a fake LLM endpoint.

`corpus_assistant` ingests `corpus/` once per session (the encoder is the slow part) into its own
data dir. Tests that need other settings build `Assistant(other_settings, corpus_assistant.kb)`,
sharing the knowledge base without re-ingesting; they must not mutate settings in place
(`Settings.model_copy` is shallow), hence `tweak()`.

`llm_server` is a real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol
(streamed SSE and plain JSON); it records every request so tests can inspect what was sent. It lives
in tests/llmserver.py, shared with the study tests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from llmserver import FakeLLM, serve

REPO = Path(__file__).resolve().parents[2]
# pytest puts tests/ on sys.path (no __init__.py there), so this folder, tests/assistant/, would
# shadow the `assistant` package as an empty namespace package: the repo goes first.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if getattr(sys.modules.get("assistant"), "__file__", None) is None:
    sys.modules.pop("assistant", None)

from assistant import Assistant  # noqa: E402
from settings import Settings  # noqa: E402

CORPUS = REPO / "corpus"
EXCHANGE = "news/2023-09-27_guangxi_qianxian_exchange.txt"  # 2023 交流会 (dated 2023-09-30)
WORKSHOP = "news/2024-06-22_zsyy_guangxi_quality_workshop.txt"  # 2024 研修班 (dated 2024-06-25)


def _tweak(settings: Settings, section: str | None = None, **changes: Any) -> Settings:
    """A copy of `settings` with `changes` applied to one nested section (or the top level)."""
    if section is None:
        return settings.model_copy(update=changes)
    part = getattr(settings, section).model_copy(update=changes)
    return settings.model_copy(update={section: part})


@pytest.fixture(scope="session")
def tweak() -> Callable[..., Settings]:
    """`tweak(settings, "retrieval", top_k=3)`: a changed copy, never an in-place edit."""
    return _tweak


@pytest.fixture(scope="session")
def corpus_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return _tweak(base_settings, data_dir=tmp_path_factory.mktemp("assistant-corpus"))


@pytest.fixture(scope="session")
def corpus_assistant(corpus_settings: Settings, embedder, news_corpus: Path) -> Iterator[Assistant]:
    """The assistant over the two sample articles, ingested once for the whole session."""
    assistant = Assistant.from_settings(corpus_settings, embedder=embedder)
    report = assistant.add_documents([news_corpus])
    assert not report.failures, report.failures
    assert {n.name for n in assistant.kb.names()} == {EXCHANGE, WORKSHOP}
    yield assistant
    assistant.kb.close()


@pytest.fixture(scope="session")
def shipped_assistant(shipped_settings: Settings, embedder) -> Iterator[Assistant]:
    """The assistant over the whole shipped corpus (19 documents, ~1,600 chunks), ingested once: what the
    refusal gate was calibrated on (its term weights are the corpus's IDF), so refusal tests use it."""
    assistant = Assistant.from_settings(shipped_settings, embedder=embedder)
    yield assistant
    assistant.kb.close()


# --------------------------------------------------------------------------- fake OpenAI endpoint


@pytest.fixture
def llm_server() -> Iterator[FakeLLM]:
    """A real OpenAI-compatible HTTP endpoint on 127.0.0.1 (free port), stopped after the test."""
    with serve() as state:
        yield state


@pytest.fixture
def sharing(corpus_assistant: Assistant) -> Callable[[Settings], Assistant]:
    """`sharing(settings)`: an Assistant with other settings over the already ingested corpus."""
    return lambda settings: Assistant(settings, corpus_assistant.kb)


@pytest.fixture
def llm_assistant(
    corpus_settings: Settings, llm_server: FakeLLM, sharing: Callable[[Settings], Assistant]
) -> Callable[..., Assistant]:
    """`llm_assistant(timeout_s=1)`: the corpus assistant with the openai generator on `llm_server`."""

    def make(**openai_changes: Any) -> Assistant:
        openai_changes.setdefault("timeout_s", 10.0)
        s = _tweak(corpus_settings, "openai", base_url=llm_server.base_url, **openai_changes)
        return sharing(_tweak(s, "answer", generator="openai"))

    return make
