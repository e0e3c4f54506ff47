"""OCR of scanned pages and images, offline: RapidOCR (PP-OCRv4 Chinese models) on onnxruntime.

`rapidocr-onnxruntime` 1.4.x ships its detection, direction and recognition models inside its wheel
(`rapidocr_onnxruntime/models/*.onnx`) and never downloads anything; its successor `rapidocr` (2.x/3.x)
fetches models at run time, which this product must never do, so the 1.4 line is pinned and the
bundled model files are checked before the engine starts.

A page is rendered (pypdfium2) and recognised one at a time, so a 100-page scan costs one page of
memory. The recognised boxes are put back into reading order, one text line per printed row, with
indented rows (a paragraph's first line, a centred title) marked by a leading ideographic space, so
the loader's PDF cleaning (`loaders.clean_pdf_text`) rejoins wrapped lines exactly as it does for a
text PDF and the structure code sees the same shapes (一、 （一） 第X条 附件1).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.documents import LoadError

_MODEL_FILES = ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
_ENGINES: dict[int, Any] = {}
_ENGINE_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()  # one page at a time: the engine is not documented as thread-safe

_CJK_CHAR = r"\u3400-\u9fff\uf900-\ufaff"
# ASCII punctuation the recogniser often returns inside Chinese text, and its full-width form
_FULL_WIDTH = {",": "，", ";": "；", ":": "：", "(": "（", ")": "）", "!": "！", "?": "？"}
_HALF_PUNCT_RE = re.compile(f"(?<=[{_CJK_CHAR}])[,;:!?)]|[,;:!?(](?=[{_CJK_CHAR}])")
_SENTENCE_END = "。！？；：!?;:…"
_MEANINGFUL_RE = re.compile(f"[0-9A-Za-z{_CJK_CHAR}]")
# what a real text layer is made of: CJK, ASCII, CJK and full-width punctuation, common symbols
_PLAIN_RE = re.compile(f"[\\s\\x20-\\x7e{_CJK_CHAR}\u3000-\u303f\uff00-\uffef\u2010-\u2027\u2030-\u205e\u00b7\u00b0\u00d7\u00f7\u2116\u2160-\u217f\u2460-\u24ff\u25a0-\u25ff\u2e80-\u2fdf]")


@dataclass
class OcrLine:
    """One recognised printed row: its text, the recogniser's mean score and its box in pixels."""

    text: str
    score: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass
class OcrPage:
    """A page's recognised text (one row per line, indented rows marked) and its mean confidence."""

    text: str
    confidence: float | None  # None: nothing was recognised
    lines: int


def bundled_models() -> list[Path]:
    """The model files inside the installed wheel; a missing one is an install problem, named."""
    try:
        import rapidocr_onnxruntime
    except ImportError:
        raise LoadError("OCR needs the rapidocr-onnxruntime package (pip install 'rapidocr-onnxruntime==1.4.4')") from None
    folder = Path(rapidocr_onnxruntime.__file__).parent / "models"
    paths = [folder / name for name in _MODEL_FILES]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise LoadError(f"OCR models missing from rapidocr_onnxruntime ({', '.join(missing)}): reinstall it")
    return paths


def engine(threads: int = 0) -> Any:
    """The RapidOCR engine, loaded once per thread setting (about 1.5 s: three ONNX sessions).

    The direction classifier is off: scans and notices are upright, and on upright pages it turned
    some rows upside down (measured: 95% vs 98% character accuracy at 300 dpi)."""
    with _ENGINE_LOCK:
        if threads not in _ENGINES:
            det, rec, cls = bundled_models()
            from rapidocr_onnxruntime import RapidOCR

            logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # it logs every load to stderr
            options: dict[str, Any] = {
                "use_cls": False,
                "det_model_path": str(det),
                "rec_model_path": str(rec),
                "cls_model_path": str(cls),
            }
            if threads:
                options["intra_op_num_threads"] = threads
            _ENGINES[threads] = RapidOCR(**options)
        return _ENGINES[threads]


def meaningful_chars(text: str) -> int:
    """Letters, digits and CJK characters: what a text layer must hold to be read rather than OCR'd."""
    return len(_MEANINGFUL_RE.findall(text))


def is_garbage(text: str) -> bool:
    """A text layer made mostly of characters no Chinese document is written in: a font without a
    Unicode mapping gives private-use code points, control characters or Latin-1 mojibake."""
    chars = [ch for ch in text if not ch.isspace()]
    if len(chars) < 10:
        return False
    plain = sum(1 for ch in chars if _PLAIN_RE.match(ch))
    return plain < 0.7 * len(chars)


def normalise_punctuation(text: str) -> str:
    """ASCII punctuation next to Chinese characters becomes full-width, as the printed page has it
    (the structure code and the sentence splitter look for ，；：（）)."""
    return _HALF_PUNCT_RE.sub(lambda m: _FULL_WIDTH[m.group(0)], text)


def _lines_from_result(result: list[Any] | None) -> list[OcrLine]:
    out: list[OcrLine] = []
    for box, text, score in result or []:
        xs = [float(p[0]) for p in box]
        ys = [float(p[1]) for p in box]
        text = str(text).strip()
        if text:
            out.append(OcrLine(text, float(score), min(xs), min(ys), max(xs), max(ys)))
    return out


