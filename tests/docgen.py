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


# --- scans, tables, .doc and .ofd ---------------------------------------------------------------

CJK_FONT_FILE = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"  # Debian fonts-noto-cjk
CJK_FONT_INDEX = 2  # Noto Serif CJK SC in the collection (0 is JP, whose glyphs differ)
SCAN_CHARS_PER_LINE = 40  # 12 pt characters across A4 between 56 pt margins, as a printed body fills it


def scan_lines(paragraphs: Sequence[str], per_line: int = SCAN_CHARS_PER_LINE) -> list[tuple[str, bool]]:
    """Paragraphs laid out as printed rows: (row text, starts a paragraph), the first row of a
    paragraph indented two characters, the rest wrapped at `per_line` characters anywhere."""
    rows: list[tuple[str, bool]] = []
    for para in paragraphs:
        first = per_line - 2
        pieces = [para[:first]] + [para[i : i + per_line] for i in range(first, len(para), per_line)]
        rows.extend((piece, i == 0) for i, piece in enumerate(pieces) if piece)
    return rows


def render_scan(paragraphs: Sequence[str], dpi: int, indent_first: bool = True):
    """An A4 page image (PIL, grayscale) of the paragraphs printed in a CJK font at 12 pt and `dpi`,
    as a scanner gives it; returns (image, the rows drawn)."""
    from PIL import Image, ImageDraw, ImageFont

    def px(points: float) -> int:
        return int(round(points * dpi / 72))

    width, height = px(PAGE_W), px(PAGE_H)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(CJK_FONT_FILE, px(FONT_SIZE), index=CJK_FONT_INDEX)
    y = px(MARGIN)
    drawn: list[str] = []
    for row, first in scan_lines(paragraphs):
        if y > height - px(MARGIN) - px(FONT_SIZE):
            break
        x = px(MARGIN) + (px(2 * FONT_SIZE) if first and indent_first else 0)
        draw.text((x, y), row, font=font, fill=0)
        drawn.append(row)
        y += px(FONT_SIZE * 1.6)
    return image, drawn


def make_image_pdf(path: Path, images: Sequence, dpi: int) -> Path:
    """An image-only PDF (no text layer at all), one page per image, as a scanner writes it."""
    first, *rest = [img.convert("L") for img in images]
    first.save(str(path), "PDF", resolution=float(dpi), save_all=True, append_images=rest)
    return Path(path)


def make_scan_pdf(path: Path, pages: Sequence[Sequence[str]], dpi: int = 200) -> Path:
    """A scanned notice: each page's paragraphs rendered to pixels and saved as an image-only PDF."""
    return make_image_pdf(path, [render_scan(paras, dpi)[0] for paras in pages], dpi)


def make_table_pdf(path: Path, before: Sequence[str], caption: str, rows: Sequence[Sequence[str]], after: Sequence[str] = ()) -> Path:
    """A text PDF holding a ruled table (grid lines, as Word prints one) with a caption line above it."""
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    style = ParagraphStyle("cn", fontName=FONT, fontSize=FONT_SIZE, leading=FONT_SIZE * 1.6)
    cell = ParagraphStyle("cell", fontName=FONT, fontSize=10.5, leading=14)
    story: list = [Paragraph(text, style) for text in before]
    story += [Spacer(1, 6), Paragraph(caption, style)]
    table = Table([[Paragraph(c, cell) for c in row] for row in rows])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, "black"), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    story += [table, Spacer(1, 6)] + [Paragraph(text, style) for text in after]
    SimpleDocTemplate(str(path), pagesize=(PAGE_W, PAGE_H), invariant=1, leftMargin=MARGIN, rightMargin=MARGIN).build(story)
    return Path(path)


def libreoffice_convert(source: Path, fmt: str, out_dir: Path) -> Path:
    """Convert with the real LibreOffice (headless, a private profile): DOCX -> .doc for the tests."""
    import os
    import shutil
    import subprocess

    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is missing: scripts/test.sh installs libreoffice-writer-nogui"
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = (out_dir / ".lo-profile").as_uri()
    subprocess.run(
        [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", fmt, "--outdir", str(out_dir), str(source)],
        check=True, capture_output=True, timeout=180, env={**os.environ, "HOME": str(out_dir)},
    )
    return out_dir / f"{source.stem}.{fmt.split(':')[0]}"


def make_ofd(path: Path, pages: Sequence[str]) -> Path:
    """A real OFD written by easyofd (its pdf2ofd with the text layer kept) from a generated PDF."""
    import contextlib
    import io
    import logging
    import sys
    import tempfile
    import warnings

    from loguru import logger

    logger.remove()  # easyofd logs every step at DEBUG
    saved = list(sys.path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyMuPDF's 'fitz' deprecation, at import
            from easyofd.ofd import OFD
    finally:
        sys.path[:] = saved  # easyofd puts the working directory first on sys.path when imported
    logging.getLogger("easyofd").setLevel(logging.ERROR)
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp), contextlib.redirect_stdout(io.StringIO()):
        pdf = make_pdf(Path(tmp) / "src.pdf", pages)  # easyofd writes ./test and prints as it goes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyMuPDF's 'fitz' deprecation
            path.write_bytes(OFD().pdf2ofd(pdf.read_bytes(), optional_text=True))
    return path


def scan_rows_per_page() -> int:
    """How many 12 pt rows `render_scan` prints on one A4 page."""
    usable = PAGE_H - 2 * MARGIN - FONT_SIZE
    return int(usable // (FONT_SIZE * 1.6)) + 1


def paginate(paragraphs: Sequence[str], per_line: int = SCAN_CHARS_PER_LINE) -> list[list[str]]:
    """Paragraphs packed onto pages as `render_scan` prints them; a paragraph that does not fit the
    rest of a page starts the next one, one longer than a page is cut at a page's worth of rows."""
    per_page = scan_rows_per_page()
    pages: list[list[str]] = [[]]
    used = 0
    for para in paragraphs:
        while para:
            rows = len(scan_lines([para], per_line))
            if used + rows <= per_page:
                pages[-1].append(para)
                used += rows
                break
            if used:
                pages.append([])
                used = 0
                continue
            cut = (per_line - 2) + (per_page - 1) * per_line  # a whole page of this paragraph
            pages[-1].append(para[:cut])
            pages.append([])
            para = para[cut:]
    return [p for p in pages if p]
