"""The one Answer shape that the CLI, the UI and the evals all render (INTERFACES.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.evidence import INJECTION

SCHEMA_VERSION = 1


@dataclass
class Citation:
    """A passage an answer cites as [n]."""

    n: int
    doc_id: str
    doc: str
    title: str
    wenhao: str | None
    section_path: str
    page: int | None
    passage: str
    span: tuple[int, int] | None  # supporting span inside `passage`
    chunk_id: str = ""
    date: str | None = None
    support: float = 0.0  # how well the answer's sentences citing it are supported (0..1)
    # the passage holds text that addresses the assistant (evidence.INJECTION): shown as data, flagged
    addresses_assistant: bool = False
    # the passage was read by OCR from a scan or an image (ingest/ocr.py): its lowest page confidence, 0..1
    ocr_confidence: float | None = None

    def __post_init__(self) -> None:
        self.addresses_assistant = self.addresses_assistant or bool(INJECTION.search(self.passage))


@dataclass
class Retrieved:
    """A candidate passage in final rank order, cited or not."""

    rank: int
    doc_id: str
    doc: str
    text: str
    score: float
    chunk_id: str = ""
    title: str = ""
    section_path: str = ""
    page: int | None = None
    lexical_score: float | None = None
    dense_score: float | None = None
    addresses_assistant: bool = False  # as Citation.addresses_assistant
    ocr_confidence: float | None = None  # as Citation.ocr_confidence

    def __post_init__(self) -> None:
        self.addresses_assistant = self.addresses_assistant or bool(INJECTION.search(self.text))


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[Retrieved] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    rewritten_question: str | None = None
    generator: str = "extractive"
    error: str | None = None  # a readable message when a generator failed

    def to_json(self) -> dict[str, Any]:
        data = {
            "schema_version": SCHEMA_VERSION,
            "question": self.question,
            "rewritten_question": self.rewritten_question,
            "answer": self.answer,
            "refused": self.refused,
            "citations": [
                {**asdict(c), "span": list(c.span) if c.span else None} for c in self.citations
            ],
            "retrieved": [asdict(r) for r in self.retrieved],
            "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()},
            "generator": self.generator,
        }
        if self.error:
            data["error"] = self.error
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Answer":
        citations = [
            Citation(**{**c, "span": tuple(c["span"]) if c.get("span") else None})
            for c in data.get("citations", [])
        ]
        retrieved = [Retrieved(**r) for r in data.get("retrieved", [])]
        return cls(
            question=data["question"],
            answer=data["answer"],
            refused=data["refused"],
            citations=citations,
            retrieved=retrieved,
            latency_ms=data.get("latency_ms", {}),
            rewritten_question=data.get("rewritten_question"),
            generator=data.get("generator", "extractive"),
            error=data.get("error"),
        )

    def render_text(self) -> str:
        """The terminal form: answer, then numbered sources (or the closest passages after a refusal)."""
        lines = [self.answer, ""]
        if self.rewritten_question:
            lines.insert(0, f"（改写后的问题：{self.rewritten_question}）")
        if self.citations:
            lines.append("来源：")
            for c in self.citations:
                where = " · ".join(x for x in [c.wenhao, c.section_path, f"第{c.page}页" if c.page else None] if x)
                lines.append(f"[{c.n}] {c.title or c.doc}（{c.doc}）{(' · ' + where) if where else ''}")
                lines.append(f"    {c.passage[:160]}{'…' if len(c.passage) > 160 else ''}")
        elif self.refused and self.retrieved:
            lines.append("可能相关的段落：")
            for r in self.retrieved[:3]:
                lines.append(f"- {r.title or r.doc}：{r.text[:100]}…")
        total = self.latency_ms.get("total")
        if total is not None:
            lines.append(f"\n（用时 {total / 1000:.2f} 秒）")
        return "\n".join(lines)
