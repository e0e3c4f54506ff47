"""The document tree: law articles with their 款/项, 公文 headings, front matter and site chrome kept
out of chunks, and the answer units an extractive answer quotes. Pure: no model, no store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunking import chunk_document
from ingest.documents import DocMeta, LoadedDocument, Page
from ingest.loaders import load_file
from ingest.structure import answer_units, is_title_heading, numbered_level, paragraph, parse
from settings import ChunkingSettings

REPO = Path(__file__).resolve().parents[2]
REGULATIONS = REPO / "corpus" / "regulations"
CFG = ChunkingSettings()


def doc_of(text: str, title: str = "测试条例") -> LoadedDocument:
    return LoadedDocument("c" * 64, "t.md", "md", [Page(None, text)], DocMeta(title=title))


LAW = """# 测试条例

2003年6月16日 中华人民共和国国务院令第380号公布

<!-- INFO END -->

## 第四章 医疗废物的集中处置

第二十二条 从事医疗废物集中处置活动的单位，应当申请领取经营许可证。

第二十三条 医疗废物集中处置单位，应当符合下列条件：

（一）具有符合环境保护和卫生要求的医疗废物贮存、处置设施或者设备；

（二）具有经过培训的技术人员以及相应的技术工人；

（三）具有负责医疗废物处置效果检测、评价工作的机构和人员；

（四）具有保证医疗废物安全处置的规章制度。

