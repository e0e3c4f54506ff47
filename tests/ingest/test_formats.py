""".doc/.wps through the real LibreOffice (headless), .ofd written by easyofd and read with ofdkit,
and the one-line failures when the converter is missing or the file is bad."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from docgen import libreoffice_convert, make_docx, make_ofd

from ingest.chunking import chunk_document
from ingest.documents import LoadError
from ingest.loaders import LIBREOFFICE_PACKAGE, SUPPORTED_SUFFIXES, load_file
from settings import ChunkingSettings, IngestSettings

BODY = [
    "关于做好县医院医疗质量安全改进工作的通知",
    "各县卫生健康局：",
    "一、工作目标",
    "到2025年底，县医院住院患者死亡率较2023年下降10%。",
    "二、工作要求",
    "各县医院每季度召开一次医疗质量安全分析会。",
    ["指标", "2025年目标值"],
]


@pytest.fixture(scope="module")
def doc_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Word 97 .doc, written by LibreOffice from a generated DOCX."""
    folder = tmp_path_factory.mktemp("doc")
    # (LibreOffice's .doc export drops a table that ends the document: a paragraph follows it)
    body = BODY[:-1] + [[["指标", "2025年目标值"], ["门诊人次", "30万人次"], ["住院人次", "2万人次"]], "请认真落实。"]
    source = make_docx(folder / "质量通知.docx", body)
    doc = libreoffice_convert(source, "doc:MS Word 97", folder / "out")
    assert doc.read_bytes()[:4] == b"\xd0\xcf\x11\xe0"  # an OLE compound file, not a zip
    return doc


def test_doc_is_converted_and_read_like_docx(doc_file: Path) -> None:
    loaded = load_file(doc_file, "质量通知.doc")
    assert loaded.file_type == "doc" and loaded.meta.title == BODY[0]
    lines = loaded.pages[0].text.split("\n")
    assert "到2025年底，县医院住院患者死亡率较2023年下降10%。" in lines
    assert "指标：门诊人次；2025年目标值：30万人次。" in lines  # its table survives the conversion
    chunks = chunk_document(loaded, ChunkingSettings())
    assert any(c.section_path == "二、工作要求" and "每季度" in c.text for c in chunks)


def test_wps_file_is_converted(doc_file: Path, tmp_path: Path) -> None:
    wps = tmp_path / "质量通知.wps"  # WPS Writer's .wps is the Word binary format under another name
    shutil.copyfile(doc_file, wps)
    loaded = load_file(wps, "质量通知.wps")
    assert loaded.file_type == "wps"
    assert "各县医院每季度召开一次医疗质量安全分析会。" in loaded.pages[0].text


def test_doc_without_libreoffice_names_the_package(doc_file: Path) -> None:
    with pytest.raises(LoadError) as err:
        load_file(doc_file, "质量通知.doc", IngestSettings(soffice="no-such-soffice"))
    assert err.value.reason == (
        f"converting this file needs LibreOffice: apt-get install {LIBREOFFICE_PACKAGE} (or set ingest.soffice to its path)"
    )


def test_corrupt_doc_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "坏.doc"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(LoadError) as err:
        load_file(bad, "坏.doc")
    assert err.value.reason == "corrupt DOC: not a Word or WPS document"
    broken = tmp_path / "断.doc"
    broken.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)  # an OLE header, nothing after it
    with pytest.raises(LoadError) as err:
        load_file(broken, "断.doc")
    assert err.value.reason in ("corrupt DOC: LibreOffice could not convert it", "no text found")


def test_ofd_pages_are_read(tmp_path: Path) -> None:
    ofd = make_ofd(tmp_path / "电子公文.ofd", [
        "关于开展县医院评估的通知\n各县卫生健康局：\n一、评估范围\n全市所有县医院均纳入评估。",
        "二、评估内容\n重点评估门诊人次和住院人次。",
    ])
    assert "OFD.xml" in zipfile.ZipFile(ofd).namelist()
    loaded = load_file(ofd, "电子公文.ofd")
    assert loaded.file_type == "ofd" and [p.number for p in loaded.pages] == [1, 2]
    assert loaded.meta.title == "关于开展县医院评估的通知"
    chunks = chunk_document(loaded, ChunkingSettings())
    content = next(c for c in chunks if "门诊人次" in c.text)
    assert (content.section_path, content.page_start) == ("二、评估内容", 2)


def test_corrupt_ofd_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "坏.ofd"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(LoadError, match="^corrupt OFD: not a valid OFD file$"):
        load_file(bad, "坏.ofd")
    empty_zip = tmp_path / "空.ofd"
    with zipfile.ZipFile(empty_zip, "w") as zf:
        zf.writestr("hello.txt", "x")
    with pytest.raises(LoadError, match="^corrupt OFD: not an OFD file"):
        load_file(empty_zip, "空.ofd")


def test_new_formats_are_supported() -> None:
    assert {".doc", ".wps", ".ofd", ".png", ".jpg", ".jpeg"} <= SUPPORTED_SUFFIXES
