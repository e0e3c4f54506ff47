"""load_file on real generated documents (PDF, DOCX, HTML, TXT, MD), the seed pages, and bad input."""

from __future__ import annotations

import hashlib
import inspect
import io
import os
import re
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from docgen import make_docx, make_pdf, make_scanned_pdf

from ingest.documents import LoadedDocument, LoadError, Page
from ingest.loaders import SUPPORTED_SUFFIXES, clean_pdf_text, decode_text, iter_pdf_pages, load_file
from settings import IngestSettings

REPO = Path(__file__).resolve().parents[2]

PAGE1 = "\n".join(
    [
        "国家卫生健康委办公厅",
        "国卫办医函〔2021〕538号",
        "国家卫生健康委办公厅关于印发“千县工程”县医院综合能力提升",
        "工作方案（2021-2025年）的通知",
        "各省、自治区、直辖市卫生健康委：",
        "为贯彻落实党中央、国务院决策部署，推动县医院综合能力全面提升，我委制定了本方案。",
        "- 1 -",
    ]
)
PAGE2 = "\n".join(
    [
        "一、总体要求",
        "加 强 专 科 建 设 ， 到 2025 年 全 国 至 少 1000 家 县 医 院 达 到 三 级 医 院 水 平 。",
        "（二）加强专科建设",
        "重点发展肿瘤、心脑血管、呼吸、消化和感染性疾病等专科，提升县域就诊率到90%以上。",
        "—2—",
    ]
)
PAGE3 = "\n".join(
    [
        "第三条 本方案自印发之日起施行。",
        "国家卫生健康委办公厅",
        "2021年10月8日",
        "附件",
        "1.千县工程县医院综合能力提升工作方案",
    ]
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lines_of(page: Page) -> list[str]:
    return page.text.split("\n")


# --- PDF ----------------------------------------------------------------------------------------


@pytest.fixture
def policy_pdf(tmp_path: Path) -> Path:
    return make_pdf(tmp_path / "方案.pdf", [PAGE1, PAGE2, PAGE3], title="Microsoft Word - 方案.doc")


def test_pdf_pages_text_and_headings(policy_pdf: Path) -> None:
    loaded = load_file(policy_pdf, "policy/方案.pdf")
    assert isinstance(loaded, LoadedDocument)
    assert (loaded.doc, loaded.file_type, loaded.doc_id) == ("policy/方案.pdf", "pdf", sha256(policy_pdf))
    assert [p.number for p in loaded.pages] == [1, 2, 3]
    p1, p2, p3 = (lines_of(p) for p in loaded.pages)
    assert "国卫办医函〔2021〕538号" in p1
    assert p2[0] == "一、总体要求"
    assert p2[1] == "加强专科建设，到2025年全国至少1000家县医院达到三级医院水平。"  # CJK spacing removed
    assert p2[2] == "（二）加强专科建设"
    assert p3[0] == "第三条 本方案自印发之日起施行。"
    assert "附件" in p3 and p3[-1] == "1.千县工程县医院综合能力提升工作方案"
    assert "- 1 -" not in loaded.pages[0].text and "—2—" not in loaded.pages[1].text  # page numbers dropped
    assert "肿瘤" not in loaded.pages[0].text + loaded.pages[2].text  # text on the right page


def test_pdf_meta_ignores_junk_format_title(policy_pdf: Path) -> None:
    meta = load_file(policy_pdf, "方案.pdf").meta
    assert meta.title == "国家卫生健康委办公厅关于印发“千县工程”县医院综合能力提升工作方案（2021-2025年）的通知"
    assert meta.wenhao == "国卫办医函〔2021〕538号"
    assert meta.issuer == "国家卫生健康委办公厅"
    assert meta.date == "2021-10-08"


def test_pdf_real_format_title_is_used(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["胸痛中心建设与管理指导原则的正文内容。"], title="胸痛中心建设与管理指导原则")
    assert load_file(path, "a.pdf").meta.title == "胸痛中心建设与管理指导原则"


def test_pdf_soft_wrapped_lines_are_rejoined(tmp_path: Path) -> None:
    para = "县医院要以满足县域居民基本医疗服务需求为目标，到2025年（2021-2025年周期内）加强临床专科建设，提升核心专科能力。"
    title = "关于印发“千县工程”县医院综合能力提升工作方案（2021-2025年）的通知"
    page = "\n".join([title, "二、重点任务", para, "（一）提升核心专科能力", para, "国家卫生健康委办公厅", "2021年10月8日"])
    loaded = load_file(make_pdf(tmp_path / "w.pdf", [page], wrap=20), "w.pdf")
    assert lines_of(loaded.pages[0]) == [
        title,  # full-width lines that end no sentence are rejoined
        "二、重点任务",  # headings and short lines keep their breaks
        para,
        "（一）提升核心专科能力",
        para,
        "国家卫生健康委办公厅",
        "2021年10月8日",
    ]
    assert loaded.meta.title == title


def test_clean_pdf_text_artefacts() -> None:
    raw = "一 、 总 体 要 求\r\n坚 持 以 人 民 健 康 为 中 心 。  \r\n中\n心\n建\n设\n\n\n- 12 -\nCT 室 and MRI scan 2024 年\n"
    assert clean_pdf_text(raw).split("\n") == ["一、总体要求", "坚持以人民健康为中心。", "中心建设", "", "CT 室 and MRI scan 2024年"]
    assert clean_pdf_text("⼀、⼯作⽬标") == "一、工作目标"  # Kangxi radicals from bad font maps
    wrapped = "坚持以人民健康为中心，全面提升县医院综合能力，到（2\n021年）全国至少一千家县医院达到三级医院水平，发挥\n县域医疗中心作用。"
    assert clean_pdf_text(wrapped) == wrapped.replace("\n", "")  # Chinese wraps even inside numbers


def test_pdf_with_separately_placed_glyphs_keeps_lines(tmp_path: Path) -> None:
    page = "一、总体要求\n坚持以人民健康为中心，全面提升县医院综合能力。\n（二）加强专科建设\n- 2 -"
    loaded = load_file(make_pdf(tmp_path / "glyphs.pdf", [page], per_char=True), "glyphs.pdf")
    assert lines_of(loaded.pages[0]) == ["一、总体要求", "坚持以人民健康为中心，全面提升县医院综合能力。", "（二）加强专科建设"]


def test_table_like_pdf_page_is_not_reflowed() -> None:
    rows = ["序号中心名称建设数量责任单位完成时限" + str(i) for i in range(1, 8)]
    assert clean_pdf_text("\n".join(rows)).split("\n") == rows


def test_iter_pdf_pages_streams(policy_pdf: Path) -> None:
    pages = iter_pdf_pages(policy_pdf)
    assert inspect.isgenerator(pages)
    first = next(pages)
    assert first.number == 1 and "国卫办医函" in first.text
    assert [p.number for p in pages] == [2, 3]


def test_encrypted_pdf_with_empty_password_loads(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "e.pdf", ["加强专科建设，提升县医院能力。"], encrypt_password="")
    assert load_file(path, "e.pdf").pages[0].text == "加强专科建设，提升县医院能力。"


def test_500_page_pdf_loads_quickly(tmp_path: Path) -> None:
    start = time.perf_counter()
    path = make_pdf(tmp_path / "big.pdf", [f"第{i}页\n这是第{i}页的正文内容，用于测试长文档的加载。" for i in range(1, 501)])
    generated = time.perf_counter()
    loaded = load_file(path, "big.pdf")
    loaded_at = time.perf_counter()
    print(f"500-page PDF: generate {generated - start:.2f}s, load {loaded_at - generated:.2f}s")
    assert len(loaded.pages) == 500
    assert [p.number for p in loaded.pages] == list(range(1, 501))
    # '第500页' alone on a line is a page-number footer and is dropped
    assert loaded.pages[499].text == "这是第500页的正文内容，用于测试长文档的加载。"
    assert loaded_at - generated < 20


# --- DOCX ---------------------------------------------------------------------------------------


def test_docx_lines_in_order_with_title(tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "a.docx",
        [
            ("Title", "关于加强县医院专科建设的通知"),
            "各有关单位：",
            ("Heading 1", "一、总体要求"),
            "坚持以人民健康为中心。\n全面提升县医院综合能力。",
            [["序号", "中心名称"], ["1", "胸痛中心"]],
            ("Heading 2", "（二）加强专科建设"),
            "重点发展肿瘤等专科。",
            "",
        ],
        core_title="Document1",
    )
    loaded = load_file(path, "a.docx")
    assert loaded.file_type == "docx" and len(loaded.pages) == 1 and loaded.pages[0].number is None
    assert lines_of(loaded.pages[0]) == [
        "关于加强县医院专科建设的通知",
        "各有关单位：",
        "一、总体要求",
        "坚持以人民健康为中心。",
        "全面提升县医院综合能力。",
        "序号：1；中心名称：胸痛中心。",  # a table row carries its column headers (ingest/tables.py)
        "（二）加强专科建设",
        "重点发展肿瘤等专科。",
    ]
    assert loaded.meta.title == "关于加强县医院专科建设的通知"
    assert loaded.doc_id == sha256(path)


def test_docx_core_title_used_without_title_style(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "b.docx", ["一、总体要求", "坚持以人民健康为中心。"], core_title="县医院专科建设方案")
    assert load_file(path, "b.docx").meta.title == "县医院专科建设方案"


def test_docx_junk_core_title_falls_back_to_content(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "c.docx", ["关于加强县医院专科建设的通知", "坚持以人民健康为中心。"], core_title="Microsoft Word - 通知.doc")
    assert load_file(path, "c.docx").meta.title == "关于加强县医院专科建设的通知"


# --- HTML ---------------------------------------------------------------------------------------

ARTICLE = "".join(
    f"<p>第{i}段：坚持以人民健康为中心，全面提升县医院综合能力，到2025年，至少1000家县医院达到三级医院医疗服务能力水平。</p>"
    for i in range(1, 4)
)


def news_html(charset: str = "utf-8") -> str:
    return f"""<!DOCTYPE html><html><head><meta charset="{charset}">
<title>关于加强专科建设的通知_新闻中心_某某人民医院</title></head><body>
<div class="header"><ul class="menu"><li><a href="/">首页</a></li><li><a href="/news">新闻中心</a></li></ul></div>
<div class="pos">您现在的位置：<a href="/">首页</a> &gt; <a href="/news">新闻</a></div>
<div class="content"><h1>关于加强专科建设的通知</h1>
<div class="info">发布时间：2024-06-25 来源：医务部</div>
<p>为贯彻落实“千县工程”县医院综合能力提升工作方案，进一步加强专科建设，现将有关事项通知如下。</p>
<h2>一、总体要求</h2>{ARTICLE}
<h2>二、重点任务</h2>
<p>（一）加强专科建设。重点发展肿瘤、心脑血管、呼吸、消化和感染性疾病等专科。</p>
<table><tr><td>序号</td><td>中心名称</td></tr><tr><td>1</td><td>胸痛中心</td></tr></table>
<div class="share">分享到：<a>微信</a> <a>微博</a></div>
</div>
<div class="tools"><a href="#">返回顶部</a> <a>打印本页</a> <a>关闭窗口</a></div>
<div class="pn"><a>上一篇：某某新闻</a><br><a>下一篇：另一新闻</a></div>
</body></html>"""


def check_news(loaded: LoadedDocument) -> None:
    text = loaded.pages[0].text
    lines = text.split("\n")
    assert loaded.file_type == "html" and loaded.pages[0].number is None
    for nav in ["分享到", "返回顶部", "您现在的位置", "上一篇", "下一篇", "打印本页", "关闭窗口"]:
        assert nav not in text
    assert "一、总体要求" in lines and "二、重点任务" in lines
    assert "（一）加强专科建设。重点发展肿瘤、心脑血管、呼吸、消化和感染性疾病等专科。" in lines
    assert "1\t胸痛中心" in lines
    assert loaded.meta.title == "关于加强专科建设的通知"
    assert loaded.meta.date == "2024-06-25"
    assert loaded.meta.issuer == "医务部"


def test_html_article_without_navigation(tmp_path: Path) -> None:
    path = tmp_path / "news.html"
    path.write_text(news_html(), encoding="utf-8")
    check_news(load_file(path, "news.html"))


def test_html_gbk_with_meta_charset(tmp_path: Path) -> None:
    path = tmp_path / "news_gbk.htm"
    path.write_bytes(news_html("gbk").encode("gbk"))
    check_news(load_file(path, "news_gbk.htm"))


def test_html_gbk_without_declared_charset(tmp_path: Path) -> None:
    path = tmp_path / "news_nocharset.html"
    path.write_bytes(news_html("").replace('<meta charset="">', "").encode("gb2312"))
    check_news(load_file(path, "news_nocharset.html"))


def test_html_fallback_without_trafilatura(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If trafilatura cannot be imported (e.g. lxml_html_clean missing), pages still load."""
    import sys

    monkeypatch.setitem(sys.modules, "trafilatura", None)
    path = tmp_path / "news.html"
    path.write_bytes(news_html("gb2312").encode("gbk"))
    check_news(load_file(path, "news.html"))


def test_html_without_text(tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    path.write_text("<html><head><title>x</title></head><body><img src='a.png'></body></html>", encoding="utf-8")
    with pytest.raises(LoadError) as err:
        load_file(path, "empty.html")
    assert err.value.reason == "no text found"


# --- TXT / MD -----------------------------------------------------------------------------------

TXT = "县医院综合能力提升工作方案\n\n首页 > 新闻\n一、总体要求\n坚持以人民健康为中心。\n"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("utf8.txt", TXT.encode("utf-8")),
        ("bom.txt", b"\xef\xbb\xbf" + TXT.encode("utf-8")),
        ("gbk.txt", TXT.encode("gbk")),
        ("gb18030.txt", TXT.encode("gb18030")),
        ("utf16.txt", TXT.encode("utf-16")),
        ("crlf.txt", TXT.replace("\n", "\r\n").encode("gbk")),
    ],
)
def test_txt_encodings_give_the_same_text(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    loaded = load_file(path, name)
    assert loaded.file_type == "txt"
    assert loaded.pages == [Page(number=None, text=TXT)]  # navigation lines kept in txt
    assert loaded.meta.title == "县医院综合能力提升工作方案"
    assert loaded.doc_id == sha256(path)


def test_decode_text_rules() -> None:
    assert decode_text("中文".encode("gbk")) == "中文"
    assert decode_text("中文\r\n".encode("utf-8")) == "中文\n"
    for junk in [b"\x00\x01\x02abc", bytes(range(1, 32)) * 3, "中文".encode("utf-8") + b"\x00"]:
        with pytest.raises(LoadError, match="undecodable text"):
            decode_text(junk)


def test_md_title_from_heading(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("前言文字\n\n# 千县工程学习笔记\n\n## 一、总体要求\n内容。\n", encoding="utf-8")
    loaded = load_file(path, "notes.md")
    assert loaded.file_type == "md"
    assert loaded.meta.title == "千县工程学习笔记"
    assert loaded.pages[0].text.startswith("前言文字\n\n# 千县工程学习笔记")


# --- bad input ----------------------------------------------------------------------------------


def _truncated_pdf(tmp_path: Path) -> bytes:
    data = make_pdf(tmp_path / "src.pdf", [PAGE1, PAGE2]).read_bytes()
    return data[: len(data) // 2]


def _zip_not_docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "not a word document")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.txt", lambda tmp: b"", "empty file"),
        ("empty.pdf", lambda tmp: b"", "empty file"),
        ("table.xls", lambda tmp: b"\xd0\xcf\x11\xe0data", "unsupported file type: .xls"),
        ("noext", lambda tmp: b"data", "unsupported file type: (no extension)"),
        ("random.pdf", lambda tmp: os.urandom(4096), "corrupt PDF: not a PDF file"),
        ("truncated.pdf", _truncated_pdf, "corrupt PDF: "),
        ("header_only.pdf", lambda tmp: b"%PDF-1.4\n" + os.urandom(2048), "corrupt PDF: "),
        ("locked.pdf", lambda tmp: make_pdf(tmp / "l.pdf", ["加强专科建设。"] * 2, encrypt_password="secret").read_bytes(), "encrypted PDF: needs a password"),
        ("scan.pdf", lambda tmp: make_scanned_pdf(tmp / "s.pdf", pages=1).read_bytes(), "no text layer, and OCR recognised no text on its 1 page"),
        ("random.txt", lambda tmp: os.urandom(4096), "undecodable text: neither UTF-8 nor GB18030"),
        ("nul.md", lambda tmp: "中文".encode("gbk") + b"\x00\x00\x01\x02" * 10, "undecodable text: neither UTF-8 nor GB18030"),
        ("blank.txt", lambda tmp: b" \n\r\n\t\n", "no text found"),
        ("zip.docx", lambda tmp: _zip_not_docx(), "corrupt DOCX: not a valid Word file"),
        ("random.docx", lambda tmp: os.urandom(4096), "corrupt DOCX: not a valid Word file"),
        ("old.docx", lambda tmp: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(1024), "corrupt DOCX: not a valid Word file"),
        ("binary.html", lambda tmp: os.urandom(4096), "undecodable text: neither UTF-8 nor GB18030"),
    ],
)
def test_bad_inputs_raise_load_error(tmp_path: Path, name: str, make, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(make(tmp_path))
    with pytest.raises(LoadError) as err:
        load_file(path, name)
    assert err.value.reason.startswith(reason)
    assert len(err.value.reason) <= 120 and "\n" not in err.value.reason


def test_missing_file_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot read file"):
        load_file(tmp_path / "gone.txt", "gone.txt")


def test_loader_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "truncated.pdf"
    bad.write_bytes(_truncated_pdf(tmp_path))
    with pytest.raises(LoadError):
        load_file(bad, "truncated.pdf")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_supported_suffixes() -> None:
    assert SUPPORTED_SUFFIXES == {
        ".pdf", ".docx", ".html", ".htm", ".txt", ".md", ".doc", ".wps", ".ofd", ".png", ".jpg", ".jpeg",
    }


# --- damaged files: what is readable is kept -----------------------------------------------------


def five_page_pdf(tmp_path: Path) -> bytes:
    pages = [f"第{i}页\n县医院第{i}项建设任务：胸痛中心、卒中中心按期建成。" for i in range(1, 6)]
    return make_pdf(tmp_path / "five.pdf", pages).read_bytes()


def test_pdf_missing_its_last_bytes_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "cut.pdf"
    path.write_bytes(five_page_pdf(tmp_path)[:-32])  # startxref and %%EOF gone
    loaded = load_file(path, "cut.pdf")
    assert [p.number for p in loaded.pages] == [1, 2, 3, 4, 5]
    assert all(f"第{i}项建设任务" in loaded.pages[i - 1].text for i in range(1, 6))
    assert loaded.warnings == ["damaged PDF (truncated or without its cross-reference table): repaired, all 5 pages read"]


def test_truncated_pdf_keeps_its_readable_pages_and_names_the_lost_ones(tmp_path: Path) -> None:
    data = five_page_pdf(tmp_path)
    objects = [m.start() for m in re.finditer(rb"\d+ 0 obj", data)]
    path = tmp_path / "half.pdf"
    path.write_bytes(data[: objects[-2]])  # the last two content streams (pages 4 and 5) are cut off
    loaded = load_file(path, "half.pdf")
    texts = [p.text for p in loaded.pages]
    assert all(f"第{i}项建设任务" in texts[i - 1] for i in (1, 2, 3))
    assert texts[3:] == ["", ""]
    assert loaded.warnings == ["damaged PDF: pages 4–5 of 5 could not be read; the other pages were ingested"]
    # an untouched file has no warning
    (tmp_path / "whole.pdf").write_bytes(data)
    assert load_file(tmp_path / "whole.pdf", "whole.pdf").warnings == []


def test_deeply_nested_html_still_gives_its_text(tmp_path: Path) -> None:
    """100,000 nested <div>s: lxml and trafilatura give up on the depth; the streaming fallback does not."""
    path = tmp_path / "nested.html"
    body = "<div>" * 100_000 + "县医院胸痛中心建设要求：配备专职人员，二十四小时值守。" + "</div>" * 100_000
    path.write_text(f"<html><head><title>胸痛中心</title><script>var x = 1;</script></head><body>{body}</body></html>",
                    encoding="utf-8")
    loaded = load_file(path, "nested.html")
    assert loaded.pages[0].text == "县医院胸痛中心建设要求：配备专职人员，二十四小时值守。"


# --- limits -------------------------------------------------------------------------------------


def test_limits_name_the_size_and_the_setting(tmp_path: Path) -> None:
    long_txt = tmp_path / "long.txt"
    long_txt.write_text("县医院" * 500, encoding="utf-8")
    with pytest.raises(LoadError) as err:
        load_file(long_txt, "long.txt", IngestSettings(max_chars=1000))
    assert err.value.reason == "1,500 characters, more than the limit of 1,000 (ingest.max_chars)"
    assert load_file(long_txt, "long.txt", IngestSettings(max_chars=1500)).pages  # at the limit: fine

    big = tmp_path / "big.txt"
    big.write_bytes("县医院。\n".encode() * 120_000)  # 1.5 MB
    with pytest.raises(LoadError) as err:
        load_file(big, "big.txt", IngestSettings(max_file_mb=1))
    assert err.value.reason == "1.5 MB, more than the limit of 1 MB (ingest.max_file_mb)"

    pdf = tmp_path / "many.pdf"
    pdf.write_bytes(five_page_pdf(tmp_path))
    with pytest.raises(LoadError) as err:
        load_file(pdf, "many.pdf", IngestSettings(max_pages=4))
    assert err.value.reason == "5 pages, more than the limit of 4 (ingest.max_pages)"

    wordy = make_pdf(tmp_path / "wordy.pdf", ["县医院加强专科建设。" * 40] * 5)  # 400 characters a page
    with pytest.raises(LoadError) as err:
        load_file(wordy, "wordy.pdf", IngestSettings(max_chars=1000))
    assert re.fullmatch(r"1,\d{3} characters in the first 3 of 5 pages, more than the limit of 1,000 \(ingest.max_chars\)",
                        err.value.reason), err.value.reason


def zip_bomb(path: Path, claim: int | None = None) -> Path:
    """A .docx whose word/document.xml inflates to 1 GiB (deflated in streamed 1 MiB blocks, a few MB
    on disk). With `claim`, its headers declare that many bytes instead (a lying bomb)."""
    block = b"a" * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w") as fh:
            fh.write(b"<w:document><w:body><w:p><w:r><w:t>")
            for _ in range(1024):
                fh.write(block)
    if claim is not None:
        data = bytearray(path.read_bytes())
        for signature, name_at, header, size_at in ((b"PK\x01\x02", 28, 46, 24), (b"PK\x03\x04", 26, 30, 22)):
            at = data.find(signature)
            while at >= 0:
                length = struct.unpack_from("<H", data, at + name_at)[0]
                if data[at + header : at + header + length] == b"word/document.xml":
                    struct.pack_into("<I", data, at + size_at, claim)
                at = data.find(signature, at + 4)
        path.write_bytes(data)
    return path


def load_in_child(path: Path) -> tuple[str, float]:
    """load_file in a fresh interpreter: (the LoadError reason, peak RSS in MB of that process).

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (this test process)."""
    code = (
        "import re, sys\n"
        "from pathlib import Path\n"
        "from ingest.loaders import LoadError, load_file\n"
        "try:\n"
        "    load_file(Path(sys.argv[1]), 'bomb.docx'); print('loaded')\n"
        "except LoadError as exc:\n"
        "    print(exc.reason)\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text())[1]) / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=REPO,
                         timeout=120, check=True).stdout.splitlines()
    return out[0], float(out[1])


def test_zip_bomb_docx_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    honest = zip_bomb(tmp_path / "bomb.docx")
    assert honest.stat().st_size < 8 * 1048576
    reason, peak_mb = load_in_child(honest)
    print(f"zip bomb ({honest.stat().st_size / 1048576:.1f} MB, 1 GiB inside): peak RSS {peak_mb:.0f} MB")
    assert reason == "1,024.0 MB when unzipped, more than the limit of 200 MB (ingest.max_unzipped_mb)"
    assert peak_mb < 300
    # headers that claim 10 kB: the streamed read stops at the claim and the checksum gives the lie away
    lying = zip_bomb(tmp_path / "lying.docx", claim=10_000)
    reason, peak_mb = load_in_child(lying)
    print(f"lying zip bomb: peak RSS {peak_mb:.0f} MB")
    assert reason == "corrupt DOCX: not a valid Word file"
    assert peak_mb < 300


# --- seed pages ---------------------------------------------------------------------------------


# The two seed pages as shipped in corpus/news (byte-identical to the collected copies).
SEEDS = {
    "000": REPO / "corpus" / "news" / "2023-09-27_guangxi_qianxian_exchange.txt",
    "004": REPO / "corpus" / "news" / "2024-06-22_zsyy_guangxi_quality_workshop.txt",
}


def seed(prefix: str) -> Path:
    return SEEDS[prefix]


def test_seed_000_news_page() -> None:
    path = seed("000")
    loaded = load_file(path, path.name)
    assert loaded.doc_id == sha256(path)
    assert loaded.meta.title == "县域医院综合能力提升项目医学专科交流会(广西站)顺利召开!"
    assert loaded.meta.date == "2023-09-30"
    assert loaded.meta.wenhao is None
    assert loaded.pages[0].text == path.read_text(encoding="utf-8").replace("\r\n", "\n")


def test_seed_004_news_page() -> None:
    path = seed("004")
    loaded = load_file(path, path.name)
    assert loaded.doc_id == sha256(path)
    # the first line is the site banner (欢迎访问…官方网站); the headline sits above 发布时间
    assert loaded.meta.title == "中山一院广西医院承办“国家区域医疗中心建设助推全面提升医疗质量行动高级研修班”"
    assert loaded.meta.date == "2024-06-25"
    assert loaded.meta.issuer == "医务部"

