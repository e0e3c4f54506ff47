"""Tables kept as tables: real ruled PDF tables (pdfplumber) and DOCX tables (python-docx), each row
a line carrying its column headers, a table kept with its caption, a cell question answered from
its row by the real assistant."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from docgen import make_docx, make_table_pdf

from ingest.chunking import chunk_document
from ingest.loaders import load_file
from ingest.tables import is_row, may_hold_table, row_lines
from settings import ChunkingSettings, IngestSettings

PDF_ROWS = [
    ["指标", "2023年基线值", "2025年目标值"],
    ["门诊人次", "25万人次", "30万人次"],
    ["三四级手术占比", "18%", "25%"],
    ["县域就诊率", "85%", "90%以上"],
]
DOCX_ROWS = [
    ["专科", "牵头医院", "建成时限"],
    ["胸痛中心", "县人民医院", "2024年6月"],
    ["卒中中心", "县中医医院", "2025年3月"],
    ["创伤中心", "县妇幼保健院", "2025年9月"],
]
PDF_BEFORE = ["关于印发县医院能力提升指标的通知", "各县卫生健康局：", "现将县医院能力提升主要指标印发给你们，请认真落实。"]
DOCX_BODY = ["关于明确县域急诊急救中心建设分工的通知", "各县卫生健康局：", "现将五大中心建设分工明确如下，请抓好落实。"]


def test_row_lines_carry_their_headers() -> None:
    lines = row_lines(PDF_ROWS)
    assert lines[0] == "指标：门诊人次；2023年基线值：25万人次；2025年目标值：30万人次。"
    assert all(is_row(line) for line in lines)
    # a header repeated on the next page, empty rows and cells, wrapped cell text
    rows = [["指标", "目标 值"], ["门诊\n人次", "30万"], ["", ""], ["指标", "目标 值"], ["住院人次", ""]]
    assert row_lines(rows) == ["指标：门诊人次；目标值：30万。", "指标：住院人次。"]
    assert not is_row("各县卫生健康局：")
    assert not is_row("到2025年，县医院胸痛中心建设全面推进。")


def test_only_pages_drawing_lines_go_to_pdfplumber() -> None:
    assert not may_hold_table(b"BT /F1 12 Tf 56 785 Td (abc) Tj ET")
    assert may_hold_table(b"0 0 m 10 0 l S 10 0 m 10 10 l S 56 700 100 20 re S 56 680 100 20 re S")


def test_pdf_table_rows_with_caption(tmp_path: Path) -> None:
    pdf = make_table_pdf(tmp_path / "指标.pdf", PDF_BEFORE, "表1 县医院能力提升主要指标", PDF_ROWS, ["各地要按季度报送进展。"])
    loaded = load_file(pdf, "指标.pdf")
    lines = loaded.pages[0].text.split("\n")
    assert "指标：三四级手术占比；2023年基线值：18%；2025年目标值：25%。" in lines
    assert lines.index("各地要按季度报送进展。") > lines.index("指标：县域就诊率；2023年基线值：85%；2025年目标值：90%以上。")
    chunks = chunk_document(loaded, ChunkingSettings())
    table = next(c for c in chunks if "门诊人次" in c.text)
    assert "县医院能力提升主要指标" in table.text and table.text.count("2025年目标值") == 3

    off = load_file(pdf, "指标.pdf", IngestSettings(tables=False)).pages[0].text
    assert "2025年目标值：" not in off  # ingest.tables off: pypdf's plain text


def test_docx_table_rows(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "分工.docx", DOCX_BODY + ["表2 五大中心建设分工", DOCX_ROWS, "请于每季度末报送进展。"])
    text = load_file(path, "分工.docx").pages[0].text
    assert "专科：卒中中心；牵头医院：县中医医院；建成时限：2025年3月。" in text.split("\n")
    off = load_file(path, "分工.docx", IngestSettings(tables=False)).pages[0].text
    assert "卒中中心\t县中医医院\t2025年3月" in off


def test_long_table_is_cut_between_rows_and_keeps_its_caption(tmp_path: Path) -> None:
    rows = [["序号", "县医院名称", "所在县"]] + [[str(i), f"第{i}县人民医院", f"第{i}县"] for i in range(1, 41)]
    path = make_docx(tmp_path / "名单.docx", ["关于公布县医院名单的通知", "各县卫生健康局：", "现将名单公布如下。", "县医院名单", rows])
    chunks = chunk_document(load_file(path, "名单.docx"), ChunkingSettings(max_chars=200))
    pieces = [c for c in chunks if "县医院名称" in c.text]
    assert len(pieces) > 2
    assert all(c.text.startswith("县医院名单\n") for c in pieces)  # the caption heads every piece
    assert all(line.endswith("。") for c in pieces for line in c.text.split("\n")[1:])  # whole rows only
    assert sum(c.text.count("县医院名称：") for c in pieces) == 40


@pytest.fixture(scope="module")
def table_assistant(tmp_path_factory: pytest.TempPathFactory, base_settings, embedder):
    from assistant.assistant import Assistant

    folder = tmp_path_factory.mktemp("tables")
    make_table_pdf(folder / "指标.pdf", PDF_BEFORE, "表1 县医院能力提升主要指标", PDF_ROWS, ["各地要按季度报送进展。"])
    make_docx(folder / "分工.docx", DOCX_BODY + ["表2 五大中心建设分工", DOCX_ROWS, "请于每季度末报送进展。"])
    settings = base_settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("tables-data")})
    assistant = Assistant.from_settings(settings, embedder=embedder)
    report = assistant.add_documents([folder])
    assert report.failed == 0, report.failures
    return assistant


def unmarked(text: str) -> str:
    """The answer without its [n] citation markers."""
    return re.sub(r"\[\d+\]", "", text)


def test_pdf_table_cell_is_answered_from_its_row(table_assistant) -> None:
    answer = table_assistant.ask("三四级手术占比2025年目标值是多少？")
    assert not answer.refused, answer.answer
    text = unmarked(answer.answer)
    assert "指标：三四级手术占比；2023年基线值：18%；2025年目标值：25%。" in text
    assert "门诊人次" not in text and "县域就诊率" not in text
    assert answer.citations[0].doc == "指标.pdf" and answer.citations[0].page == 1


def test_docx_table_cell_is_answered_from_its_row(table_assistant) -> None:
    answer = table_assistant.ask("卒中中心由哪家医院牵头建设？")
    assert not answer.refused, answer.answer
    text = unmarked(answer.answer)
    assert "专科：卒中中心；牵头医院：县中医医院；建成时限：2025年3月。" in text
    assert "胸痛中心" not in text and "创伤中心" not in text
    assert answer.citations[0].doc == "分工.docx"