def reading_order(boxes: list[OcrLine]) -> list[OcrLine]:
    """Boxes on the same printed row (vertical centres within each other's extent) merged left to
    right, rows top to bottom. The detector splits a row at wide gaps (a signature, a table)."""
    rows: list[list[OcrLine]] = []
    for box in sorted(boxes, key=lambda b: (b.top + b.bottom) / 2):
        centre = (box.top + box.bottom) / 2
        if rows:
            row = rows[-1]
            top = min(b.top for b in row)
            bottom = max(b.bottom for b in row)
            row_centre = (top + bottom) / 2
            if top <= centre <= bottom or box.top <= row_centre <= box.bottom:
                row.append(box)
                continue
        rows.append([box])
    merged: list[OcrLine] = []
    for row in rows:
        row.sort(key=lambda b: b.left)
        height = float(np.median([b.height for b in row]))
        text = row[0].text
        for prev, box in zip(row, row[1:]):
            gap = box.left - prev.right
            text += ("  " if gap > 1.5 * height else "") + box.text
        chars = sum(len(b.text) for b in row)
        score = sum(b.score * len(b.text) for b in row) / max(chars, 1)
        merged.append(OcrLine(text, score, row[0].left, min(b.top for b in row), row[-1].right, max(b.bottom for b in row)))
    return merged


def _starts_unit(text: str) -> bool:
    """A row that begins a heading, article or item never continues the row above it."""
    from ingest.structure import ARTICLE_RE, heading_rank, numbered_level

    return heading_rank(text) is not None or bool(ARTICLE_RE.match(text)) or numbered_level(text) is not None


def page_text(rows: list[OcrLine], width: float | None = None) -> str:
    """Rows as text, wrapped rows of a paragraph joined: a row reaching the right edge of the text
    (the widest row, or the page's right margin mirroring its left one) that does not end a
    sentence continues on the next row, unless that one is indented (a new paragraph, a centred
    line) or starts a heading or an item. A wide vertical gap leaves a blank line; an indented row
    keeps an ideographic space in front, as a text PDF's extraction does."""
    if not rows:
        return ""
    height = float(np.median([r.height for r in rows]))
    lefts = sorted(r.left for r in rows)
    margin = lefts[int(0.2 * (len(lefts) - 1))]  # the body's left edge (most rows start there)
    right = max(r.right for r in rows)
    if width is not None:
        right = min(right, width - margin)
    gaps = [b.top - a.bottom for a, b in zip(rows, rows[1:])]
    usual_gap = float(np.median(gaps)) if gaps else 0.0
    out: list[str] = []
    joinable = False
    for i, row in enumerate(rows):
        text = normalise_punctuation(row.text)
        indented = row.left - margin > 1.2 * height
        if i and gaps[i - 1] > max(usual_gap * 2.5, height * 1.2):
            out.append("")
            joinable = False
        if joinable and not indented and not _starts_unit(text):
            out[-1] += text
        else:
            out.append(("\u3000\u3000" if indented else "") + text)
        joinable = row.right >= right - 1.5 * height and not text.rstrip("”’」』）)》").endswith(tuple(_SENTENCE_END))
    return "\n".join(out)


def recognise(image: np.ndarray, threads: int = 0) -> OcrPage:
    """OCR one page image (H x W x 3 uint8, RGB) into text lines in reading order."""
    ocr = engine(threads)
    bgr = np.ascontiguousarray(image[:, :, ::-1])  # RapidOCR takes OpenCV's channel order
    with _RUN_LOCK:
        result, _ = ocr(bgr)
    rows = reading_order(_lines_from_result(result))
    if not rows:
        return OcrPage("", None, 0)
    chars = sum(len(r.text) for r in rows)
    confidence = sum(r.score * len(r.text) for r in rows) / max(chars, 1)
    return OcrPage(page_text(rows, float(image.shape[1])), round(confidence, 4), len(rows))


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image whose decoded pixels would not fit the OCR budget (a decompression bomb)."""
    if width * height > max_pixels:
        raise LoadError(
            f"image of {width:,} x {height:,} pixels, more than the limit of {max_pixels:,} (ingest.ocr_max_pixels)"
        )


def render_pdf_page(pdf: Any, index: int, dpi: int, max_pixels: int) -> np.ndarray:
    """One page of a pypdfium2 document as an RGB array at `dpi`, its bitmap freed at once."""
    page = pdf[index]
    try:
        width, height = page.get_size()  # points
        scale = dpi / 72.0
        check_pixels(int(width * scale), int(height * scale), max_pixels)
        bitmap = page.render(scale=scale, rev_byteorder=True)  # RGB(A), not pdfium's native BGR(A)
        try:
            array = np.array(bitmap.to_numpy(), copy=True)  # the bitmap's buffer dies with it
        finally:
            bitmap.close()
    finally:
        page.close()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[:, :, :3])


def open_pdfium(path: Path) -> Any:
    """The PDF opened by pdfium for rendering (pypdf reads the text; pdfium draws the pixels)."""
    import pypdfium2

    try:
        return pypdfium2.PdfDocument(str(path))
    except Exception as exc:  # PdfiumError: damaged beyond what pdfium repairs, or encrypted
        raise LoadError(f"cannot render the PDF for OCR: {' '.join(str(exc).split())[:60]}") from None


def load_image(path: Path, max_pixels: int) -> np.ndarray:
    """A PNG/JPG as an RGB array; its size is checked from the header before it is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            check_pixels(img.width, img.height, max_pixels)
            img.draft("RGB", img.size)
            rgb = img.convert("RGB")
            return np.asarray(rgb)
    except LoadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise LoadError(f"corrupt image: not a readable {path.suffix[1:].upper()} file") from None


__all__ = [
    "OcrLine",
    "OcrPage",
    "bundled_models",
    "check_pixels",
    "engine",
    "is_garbage",
    "load_image",
    "meaningful_chars",
    "normalise_punctuation",
    "open_pdfium",
    "reading_order",
    "recognise",
    "render_pdf_page",
]
