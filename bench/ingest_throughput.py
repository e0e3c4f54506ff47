"""Ingest throughput: our pipeline against the raw encoder and a plain llama-index ingest.

One run, the same files for all three:

- the shipped corpus (`corpus/`, with its manifest) plus generated policy-like PDFs (headings
  一、/（一）/1., several pages each; `--pages` sets their total page count);
1. raw encoder: `Embedder.embed_passages` on exactly the texts our pipeline embeds (each chunk's
   section path + text, as `KnowledgeBase.index_text` builds them) — the ceiling for ingest speed;
2. ours: `ingest_paths` into a fresh temporary data dir (so the embedding cache is empty): loading,
   chunking, embedding, Chroma upserts, the SQLite manifest, the BM25 index;
3. llama-index: `VectorStoreIndex.from_documents` with its default `SentenceSplitter` and an
   in-memory vector store, `HuggingFaceEmbedding` on the same local model folder with the e5
   prefixes, `Settings.llm = None`. Its documents are our loaders' page texts, so text extraction
   is not part of its time (it is part of ours; the load time is printed separately).

The model is loaded before any timer starts and warmed up once. Nothing is downloaded.

    .venv/bin/python bench/ingest_throughput.py [--pages 36] [--pages-per-doc 4] [--skip-llamaindex]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # docgen: real PDFs with Chinese text

from settings import configure_offline, load_settings  # noqa: E402

configure_offline()

TOPICS = [
    ("胸痛中心", "急性胸痛患者", "心电图"),
    ("卒中中心", "急性脑卒中患者", "溶栓"),
    ("创伤中心", "严重创伤患者", "多学科救治"),
    ("危重孕产妇救治中心", "危重孕产妇", "产科急救"),
    ("危重新生儿救治中心", "危重新生儿", "转运"),
    ("肿瘤防治中心", "肿瘤患者", "多学科诊疗"),
    ("慢病管理中心", "慢性病患者", "随访"),
    ("微创介入中心", "适宜患者", "介入手术"),
    ("麻醉疼痛诊疗中心", "疼痛患者", "镇痛"),
    ("重症监护中心", "重症患者", "床位配置"),
]


def policy_pages(index: int, n_pages: int) -> list[str]:
    """A policy-style document: title, 文号, nested headings, body sentences, signature."""
    center, patients, tech = TOPICS[index % len(TOPICS)]
    year = 2021 + index % 4
    pages: list[str] = []
    for p in range(n_pages):
        lines: list[str] = []
        if p == 0:
            lines += [
                f"关于加强县医院{center}建设的通知（第{index + 1}号）",
                f"国卫办医函〔{year}〕{300 + index}号",
                "各省、自治区、直辖市卫生健康委：",
                f"为提升县医院对{patients}的救治能力，推进{center}规范化建设，现就有关事项通知如下。",
            ]
        section = "一二三四五六七八九十"[p % 10]
        lines.append(f"{section}、第{p + 1}部分重点任务")
        for sub in range(2):
            sub_no = "一二三"[sub]
            lines.append(f"（{sub_no}）加强{center}第{p + 1}.{sub + 1}项能力建设")
            for k in range(1, 3):
                lines.append(
                    f"{k}.县医院要围绕{patients}的救治需求，完善{tech}相关流程，"
                    f"到{year + 2}年底前实现第{p + 1}{sub + 1}{k}项指标达标。"
                    f"各地要定期开展评估，及时通报进展情况。"
                )
        if p == n_pages - 1:
            lines += ["国家卫生健康委办公厅", f"{year}年{(index % 12) + 1}月{(index % 27) + 1}日"]
        pages.append("\n".join(lines))
    return pages


def build_files(root: Path, total_pages: int, per_doc: int) -> list[Path]:
    from docgen import make_pdf

    shutil.copytree(REPO / "corpus", root / "corpus")
    gen = root / "generated"
    gen.mkdir()
    index = 0
    left = total_pages
    while left > 0:
        n = min(per_doc, left)
        make_pdf(gen / f"policy_{index:03d}.pdf", policy_pages(index, n), title=f"县医院{TOPICS[index % len(TOPICS)][0]}建设通知")
        left -= n
        index += 1
    return [root / "corpus", gen]


def loaded_documents(paths: list[Path]):
    """(name, LoadedDocument) for every document file under `paths`, with manifest metadata."""
    from ingest.loaders import load_file
    from ingest.pipeline import _apply_manifest, discover, read_manifest

    files, _ = discover(paths)
    manifests = {root: read_manifest(root)[0] for root in {f.root for f in files if f.root}}
    out = []
    for f in files:
        doc = load_file(f.path, f.name)
        _apply_manifest(doc, manifests.get(f.root, {}).get(f.name))
        out.append(doc)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=36, help="total pages of generated PDFs (default 36)")
    parser.add_argument("--pages-per-doc", type=int, default=4, help="pages per generated PDF (default 4)")
    parser.add_argument("--skip-llamaindex", action="store_true")
    args = parser.parse_args()
    print("$ " + " ".join([Path(sys.executable).name, *sys.argv]))

    import torch

    from ingest.chunking import chunk_document
    from ingest.embeddings import Embedder
    from ingest.knowledge_base import KnowledgeBase
    from ingest.pipeline import ingest_paths

    work = Path(tempfile.mkdtemp(prefix="qianxian-bench-ingest-"))
    try:
        paths = build_files(work / "files", args.pages, args.pages_per_doc)
        settings = load_settings(overrides={"data_dir": work / "data"})
        t0 = time.perf_counter()
        embedder = Embedder.from_settings(settings)
        print(f"model: {embedder.model_id} (loaded in {time.perf_counter() - t0:.1f}s), "
              f"torch threads: {torch.get_num_threads()}, cores: {os.cpu_count()}")
        embedder.embed_passages(["预热：县医院综合能力提升。"] * 4)  # warm-up, untimed

        # the exact texts our pipeline embeds
        t0 = time.perf_counter()
        docs = loaded_documents(paths)
        load_s = time.perf_counter() - t0
        probe = KnowledgeBase(settings.model_copy(update={"data_dir": work / "probe"}), embedder)
        texts = [probe.index_text(c) for d in docs for c in chunk_document(d, settings.chunking)]
        probe.close()
        n_pages = sum(len(d.pages) for d in docs)
        n_files = len(docs)
        print(f"files: {n_files} ({n_pages} pages), our chunks: {len(texts)}, "
              f"mean embedded chars: {sum(map(len, texts)) / len(texts):.0f}; loading all files: {load_s:.2f}s")

        rows: list[tuple[str, int, int, float]] = []

        # 1. raw encoder
        t0 = time.perf_counter()
        embedder.embed_passages(texts)
        rows.append(("raw encoder (our chunk texts)", n_pages, len(texts), time.perf_counter() - t0))

        # 2. our pipeline, fresh data dir: empty embedding cache
        kb = KnowledgeBase(settings, embedder)
        t0 = time.perf_counter()
        report = ingest_paths(kb, paths, show_progress=False)
        ours_s = time.perf_counter() - t0
        assert report.failed == 0, report.failures
        assert report.chunks_added == len(texts), (report.chunks_added, len(texts))
        rows.append(("ours: ingest_paths (empty cache)", report.pages, report.chunks_added, ours_s))
        kb.close()

        # 3. plain llama-index
        if not args.skip_llamaindex:
            from llama_index.core import Document, Settings, VectorStoreIndex
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            Settings.llm = None
            hf = HuggingFaceEmbedding(
                model_name=str(embedder.info.path),
                text_instruction="passage: ",
                query_instruction="query: ",
                device="cpu",
            )
            hf.get_text_embedding_batch(["预热：县医院综合能力提升。"] * 4)  # warm-up, untimed
            li_docs = [
                Document(text=p.text, metadata={"file_name": d.doc, "page": p.number or 1})
                for d in docs
                for p in d.pages
                if p.text.strip()
            ]
            t0 = time.perf_counter()
            index = VectorStoreIndex.from_documents(li_docs, embed_model=hf)
            li_s = time.perf_counter() - t0
            rows.append(("llama-index VectorStoreIndex", n_pages, len(index.docstore.docs), li_s))

        print()
        print(f"{'system':34} {'pages':>6} {'chunks':>7} {'seconds':>8} {'pages/s':>8} {'chunks/s':>9}")
        for name, pages, chunks, seconds in rows:
            print(f"{name:34} {pages:6d} {chunks:7d} {seconds:8.2f} {pages / seconds:8.2f} {chunks / seconds:9.2f}")
        raw = rows[0]
        ours = rows[1]
        print()
        print(f"ours vs raw encoder: {ours[2] / ours[3] / (raw[2] / raw[3]):.2f}x the chunks/s "
              f"(pipeline overhead {100 * (ours[3] - raw[3]) / ours[3]:.0f}% of ingest time, loading included)")
        if len(rows) > 2:
            li = rows[2]
            print(f"ours vs llama-index: {ours[1] / ours[3] / (li[1] / li[3]):.2f}x the pages/s, "
                  f"{ours[2] / ours[3] / (li[2] / li[3]):.2f}x the chunks/s "
                  f"(llama-index cuts {li[2]} chunks of up to 1024 tokens; we cut {ours[2]} of up to "
                  f"{settings.chunking.max_chars} characters)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
