"""The assistant's public API: what the CLI, UI and evals call.

    assistant = Assistant.from_settings(settings)        # loads model + knowledge base once
    answer = assistant.ask("千县工程要求建设哪些中心？")   # -> Answer (INTERFACES.md)
    for event in assistant.ask_stream(question, history): # rewrite / retrieved / delta / answer events
        ...
"""

from assistant.answer import Answer, Citation, Retrieved
from assistant.assistant import AskEvent, AskOptions, Assistant, AssistantError, QuestionError
from assistant.evidence import instruction_spans

__all__ = [
    "Answer", "AskEvent", "AskOptions", "Assistant", "AssistantError", "Citation", "QuestionError", "Retrieved",
    "instruction_spans",
]
