"""Turn a file (PDF, DOCX, DOC/WPS, OFD, HTML, TXT, MD, PNG/JPG) into a LoadedDocument: pages of clean
text plus metadata.

Every failure becomes a LoadError with a short reason the user can act on; no library exception
escapes and nothing is printed. PDFs are read page by page (`iter_pdf_pages`), so only the text
is kept, never pypdf's rendered page objects beyond the page being read. A page without a usable
text layer is rendered and OCR'd (ingest/ocr.py), one page at a time; ruled tables become row lines
carrying their headers (ingest/tables.py). `.doc`/`.wps` go through LibreOffice headless to DOCX;
`.ofd` (GB/T 33190) is read with ofdkit.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ingest import ocr, tables
from ingest.documents import LoadedDocument, LoadError, Page
from ingest.metadata import CJK, extract_meta, has_cjk, is_junk_title, is_navigation_line, parse_date
from settings import IngestSettings

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
CONVERTED_SUFFIXES = {".doc", ".wps"}  # through LibreOffice to DOCX
SUPPORTED_SUFFIXES = {".pdf", ".docx", ".html", ".htm", ".txt", ".md", ".ofd"} | CONVERTED_SUFFIXES | IMAGE_SUFFIXES
LIBREOFFICE_PACKAGE = "libreoffice-writer-nogui"
# (pages done, pages in the file): told after each PDF page, so a long OCR shows its progress
PageProgress = Callable[[int, int], None]

# pypdf and trafilatura log warnings about damaged files; the LoadError says what matters, and
# without a handler Python's last-resort handler would print them to stderr.
for _name in ("pypdf", "trafilatura", "htmldate", "courlan", "readability", "justext", "pdfminer", "RapidOCR"):
    logging.getLogger(_name).addHandler(logging.NullHandler())

UNDECODABLE = "undecodable text: neither UTF-8 nor GB18030"
_JUNK_CONTROL_RATIO = 0.05
# C0 controls other than tab/newline/CR/form feed, DEL, and private-use code points (where
# GB18030 puts byte sequences no real text uses)
_JUNK_CHAR_RE = re.compile("[\x01-\x08\x0b\x0e-\x1f\x7f\ue000-\uf8ff]")
_OCR_MIN_CHARS = 10  # fewer letters/digits/CJK characters than this in a whole PDF: a scan
NEEDS_OCR = "no text layer: needs OCR (ingest.ocr is off)"


def file_sha256(path: Path) -> str:
    """Content id: sha256 of the bytes, read in blocks so big PDFs are not held twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _short(exc: BaseException, limit: int = 80) -> str:
    """A library's error message, one line and short enough for a failure list."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


# =================================================================================================
# text decoding


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _looks_binary(text: str) -> bool:
    """Random bytes can decode as GB18030; real text has few NULs and control/private characters.

    A stray NUL (a copy-paste or an editor's slip) does not make a text file binary: NULs count
    with the other junk characters against the same ratio."""
    if not text:
        return False
    sample = text[:200_000]  # a sample is enough, and keeps big files fast
    junk = len(_JUNK_CHAR_RE.findall(sample)) + sample.count("\x00")
    return junk / len(sample) > _JUNK_CONTROL_RATIO


def decode_text(data: bytes) -> str:
    """Bytes → text by strict decoding, never guessing: BOMs, then UTF-8, then GB18030.

    GB18030 is a superset of GBK and GB2312, the encodings of most older Chinese files. Text that
    decodes but is mostly control characters is binary junk and rejected too. Line endings are
    normalised to '\\n'; nothing else is changed.
    """
    boms = (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    )
    text: str | None = None
    for bom, codec in boms:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(codec.replace("-sig", ""))
            except UnicodeDecodeError:
                raise LoadError(UNDECODABLE) from None
            break
    if text is None:
        for codec in ("utf-8", "gb18030"):
            try:
                text = data.decode(codec)
                break
            except UnicodeDecodeError:
                continue
    if text is None or _looks_binary(text):
        raise LoadError(UNDECODABLE)
    return _normalise_newlines(text.replace("\x00", ""))


# =================================================================================================
# PDF text cleaning

_CJKP = f"{CJK}\u3000-\u303f\uff00-\uffef\u2018\u2019\u201c\u201d\u2026\u2014\u00b7"  # + CJK punctuation
# whitespace pypdf puts between two CJK characters, or between CJK and a digit ('到 2025 年')
_CJK_SPACE_RE = re.compile(f"(?<=[{_CJKP}])[ \t\u00a0\u3000]+(?=[{_CJKP}0-9])|(?<=[0-9])[ \t\u00a0\u3000]+(?=[{_CJKP}])")
_DASHES = "-—–－─‐_~"
# '- 3 -', '—3—', '第3页', '第 3 页 共 10 页': page numbers anywhere on a page
_PAGE_NO_RE = re.compile(
    f"[{_DASHES}]+\\s*\\d{{1,4}}\\s*[{_DASHES}]*|[{_DASHES}]*\\s*\\d{{1,4}}\\s*[{_DASHES}]+|"
    "第\\s*\\d{1,4}\\s*页(?:\\s*[,，/]?\\s*共\\s*\\d{1,4}\\s*页)?|(?:page\\s*)?\\d{1,4}\\s*(?:/|of)\\s*\\d{1,4}",
    re.IGNORECASE,
)
_BARE_NUMBER_RE = re.compile(r"\d{1,4}")  # a page number only when first or last on the page
# lines that start a new unit even when the previous line looks unfinished
_HEADING_START_RE = re.compile(
    r"^(?:第[一二三四五六七八九十百零〇\d]+[章节条款部分篇]|[一二三四五六七八九十]+、|"
    r"[（(][一二三四五六七八九十\d]+[）)]|\d+(?:\.\d+)*[.．、]|\d+\s|附件|附表|附录|[①-⑳]|[A-Za-z][.、)]|"
    r"[•·●■□◆◇▲△※*-]\s)"
)
_SENTENCE_END = "。！？；：!?;:…"
# the addressees under a notice's title (「各县卫生健康局：」) start the body; they never continue the title
_ADDRESSEE_RE = re.compile(r"^各[^，。；,;]{1,30}[：:]$")
_PROSE_PUNCT_RE = re.compile(r"[，。；、：！？]|[,.;] ")
_CLOSERS = "”’」』）)》】\"'"


def _width(line: str) -> float:
    """Display width in CJK cells: ASCII counts half, so mixed lines compare fairly."""
    return sum(0.5 if ord(ch) < 128 else 1.0 for ch in line)


def _drop_page_numbers(lines: list[str]) -> list[str]:
    """Remove '- 3 -' style lines anywhere, and bare numbers as first/last line of the page."""
    kept = [line for line in lines if not _PAGE_NO_RE.fullmatch(line.strip())]
    nonempty = [i for i, line in enumerate(kept) if line.strip()]
    edges = {nonempty[0], nonempty[-1]} if nonempty else set()
    return [line for i, line in enumerate(kept) if not (i in edges and _BARE_NUMBER_RE.fullmatch(line.strip()))]


def _merge_char_lines(lines: list[str]) -> list[str]:
    """Some PDFs place each character separately and pypdf puts each on its own line:
    three or more consecutive one-character lines are joined back into one."""
    out: list[str] = []
    run: list[str] = []
    for line in lines + [""]:
        s = line.strip()
        if len(s) == 1 and re.match(f"[{_CJKP}]", s):
            run.append(s)
            continue
        if len(run) >= 3:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        out.append(line)
    return out[:-1]


def _ends_sentence(line: str) -> bool:
    s = line.rstrip().rstrip(_CLOSERS)
    return not s or s[-1] in _SENTENCE_END


def _reflow(lines: list[str], indented: list[bool]) -> list[str]:
    """Join lines that PDF layout wrapped mid-sentence; keep paragraph and heading breaks.

    A line is a soft wrap when it is (nearly) as wide as the page's full lines and does not end a
    sentence, and the next line neither starts a heading ('一、', '（二）', '1.', '第三条', '附件')
    nor is indented. Short lines (titles, headings, signatures) always keep their break, and
    pages that do not read as prose (tables, cover pages) are left alone.
    """
    nonempty = [line for line in lines if line]
    widths = sorted(_width(line) for line in nonempty)
    if len(widths) < 2:
        return lines
    # only prose pages: Chinese prose lines nearly all carry punctuation, table rows rarely do
    if sum(1 for line in nonempty if _PROSE_PUNCT_RE.search(line)) < 0.25 * len(nonempty):
        return lines
    full = widths[int(0.9 * (len(widths) - 1))]
    if full < 15:
        return lines
    out: list[str] = []
    joinable = False
    for line, indent in zip(lines, indented):
        if out and joinable and line and not indent and not _HEADING_START_RE.match(line) and not _ADDRESSEE_RE.match(line):
            prev = out[-1]
            # English wraps at a space; Chinese wraps anywhere, even inside a number ('（2' / '021年')
            english = not has_cjk(prev) and prev[-1:].isalnum() and line[:1].isalnum()
            out[-1] = prev + (" " if english else "") + line
        else:
            out.append(line)
        joinable = bool(line) and _width(line) >= 0.9 * full and not _ends_sentence(line)
    return out


_RADICALS: dict[int, str] | None = None


def _fix_radicals(text: str) -> str:
    """Some Chinese PDF fonts map glyphs to Kangxi radicals ('⼀' U+2F00) or compatibility
    ideographs instead of the ordinary characters ('一'); map them back (their NFKC form)."""
    global _RADICALS
    if _RADICALS is None:
        table: dict[int, str] = {}
        for cp in [*range(0x2E80, 0x2FE0), *range(0xF900, 0xFB00)]:
            norm = unicodedata.normalize("NFKC", chr(cp))
            if norm != chr(cp) and len(norm) == 1:
                table[cp] = norm
        _RADICALS = table
    return text.translate(_RADICALS)


# '第三条 本方案…': the space after an article number is real, keep exactly one
_ARTICLE_RE = re.compile(r"^(第[一二三四五六七八九十百零〇\d]+[章节条款])[ \t\u3000\u00a0]+(?=\S)")


def _clean_line(line: str) -> str:
    """Strip a line and remove the spaces pypdf put between CJK characters."""
    line = line.strip(" \t\u3000\u00a0")
    m = _ARTICLE_RE.match(line)
    if m:
        return m.group(1) + " " + _CJK_SPACE_RE.sub("", line[m.end() :])
    return _CJK_SPACE_RE.sub("", line)


def clean_pdf_text(text: str) -> str:
    """Undo pypdf extraction artefacts on one page's text.

    Removes spaces pypdf inserts between Chinese characters, drops page-number lines, rejoins
    one-character lines and soft-wrapped lines, strips trailing spaces and collapses blank runs,
    while every heading ('一、总体要求', '（二）…', '第三条', '附件') still starts its own line.
    """
    text = _fix_radicals(_normalise_newlines(text)).replace("\x00", "")
    raw = _merge_char_lines(_drop_page_numbers(text.split("\n")))
    indented = [bool(re.match(r"[ \t\u3000\u00a0]{2,}|\u3000", line)) and bool(line.strip()) for line in raw]
    lines = [_clean_line(line) for line in raw]
    lines = _reflow(lines, indented)
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


# =================================================================================================
# PDF


@dataclass
class _PdfFile:
    """An opened PDF, and what its damage cost: `repaired` when pypdf could only read a rebuilt copy,
    `declared_pages` the page count its page tree states (pages past the end of a truncated file are
    missing from `reader.pages`)."""

    reader: Any
    repaired: bool = False
    declared_pages: int | None = None


def _read_pdf(source: str | io.BytesIO) -> Any:
    from pypdf import PdfReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = PdfReader(source, strict=False)
        if not reader.is_encrypted:  # (read after decryption)
            _ = len(reader.pages)  # the page tree is read lazily; a broken one must fail here
    return reader


_OBJ_RE = re.compile(rb"(?<![0-9])(\d{1,10})[ \t\r\n]+(\d{1,5})[ \t\r\n]+obj\b")
_PAGE_TYPE_RE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
_CATALOG_RE = re.compile(rb"/Type\s*/Catalog\b")
_COUNT_RE = re.compile(rb"/Count\s+(\d+)")
_EOF_MARKER = b"\nstartxref\n0\n%%EOF\n"


def _rebuilt_pdf(data: bytes, own_tree: bool) -> tuple[bytes, int | None]:
    """A truncated PDF's complete objects with a new cross-reference table and trailer (the parts a
    truncated file loses first), plus the page count its surviving page tree declares.

    The page tree and catalog are rebuilt from the page objects found, in file order, when the
    originals did not survive (or `own_tree`: the surviving tree points at lost pages)."""
    spans: dict[int, tuple[int, int, bytes]] = {}  # number -> (offset, generation, body)
    body_end = 0
    starts = list(_OBJ_RE.finditer(data))
    for i, m in enumerate(starts):
        limit = starts[i + 1].start() if i + 1 < len(starts) else len(data)
        close = data.find(b"endobj", m.end(), limit)
        if close >= 0:  # a complete object; a later copy (an incremental update) wins
            spans[int(m[1])] = (m.start(), int(m[2]), data[m.end() : close])
            body_end = max(body_end, close + len(b"endobj"))
    if not spans:
        raise LoadError("corrupt PDF: no readable objects")
    out = bytearray(data[:body_end])  # a cut-off last object would break the parse of what follows
    declared: int | None = None
    for _, _, body in spans.values():
        if re.search(rb"/Type\s*/Pages\b", body) and b"/Parent" not in body:
            m = _COUNT_RE.search(body)
            declared = int(m[1]) if m else declared
    catalog = next((n for n, (_, _, body) in spans.items() if _CATALOG_RE.search(body)), None)
    if own_tree or catalog is None or declared is None:
        pages = [n for n, (_, _, body) in sorted(spans.items(), key=lambda kv: kv[1][0]) if _PAGE_TYPE_RE.search(body)]
        tree, catalog = max(spans) + 1, max(spans) + 2
        kids = " ".join(f"{n} 0 R" for n in pages)
        for number, text in (
            (tree, f"<< /Type /Pages /Kids [ {kids} ] /Count {len(pages)} >>"),
            (catalog, f"<< /Type /Catalog /Pages {tree} 0 R >>"),
        ):
            spans[number] = (len(out) + 1, 0, b"")
            out += f"\n{number} 0 obj\n{text}\nendobj\n".encode()
    size = max(spans) + 1
    xref = len(out)
    out += f"\nxref\n0 {size}\n".encode()
    out += b"0000000000 65535 f \n"
    for n in range(1, size):
        entry = spans.get(n)
        out += (f"{entry[0]:010d} {entry[1]:05d} n \n" if entry else "0000000000 00000 f \n").encode()
    out += f"trailer\n<< /Size {size} /Root {catalog} 0 R >>\nstartxref\n{xref + 1}\n%%EOF\n".encode()
    return bytes(out), declared


def _salvage_pdf(path: Path) -> _PdfFile:
    """A PDF pypdf cannot open as it is: first with only its end-of-file marker restored (a file
    cut in its last bytes), then rebuilt from its complete objects (a file cut anywhere)."""
    data = path.read_bytes()
    try:
        return _PdfFile(_read_pdf(io.BytesIO(data + _EOF_MARKER)), repaired=True)
    except Exception:
        pass
    try:
        rebuilt, declared = _rebuilt_pdf(data, own_tree=False)
        return _PdfFile(_read_pdf(io.BytesIO(rebuilt)), repaired=True, declared_pages=declared)
    except Exception:
        rebuilt, declared = _rebuilt_pdf(data, own_tree=True)
        return _PdfFile(_read_pdf(io.BytesIO(rebuilt)), repaired=True, declared_pages=declared)


def _open_pdf(path: Path, limits: IngestSettings | None = None) -> _PdfFile:
    """Open (and if needed decrypt with the empty password, or salvage) a PDF, or raise a LoadError."""
    from pypdf.errors import DependencyError

    limits = limits or IngestSettings()
    try:
        with open(path, "rb") as fh:
            head = fh.read(1024)
        if b"%PDF-" not in head:
            raise LoadError("corrupt PDF: not a PDF file")
        try:
            pdf = _PdfFile(_read_pdf(str(path)))
        except Exception as exc:  # damaged: recover what is readable, else report the first error
            try:
                pdf = _salvage_pdf(path)
            except Exception:
                raise exc from None
        reader = pdf.reader
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except DependencyError:
                raise LoadError("encrypted PDF: AES decryption needs the 'cryptography' package") from None
            if not ok:
                raise LoadError("encrypted PDF: needs a password")
        n = len(reader.pages)
        if n == 0:
            raise LoadError("corrupt PDF: no pages")
        if n > limits.max_pages:
            raise LoadError(f"{n:,} pages, more than the limit of {limits.max_pages:,} (ingest.max_pages)")
        return pdf
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types (PdfReadError, KeyError, ValueError…)
        raise LoadError(f"corrupt PDF: {_short(exc)}") from None


def _mostly_single_chars(text: str) -> bool:
    """pypdf's plain mode puts each separately placed glyph on its own line; detect such pages."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    return len(lines) >= 8 and sum(1 for line in lines if len(line) == 1) >= 0.6 * len(lines)


