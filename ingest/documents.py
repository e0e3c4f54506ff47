"""The records that flow through ingestion: a loaded document, its pages, and its chunks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class LoadError(Exception):
    """A file that cannot become text; `reason` is the short phrase shown to the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Page:
    """One unit of citable location: a PDF page, or the whole text of a non-paginated file.

    `number` is 1-based for PDFs and None for formats without pages.
    """

    number: int | None
    text: str
    # Mean OCR confidence (0..1) of the page's recognised lines when its text came from OCR, else None
    ocr_confidence: float | None = None


@dataclass
class DocMeta:
    """What the document says about itself (or its manifest entry says)."""

    title: str = ""
    wenhao: str | None = None  # 文号, e.g. 国卫办医函〔2021〕538号
    issuer: str | None = None  # issuing body / publisher
    date: str | None = None  # ISO yyyy-mm-dd
    doc_type: str | None = None  # policy | news | ...
    url: str | None = None


@dataclass
class LoadedDocument:
    """A parsed file: content id, pages and metadata, before chunking."""

    doc_id: str  # sha256 of the file's bytes
    doc: str  # name relative to the ingested folder (INTERFACES.md)
    file_type: str  # pdf | docx | doc | wps | ofd | html | txt | md | png | jpg
    pages: list[Page]
    meta: DocMeta = field(default_factory=DocMeta)
    # What was recovered around damage (a truncated PDF's lost pages): reported, not a failure
    warnings: list[str] = field(default_factory=list)


@dataclass
class Chunk:
    """A passage as stored: text plus everything needed to cite it."""

    chunk_id: str
    doc_id: str
    doc: str
    ordinal: int
    text: str
    title: str
    section_path: str
    page_start: int | None
    page_end: int | None
    char_start: int  # offset into page_start's text
    char_end: int  # offset into page_end's text (exclusive)
    wenhao: str | None = None
    issuer: str | None = None
    date: str | None = None
    doc_type: str | None = None
    # True when some of the chunk's text was read by OCR (a scanned page or an image); then the lowest
    # OCR confidence of its pages, so the sources panel can say the quote may hold misread characters
    ocr: bool | None = None
    ocr_confidence: float | None = None

    @property
    def header(self) -> str:
        """Where the chunk sits: 「医疗废物管理条例 > 第四章 医疗废物的集中处置 > 第二十三条」."""
        return " > ".join(x for x in (self.title, self.section_path) if x)

    def metadata(self) -> dict[str, Any]:
        """Flat, Chroma-compatible metadata (no None values: Chroma rejects them)."""
        data = asdict(self)
        data.pop("text")
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_metadata(cls, text: str, meta: dict[str, Any]) -> "Chunk":
        names = cls.__dataclass_fields__
        values = {k: meta.get(k) for k in names if k != "text"}
        return cls(text=text, **values)