第二十四条 医疗废物集中处置单位的贮存、处置设施，应当远离居民居住区。
"""


def test_an_article_keeps_its_items_with_their_lead() -> None:
    chunks = chunk_document(doc_of(LAW), CFG)
    art23 = next(c for c in chunks if c.section_path.endswith("第二十三条"))
    assert art23.section_path == "第四章 医疗废物的集中处置 > 第二十三条"
    assert art23.text.startswith("第二十三条 医疗废物集中处置单位，应当符合下列条件：\n（一）")
    assert art23.text.endswith("（四）具有保证医疗废物安全处置的规章制度。")
    assert art23.header == "测试条例 > 第四章 医疗废物的集中处置 > 第二十三条"
    # one article, one chunk: neighbours are never mixed in
    assert "第二十二条" not in art23.text and "第二十四条" not in art23.text


def test_title_and_adoption_lines_are_metadata_not_chunks() -> None:
    parsed = parse(doc_of(LAW))
    assert "# 测试条例" in parsed.front
    assert any("国务院令第380号公布" in line for line in parsed.front)
    texts = [c.text for c in chunk_document(doc_of(LAW), CFG)]
    assert not any("公布" in t or "测试条例" in t or "INFO" in t for t in texts)


def test_a_long_enumeration_is_cut_between_items_and_each_piece_repeats_the_lead() -> None:
    items = "\n".join(f"（{n}）第{i}项内容，医疗机构应当按照规定建立健全相应的管理制度并且认真落实到位；" for i, n in enumerate("一二三四五六七八九十", 1))
    text = f"第五条 医疗机构应当履行下列职责：\n{items}"
    chunks = chunk_document(doc_of(text), ChunkingSettings(max_chars=200))
    assert len(chunks) >= 3
    for c in chunks:
        assert c.text.startswith("第五条 医疗机构应当履行下列职责：\n（")
        assert len(c.text) <= 200
    joined = "".join(chunks[i].text for i in range(len(chunks)))
    for n in "一二三四五六七八九十":
        assert joined.count(f"（{n}）") == 1  # every item exactly once


def test_news_navigation_and_image_placeholders_never_reach_a_chunk() -> None:
    page = "\n".join(
        [
            "欢迎访问某某医院官方网站",
            "新闻资讯",
            "您现在的位置: 首页>医院新闻>医院新闻",
            "某某医院举办质量管理培训班",
            "发布时间:2024-06-25来源:医务部编辑:浏览:",
            "分享到:",
            "6月22日，某某医院举办医疗质量管理培训班，全院200余人参加。",
            "图片",
            "培训围绕核心制度展开。",
            "责任编辑：张三",
            "返回顶部",
        ]
    )
    chunks = chunk_document(doc_of(page, title="某某医院举办质量管理培训班"), CFG)
    assert [c.text for c in chunks] == ["6月22日，某某医院举办医疗质量管理培训班，全院200余人参加。\n培训围绕核心制度展开。"]


@pytest.mark.parametrize(
    ("line", "heading"),
    [
        ("二、重点任务", True),
        ("（一）加强专科建设。具体内容是……", True),
        ("1.加强临床专科建设。围绕县域居民主要健康问题。", True),
        ("二、每家县医院卒中中心建设补助经费为50万元", False),  # a statement with a figure
        ("（三）医疗机构应当在收到通知之日起，按照规定组织实施。", False),
    ],
)
def test_numbered_lines_that_state_facts_are_not_headings(line: str, heading: bool) -> None:
    assert numbered_level(line) is not None
    assert is_title_heading(line) is heading


def test_a_notice_with_figures_keeps_its_content_lines_in_the_text() -> None:
    notice = "\n".join(
        [
            "关于县医院卒中中心建设补助的通知",
            "各县卫生健康局：",
            "一、补助对象为纳入千县工程的县医院。",
            "二、每家县医院卒中中心建设补助经费为50万元",
            "三、补助经费专款专用。",
        ]
    )
    chunks = chunk_document(doc_of(notice, title="关于县医院卒中中心建设补助的通知"), CFG)
    assert any("二、每家县医院卒中中心建设补助经费为50万元" in c.text for c in chunks)
    assert not any("50万元" in c.section_path for c in chunks)


def test_items_of_a_公文_lead_are_not_headings() -> None:
    text = "一、工作任务\n县医院要重点建设以下中心：\n1.胸痛中心；\n2.卒中中心；\n3.创伤中心。\n二、保障措施\n加强组织领导。"
    chunks = chunk_document(doc_of(text, title="方案"), CFG)
    first = next(c for c in chunks if "胸痛中心" in c.text)
    assert first.section_path == "一、工作任务"
    assert first.text == "县医院要重点建设以下中心：\n1.胸痛中心；\n2.卒中中心；\n3.创伤中心。"


def test_answer_units_enumeration_and_sentences() -> None:
    text = "第二十三条 医疗废物集中处置单位，应当符合下列条件：\n（一）具有设施；\n（二）具有人员。\n违反的，责令改正。并处罚款。"
    units = answer_units(text)
    enumeration = [u for u in units if u.kind == "enumeration"]
    assert len(enumeration) == 1
    assert enumeration[0].text == "第二十三条 医疗废物集中处置单位，应当符合下列条件：\n（一）具有设施；\n（二）具有人员。"
    sentences = [u.text for u in units if u.kind == "sentence"]
    assert "（一）具有设施；" in sentences and "违反的，责令改正。" in sentences and "并处罚款。" in sentences
    for u in units:
        assert text[u.start : u.end] == u.text


def test_a_unit_s_paragraph_is_its_款_and_an_item_s_reaches_back_to_its_lead() -> None:
    text = "第十九条 职工基本医疗保险费由用人单位和职工共同缴纳。用人单位按照百分之五点五的比例缴纳。\n" \
        "第二款 灵活就业人员应当缴费。\n" + "医疗卫生机构应当符合下列条件：\n（一）具有设施；\n（二）具有人员。"
    units = {u.text: u for u in answer_units(text)}
    assert paragraph(text, units["用人单位按照百分之五点五的比例缴纳。"]).startswith("第十九条 职工基本医疗保险费")
    assert "灵活就业" not in paragraph(text, units["用人单位按照百分之五点五的比例缴纳。"])
    assert paragraph(text, units["（二）具有人员。"]) == "医疗卫生机构应当符合下列条件：\n（一）具有设施；\n（二）具有人员。"


def test_every_shipped_regulation_parses_into_articles() -> None:
    for path in sorted(REGULATIONS.glob("*.md")):
        doc = load_file(path, path.name)
        parsed = parse(doc)
        articles = [b for b in parsed.blocks if b.kind == "article"]
        assert len(articles) >= 20, path.name
        assert parsed.front and parsed.front[0].startswith("# ")
        chunks = chunk_document(doc, CFG)
        assert all(len(c.text) <= CFG.max_chars for c in chunks)
        # every article number appears at the start of some chunk of its own
        starts = {c.text.split(" ", 1)[0] for c in chunks if c.section_path.endswith("条")}
        assert {b.path[-1] for b in articles} <= starts