def _page_text(page: Any) -> str:
    """Plain extraction; pages whose glyphs are placed one by one are re-read in layout mode,
    which rebuilds lines from positions (slower, so only when needed)."""
    if "/Contents" in page and page.get_contents() is None:
        raise LoadError("page content missing (truncated or damaged)")  # its stream was cut off
    raw = page.extract_text() or ""
    if _mostly_single_chars(raw):
        try:
            layout = page.extract_text(extraction_mode="layout") or ""
        except Exception:
            layout = ""
        if layout.strip():
            return layout
    return raw


class _PageExtras:
    """What a PDF page may need beyond pypdf's text: its ruled tables (pdfplumber) and, when it has
    no usable text layer, its pixels (pypdfium2) for OCR. Each library opens the file only when a
    first page needs it, and holds one page at a time."""

    def __init__(self, path: Path, limits: IngestSettings) -> None:
        self.path, self.limits = path, limits
        self._plumber: Any = None
        self._pdfium: Any = None
        self.ocr_pages = 0

    def table_text(self, page: Any, index: int) -> str | None:
        """The page with its tables as row lines, or None (no ruled table, or pdfplumber failed)."""
        if not self.limits.tables:
            return None
        try:
            contents = page.get_contents()
            if contents is None or not tables.may_hold_table(contents.get_data()):
                return None
            if self._plumber is None:
                import pdfplumber

                self._plumber = pdfplumber.open(str(self.path))
            plumber_page = self._plumber.pages[index]
            try:
                return tables.pdf_page_text(plumber_page, clean_pdf_text)
            finally:
                plumber_page.close()  # drop its cached characters and objects
        except Exception:  # a page pdfminer cannot parse keeps pypdf's text
            return None

    def needs_ocr(self, text: str) -> bool:
        return self.limits.ocr and (ocr.meaningful_chars(text) < self.limits.ocr_min_chars or ocr.is_garbage(text))

    def recognise(self, index: int) -> ocr.OcrPage:
        if self._pdfium is None:
            self._pdfium = ocr.open_pdfium(self.path)
        image = ocr.render_pdf_page(self._pdfium, index, self.limits.ocr_dpi, self.limits.ocr_max_pixels)
        self.ocr_pages += 1
        return ocr.recognise(image, self.limits.ocr_threads)

    def close(self) -> None:
        for handle in (self._plumber, self._pdfium):
            if handle is not None:
                try:
                    handle.close()
                except Exception:
                    pass
        self._plumber = self._pdfium = None


