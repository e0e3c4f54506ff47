"""Fixtures for the assistant tests: the sample corpus ingested once, and a fake LLM endpoint.

`corpus_assistant` ingests `corpus/` once per session (the encoder is the slow part) into its own
data dir. Tests that need other settings build `Assistant(other_settings, corpus_assistant.kb)`,
sharing the knowledge base without re-ingesting; they must not mutate settings in place
(`Settings.model_copy` is shallow), hence `tweak()`.

`llm_server` is a real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol
(streamed SSE and plain JSON); it records every request so tests can inspect what was sent.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

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


@dataclass
class FakeLLM:
    """Behaviour of the local chat-completions server; tests set the fields, then read `requests`."""

    port: int = 0
    mode: str = "ok"  # ok | error500 | sleep
    sleep_s: float = 5.0
    # Streamed reply: a fixed list of pieces, or a function of the request body.
    stream_reply: list[str] | Callable[[dict[str, Any]], list[str]] = field(default_factory=lambda: ["好的[1]。"])
    complete_reply: str = "改写后的问题？"
    requests: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self, stream: bool) -> list[dict[str, Any]]:
        return [r for r in self.requests if bool(r.get("stream")) == stream]


def _handler(state: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length).decode("utf-8") or "{}")
            state.paths.append(self.path)
            state.requests.append(body)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": "not found"}})
                return
            if state.mode == "sleep":
                time.sleep(state.sleep_s)
                return
            if state.mode == "error500":
                self._json(500, {"error": {"message": "internal error", "type": "server_error"}})
                return
            created = int(time.time())
            if not body.get("stream"):
                self._json(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": created,
                    "model": body.get("model", "m"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": state.complete_reply}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })
                return
            reply = state.stream_reply(body) if callable(state.stream_reply) else state.stream_reply
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            pieces: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
            pieces += [{"content": p} for p in reply]
            for i, delta in enumerate(pieces + [{}]):
                chunk = {
                    "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": created,
                    "model": body.get("model", "m"),
                    "choices": [{"index": 0, "delta": delta, "finish_reason": "stop" if i == len(pieces) else None}],
                }
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode("utf-8"))
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


@pytest.fixture
def llm_server() -> Iterator[FakeLLM]:
    """A real OpenAI-compatible HTTP endpoint on 127.0.0.1 (free port), stopped after the test."""
    state = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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
