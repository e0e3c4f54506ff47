"""ingest_paths end to end: real files, the real model, a real Chroma store in a tmp data dir.

Documents are kept to a few chunks each: the model encodes only a few chunks per second here.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from docgen import make_docx, make_pdf
from rich.console import Console

from ingest.embeddings import Embedder
from ingest.knowledge_base import KnowledgeBase
from ingest.pipeline import ingest_paths
from settings import Settings

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpus"

NOTICE = "\n".join(
    [
        "国家卫生健康委办公厅关于印发县医院急诊能力提升工作方案的通知",
        "国卫办医函〔2021〕538号",
        "各省、自治区、直辖市卫生健康委：",
        "为提升县医院急诊急救能力，我委制定了本方案。现印发给你们，请认真贯彻执行。",
        "一、总体要求",
        "到2025年，县医院胸痛中心、卒中中心建设全面推进。",
        "二、重点任务",
        "（一）加强急诊科建设",
        "县医院急诊科要配齐人员和设备，规范急诊分诊流程。",
        "国家卫生健康委办公厅",
        "2021年10月8日",
    ]
)


def small_doc(topic: str, extra: str = "") -> str:
    """A short policy-style text (one or two chunks) about `topic`."""
    return (
        f"关于加强{topic}工作的通知\n一、总体要求\n各县医院要高度重视{topic}工作，明确责任分工。{extra}\n"
        f"二、主要措施\n建立{topic}工作台账，每季度开展一次督导检查。"
    )


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def open_kb(settings: Settings, embedder: Embedder) -> KnowledgeBase:
    return KnowledgeBase(settings, embedder)


def chroma_ids(kb: KnowledgeBase) -> set[str]:
    return set(kb._collection.get(include=[])["ids"])


def assert_consistent(kb: KnowledgeBase) -> None:
    """Manifest and Chroma hold exactly the same chunk ids; every name points at a stored document."""
    assert chroma_ids(kb) == set(kb.all_chunk_ids())
    docs = {d.doc_id for d in kb.documents()}
    assert {n.doc_id for n in kb.names()} == docs
    assert sum(d.n_chunks for d in kb.documents()) == kb.chunk_count()


# ------------------------------------------------------------------------------- corpus


def test_corpus_ingests_and_reingest_is_a_no_op(settings: Settings, embedder: Embedder, news_corpus: Path) -> None:
    """The news part of the shipped corpus (the whole corpus is ingested by the quality gate's eval)."""
    CORPUS = news_corpus  # noqa: N806 - the corpus under test
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [CORPUS], show_progress=False)
    assert (report.seen, report.added, report.failed) == (2, 2, 0), report.failures
    assert report.chunks_added == kb.chunk_count() > 10
    manifest = {e["file"]: e for e in json.loads((CORPUS / "manifest.json").read_text("utf-8"))["documents"]}
    docs = kb.documents()
    assert len(docs) == 2
    for doc in docs:
        (name,) = doc.names
        assert doc.title == manifest[name]["title"]
        assert doc.date == manifest[name]["date"] and doc.doc_type == "news"
        chunks = kb.document_chunks(doc.doc_id)
        assert chunks and all(c.title == doc.title and c.doc == name for c in chunks)
    assert_consistent(kb)
    ids = kb.all_chunk_ids()

    again = ingest_paths(kb, [CORPUS], show_progress=False)
    assert (again.seen, again.unchanged, again.added, again.updated, again.chunks_added, again.chunks_removed) == (
        2, 2, 0, 0, 0, 0,
    )
    assert kb.all_chunk_ids() == ids
    # a reopened store says the same
    kb.close()
    assert open_kb(settings, embedder).all_chunk_ids() == ids


# ------------------------------------------------------------------------------- changes


