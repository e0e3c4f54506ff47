"""What every tab shares: the one Assistant, which may still be loading when the page is served.

`qianxian serve` shows the page at once and loads the model and store in a background thread.
Handlers ask for the assistant explicitly (`state.assistant()`), so a caller can see where it may
wait; nothing forwards attributes behind their back.
"""

from __future__ import annotations

import threading

from assistant import Assistant, AssistantError
from settings import Settings

LOADING = "模型加载中，请稍候再试。"


class AppState:
    """The Assistant behind the app, ready now (`loaded`) or loading in the background (`loading`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._done = threading.Event()
        self._assistant: Assistant | None = None
        self._error: Exception | None = None

    @classmethod
    def loaded(cls, assistant: Assistant) -> AppState:
        state = cls(assistant.settings)
        state._assistant = assistant
        state._done.set()
        return state

    @classmethod
    def loading(cls, settings: Settings) -> AppState:
        """Start loading in a daemon thread; the first handler that needs the assistant waits for it."""
        state = cls(settings)
        threading.Thread(target=state._load, name="assistant-load", daemon=True).start()
        return state

    def _load(self) -> None:
        try:
            self._assistant = Assistant.from_settings(self.settings)
        except Exception as exc:  # reported by assistant() to serve() and to any handler
            self._error = exc
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set() and self._assistant is not None

    def assistant(self, timeout: float | None = None) -> Assistant:
        """The loaded Assistant, waiting up to `timeout` seconds (None: as long as the load takes).

        Raises AssistantError with 「模型加载中…」 when the wait runs out, or the load's own error."""
        if not self._done.wait(timeout):
            raise AssistantError(LOADING)
        if self._assistant is None:
            err = self._error
            raise err if isinstance(err, AssistantError) else AssistantError(f"加载失败：{err}")
        return self._assistant