def _extract_page(reader: Any, index: int, extras: _PageExtras | None) -> Page:
    """One page's text: its tables as rows if it has any, else pypdf's cleaned text; OCR'd instead
    when that text is (nearly) empty or junk and OCR reads more."""
    with warnings.catch_warnings():  # held per page, never across a yield
        warnings.simplefilter("ignore")
        page = reader.pages[index]
        raw = _page_text(page)
        text = (extras.table_text(page, index) if extras else None) or clean_pdf_text(raw)
    if extras is None or not extras.needs_ocr(text):
        return Page(number=index + 1, text=text)
    result = extras.recognise(index)
    recognised = clean_pdf_text(result.text)
    if ocr.meaningful_chars(recognised) > (0 if ocr.is_garbage(text) else ocr.meaningful_chars(text)):
        return Page(number=index + 1, text=recognised, ocr_confidence=result.confidence)
    return Page(number=index + 1, text=text)


def _iter_reader_pages(
    reader: Any,
    lost: list[int] | None = None,
    extras: _PageExtras | None = None,
    on_page: PageProgress | None = None,
) -> Iterator[Page]:
    """One cleaned Page per PDF page; an unreadable page becomes empty (its number noted in `lost`),
    the whole file fails only when no page at all could be read."""
    n = len(reader.pages)
    failures = 0
    last_error: Exception | None = None
    for i in range(n):
        try:
            page = _extract_page(reader, i, extras)
        except LoadError as exc:
            if exc.reason.startswith("image of"):  # over ingest.ocr_max_pixels: the file fails, named
                raise
            failures, last_error, page = failures + 1, exc, Page(number=i + 1, text="")
            if lost is not None:
                lost.append(i + 1)
        except Exception as exc:
            failures, last_error, page = failures + 1, exc, Page(number=i + 1, text="")
            if lost is not None:
                lost.append(i + 1)
        if on_page:
            on_page(i + 1, n)
        yield page
    if failures == n and last_error is not None:
        reason = last_error.reason if isinstance(last_error, LoadError) else _short(last_error)
        raise LoadError(f"corrupt PDF: {reason}")


