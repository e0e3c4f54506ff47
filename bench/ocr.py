"""OCR of scanned pages: character accuracy, pages per minute, answer quality, a 100-page scan.

Scans are made from the shipped corpus: regulation text printed in Noto Serif CJK SC at 12 pt on A4
(tests/docgen.py `render_scan`, 40 characters a row, first rows indented) at 150 and 300 dpi and
saved as image-only PDFs; the product reads them through `load_file` (pypdfium2 renders each page at
ingest.ocr_dpi, RapidOCR recognises it, rows are joined back into paragraphs).

1. accuracy: 1 - (edit distance / reference length) over the page text, both NFKC-normalised with
   all whitespace removed (as INTERFACES.md compares quotes); pages per minute from the same runs.
2. answers: test questions whose evidence is one regulation article; each regulation's asked
   articles (with their neighbours as distractors) made into a text PDF and a scanned PDF, each set
   ingested into its own knowledge base, the same questions asked; key-fact recall compared.
3. a 100-page scanned PDF ingested by `qianxian ingest` in a child process: its progress bar (pages)
   and its resident memory sampled every 0.5 s (bounded: pages are rendered and OCR'd one at a time).

    .venv/bin/python bench/ocr.py [--accuracy-pages 4] [--questions 10] [--big-pages 100] [--skip ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from docgen import make_image_pdf, make_pdf, paginate, render_scan  # noqa: E402

from settings import configure_offline, load_settings  # noqa: E402

configure_offline()
CORPUS = REPO / "corpus"
SOURCES = [
    "regulations/医疗废物管理条例(2011-01-08).md",
    "regulations/献血法(1997-12-29).md",
    "regulations/北京市医院安全秩序管理规定(2020-06-05).md",
    "regulations/上海市急救医疗服务条例(2020-05-14).md",
]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one row at a time (pages are ~1,500 characters)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def body_paragraphs(rel: str) -> list[str]:
    """A regulation's article lines (front matter and markdown headings left out)."""
    text = (CORPUS / rel).read_text(encoding="utf-8")
    if "<!-- INFO END -->" in text:
        text = text.split("<!-- INFO END -->", 1)[1]
    out = []
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line and not line.startswith("<!--"):
            out.append(re.sub(r"\s+", " ", line))
    return out


