"""OCR of scanned pages and images with the real RapidOCR engine and its bundled models.

Scans are made here: paragraphs printed in a CJK font (fonts-noto-cjk) to pixels and saved as
image-only PDFs or PNGs, one short page each (OCR costs seconds per page on 2 cores). Accuracy over
corpus pages at 150/300 dpi, pages per minute and a 100-page scan are in bench/ocr.py.
"""

from __future__ import annotations

import re
import socket
import unicodedata
from pathlib import Path

import pytest
from docgen import make_pdf, make_scan_pdf, render_scan

from ingest import ocr
from ingest.documents import LoadError
from ingest.loaders import NEEDS_OCR, load_file
from settings import IngestSettings

NOTICE = [
    "关于开展县医院胸痛中心建设评估的通知",
    "各县（市、区）卫生健康局：",
    "为推进千县工程，现就胸痛中心建设评估有关事项通知如下。",
    "一、评估范围",
    "全市所有二级以上县医院均纳入评估，胸痛中心应当于2025年12月31日前通过省级验收。",
    "二、评估内容",
    "重点评估门诊人次、住院人次和三四级手术占比等指标完成情况。",
]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def scan_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_scan_pdf(tmp_path_factory.mktemp("scan") / "扫描通知.pdf", [NOTICE], dpi=200)


def test_bundled_models_are_used_and_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    models = ocr.bundled_models()
    assert [p.name for p in models] == list(ocr._MODEL_FILES)
    assert all("rapidocr_onnxruntime/models" in p.as_posix() and p.stat().st_size > 100_000 for p in models)

    def no_network(*args, **kwargs):
        raise AssertionError("OCR tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    ocr._ENGINES.pop(1, None)  # a fresh engine, loaded while the network is cut
    engine = ocr.engine(threads=1)
    assert engine.text_det is not None and engine.text_rec is not None


def test_scanned_pdf_is_ocrd_into_paragraphs_and_structure(scan_pdf: Path) -> None:
    pages: list[tuple[int, int]] = []
    loaded = load_file(scan_pdf, "扫描通知.pdf", on_page=lambda done, total: pages.append((done, total)))
    assert pages == [(1, 1)]
    page = loaded.pages[0]
    assert page.number == 1 and page.ocr_confidence is not None and page.ocr_confidence > 0.9
    lines = page.text.split("\n")
    # the wrapped paragraph is one line again, the headings are lines of their own
    assert "一、评估范围" in lines and "二、评估内容" in lines
    assert any(squash(line) == squash(NOTICE[4]) for line in lines), lines
    assert loaded.meta.title == NOTICE[0]

    from ingest.chunking import chunk_document
    from settings import ChunkingSettings

    chunks = chunk_document(loaded, ChunkingSettings())
    scope = next(c for c in chunks if "2025年12月31日" in c.text)
    assert scope.section_path == "一、评估范围" and scope.page_start == 1
    assert scope.ocr is True and scope.ocr_confidence == page.ocr_confidence
    assert scope.metadata()["ocr"] is True


def test_png_image_of_a_notice_is_accepted(tmp_path: Path) -> None:
    image, _ = render_scan(NOTICE[3:5], dpi=150)
    path = tmp_path / "通知.png"
    image.save(path)
    loaded = load_file(path, "通知.png")
    assert loaded.file_type == "png" and loaded.pages[0].number is None
    assert loaded.pages[0].ocr_confidence is not None
    assert "2025年12月31日" in loaded.pages[0].text


def test_ocr_off_fails_a_scan_with_one_line(scan_pdf: Path, tmp_path: Path) -> None:
    with pytest.raises(LoadError) as err:
        load_file(scan_pdf, "扫描通知.pdf", IngestSettings(ocr=False))
    assert err.value.reason == NEEDS_OCR
    png = tmp_path / "a.png"
    render_scan(["县医院"], dpi=72)[0].save(png)
    with pytest.raises(LoadError, match=r"ingest\.ocr is off"):
        load_file(png, "a.png", IngestSettings(ocr=False))


def test_text_pdf_pages_are_not_ocrd(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "text.pdf", ["一、总体要求\n到2025年，县医院胸痛中心建设全面推进。"])
    loaded = load_file(pdf, "text.pdf")
    assert loaded.pages[0].ocr_confidence is None


def test_garbage_text_layer_is_recognised() -> None:
    assert ocr.is_garbage("\ue001\ue002\ue003\ue004\ue005\ue006\ue007\ue008\ue009\ue00a\ue00b")
    assert ocr.is_garbage("ÃÂ¤Ã¥Â¤Â§Ã¤Â¸Â­Ã¥Â")
    assert not ocr.is_garbage("国家卫生健康委办公厅关于印发（2021-2025年）的通知，①②③")


def test_reading_order_and_punctuation() -> None:
    boxes = [
        ocr.OcrLine("第二行", 0.9, 100, 60, 200, 80),
        ocr.OcrLine("右侧", 0.9, 400, 12, 460, 30),
        ocr.OcrLine("第一行,左侧", 0.9, 100, 10, 220, 32),
    ]
    rows = ocr.reading_order(boxes)
    assert [r.text for r in rows] == ["第一行,左侧  右侧", "第二行"]
    assert ocr.normalise_punctuation("各省,自治区:(一)加强(1)建设;2.5万") == "各省，自治区：（一）加强(1)建设；2.5万"


def test_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "big.png"
    Image.new("L", (3000, 2000), 255).save(path)
    with pytest.raises(LoadError, match=r"3,000 x 2,000 pixels.*ingest\.ocr_max_pixels"):
        load_file(path, "big.png", IngestSettings(ocr_max_pixels=1_000_000))


def test_corrupt_image_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 10)
    with pytest.raises(LoadError) as err:
        load_file(path, "bad.jpg")
    assert err.value.reason == "corrupt image: not a readable JPG file"


def test_scanned_pdf_is_answered_with_its_citation(scan_pdf: Path, settings, embedder) -> None:
    from assistant.assistant import Assistant

    folder = scan_pdf.parent
    assistant = Assistant.from_settings(settings, embedder=embedder)
    report = assistant.add_documents([folder])
    assert report.failed == 0, report.failures
    answer = assistant.ask("胸痛中心应当在什么时间前通过省级验收？")
    assert not answer.refused, answer.answer
    assert "2025年12月31日" in answer.answer
    cited = answer.citations[0]
    assert (cited.doc, cited.page, cited.section_path) == ("扫描通知.pdf", 1, "一、评估范围")
    chunk = assistant.kb.chunks([cited.chunk_id])[0]
    assert chunk.ocr is True and chunk.ocr_confidence > 0.9
    assert cited.ocr_confidence == chunk.ocr_confidence
    assert answer.to_json()["citations"][0]["ocr_confidence"] == chunk.ocr_confidence

    from tabs.render import render_sources

    panel = render_sources(answer)  # the sources panel says the passage was read by OCR
    assert f"OCR 识别（置信度 {chunk.ocr_confidence:.2f}）" in panel