def iter_pdf_pages(path: Path, limits: IngestSettings | None = None) -> Iterator[Page]:
    """Stream a PDF's pages as cleaned text, one at a time (bounded memory for long documents);
    pages without a text layer are OCR'd unless `limits.ocr` is off.

    Raises LoadError (lazily, on iteration) for corrupt or password-protected files.
    """
    limits = limits or IngestSettings()
    pdf = _open_pdf(Path(path), limits)
    extras = _PageExtras(Path(path), limits)
    try:
        yield from _iter_reader_pages(pdf.reader, extras=extras)
    finally:
        extras.close()


def _pdf_title(reader: Any) -> str | None:
    try:
        meta = reader.metadata
        title = meta.title if meta is not None else None
        return str(title).strip() if title else None
    except Exception:
        return None


def _page_ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> '3–5, 9'."""
    out: list[str] = []
    for n in sorted(numbers):
        if out and n == int(out[-1].split("–")[-1]) + 1:
            out[-1] = out[-1].split("–")[0] + f"–{n}"
        else:
            out.append(str(n))
    return ", ".join(out)


def _damage_warning(pdf: _PdfFile, lost: list[int]) -> str | None:
    """What a damaged PDF lost, for the ingest report: its unreadable pages out of those it declares."""
    read = len(pdf.reader.pages)
    total = max(read, pdf.declared_pages or 0)
    lost = sorted(set(lost) | set(range(read + 1, total + 1)))
    if lost:
        return f"damaged PDF: pages {_page_ranges(lost)} of {total} could not be read; the other pages were ingested"
    if pdf.repaired:
        return f"damaged PDF (truncated or without its cross-reference table): repaired, all {total} pages read"
    return None


def _load_pdf(
    path: Path, limits: IngestSettings, on_page: PageProgress | None = None
) -> tuple[list[Page], str | None, list[str]]:
    """All pages, the /Title and any damage warning. Pages without a usable text layer are OCR'd
    (unless ingest.ocr is off); a PDF with (almost) no text anywhere after that fails. Reading stops
    as soon as the text passes the character limit."""
    pdf = _open_pdf(path, limits)
    title = _pdf_title(pdf.reader)
    lost: list[int] = []
    pages: list[Page] = []
    chars = 0
    total = len(pdf.reader.pages)
    extras = _PageExtras(path, limits)
    try:
        for page in _iter_reader_pages(pdf.reader, lost, extras, on_page):
            pages.append(page)
            chars += len(page.text)
            if chars > limits.max_chars and len(pages) < total:
                raise LoadError(_too_many_chars(chars, limits, f" in the first {len(pages):,} of {total:,} pages"))
    finally:
        extras.close()
    # distinct page texts, so a stamp or watermark repeated on every scanned page does not count
    distinct = {re.sub(r"[\W_]+", "", p.text) for p in pages}
    if sum(len(t) for t in distinct) < _OCR_MIN_CHARS:
        if not limits.ocr:
            raise LoadError(NEEDS_OCR)
        raise LoadError(f"no text layer, and OCR recognised no text on its {total:,} page{'s' if total > 1 else ''}")
    warning = _damage_warning(pdf, lost)
    return pages, title, [warning] if warning else []


# =================================================================================================
# DOCX


def _docx_rows(table: Any) -> list[list[str]]:
    """A table's cell texts row by row; a horizontally merged cell counts once (python-docx repeats
    it for each grid column), a vertically merged one repeats its text down the rows it spans."""
    rows: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(" ".join(" ".join(_docx_blocks(cell, as_rows=False)).split()))
        rows.append(cells)
    return rows


def _docx_blocks(container: Any, as_rows: bool = True) -> Iterator[str]:
    """Paragraph and table text in document order. With `as_rows` a table becomes one line per data
    row carrying its column headers (ingest/tables.py); otherwise (ingest.tables off, or a table
    nested in a cell) each row is one tab-joined line."""
    from docx.table import Table

    for block in container.iter_inner_content():
        if isinstance(block, Table):
            rows = _docx_rows(block)
            if as_rows:
                yield from tables.row_lines(rows)
            else:
                yield from ("\t".join(cells) for cells in rows if any(cells))
        else:
            yield block.text


_DOCX_BODY = "word/document.xml"


def _mb(n: int) -> str:
    return f"{n / 1048576:,.1f} MB"


def _check_unzipped_size(path: Path, limits: IngestSettings) -> None:
    """Refuse a zip bomb before python-docx inflates it into memory: the members' declared sizes in
    all, then word/document.xml streamed through its checksum in 1 MiB blocks with the bytes it
    really inflates to counted (the headers are written by whoever made the file; zipfile stops at
    the declared size, so a lying header fails its CRC here, not after python-docx read it whole)."""
    limit = limits.max_unzipped_mb * 1048576
    over = f"more than the limit of {limits.max_unzipped_mb:,} MB (ingest.max_unzipped_mb)"
    with zipfile.ZipFile(path) as zf:
        declared = sum(info.file_size for info in zf.infolist())
        if declared > limit:
            raise LoadError(f"{_mb(declared)} when unzipped, {over}")
        inflated = 0
        with zf.open(_DOCX_BODY) as fh:
            while block := fh.read(1 << 20):
                inflated += len(block)
                if inflated > limit:
                    raise LoadError(f"{_DOCX_BODY} inflates past {_mb(limit)}, {over}")


def _load_docx(path: Path, limits: IngestSettings) -> tuple[list[Page], str | None]:
    import docx

    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise LoadError("corrupt DOCX: not a valid Word file (old .doc format or encrypted)")
        _check_unzipped_size(path, limits)
        document = docx.Document(str(path))
        lines: list[str] = []
        for block in _docx_blocks(document, as_rows=limits.tables):
            lines.extend(line.rstrip() for line in _normalise_newlines(block).split("\n"))
        style_title = None
        for paragraph in document.paragraphs:
            name = (paragraph.style.name if paragraph.style is not None else "") or ""
            if name.lower() in ("title", "标题") and paragraph.text.strip():
                style_title = " ".join(paragraph.text.split())
                break
        core_title = (document.core_properties.title or "").strip() or None
    except LoadError:
        raise
    except Exception:  # zipfile.BadZipFile, KeyError, PackageNotFoundError, lxml errors…
        raise LoadError("corrupt DOCX: not a valid Word file") from None
    text = "\n".join(line for line in lines if line.strip())
    hint = style_title if not is_junk_title(style_title) else core_title
    return [Page(number=None, text=text)], hint


# =================================================================================================
# DOC / WPS (LibreOffice headless)


def _soffice(limits: IngestSettings) -> str:
    """LibreOffice's executable, or a LoadError naming the Debian package that provides it."""
    found = shutil.which(limits.soffice)
    if found is None:
        raise LoadError(
            f"converting this file needs LibreOffice: apt-get install {LIBREOFFICE_PACKAGE} "
            "(or set ingest.soffice to its path)"
        )
    return found