def test_edit_delete_prune(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    a = write(folder / "a.txt", small_doc("院感防控"))
    b = write(folder / "sub" / "b.txt", small_doc("病案质量"))
    kb = open_kb(settings, embedder)
    first = ingest_paths(kb, [folder], show_progress=False)
    assert (first.added, first.failed) == (2, 0)
    assert sorted(n.name for n in kb.names()) == ["a.txt", "sub/b.txt"]
    old_a = kb.name_record("a.txt").doc_id
    old_ids = [c.chunk_id for c in kb.document_chunks(old_a)]
    b_id = kb.name_record("sub/b.txt").doc_id

    write(a, small_doc("院感防控", "推广远程会诊中心建设，实现县乡一体化管理。"))
    edited = ingest_paths(kb, [folder], show_progress=False)
    assert (edited.updated, edited.unchanged, edited.added) == (1, 1, 0)
    assert edited.chunks_removed == len(old_ids)
    new_a = kb.name_record("a.txt").doc_id
    assert new_a != old_a and kb.document_chunks(old_a) == []
    assert kb.chunks(old_ids) == [] and kb.vectors(old_ids) == {}
    hits = kb.lexical_search("远程会诊中心", 3)
    assert hits and kb.chunks([hits[0][0]])[0].doc_id == new_a
    assert_consistent(kb)

    b.unlink()
    kept = ingest_paths(kb, [folder], show_progress=False)  # without --prune nothing is forgotten
    assert kept.removed == 0 and kb.name_record("sub/b.txt") is not None
    b_ids = [c.chunk_id for c in kb.document_chunks(b_id)]
    pruned = ingest_paths(kb, [folder], prune=True, show_progress=False)
    assert (pruned.removed, pruned.chunks_removed) == (1, len(b_ids))
    assert kb.name_record("sub/b.txt") is None
    assert b_id not in {d.doc_id for d in kb.documents()}
    assert kb.chunks(b_ids) == [] and kb.vectors(b_ids) == {}
    assert not any(kb.chunks([h for h, _ in kb.lexical_search("病案质量", 5)]))
    assert_consistent(kb)


def test_prune_only_touches_the_folders_given(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    one = write(tmp_path / "one" / "x.txt", small_doc("药事管理"))
    write(tmp_path / "two" / "y.txt", small_doc("护理质量"))
    kb = open_kb(settings, embedder)
    ingest_paths(kb, [tmp_path / "one", tmp_path / "two"], show_progress=False)
    one.unlink()
    report = ingest_paths(kb, [tmp_path / "two"], prune=True, show_progress=False)
    assert report.removed == 0 and kb.name_record("x.txt") is not None
    report = ingest_paths(kb, [tmp_path / "one"], prune=True, show_progress=False)
    assert report.removed == 1 and [n.name for n in kb.names()] == ["y.txt"]
    assert_consistent(kb)


def test_same_content_under_two_names_is_stored_once(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write(folder / "notice.txt", small_doc("胸痛中心"))
    copy = folder / "copies" / "notice-copy.txt"
    copy.parent.mkdir()
    shutil.copy(folder / "notice.txt", copy)
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [folder], show_progress=False)
    assert report.added == 2
    (doc,) = kb.documents()
    assert doc.names == ["copies/notice-copy.txt", "notice.txt"]
    assert report.chunks_added == kb.chunk_count() == doc.n_chunks
    ids = kb.all_chunk_ids()
    assert_consistent(kb)

    copy.unlink()
    report = ingest_paths(kb, [folder], prune=True, show_progress=False)
    assert (report.removed, report.chunks_removed) == (1, 0)
    (doc,) = kb.documents()
    assert doc.names == ["notice.txt"] and kb.all_chunk_ids() == ids
    assert_consistent(kb)


# ------------------------------------------------------------------------------- formats


def test_gbk_txt(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    text = small_doc("卒中中心")
    path = write(tmp_path / "gbk.txt", text, encoding="gbk")
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [path], show_progress=False)
    assert report.added == 1 and not report.failures
    (doc,) = kb.documents()
    assert doc.names == ["gbk.txt"] and doc.title == "关于加强卒中中心工作的通知"
    stored = "".join(c.text for c in kb.document_chunks(doc.doc_id))
    assert "各县医院要高度重视卒中中心工作" in stored and "建立卒中中心工作台账" in stored
    assert kb.lexical_search("卒中中心", 1)


def test_pdf_pages_and_sections(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    pages = [
        "县医院综合能力提升工作方案\n一、总体要求\n坚持以人民健康为中心，全面提升县医院综合能力。",
        "二、重点任务\n（一）提升核心专科能力\n加强肿瘤、神经、心血管等临床专科建设。\n（二）加强急诊急救\n建设胸痛中心和卒中中心。",
        "推进创伤中心建设，完善院前院内衔接。\n三、保障措施\n各地要加强组织领导，确保任务落实。",
    ]
    path = make_pdf(tmp_path / "plan.pdf", pages, title="县医院综合能力提升工作方案")
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [path], show_progress=False)
    assert (report.added, report.pages) == (1, 3), report.failures
    (doc,) = kb.documents()
    assert (doc.file_type, doc.n_pages, doc.title) == ("pdf", 3, "县医院综合能力提升工作方案")
    chunks = kb.document_chunks(doc.doc_id)

    def where(text: str) -> tuple[str, int | None, int | None]:
        c = next(c for c in chunks if text in c.text)
        return c.section_path, c.page_start, c.page_end

    assert where("坚持以人民健康为中心") == ("一、总体要求", 1, 1)
    assert where("心血管等临床专科") == ("二、重点任务 > （一）提升核心专科能力", 2, 2)
    # the section begun on page 2 continues on page 3: one chunk, pages 2-3
    assert where("胸痛中心和卒中中心") == ("二、重点任务 > （二）加强急诊急救", 2, 3)
    assert where("创伤中心") == ("二、重点任务 > （二）加强急诊急救", 2, 3)
    assert where("加强组织领导") == ("三、保障措施", 3, 3)
    assert all(c.title == doc.title for c in chunks)


def test_docx_sections(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    path = make_docx(
        tmp_path / "plan.docx",
        [
            ("Title", "关于加强县医院专科建设的通知"),
            "各有关单位：",
            ("Heading 1", "一、总体要求"),
            "坚持以人民健康为中心，提升县域医疗服务能力。",
            ("Heading 1", "二、重点任务"),
            ("Heading 2", "（一）加强专科建设"),
            "重点发展肿瘤、心脑血管、呼吸等专科。",
            ("Heading 3", "1.建设胸痛中心"),
            "胸痛中心要实现与院前急救的信息共享。",
        ],
    )
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [path], show_progress=False)
    assert report.added == 1, report.failures
    (doc,) = kb.documents()
    assert (doc.file_type, doc.title) == ("docx", "关于加强县医院专科建设的通知")
    chunks = kb.document_chunks(doc.doc_id)

    def section(text: str) -> str:
        return next(c.section_path for c in chunks if text in c.text)

    assert section("坚持以人民健康为中心") == "一、总体要求"
    assert section("心脑血管") == "二、重点任务 > （一）加强专科建设"
    assert section("信息共享") == "二、重点任务 > （一）加强专科建设 > 1.建设胸痛中心"
    assert all(c.page_start is None for c in chunks)


def test_wenhao_issuer_and_date_reach_chunks(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    path = write(tmp_path / "notice.txt", NOTICE)
    kb = open_kb(settings, embedder)
    ingest_paths(kb, [path], show_progress=False)
    (doc,) = kb.documents()
    assert doc.title == "国家卫生健康委办公厅关于印发县医院急诊能力提升工作方案的通知"
    assert (doc.wenhao, doc.issuer, doc.date) == ("国卫办医函〔2021〕538号", "国家卫生健康委办公厅", "2021-10-08")
    chunks = kb.document_chunks(doc.doc_id)
    assert len(chunks) >= 2
    for c in chunks:
        assert (c.wenhao, c.issuer, c.date, c.title) == (doc.wenhao, doc.issuer, doc.date, doc.title)
    # the same metadata is in Chroma, filterable (dates as yyyymmdd numbers)
    ids = {c.chunk_id for c in chunks}
    assert kb.filter_ids({"wenhao": "国卫办医函〔2021〕538号"}) == ids
    assert kb.filter_ids({"date_int": {"$gte": 20211001}}) == ids
    assert kb.filter_ids({"date_int": {"$lt": 20211001}}) == set()


def test_failures_are_reported_and_the_rest_ingests(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    write(folder / "good.txt", small_doc("分级诊疗"))
    (folder / "empty.txt").write_bytes(b"")
    (folder / "sheet.xls").write_bytes(b"\xd0\xcf\x11\xe0" + bytes(100))
    seen: list[tuple[str, str]] = []
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [folder, tmp_path / "missing"], show_progress=False, on_file=lambda n, s: seen.append((n, s)))
    assert (report.seen, report.added, report.failed) == (3, 1, 3)
    reasons = {Path(f.path).name: f.reason for f in report.failures}
    assert reasons == {
        "empty.txt": "empty file",
        "sheet.xls": "unsupported file type: .xls",
        "missing": "no such file or folder",
    }
    assert sorted(seen) == [("empty.txt", "failed"), ("good.txt", "added"), ("sheet.xls", "failed")]
    out = report.to_json()
    assert out["files"]["failed"] == 3 and {"path", "reason"} == set(out["failures"][0])


# ------------------------------------------------------------------------------- a long PDF


def test_500_page_pdf_with_progress_and_bounded_memory(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    # one short sentence per page: chunks span several pages, so ~60 chunks to embed
    pages = [f"第{i}段：县医院持续提升综合服务能力。" for i in range(1, 501)]
    path = make_pdf(tmp_path / "long.pdf", pages)
    kb = open_kb(settings, embedder)
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    report = ingest_paths(kb, [path], show_progress=True, console=console)
    seconds = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / (1024 if sys.platform != "darwin" else 1024 * 1024)
    print(f"500 pages -> {report.chunks_added} chunks in {seconds:.1f}s; peak RSS grew {grown_mb:.0f} MB")
    assert (report.added, report.pages, report.failed) == (1, 500, 0)
    assert "500 pages" in out.getvalue()
    assert f"{report.chunks_added} chunks" in out.getvalue()
    assert grown_mb < 1500
    chunks = kb.document_chunks(kb.documents()[0].doc_id)
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 500
    assert all(c.page_start <= c.page_end for c in chunks)
    # every page's sentence is in a chunk whose page range covers that page
    for i in (1, 137, 250, 499, 500):
        assert any(pages[i - 1] in c.text and c.page_start <= i <= c.page_end for c in chunks)
    assert_consistent(kb)


# ------------------------------------------------------------------------------- what a folder may hold


def test_links_fifos_and_stray_nuls(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    """Readable files are ingested (a stray NUL is dropped, a link inside the folder followed); links
    that leave the folder, broken links, loops and FIFOs are failures with reasons, never read."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("关于胸痛中心建设的通知\n一、县医院要建设胸痛中心。", encoding="utf-8")
    (folder / "nul.txt").write_bytes("关于卒中中心建设的通知\n一、县医院要建设卒中\x00中心。".encode())
    (folder / "inside.txt").symlink_to(folder / "good.txt")
    outside = tmp_path / "secret.txt"
    outside.write_text("不应入库的内容：系统口令。", encoding="utf-8")
    (folder / "outside.txt").symlink_to(outside)
    (folder / "broken.txt").symlink_to(folder / "missing.txt")
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    (folder / "linked_dir").symlink_to(tmp_path)
    os.mkfifo(folder / "pipe.txt")
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [folder], show_progress=False)
    reasons = {Path(f.path).name: f.reason for f in report.failures}
    assert set(reasons) == {"outside.txt", "broken.txt", "loop.txt", "linked_dir", "pipe.txt"}
    assert "outside the ingested folder" in reasons["outside.txt"]
    assert "broken symlink" in reasons["broken.txt"] and "loop" in reasons["loop.txt"]
    assert "FIFO" in reasons["pipe.txt"] and "folder" in reasons["linked_dir"]
    assert {n.name for n in kb.names()} == {"good.txt", "nul.txt", "inside.txt"}
    texts = " ".join(c.text for d in kb.documents() for c in kb.document_chunks(d.doc_id))
    assert "卒中中心" in texts and "\x00" not in texts and "系统口令" not in texts
    assert report.failed == 5


# ------------------------------------------------------------------------------- limits and damage


def test_a_file_over_a_limit_fails_and_what_is_stored_stays(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    limited = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"max_chars": 1000, "max_file_mb": 1})})
    folder = tmp_path / "docs"
    write(folder / "big.txt", small_doc("胸痛中心"))
    write(folder / "other.txt", small_doc("卒中中心"))
    kb = open_kb(limited, embedder)
    assert ingest_paths(kb, [folder], show_progress=False).added == 2
    stored = {d.doc_id: [c.chunk_id for c in kb.document_chunks(d.doc_id)] for d in kb.documents()}
    write(folder / "big.txt", small_doc("胸痛中心") + "县医院持续提升综合服务能力。" * 80)  # now over 1,000 characters
    (folder / "huge.txt").write_bytes("县医院。\n".encode() * 120_000)  # 1.5 MB: refused unread
    report = ingest_paths(kb, [folder], show_progress=False)
    reasons = {Path(f.path).name: f.reason for f in report.failures}
    assert reasons == {
        "big.txt": f"{len(small_doc('胸痛中心')) + 14 * 80:,} characters, more than the limit of 1,000 (ingest.max_chars)",
        "huge.txt": "1.5 MB, more than the limit of 1 MB (ingest.max_file_mb)",
    }
    assert (report.failed, report.unchanged, report.chunks_added, report.chunks_removed) == (2, 1, 0, 0)
    # the old big.txt is still stored and whole
    assert {n.name for n in kb.names()} == {"big.txt", "other.txt"}
    assert {d.doc_id: [c.chunk_id for c in kb.document_chunks(d.doc_id)] for d in kb.documents()} == stored
    assert_consistent(kb)


def test_truncated_pdf_is_ingested_with_a_warning(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    import re

    pages = [f"第{i}页\n县医院第{i}项建设任务：胸痛中心、卒中中心按期建成。" for i in range(1, 6)]
    data = make_pdf(tmp_path / "src.pdf", pages).read_bytes()
    objects = [m.start() for m in re.finditer(rb"\d+ 0 obj", data)]
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "cut.pdf").write_bytes(data[: objects[-2]])  # pages 4 and 5 lost
    kb = open_kb(settings, embedder)
    report = ingest_paths(kb, [folder], show_progress=False)
    assert (report.added, report.failed, report.pages) == (1, 0, 5)
    warning = "damaged PDF: pages 4–5 of 5 could not be read; the other pages were ingested"
    assert [(Path(w.path).name, w.reason) for w in report.warnings] == [("cut.pdf", warning)]
    assert report.to_json()["warnings"] == [{"path": str((folder / "cut.pdf").resolve()), "reason": warning}]
    text = " ".join(c.text for d in kb.documents() for c in kb.document_chunks(d.doc_id))
    assert "第3项建设任务" in text and "第4项建设任务" not in text
    logged = [json.loads(line) for line in (settings.data_path / "ingest-log.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(e["level"], e["reason"]) for e in logged] == [("warning", warning)]
    assert_consistent(kb)