def accuracy(pages_per_source: int, dpis: list[int]) -> None:
    from ingest.loaders import load_file

    print(f"\n## 1. character accuracy ({len(SOURCES)} regulations x {pages_per_source} full A4 pages, ingest.ocr_dpi="
          f"{load_settings().ingest.ocr_dpi})\n")
    print("| scan dpi | pages | characters | accuracy (mean) | worst page | seconds/page | pages/min |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for dpi in dpis:
            refs, accs, seconds = 0, [], 0.0
            errors = 0
            for rel in SOURCES:
                pages = paginate(body_paragraphs(rel)[2:])[:pages_per_source]
                for k, paras in enumerate(pages):
                    image, drawn = render_scan(paras, dpi)
                    pdf = make_image_pdf(Path(tmp) / f"p{dpi}-{k}.pdf", [image], dpi)
                    t0 = time.perf_counter()
                    got = load_file(pdf, pdf.name).pages[0].text
                    seconds += time.perf_counter() - t0
                    ref = squash("".join(drawn))
                    dist = edit_distance(ref, squash(got))
                    refs += len(ref)
                    errors += dist
                    accs.append(1 - dist / len(ref))
            n = len(accs)
            print(f"| {dpi} | {n} | {refs:,} | {1 - errors / refs:.4f} ({sum(accs) / n:.4f}) | {min(accs):.4f} | "
                  f"{seconds / n:.1f} | {60 * n / seconds:.1f} |", flush=True)


def _article_paragraphs(rel: str, quote: str) -> list[str] | None:
    """The article holding `quote` with the article before and after it (distractors), as paragraphs."""
    paras = body_paragraphs(rel)
    starts = [i for i, p in enumerate(paras) if re.match(r"^第[一二三四五六七八九十百零〇\d]+条", p)]
    key = squash(quote)
    for n, s in enumerate(starts):
        e = starts[n + 1] if n + 1 < len(starts) else len(paras)
        if key in squash("".join(paras[s:e])):
            lo = starts[max(n - 1, 0)]
            hi = starts[n + 2] if n + 2 < len(starts) else len(paras)
            return paras[lo:hi]
    return None


def answers(max_questions: int, dpi: int) -> None:
    from assistant.assistant import Assistant
    from evals.metrics import score_question
    from ingest.embeddings import Embedder

    questions = [json.loads(line) for line in (REPO / "evals/questions/test.jsonl").read_text().splitlines() if line.strip()]
    chosen: list[tuple[dict, str, list[str]]] = []
    for q in questions:
        ev = q.get("evidence") or []
        if q.get("history") or not q.get("key_facts") or len(ev) != 1 or not ev[0]["doc"].startswith("regulations/"):
            continue
        paras = _article_paragraphs(ev[0]["doc"], ev[0]["quote"])
        if paras and sum(len(p) for p in paras) < 2500:
            chosen.append((q, ev[0]["doc"], paras))
        if len(chosen) >= max_questions:
            break
    by_doc: dict[str, list[str]] = {}
    for _, doc, paras in chosen:
        merged = by_doc.setdefault(doc, [Path(doc).stem.split("(")[0]])
        merged.extend(p for p in paras if p not in merged)
    print(f"\n## 2. answer quality: {len(chosen)} test questions, {len(by_doc)} regulations, scanned at {dpi} dpi\n")
    base = load_settings()
    embedder = Embedder.from_settings(base)
    recalls: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for version in ("text", "scan"):
            folder = Path(tmp) / version / "regulations"
            folder.mkdir(parents=True)
            pages_total, t0 = 0, time.perf_counter()
            for doc, paras in by_doc.items():
                pages = paginate(paras)
                pages_total += len(pages)
                target = folder / f"{Path(doc).stem}.pdf"
                if version == "text":
                    make_pdf(target, ["\n".join(p) for p in pages], wrap=40)
                else:
                    make_image_pdf(target, [render_scan(p, dpi)[0] for p in pages], dpi)
            settings = base.model_copy(update={"data_dir": Path(tmp) / f"data-{version}"})
            assistant = Assistant.from_settings(settings, embedder=embedder)
            report = assistant.add_documents([folder.parent])
            ingest_s = time.perf_counter() - t0
            scores = []
            for q, doc, _ in chosen:
                answer = assistant.ask(q["question"]).to_json()
                pdf_q = {**q, "evidence": [{**q["evidence"][0], "doc": f"regulations/{Path(doc).stem}.pdf"}]}
                scores.append(score_question(pdf_q, answer))
            recalls[version] = [s["key_fact_recall"] for s in scores]
            hit = sum(bool(s["hit@5"]) for s in scores) / len(scores)
            print(f"- {version}: {pages_total} pages, ingest {ingest_s:.0f} s ({report.failed} failed), key-fact recall "
                  f"{sum(recalls[version]) / len(scores):.3f}, hit@5 {hit:.3f}", flush=True)
    diff = (sum(recalls["scan"]) - sum(recalls["text"])) / len(chosen)
    worse = [q["id"] for (q, _, _), a, b in zip(chosen, recalls["text"], recalls["scan"]) if b < a]
    print(f"- scan minus text key-fact recall: {diff:+.3f} (bar: within 0.05); questions worse on the scan: {worse or 'none'}")


def _first_rows(paragraphs: list[str], rows: int) -> list[str]:
    from docgen import scan_lines

    out: list[str] = []
    for para in paragraphs:
        if len(scan_lines(out + [para])) > rows:
            break
        out.append(para)
    return out or paragraphs[:1]


_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


_PAGES_RE = re.compile(r"(\d+)/(\d+) pages")


def _pages_done(log: Path, total: int) -> int:
    """The pages bar's count in the child's stderr so far (0 before its first page)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(max(fh.seek(0, 2) - 4096, 0))
            tail = _ANSI_RE.sub("", fh.read().decode("utf-8", errors="replace"))
    except OSError:
        return 0
    found = [int(a) for a, b in _PAGES_RE.findall(tail) if int(b) == total]
    return found[-1] if found else 0


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def big_scan(pages: int, dpi: int, rows: int | None) -> None:
    size = f"{rows} printed rows a page" if rows else "full pages"
    print(f"\n## 3. a {pages}-page scanned PDF ({dpi} dpi, image-only, {size}) through `qianxian ingest`\n")
    paragraphs: list[str] = []
    for rel in SOURCES:
        paragraphs.extend(body_paragraphs(rel)[2:])
    layout = paginate(paragraphs)
    if rows:  # a shorter page (a notice's last page, a form) OCRs faster: the 100 pages then fit a session
        layout = [_first_rows(page, rows) for page in layout]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scans"
        folder.mkdir()
        pdf = folder / "扫描件100页.pdf"
        images = (render_scan(layout[i % len(layout)], dpi)[0] for i in range(pages))  # one page in memory at a time
        first = next(images)
        first.save(str(pdf), "PDF", resolution=float(dpi), save_all=True, append_images=images)
        print(f"- file: {pdf.stat().st_size / 1048576:.1f} MB, {pages} pages")
        # rich draws its live bars only on a terminal: told it is one, its frames land in the log
        env = {**os.environ, "QIANXIAN_DATA_DIR": str(Path(tmp) / "data"), "COLUMNS": "140",
               "TTY_INTERACTIVE": "1", "TTY_COMPATIBLE": "1"}
        log = Path(tmp) / "stderr.txt"
        t0 = time.perf_counter()
        with open(log, "w") as err:
            # (no --json: it turns the progress display off)
            child = subprocess.Popen([str(REPO / ".venv/bin/qianxian"), "ingest", str(folder)],
                                     stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            samples: list[tuple[int, int]] = []  # (pages done so far by the bar, RSS kB)
            while child.poll() is None:
                rss = _rss_kb(child.pid)
                if rss:
                    samples.append((_pages_done(log, pages), rss))
                time.sleep(0.5)
            out = child.stdout.read() if child.stdout else ""
        seconds = time.perf_counter() - t0
        frames = _ANSI_RE.sub("", log.read_text(errors="replace")).replace("\r", "\n").splitlines()
        bar = [line.strip() for line in frames if re.search(r"\d+/\d+", line) and "扫描件" in line]
        files = [line.strip() for line in frames if line.strip().startswith("ingest") and "files" in line]
        print(f"- exit {child.returncode}, {seconds:.0f} s, {60 * pages / seconds:.1f} pages/min (model load and embedding "
              f"included); stdout: {' '.join(out.split())[:200]}")
        if samples:
            def at(lo: int, hi: int) -> str:
                values = [r for done, r in samples if lo <= done < hi]
                return f"{max(values) / 1024:.0f}" if values else "-"

            marks = [(1, 11), (11, 51), (51, pages), (pages, pages + 1)]
            parts = ", ".join(f"pages {lo}-{min(hi, pages + 1) - 1}: {at(lo, hi)}" for lo, hi in marks[:-1])
            print(f"- resident memory, highest while OCR was on (MB): {parts}; after the last page (embedding, "
                  f"BM25, commit): {at(pages, pages + 1)}; peak {max(r for _, r in samples) / 1024:.0f}")
        for line in (bar[len(bar) // 10], bar[-1]) if bar else []:
            print(f"- pages bar: `{' '.join(line.split())}`")
        if files:
            print(f"- files bar at the end: `{' '.join(files[-1].split())}`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accuracy-pages", type=int, default=2, help="full pages per regulation (4 regulations)")
    parser.add_argument("--dpis", default="150,300")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--answer-dpi", type=int, default=300)
    parser.add_argument("--big-pages", type=int, default=100)
    parser.add_argument("--big-dpi", type=int, default=200)
    parser.add_argument("--big-rows", type=int, default=0, help="printed rows per page of the big scan (0: full pages)")
    parser.add_argument("--skip", default="", help="comma list of accuracy,answers,big")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(f"command: .venv/bin/python bench/ocr.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    if "accuracy" not in skip:
        accuracy(args.accuracy_pages, [int(d) for d in args.dpis.split(",")])
    if "answers" not in skip:
        answers(args.questions, args.answer_dpi)
    if "big" not in skip:
        big_scan(args.big_pages, args.big_dpi, args.big_rows or None)


if __name__ == "__main__":
    main()