def convert_to_docx(path: Path, workdir: Path, limits: IngestSettings) -> Path:
    """Convert a .doc/.wps file to DOCX in `workdir` with LibreOffice headless.

    A private user profile per run keeps concurrent conversions (and a user's open LibreOffice) from
    blocking each other on the profile lock; the file is copied under a plain name first, since
    LibreOffice parses some characters of a file name as URL syntax."""
    soffice = _soffice(limits)
    source = workdir / f"input{path.suffix.lower()}"
    shutil.copyfile(path, source)
    profile = (workdir / "profile").as_uri()
    command = [
        soffice, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--nologo",
        "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(workdir / "out"), str(source),
    ]
    env = {**os.environ, "HOME": str(workdir)}
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=limits.convert_timeout_s, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise LoadError(
            f"LibreOffice took more than {limits.convert_timeout_s:g} s to convert it (ingest.convert_timeout_s)"
        ) from None
    except OSError as exc:
        raise LoadError(f"cannot run LibreOffice ({limits.soffice}): {_short(exc.strerror or exc)}") from None
    out = workdir / "out" / "input.docx"
    if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        raise LoadError(f"corrupt {path.suffix[1:].upper()}: LibreOffice could not convert it")
    return out


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Word 97-2003 and WPS Writer files are OLE compound files


