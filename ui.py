"""The Gradio app: composes the tabs (package `tabs/`) and serves them.

    app = build_app(assistant)      # gr.Blocks; the Assistant is shared by every session (thread-safe)
    serve(settings)                 # `qianxian serve`: loads the assistant in the background, launches, blocks

The API endpoint `/ask` (INTERFACES.md) takes `question: str, history: list[{role, content}] | None`
and returns the Answer JSON in one gr.JSON output. Every other event is private (internal to the page),
except `/upload`, `/ingest_status` and the requirements and study tabs' endpoints, callable but undocumented
(tests and scripts use them).
"""

from __future__ import annotations

import ipaddress
import sys
from typing import Any

import gradio as gr

from assistant import Assistant, AssistantError
from settings import Settings, configure_offline
from tabs import chat, documents, requirements, study
from tabs.render import CSS
from tabs.state import AppState

TITLE = "千县工程政策问答助手"


class ServeError(Exception):
    """The app cannot be served as configured; the message is one readable line."""


def _theme() -> gr.themes.Base:
    # System fonts only: the default theme would fetch Google Fonts, which an offline site cannot reach.
    fonts = [gr.themes.Font("system-ui"), "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", "sans-serif"]
    mono = [gr.themes.Font("ui-monospace"), "SFMono-Regular", "Menlo", "monospace"]
    return gr.themes.Soft(primary_hue="teal", font=fonts, font_mono=mono)


def launch_options() -> dict[str, Any]:
    """theme/css for launch() (Gradio 6 takes them there, not in Blocks())."""
    return {"theme": _theme(), "css": CSS + study.CSS}


class QianxianApp(gr.Blocks):
    """gr.Blocks whose launch() brings our theme and CSS unless the caller passes others."""

    def launch(self, *args: Any, **kwargs: Any):  # type: ignore[override]
        for key, value in launch_options().items():
            kwargs.setdefault(key, value)
        return super().launch(*args, **kwargs)


def build_app(source: Assistant | AppState) -> gr.Blocks:
    """The whole UI around one shared Assistant (loaded, or loading in an AppState)."""
    state = source if isinstance(source, AppState) else AppState.loaded(source)
    names = documents.document_names(state.assistant()) if state.ready else []  # else filled by app.load
    with QianxianApp(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\n基于已入库的政策文件与新闻回答问题，每句回答都标注来源；资料不足时会明确拒答。")
        kb_changed = gr.State(None)  # a new value after an upload's ingest or a delete
        with gr.Tabs():
            with gr.Tab("问答", id="chat"):
                chat_tab = chat.build(state, names)
            with gr.Tab("要求清单", id="requirements", elem_id="requirements-tab"):
                requirements.build(app, state, kb_changed)
            with gr.Tab("学习", id="study", elem_id="study-tab"):
                study.build(app, state, kb_changed)
            with gr.Tab("文档管理", id="docs"):
                documents.build(app, state, names, chat_tab.doc_filter, kb_changed)
        chat.add_ask_api(state)
    return app


# =================================================================================================
# serve


def _is_loopback(host: str) -> bool:
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _parse_auth(entries: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user or not password:
            raise ServeError("ui.auth: each login must look like 'user:password'")
        pairs.append((user, password))
    return pairs


def _url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(settings: Settings) -> int:
    """`qianxian serve`: load the assistant once, serve the app, print its URL, block until interrupted."""
    configure_offline()
    ui = settings.ui
    if not _is_loopback(ui.host) and not ui.auth:
        raise ServeError(
            f"refusing to serve on {ui.host} without a login: set ui.auth (e.g. QIANXIAN_UI__AUTH='[\"user:password\"]') "
            "or bind to 127.0.0.1"
        )
    auth = _parse_auth(ui.auth) or None
    state = AppState.loading(settings)  # the model loads while Gradio starts; the page is up at once
    app = build_app(state)
    app.queue(default_concurrency_limit=ui.concurrency_limit)
    try:
        app.launch(
            server_name=ui.host, server_port=ui.port or None, auth=auth, show_error=False,
            prevent_thread_lock=True, quiet=True, max_file_size=f"{ui.max_upload_mb}mb",
            footer_links=["api"], ssr_mode=False, mcp_server=False,
        )
    except OSError as exc:
        raise ServeError(f"cannot serve on {ui.host}:{ui.port}: {exc}") from exc
    print(_url(ui.host, app.server_port or ui.port), flush=True)
    try:
        state.assistant()
    except AssistantError as exc:
        app.close()
        raise ServeError(str(exc)) from exc
    try:
        app.block_thread()  # returns on Ctrl-C (Gradio catches it and closes the server)
    finally:
        app.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - `qianxian serve` is the entry point
    from settings import load_settings

    sys.exit(serve(load_settings()))
