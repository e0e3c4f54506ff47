"""Practice items: what they are, how they are drawn (generation rules live below this header)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ITEM_TYPES = ("cloze", "tf", "mc")
SCHEMA_VERSION = 1

ItemType = Literal["cloze", "tf", "mc"]


class StudyError(Exception):
    """A study request that cannot be served (no knowledge base, no document matches, bad type)."""


@dataclass(frozen=True)
class ItemSource:
    """Where an item comes from; `to_json` is the `citation` object of docs/INTERFACES.md."""

    doc: str  # the name as ingested (「regulations/医疗废物管理条例.txt」)
    title: str
    section_path: str
    page: int | None
    passage: str  # the structural unit (or chunk text) the item was made from, verbatim
    span: tuple[int, int]  # the answer's characters in `passage` (tf: the statement's source clause)
    doc_id: str = ""
    chunk_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"doc": self.doc, "title": self.title, "section_path": self.section_path, "page": self.page,
                "passage": self.passage, "span": list(self.span)}


@dataclass(frozen=True)
class Item:
    """One practice item. `answer`: the blanked text (cloze), True/False (tf), the correct choice's
    text (mc, one of `choices`). `id` is a hash of the document's content id, the section, the
    source text, the type and the answer: stable while the document is unchanged, new when it changes."""

    id: str
    type: ItemType
    prompt: str
    answer: str | bool
    source: ItemSource
    choices: tuple[str, ...] | None = None
    explanation: str = ""  # shown after answering: for a false statement, what the document says
    kind: str = ""  # what was tested: figure, deadline, body, enumeration_item, negation, subject, ...
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def section_key(self) -> str:
        """What progress is kept per: the document and the section (weak sections are favoured)."""
        return f"{self.source.doc_id}\x1f{self.source.section_path}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "prompt": self.prompt,
                "choices": list(self.choices) if self.choices is not None else None,
                "answer": self.answer, "citation": self.source.to_json()}