def _load_converted(path: Path, limits: IngestSettings) -> tuple[list[Page], str | None]:
    """A .doc/.wps file through a temporary DOCX, read like any DOCX (tables included). Only an OLE
    compound file or RTF (Word saves both as .doc) goes to LibreOffice, which would otherwise import
    any bytes as plain text; a DOCX misnamed .doc is read directly."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path):
        return _load_docx(path, limits)
    if not (head.startswith(_OLE_MAGIC) or head.startswith(b"{\\rtf")):
        raise LoadError(f"corrupt {path.suffix[1:].upper()}: not a Word or WPS document")
    with tempfile.TemporaryDirectory(prefix="qianxian-convert-") as tmp:
        docx_path = convert_to_docx(path, Path(tmp), limits)
        return _load_docx(docx_path, limits)


# =================================================================================================
# OFD (GB/T 33190, the format of government e-document systems)


def _load_ofd(path: Path, limits: IngestSettings) -> tuple[list[Page], str | None]:
    """Each OFD page's text in reading order (ofdkit: standard library only, Apache-2.0; easyofd
    could not read back an OFD it wrote itself and imports the AGPL PyMuPDF). The zip is size-checked
    first like a DOCX."""
    try:
        import ofdkit
    except ImportError:
        raise LoadError("reading OFD needs the ofdkit package (pip install ofdkit)") from None
    limit = limits.max_unzipped_mb * 1048576
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError):
        raise LoadError("corrupt OFD: not a valid OFD file") from None
    if declared > limit:
        raise LoadError(
            f"{_mb(declared)} when unzipped, more than the limit of {limits.max_unzipped_mb:,} MB (ingest.max_unzipped_mb)"
        )
    try:
        with ofdkit.open(path) as document:
            if len(document.pages) > limits.max_pages:
                raise LoadError(
                    f"{len(document.pages):,} pages, more than the limit of {limits.max_pages:,} (ingest.max_pages)"
                )
            pages = [Page(number=i + 1, text=clean_pdf_text(page.text())) for i, page in enumerate(document.pages)]
            info = document.info
            title = (getattr(info, "title", None) or "").strip() or None
    except LoadError:
        raise
    except Exception as exc:  # OFDFormatError, OFDLimitError, XML errors
        raise LoadError(f"corrupt OFD: {_short(exc)}") from None
    return pages, title


# =================================================================================================
# images (a photographed or scanned notice)


def _load_image(path: Path, limits: IngestSettings) -> list[Page]:
    """One OCR'd page; an image has no page numbers to cite, so its page number is None."""
    if not limits.ocr:
        raise LoadError("an image needs OCR (ingest.ocr is off)")
    result = ocr.recognise(ocr.load_image(path, limits.ocr_max_pixels), limits.ocr_threads)
    text = clean_pdf_text(result.text)
    if not text.strip():
        raise LoadError("no text found: OCR recognised nothing in the image")
    return [Page(number=None, text=text, ocr_confidence=result.confidence)]


