"""Is a faster variant of the embedding model worth offering?  (A script, not a test.)

    .venv/bin/python bench/quantization.py [--passages 100] [--chars 300] [--batch 32]

Compares, on ~100 Chinese passages of ~300 characters sliced from corpus/ and 20 questions:
  * float32 sentence-transformers (the product's default),
  * torch dynamic int8 (quantize_dynamic over every nn.Linear, on a fresh load),
  * ONNX float32 through onnxruntime, only if onnxruntime is importable (it is not a dependency).
For each: load time, passages/s, median single-query latency, and min/mean cosine to float32.
A variant is offered only if its min cosine >= 0.99 AND it is >=10% faster than float32
(passages/s or single-query latency).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from settings import configure_offline, load_settings  # noqa: E402

configure_offline()
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bars in the table

import numpy as np  # noqa: E402

MIN_COSINE = 0.99
FASTER = 1.10  # a >=10% gain in passages/s or in single-query latency, beyond timing noise
QUERIES = [
    "“千县工程”县医院综合能力提升工作方案是哪一年印发的？",
    "广西有多少家医院纳入了千县工程？",
    "县域医院综合能力提升项目医学专科交流会在哪里召开？",
    "交流会由哪个单位主办？",
    "县医院20大中心建设指南包括哪些内容？",
    "紧密型县域医共体建设的目标是什么？",
    "参加交流会的有多少人？",
    "会议讨论了哪些议题？",
    "全面提升医疗质量行动的时间范围是什么？",
    "高级研修班由哪家医院承办？",
    "国家区域医疗中心建设如何助推医疗质量提升？",
    "研修班在什么时间举办？",
    "医疗质量管理有哪些核心制度？",
    "县医院如何提升肿瘤防治能力？",
    "重症监护和麻醉疼痛方面有什么要求？",
    "公立医院高质量发展的重点是什么？",
    "病理诊断中心建设的意义是什么？",
    "医院运营管理应当如何加强？",
    "专家在会上作了哪些报告？",
    "如何巩固县医院综合能力建设的成果？",
]


def make_passages(n: int, chars: int) -> list[str]:
    """n windows of `chars` characters, evenly spread over the concatenated corpus text."""
    files = sorted((REPO / "corpus").rglob("*.txt"))
    text = "".join(re.sub(r"\s+", "", f.read_text(encoding="utf-8")) for f in files)
    if len(text) < chars:
        raise SystemExit("not enough corpus text under corpus/")
    # A small corpus is repeated so that neighbouring windows overlap by at most ~3/4.
    text = text * max(1, -(-n * chars // (4 * len(text))))
    stride = max(1, (len(text) - chars) // max(1, n - 1))
    return [text[i * stride : i * stride + chars] for i in range(n)]


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


class Variant:
    name: str
    load_s: float

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:  # L2-normalised float32
        raise NotImplementedError


class STVariant(Variant):
    def __init__(self, name: str, path: Path, int8: bool = False) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.load_s, self.model = timed(
            lambda: SentenceTransformer(str(path), device="cpu", local_files_only=True))
        if int8:
            import torch
            from torch import nn

            with warnings.catch_warnings():  # torch.ao's "migrate to torchao" deprecation notice
                warnings.simplefilter("ignore")
                quant_s, _ = timed(lambda: torch.ao.quantization.quantize_dynamic(
                    self.model, {nn.Linear}, dtype=torch.qint8, inplace=True))
            self.load_s += quant_s
            self.name += f" (+{quant_s:.1f}s quantize)"

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = self.model.encode(texts, batch_size=batch_size, show_progress_bar=False,
                                convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(out, dtype=np.float32)


class ONNXVariant(Variant):
    """torch.onnx.export of the transformer, onnxruntime session, mean pooling in numpy."""

    def __init__(self, name: str, path: Path, workdir: Path) -> None:
        import onnxruntime as ort
        import torch
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        auto_model = st[0].auto_model.eval()

        class Encoder(torch.nn.Module):  # keyword call: transformers 5's forward takes extra positionals
            def __init__(self) -> None:
                super().__init__()
                self.inner = auto_model

            def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        bert = Encoder().eval()
        self.tokenizer = st.tokenizer
        self.max_len = st.max_seq_length
        onnx_path = workdir / "model.onnx"
        sample = self.tokenizer(["passage: 样例"], return_tensors="pt")
        export_s, _ = timed(lambda: torch.onnx.export(
            bert, (sample["input_ids"], sample["attention_mask"]), str(onnx_path),
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={k: {0: "batch", 1: "seq"}
                          for k in ("input_ids", "attention_mask", "last_hidden_state")},
            opset_version=17, dynamo=False,
        ))
        del st, bert, auto_model
        self.name = f"{name} (+{export_s:.1f}s export)"
        self.load_s, self.session = timed(
            lambda: ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]))

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            enc = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True,
                                 max_length=self.max_len, return_tensors="np")
            ids, mask = enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            m = mask[..., None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
            out.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
        return np.concatenate(out).astype(np.float32)


def measure(v: Variant, passages: list[str], queries: list[str], batch: int, repeats: int) -> dict[str, object]:
    """Best of `repeats` rounds (this VM's CPU time is shared: the best round is the least disturbed)."""
    v.encode(passages[:2], batch)  # warm-up
    v.encode(queries[:1], 1)
    best_pps, best_ms = 0.0, float("inf")
    for _ in range(repeats):
        p_s, p_emb = timed(lambda: v.encode(passages, batch))
        lat, q_emb = [], []
        for q in queries:
            s, e = timed(lambda q=q: v.encode([q], 1))
            lat.append(s)
            q_emb.append(e[0])
        best_pps = max(best_pps, len(passages) / p_s)
        best_ms = min(best_ms, 1000 * statistics.median(lat))
    return {"passages_per_s": best_pps, "query_ms": best_ms, "P": p_emb, "Q": np.stack(q_emb)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=100)
    ap.add_argument("--chars", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2, help="timing rounds per variant; the best is kept")
    args = ap.parse_args()

    import torch

    from ingest.embeddings import resolve_model

    settings = load_settings()
    if settings.embedding.threads:
        torch.set_num_threads(settings.embedding.threads)
    info = resolve_model(settings)
    qp, pp = settings.embedding.query_prefix, settings.embedding.passage_prefix
    passages = [pp + p for p in make_passages(args.passages, args.chars)]
    queries = [qp + q for q in QUERIES]
    print(f"model: {info.name}  [{info.path}]")
    print(f"data: {len(passages)} passages of {args.chars} chars, {len(queries)} queries; batch {args.batch}; "
          f"best of {args.repeats}; torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus")

    base = STVariant("float32 (sentence-transformers)", info.path)
    ref = measure(base, passages, queries, args.batch, args.repeats)
    rows = [(base.name, base.load_s, ref, None)]
    del base

    variants: list[Callable[[], Variant]] = [lambda: STVariant("torch dynamic int8", info.path, int8=True)]
    missing = [mod for mod in ("onnxruntime", "onnx") if importlib.util.find_spec(mod) is None]
    onnx_dir = None
    if missing:  # torch.onnx.export needs `onnx`; inference needs `onnxruntime`
        print(f"{' and '.join(missing)} not installed: skipped the ONNX variant")
    else:
        onnx_dir = tempfile.TemporaryDirectory(prefix="qianxian-onnx-")
        variants.append(lambda: ONNXVariant("ONNX float32 (onnxruntime)", info.path, Path(onnx_dir.name)))

    for make in variants:
        v = make()
        r = measure(v, passages, queries, args.batch, args.repeats)
        cos = np.concatenate([(r["P"] * ref["P"]).sum(1), (r["Q"] * ref["Q"]).sum(1)])
        rows.append((v.name, v.load_s, r, (float(cos.min()), float(cos.mean()))))
        del v
    if onnx_dir is not None:
        onnx_dir.cleanup()

    print()
    print(f"{'variant':44} {'load s':>7} {'pass/s':>7} {'q ms':>7} {'speed×':>7} {'q-lat×':>7} "
          f"{'cos min':>8} {'cos mean':>8}")
    offered = []
    for name, load_s, r, cos in rows:
        speed = r["passages_per_s"] / ref["passages_per_s"]
        qlat = ref["query_ms"] / r["query_ms"]
        cmin, cmean = cos if cos else (1.0, 1.0)
        print(f"{name:44} {load_s:7.2f} {r['passages_per_s']:7.2f} {r['query_ms']:7.1f} {speed:7.2f} "
              f"{qlat:7.2f} {cmin:8.5f} {cmean:8.5f}")
        if cos is not None and cmin >= MIN_COSINE and (speed >= FASTER or qlat >= FASTER):
            offered.append(f"{name} (passages ×{speed:.2f}, query ×{qlat:.2f})")
    print()
    if offered:
        print("verdict: offer " + "; ".join(offered) + f" — min cosine >= {MIN_COSINE} and >=10% faster than float32")
    else:
        print(f"verdict: keep float32 — no variant has min cosine >= {MIN_COSINE} and is >=10% faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
