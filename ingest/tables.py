"""Tables as text that still answers: one line per row, each cell carrying its column header.

A policy attachment's table (指标、标准、名单) is useless as a run of cells: 「门诊人次 30万 35万」 says
nothing about which figure is the 2025 target. So every data row becomes one line naming its columns,
「指标：门诊人次；2025年目标值：35万人次。」, ending in 。 so the extractive answer quotes exactly that
row, and `is_row` lets the structure code keep a table's rows together with the caption above them
(one group, cut only between rows, the caption repeated: see ingest/structure.py and chunking.py).

DOCX tables come from python-docx (loaders.py); PDF tables from pdfplumber's ruling-line detection,
run only on pages whose content stream draws enough lines to hold one (`may_hold_table`), since
pdfplumber reads a page far slower than pypdf.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_CJK_SPACE_RE = re.compile(f"(?<=[{_CJK}\uff08-\uff1f\u3001-\u3011])\\s+(?=[{_CJK}\uff08-\uff1f\u3001-\u3011\\d])|(?<=\\d)\\s+(?=[{_CJK}])")
_KEY = r"[^：:；;。\n]{1,24}"
# 「指标：门诊人次；2025年目标值：35万。」: two or more 'header：cell' pairs, the row closed by 。
ROW_RE = re.compile(f"^{_KEY}：[^；\\n]*(?:；{_KEY}：[^；\\n]*)+。$")
_PATH_OPS_RE = re.compile(rb"(?:^|\s)(?:re|l)(?=\s)")
_MIN_PATH_OPS = 4  # a table's grid is at least a box: four lines or one rectangle per cell
_MIN_TABLE_ROWS = 2
_MIN_TABLE_COLS = 2


def clean_cell(text: str | None) -> str:
    """A cell's text on one line: wrapped lines rejoined (no space inside Chinese), row separators
    (；。) inside a cell softened so the row line still parses as pairs."""
    if not text:
        return ""
    one = " ".join(str(text).split())
    one = _CJK_SPACE_RE.sub("", one)
    return one.replace("；", "，").replace(";", ",").rstrip("。")


def _unique_headers(header: Sequence[str]) -> list[str]:
    """Column names for the pairs: empty ones stay empty (the cell then stands alone); a repeated
    name (a header merged over two columns) is numbered so both values stay told apart."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for name in header:
        name = name.replace("：", "").replace(":", "")
        if name:
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name}{seen[name]}"
        out.append(name)
    return out


def row_lines(rows: Sequence[Sequence[str | None]]) -> list[str]:
    """A table's rows as lines; the first row is the header. A data row repeating the header (a
    table continued on the next page) and empty rows are dropped; a table of one row, or with no
    header at all, is its cells joined by 、 (nothing to pair them with)."""
    cleaned = [[clean_cell(c) for c in row] for row in rows]
    cleaned = [row for row in cleaned if any(row)]
    if not cleaned:
        return []
    header = _unique_headers(cleaned[0])
    if len(cleaned) == 1 or not any(header):
        return ["、".join(c for c in row if c) + "。" for row in cleaned]
    out: list[str] = []
    for row in cleaned[1:]:
        if row == cleaned[0]:
            continue
        pairs = []
        for i, cell in enumerate(row):
            if not cell:
                continue
            name = header[i] if i < len(header) else ""
            pairs.append(f"{name}：{cell}" if name and name != cell else cell)
        if pairs:
            out.append("；".join(pairs) + "。")
    return out


def is_row(text: str) -> bool:
    """Whether a text line is a table row written by `row_lines` (two or more header：cell pairs)."""
    return bool(ROW_RE.match(text))


def may_hold_table(content: bytes) -> bool:
    """A page whose content stream draws fewer than a few lines or rectangles holds no ruled table;
    only the others are worth pdfplumber's time."""
    count = 0
    for _ in _PATH_OPS_RE.finditer(content):
        count += 1
        if count >= _MIN_PATH_OPS:
            return True
    return False


def _centre_inside(obj: dict[str, Any], bbox: tuple[float, float, float, float]) -> bool:
    x = (obj["x0"] + obj["x1"]) / 2
    y = (obj["top"] + obj["bottom"]) / 2
    return bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]


def pdf_page_text(page: Any, clean: Callable[[str], str]) -> str | None:
    """A pdfplumber page's text with its ruled tables as row lines in place, or None when it has no
    table (the caller keeps pypdf's text). Text around the tables is cleaned as any PDF text."""
    tables = []
    for table in page.find_tables():
        rows = table.extract()
        if len(rows) >= _MIN_TABLE_ROWS and max(len(r) for r in rows) >= _MIN_TABLE_COLS:
            tables.append((table.bbox, rows))
    if not tables:
        return None
    tables.sort(key=lambda t: t[0][1])
    outside = page.filter(lambda obj: not any(_centre_inside(obj, bbox) for bbox, _ in tables) if "x0" in obj else True)
    width, height = float(page.width), float(page.height)
    x0, y0 = float(page.bbox[0]), float(page.bbox[1])
    parts: list[str] = []
    top = y0
    for bbox, rows in tables:
        if bbox[1] > top:
            parts.append(clean(outside.crop((x0, top, x0 + width, bbox[1])).extract_text() or ""))
        parts.append("\n".join(row_lines(rows)))
        top = max(top, bbox[3])
    if top < y0 + height:
        parts.append(clean(outside.crop((x0, top, x0 + width, y0 + height)).extract_text() or ""))
    return "\n".join(p for p in parts if p.strip())


__all__ = ["ROW_RE", "clean_cell", "is_row", "may_hold_table", "pdf_page_text", "row_lines"]