# =================================================================================================
# HTML

_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_XML_ENC_RE = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_GB_ALIASES = {"gb2312", "gbk", "x-gbk", "gb_2312-80", "cp936", "euc-cn", "gb18030", "ms936", "windows-936"}


def decode_html(data: bytes) -> str:
    """Decode a web page: BOM, then its declared charset (GBK pages are common), then UTF-8/GB18030.

    GB2312/GBK declarations are decoded as GB18030 (a superset), and a wrong declaration falls back
    to strict detection rather than producing mojibake.
    """
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return decode_text(data)
    head = data[:4096]
    m = _CHARSET_RE.search(head) or _XML_ENC_RE.search(head)
    if m:
        codec = m.group(1).decode("ascii").lower()
        if codec in _GB_ALIASES:
            codec = "gb18030"
        try:
            text = data.decode(codec)
            if not _looks_binary(text):
                return _normalise_newlines(text)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


_TABLE_ROW_RE = re.compile(r"^\|(.*)\|\s*$")


def _clean_html_lines(text: str) -> str:
    """Drop navigation chrome lines and turn trafilatura's '| a | b |' rows into tab-joined cells."""
    out: list[str] = []
    for line in _normalise_newlines(text).split("\n"):
        line = line.strip()
        if not line or is_navigation_line(line):
            continue
        m = _TABLE_ROW_RE.match(line)
        if m:
            cells = [c.strip() for c in m.group(1).split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
                continue  # markdown separator row
            line = "\t".join(cells)
        out.append(line)
    return "\n".join(out)


_BLOCK_TAGS = (
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section",
    "article", "blockquote", "pre", "dd", "dt", "ul", "ol", "title",
)
_DROP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "select", "head")


