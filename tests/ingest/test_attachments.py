"""A notice with two 附件: each attachment is its own top-level section, named by its mark and title,
and a question about an attachment's list is answered from (and cites) that attachment."""

from __future__ import annotations

import re

import pytest
from docgen import make_pdf

from ingest.chunking import chunk_document
from ingest.loaders import load_file
from settings import ChunkingSettings

PAGE1 = "\n".join([
    "关于公布第一批千县工程县医院名单的通知",
    "各县卫生健康局：",
    "一、工作要求",
    "各县医院要对照附件1的名单和附件2的建设标准，制定本院提升方案。",
    "附件：1.第一批千县工程县医院名单",
    "2.县医院综合能力建设标准",
    "市卫生健康委员会",
    "2024年3月1日",
])
PAGE2 = "\n".join([
    "附件1",
    "第一批千县工程县医院名单",
    "东山县人民医院、西岭县人民医院、南湖县中医医院共3家县医院。",
])
PAGE3 = "\n".join([
    "附件2",
    "县医院综合能力建设标准",
    "一、床位设置",
    "编制床位不少于300张，重症医学科床位占比不低于2%。",
    "二、人员配备",
    "卫生技术人员与床位之比不低于1.15:1。",
])


@pytest.fixture
def notice(tmp_path):
    (tmp_path / "docs").mkdir()
    return make_pdf(tmp_path / "docs" / "名单通知.pdf", [PAGE1, PAGE2, PAGE3])


def test_each_attachment_is_a_top_level_section(notice) -> None:
    chunks = chunk_document(load_file(notice, "名单通知.pdf"), ChunkingSettings())
    paths = {c.section_path: c for c in chunks}
    assert "附件1 第一批千县工程县医院名单" in paths
    assert paths["附件1 第一批千县工程县医院名单"].page_start == 2
    assert "附件2 县医院综合能力建设标准 > 一、床位设置" in paths
    assert "附件2 县医院综合能力建设标准 > 二、人员配备" in paths
    # the body's list of attachments stays in the body (a lead with its items), not a section
    body = next(c for c in chunks if "附件：1." in c.text)
    assert body.section_path == "一、工作要求"
    assert "2.县医院综合能力建设标准" in body.text
    # the signature above the attachments is not content
    assert not any("2024年3月1日" in c.text or c.text.endswith("市卫生健康委员会") for c in chunks)


def test_attachment_list_is_answered_from_the_attachment(notice, settings, embedder) -> None:
    from assistant.assistant import Assistant

    assistant = Assistant.from_settings(settings, embedder=embedder)
    assert assistant.add_documents([notice.parent]).failed == 0
    answer = assistant.ask("第一批千县工程县医院名单中有哪家中医医院？")
    assert not answer.refused, answer.answer
    assert "南湖县中医医院" in re.sub(r"\[\d+\]", "", answer.answer)
    assert answer.citations[0].section_path.startswith("附件1 ")
    assert answer.citations[0].page == 2
    answer = assistant.ask("县医院编制床位不少于多少张？")
    assert "300张" in answer.answer
    assert answer.citations[0].section_path == "附件2 县医院综合能力建设标准 > 一、床位设置"
