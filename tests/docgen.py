"""Generate real test documents (PDF, DOCX) with Chinese text, in a test's tmp_path.

PDFs are written with reportlab and its built-in CID font STSong-Light (Adobe-GB1): no font file
is needed and pypdf extracts the Chinese text exactly. Each '\\n'-separated line of a page is drawn
as its own text line, so extraction gives the lines back. Output is deterministic (invariant=1),
so the same input gives the same bytes and the same doc_id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

FONT = "STSong-Light"
PAGE_W, PAGE_H = 595.27, 841.89  # A4 in points
MARGIN = 56.0
FONT_SIZE = 12.0

_font_registered = False


def _register_font() -> None:
    global _font_registered
    if not _font_registered:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _font_registered = True


def make_pdf(
    path: Path,
    pages: Sequence[str],
    title: str | None = None,
    encrypt_password: str | None = None,
    wrap: int | None = None,
    per_char: bool = False,
) -> Path:
    """A real multi-page PDF: one page per string, one drawn line per '\\n'-separated line.

    title sets the /Title info entry. encrypt_password encrypts the file (RC4-128, which pypdf
    decrypts without extra packages) with that user password; "" gives a PDF that is encrypted
    but opens without a password. wrap=N breaks lines wider than N Chinese characters over
    several drawn lines, like a real page layout does (for testing the loader's reflow). per_char=True
    places every glyph separately, as some PDF producers do (pypdf then gives one per line).
    """
    from reportlab.pdfgen import canvas

    _register_font()
    encrypt = None
    if encrypt_password is not None:
        from reportlab.lib import pdfencrypt

        encrypt = pdfencrypt.StandardEncryption(encrypt_password, ownerPassword="owner-secret", strength=128)
    c = canvas.Canvas(str(path), pagesize=(PAGE_W, PAGE_H), invariant=1, encrypt=encrypt)
    if title is not None:
        c.setTitle(title)
    for page in pages:
        lines: list[str] = []
        for line in page.split("\n"):
            lines.extend(_wrap(line, wrap * FONT_SIZE) if wrap else [line])
        leading = min(FONT_SIZE * 1.5, (PAGE_H - 2 * MARGIN) / max(len(lines), 1))
        if per_char:
            from reportlab.pdfbase.pdfmetrics import stringWidth

            y = PAGE_H - MARGIN
            for line in lines:
                x = MARGIN
                for ch in line:
                    c.setFont(FONT, FONT_SIZE)
                    c.drawString(x, y, ch)
                    x += stringWidth(ch, FONT, FONT_SIZE)
                y -= leading
        else:
            text = c.beginText(MARGIN, PAGE_H - MARGIN)
            text.setFont(FONT, FONT_SIZE, leading=leading)
            for line in lines:
                text.textLine(line)
            c.drawText(text)
        c.showPage()
    c.save()
    return Path(path)


def _wrap(line: str, max_width: float) -> list[str]:
    """Break a line where it reaches max_width points, anywhere (as Chinese layout does);
    half-width characters take half the room, as on a real page."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    out: list[str] = []
    current = ""
    width = 0.0
    for ch in line:
        w = stringWidth(ch, FONT, FONT_SIZE)
        if current and width + w > max_width:
            out.append(current)
            current, width = "", 0.0
        current += ch
        width += w
    out.append(current)
    return out


def make_scanned_pdf(path: Path, pages: int = 1) -> Path:
    """A PDF like a scan without OCR: only drawings (boxes and lines as 'text'), no text layer."""
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(PAGE_W, PAGE_H), invariant=1)
    for _ in range(pages):
        c.setFillGray(0.95)
        c.rect(MARGIN, MARGIN, PAGE_W - 2 * MARGIN, PAGE_H - 2 * MARGIN, fill=1, stroke=0)
        c.setFillGray(0.2)
        y = PAGE_H - MARGIN - 30
        while y > MARGIN + 30:
            c.rect(MARGIN + 20, y, PAGE_W - 2 * MARGIN - 40, 6, fill=1, stroke=0)  # a 'line of text'
            y -= 18
        c.showPage()
    c.save()
    return Path(path)


DocxItem = str | tuple[str, str] | list[list[str]]


def make_docx(path: Path, paragraphs: Sequence[DocxItem], core_title: str | None = None) -> Path:
    """A real .docx: a str is a body paragraph, (style, text) a styled one ('Title', 'Heading 1'…),
    and a list of rows (list[list[str]]) a table, all in the given order.

    core_title sets core_properties.title (File > Properties), which Word often leaves stale.
    """
    import docx

    document = docx.Document()
    for item in paragraphs:
        if isinstance(item, str):
            document.add_paragraph(item)
        elif isinstance(item, tuple):
            style, text = item
            document.add_paragraph(text, style=style)
        else:
            rows = item
            table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
            for r, row in enumerate(rows):
                for col, cell_text in enumerate(row):
                    table.cell(r, col).text = cell_text
    document.core_properties.title = core_title or ""
    document.save(str(path))
    return Path(path)