class _TextNodes(HTMLParser):
    """The page's text nodes in document order, block elements ending lines and cells joined by tabs.

    A streaming parser keeps no tree, so any nesting depth costs the same: lxml and trafilatura
    give up (or recurse too deep) on 100,000 nested <div>s, which a hostile or generated page may hold."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropped = 0  # open chrome elements (script, nav, …) whose text is not the page's

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._dropped = 0  # an unclosed <head> ends here
        elif tag in _DROP_TAGS:
            self._dropped += 1
        elif tag in _BLOCK_TAGS and not self._dropped:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS and not self._dropped:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_TAGS:
            self._dropped = max(0, self._dropped - 1)
        elif self._dropped:
            return
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_data(self, data: str) -> None:
        if not self._dropped:
            self.parts.append(data)


def _fallback_html_text(html: str) -> str:
    """Plain text of a page when trafilatura finds no article (or cannot parse it): block elements
    become lines."""
    parser = _TextNodes()
    parser.feed(re.sub(r"^\s*<\?xml[^>]*\?>", "", html))
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))


def _html_title(html: str) -> str | None:
    """<title> with the site / column suffix removed ('标题_新闻中心_某医院' → '标题')."""
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    if not m:
        return None
    import html as _html

    title = " ".join(_html.unescape(m.group(1)).split())
    parts = [p.strip() for p in re.split(r"\s*(?:_|\||｜| - | — |--)\s*", title) if p.strip()]
    return parts[0] if parts else None


def _load_html(data: bytes) -> tuple[list[Page], str | None, str | None]:
    """Main text via trafilatura (headings and paragraphs kept as lines, tables row by row)."""
    html = decode_html(data)
    text = ""
    title: str | None = None
    date: str | None = None
    try:
        import trafilatura

        doc = trafilatura.bare_extraction(
            html,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
            with_metadata=True,
        )
        if doc is not None:
            text = getattr(doc, "text", None) or ""
            title = getattr(doc, "title", None)
            date = getattr(doc, "date", None)
    except Exception:  # trafilatura missing a dependency, or choking on odd markup
        text = ""
    text = _clean_html_lines(text)
    if len(re.sub(r"\s+", "", text)) < 20:
        try:
            text = _clean_html_lines(_fallback_html_text(html))
        except Exception:
            pass
    if not text.strip():
        raise LoadError("no text found")
    if is_junk_title(title, has_cjk(text[:5000])):
        title = _html_title(html)
    return [Page(number=None, text=text)], title, (parse_date(date) if date else None)


# =================================================================================================
# TXT / MD


def _md_title(text: str) -> str | None:
    m = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return m.group(1).strip() if m else None


# =================================================================================================
# entry point


def _check_text(pages: list[Page]) -> None:
    if not any(p.text.strip() for p in pages):
        raise LoadError("no text found")


def _too_many_chars(chars: int, limits: IngestSettings, where: str = "") -> str:
    return f"{chars:,} characters{where}, more than the limit of {limits.max_chars:,} (ingest.max_chars)"


def check_file_size(path: Path, limits: IngestSettings) -> int:
    """The file's size, or LoadError when it is empty or over ingest.max_file_mb: checked before
    anything reads (or hashes) the file, so a huge file costs nothing."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"cannot read file: {_short(exc.strerror or exc)}") from None
    if size == 0:
        raise LoadError("empty file")
    if size > limits.max_file_mb * 1048576:
        raise LoadError(f"{_mb(size)}, more than the limit of {limits.max_file_mb:,} MB (ingest.max_file_mb)")
    return size


def load_file(
    path: Path, doc: str, limits: IngestSettings | None = None, on_page: PageProgress | None = None
) -> LoadedDocument:
    """Load one file into pages + metadata; `doc` is the caller's display name (relative path).

    Raises LoadError(reason) for anything that cannot become text, or that is over one of the
    `limits` (ingest settings; their defaults when not given). `on_page(done, total)` is told after
    each PDF page (OCR makes a scanned page take seconds: the ingest's progress bar shows them).
    """
    path = Path(path)
    limits = limits or IngestSettings()
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"unsupported file type: {suffix or '(no extension)'}")
    check_file_size(path, limits)
    try:
        doc_id = file_sha256(path)
        data = path.read_bytes() if suffix in (".html", ".htm", ".txt", ".md") else b""
    except OSError as exc:
        raise LoadError(f"cannot read file: {_short(exc.strerror or exc)}") from None

    hint: str | None = None
    extra_date: str | None = None
    warned: list[str] = []
    try:
        if suffix == ".pdf":
            file_type = "pdf"
            pages, hint, warned = _load_pdf(path, limits, on_page)
        elif suffix == ".docx":
            file_type = "docx"
            if not zipfile.is_zipfile(path):
                raise LoadError("corrupt DOCX: not a valid Word file")
            pages, hint = _load_docx(path, limits)
        elif suffix in CONVERTED_SUFFIXES:
            file_type = suffix[1:]
            pages, hint = _load_converted(path, limits)
        elif suffix == ".ofd":
            file_type = "ofd"
            pages, hint = _load_ofd(path, limits)
        elif suffix in IMAGE_SUFFIXES:
            file_type = "jpg" if suffix == ".jpeg" else suffix[1:]
            pages = _load_image(path, limits)
        elif suffix in (".html", ".htm"):
            file_type = "html"
            pages, hint, extra_date = _load_html(data)
        else:
            file_type = suffix[1:]
            text = decode_text(data)
            pages = [Page(number=None, text=text)]
            if file_type == "md":
                hint = _md_title(text)
        chars = sum(len(p.text) for p in pages)
        if chars > limits.max_chars:
            raise LoadError(_too_many_chars(chars, limits))
        _check_text(pages)
        if hint is not None and hint.strip() == path.stem:
            hint = None  # a format title that is the file's own name (scanners write one) says nothing
        full_text = "\n".join(p.text for p in pages)
        meta = extract_meta(full_text, title_hint=hint)
    except LoadError:
        raise
    except Exception as exc:  # a bug or an unforeseen library error must still not escape raw
        raise LoadError(f"cannot read {suffix[1:].upper()}: {_short(exc)}") from None
    if meta.date is None and extra_date:
        meta.date = extra_date
    if not meta.title:
        meta.title = path.stem
    return LoadedDocument(doc_id=doc_id, doc=doc, file_type=file_type, pages=pages, meta=meta, warnings=warned)


__all__ = [
    "CONVERTED_SUFFIXES",
    "IMAGE_SUFFIXES",
    "LIBREOFFICE_PACKAGE",
    "NEEDS_OCR",
    "SUPPORTED_SUFFIXES",
    "convert_to_docx",
    "LoadError",
    "check_file_size",
    "clean_pdf_text",
    "decode_html",
    "decode_text",
    "file_sha256",
    "iter_pdf_pages",
    "load_file",
]
