"""A fake OpenAI-compatible endpoint for tests: a real HTTP server on 127.0.0.1 (a free port).

It speaks the chat-completions protocol (streamed SSE and plain JSON) and records every request so
tests can inspect what was sent. `serve()` runs one for the length of a `with` block; the fixtures
`llm_server` (tests/assistant/conftest.py, tests/study/test_phrasing.py) wrap it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeLLM:
    """Behaviour of the local chat-completions server; tests set the fields, then read `requests`."""

    port: int = 0
    mode: str = "ok"  # ok | error500 | sleep
    sleep_s: float = 5.0
    # Streamed reply: a fixed list of pieces, or a function of the request body.
    stream_reply: list[str] | Callable[[dict[str, Any]], list[str]] = field(default_factory=lambda: ["好的[1]。"])
    # Plain (non-streamed) reply: a fixed text, or a function of the request body.
    complete_reply: str | Callable[[dict[str, Any]], str] = "改写后的问题？"
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
                reply = state.complete_reply
                content = reply(body) if callable(reply) else reply
                self._json(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": created,
                    "model": body.get("model", "m"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
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


@contextmanager
def serve() -> Iterator[FakeLLM]:
    """A running endpoint for the block, stopped (and its port freed) after it."""
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
