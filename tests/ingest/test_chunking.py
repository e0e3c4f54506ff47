"""chunk_document on official-document structure: section paths, sentence packing, overlap,
offsets, deterministic ids, size caps, and the shipped corpus. Pure: no model, no store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.chunking import chunk_document, chunking_fingerprint
from ingest.structure import is_chrome, parse, split_sentences
from ingest.documents import Chunk, DocMeta, LoadedDocument, Page
from ingest.loaders import load_file
from settings import ChunkingSettings

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpus"
CFG = ChunkingSettings()  # max 300, overlap 60, min 20

POLICY = "\n".join(
    [
        "国家卫生健康委办公厅关于印发县医院综合能力提升工作方案的通知",
        "各省、自治区、直辖市卫生健康委：",
        "为推动县医院综合能力全面提升，我委制定了本方案。",
        "一、总体要求",
        "坚持以人民健康为中心，到2025年县医院综合能力全面提升。",
        "二、重点任务",
        "（一）提升核心专科能力",
        "1.加强临床专科建设。围绕县域居民主要健康问题，加强肿瘤、神经、心血管等专科建设。",
        "2.提升急诊急救能力。建设胸痛中心、卒中中心、创伤中心。",
        "（二）加强医疗质量管理",
        "（1）健全质控体系。完善院科两级质量控制，定期开展质量评估。",
        "（2）强化安全管理。落实十八项医疗质量安全核心制度。",
        "三、保障措施",
        "各地要加强组织领导，确保各项任务落到实处。",
        "附件：县医院综合能力提升参考指标",
        "1.床位使用率。床位使用率保持在合理区间。",
    ]
)

REGULATION = "\n".join(
    [
        "县医院医疗质量管理办法",
        "第一章 总则",
        "第一条 为加强县医院医疗质量管理，保障医疗安全，根据有关规定，制定本办法。本办法所称医疗质量，是指在现有医疗技术水平下医疗服务满足要求的程度。",
        "第二条 本办法适用于各级县医院。县医院应当建立医疗质量管理体系，明确各部门职责。",
        "第二章 组织机构",
        "第三条 县医院应当成立医疗质量管理委员会，由院长担任主任委员。委员会每季度至少召开一次会议。",
    ]
)


def make_doc(pages: list[str], numbered: bool = False, doc_id: str = "a" * 64) -> LoadedDocument:
    return LoadedDocument(
        doc_id=doc_id,
        doc="test.txt",
        file_type="pdf" if numbered else "txt",
        pages=[Page(i + 1 if numbered else None, text) for i, text in enumerate(pages)],
        meta=DocMeta(title="测试文件", wenhao="国卫办医函〔2021〕538号", date="2021-10-08"),
    )


def chunk_with(text: str) -> Chunk:
    chunks = chunk_document(make_doc([POLICY]), CFG)
    return next(c for c in chunks if text in c.text)


def _lines(text: str) -> str:
    """Text as chunk text joins it: lines stripped, empty and site-chrome lines dropped, joined with '\\n'."""
    return "\n".join(line.strip() for line in text.split("\n") if line.strip() and not is_chrome(line.strip()))


# ------------------------------------------------------------------------------- headings


def test_section_paths_follow_the_heading_hierarchy() -> None:
    assert chunk_with("围绕县域居民").section_path == "二、重点任务 > （一）提升核心专科能力 > 1.加强临床专科建设"
    assert chunk_with("胸痛中心").section_path == "二、重点任务 > （一）提升核心专科能力 > 2.提升急诊急救能力"
    assert chunk_with("院科两级").section_path == "二、重点任务 > （二）加强医疗质量管理 > （1）健全质控体系"
    assert chunk_with("十八项").section_path == "二、重点任务 > （二）加强医疗质量管理 > （2）强化安全管理"
    assert chunk_with("落到实处").section_path == "三、保障措施"
    assert chunk_with("坚持以人民健康").section_path == "一、总体要求"
    assert chunk_with("我委制定了本方案").section_path == ""
    # 附件 restarts the hierarchy: nothing of 三、 survives into it
    attachment = chunk_with("合理区间").section_path
    assert attachment.startswith("附件") and "三、" not in attachment
    assert attachment.endswith("1.床位使用率")


def test_a_chunk_never_spans_two_sections() -> None:
    chunks = chunk_document(make_doc([POLICY]), CFG)
    # the short body of 1. and 2. would fit one chunk together, but they are different sections
    assert not any("围绕县域居民" in c.text and "胸痛中心" in c.text for c in chunks)
    # a heading-only line is in the section path (and so in the indexed header), not in the text
    first = chunk_with("围绕县域居民")
    assert first.text.startswith("1.加强临床专科建设。")
    assert first.header == "测试文件 > 二、重点任务 > （一）提升核心专科能力 > 1.加强临床专科建设"
    # the title line above the body is metadata, never a chunk
    assert not any("关于印发" in c.text for c in chunk_document(make_doc([POLICY]), CFG))


def test_regulation_chapters_and_articles() -> None:
    chunks = chunk_document(make_doc([REGULATION]), CFG)
    by_text = {c.text: c.section_path for c in chunks}
    art2 = next(p for t, p in by_text.items() if "适用于各级县医院" in t)
    art3 = next(p for t, p in by_text.items() if "医疗质量管理委员会" in t)
    assert art2.startswith("第一章 总则 > 第二条")
    assert art3.startswith("第二章 组织机构 > 第三条")


# ------------------------------------------------------------------------------- sentences


def _sentences(n: int) -> list[str]:
    # distinct sentences of 22-23 characters, each ending with 。
    return [f"县医院要落实第{i:02d}项重点工作任务，确保取得实效。" for i in range(n)]


def test_split_sentences_keeps_closing_quotes() -> None:
    line = "他说：“要加强建设。”随后散会；下午继续"
    spans = split_sentences(line)
    assert [line[s:e] for s, e in spans] == ["他说：“要加强建设。”", "随后散会；", "下午继续"]


def test_chunks_are_whole_sentences_with_whole_sentence_overlap() -> None:
    sentences = _sentences(40)
    text = "一、重点任务\n" + "".join(sentences)
    chunks = chunk_document(make_doc([text]), CFG)
    assert len(chunks) >= 3
    spans: list[tuple[int, int]] = []
    for chunk in chunks:
        body = chunk.text.removeprefix("一、重点任务\n")
        assert len(chunk.text) <= CFG.max_chars
        # the chunk is exactly a run of whole sentences
        first = next(i for i, s in enumerate(sentences) if body.startswith(s))
        n = 0
        while "".join(sentences[first : first + n]) != body:
            n += 1
            assert first + n <= len(sentences), f"not whole sentences: {body!r}"
        spans.append((first, first + n))
    assert spans[0][0] == 0 and spans[-1][1] == len(sentences)
    for (a0, b0), (a1, b1) in zip(spans, spans[1:]):
        overlap = sentences[a1:b0]
        assert a0 < a1 <= b0 < b1, "next chunk continues, repeating only trailing sentences"
        assert overlap, "sentences shorter than overlap_chars: some overlap is expected"
        assert sum(len(s) for s in overlap) <= CFG.overlap_chars


def test_no_overlap_when_disabled() -> None:
    cfg = ChunkingSettings(overlap_chars=0)
    chunks = chunk_document(make_doc(["".join(_sentences(40))]), cfg)
    assert "".join(c.text for c in chunks) == "".join(_sentences(40))


@pytest.mark.parametrize("with_commas", [True, False])
def test_only_an_over_long_sentence_is_cut(with_commas: bool) -> None:
    unit = "县医院要加强专科建设，" if with_commas else "县医院要加强专科建设并提升服务能力"
    long_sentence = unit * (900 // len(unit)) + "完成。"
    before = "开头的一句话要足够长，不能被并入别的块。"
    after = "结尾的一句话也要足够长，不能被并入别的块。"
    text = before + long_sentence + after
    chunks = chunk_document(make_doc([text]), CFG)
    assert all(len(c.text) <= CFG.max_chars for c in chunks)
    assert len(chunks) >= 4
    # the sentences around the long one stay whole; the pieces tile the text in order
    assert any(c.text.startswith(before) for c in chunks) and chunks[-1].text.endswith(after)
    assert chunks[0].char_start == 0 and chunks[-1].char_end == len(text)
    for prev, chunk in zip(chunks, chunks[1:]):
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.char_start <= prev.char_end < chunk.char_end
    if with_commas:  # cuts land after a comma when one is available
        assert all(c.text.endswith(("，", "。")) for c in chunks)


# ------------------------------------------------------------------------------- offsets


def _check_offsets(doc: LoadedDocument, chunks: list[Chunk]) -> None:
    pages = {p.number: p.text for p in doc.pages}
    for c in chunks:
        if c.page_start == c.page_end:
            source = pages[c.page_start][c.char_start : c.char_end]
            if "\n" not in c.text:
                assert source == c.text
            else:
                assert _lines(source) == c.text
        else:
            source = pages[c.page_start][c.char_start :] + "\n"
            for n in range(c.page_start + 1, c.page_end):
                source += pages[n] + "\n"
            source += pages[c.page_end][: c.char_end]
            assert _lines(source) == c.text


def test_offsets_point_back_into_page_text() -> None:
    doc = make_doc([POLICY, REGULATION, "  缩进的行。\n\n\n" + "".join(_sentences(30))], numbered=True)
    chunks = chunk_document(doc, CFG)
    assert len(chunks) > 8
    _check_offsets(doc, chunks)


def test_chunks_span_pages_with_page_range_and_offsets() -> None:
    pages = [
        "一、总体要求\n" + "".join(_sentences(5)),
        "".join(_sentences(3)) + "\n二、重点任务\n加强专科建设。",
        "提升急诊能力。",
    ]
    doc = make_doc(pages, numbered=True)
    chunks = chunk_document(doc, CFG)
    _check_offsets(doc, chunks)
    spanning = [c for c in chunks if c.page_start != c.page_end]
    assert spanning and spanning[0].section_path == "一、总体要求"
    assert (spanning[0].page_start, spanning[0].page_end) == (1, 2)
    last = chunk_document(doc, CFG)[-1]
    assert last.section_path == "二、重点任务" and (last.page_start, last.page_end) == (2, 3)


# ------------------------------------------------------------------------------- ids and metadata


def test_chunk_ids_are_deterministic_and_unique() -> None:
    a = chunk_document(make_doc([POLICY, REGULATION]), CFG)
    b = chunk_document(make_doc([POLICY, REGULATION]), CFG)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert [c.text for c in a] == [c.text for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    assert [c.ordinal for c in a] == list(range(len(a)))
    assert all(c.chunk_id.startswith("a" * 32 + "-") for c in a)
    other = chunk_document(make_doc([POLICY, REGULATION], doc_id="b" * 64), CFG)
    assert not {c.chunk_id for c in a} & {c.chunk_id for c in other}


def test_chunks_carry_document_metadata() -> None:
    for c in chunk_document(make_doc([POLICY]), CFG):
        assert c.title == "测试文件" and c.wenhao == "国卫办医函〔2021〕538号" and c.date == "2021-10-08"
        meta = c.metadata()
        assert None not in meta.values()
        assert Chunk.from_metadata(c.text, meta) == c


def test_fingerprint_changes_with_the_rules() -> None:
    assert chunking_fingerprint(CFG) == chunking_fingerprint(ChunkingSettings())
    assert chunking_fingerprint(CFG) != chunking_fingerprint(ChunkingSettings(max_chars=400))


def test_empty_and_blank_pages_give_no_chunks() -> None:
    assert chunk_document(make_doc(["", "  \n\n "]), CFG) == []


# ------------------------------------------------------------------------------- size cap


def test_short_closing_sentence_does_not_push_a_chunk_over_max_chars() -> None:
    filler = "县医院要持续加强专科能力建设并提升综合服务水平" * 5
    sentences = [filler[:69] + "。"] * 3 + [filler[:84] + "。", "现予印发，特此通知。"]
    assert [len(s) for s in sentences] == [70, 70, 70, 85, 10]  # 295 fill a chunk, 10 close it
    chunks = chunk_document(make_doc(["".join(sentences)]), CFG)
    assert max(len(c.text) for c in chunks) <= CFG.max_chars  # actual: one chunk of 305


def _corpus_chunks() -> list[Chunk]:
    out: list[Chunk] = []
    for path in sorted((CORPUS / "news").glob("*.txt")):
        out.extend(chunk_document(load_file(path, path.relative_to(CORPUS).as_posix()), CFG))
    return out


def test_corpus_documents_chunk_within_the_cap() -> None:
    chunks = _corpus_chunks()
    assert len(chunks) > 10
    # content characters (without the '\n' that joins a chunk's lines) never exceed the cap
    assert all(0 < len(c.text.replace("\n", "")) <= CFG.max_chars for c in chunks)
    for path in sorted((CORPUS / "news").glob("*.txt")):
        doc = load_file(path, path.name)
        chunks = chunk_document(doc, CFG)
        _check_offsets(doc, chunks)
        # every sentence of the document is in some chunk, except its title, date and site chrome
        parsed = parse(doc)
        metadata = set(parsed.front) | set(parsed.dropped)
        joined = "\x00".join(c.text for c in chunks)
        for line in doc.pages[0].text.split("\n"):
            if line.strip() in metadata:
                continue
            for s, e in split_sentences(line.strip()):
                assert line.strip()[s:e] in joined


def test_corpus_chunks_are_at_most_max_chars_long() -> None:
    assert max(len(c.text) for c in _corpus_chunks()) <= CFG.max_chars
