"""Synthetic knowledge bases and the small measuring helpers the benchmark scripts share.

Why this module exists: `retrieval_latency.py` (50k chunks) and `scale.py` (1k-200k chunks) both
need stores far larger than the shipped corpus, and encoding that many chunks would take hours on
2 CPU cores. One synthesiser, imported by both, derives chunks cheaply from the shipped corpus:

  * texts: the corpus is cut into clauses (at ，；：。！？); a synthetic chunk is a run of mostly
    consecutive clauses (a random jump now and then) packed to 150-300 characters, with numbers
    re-drawn and place names swapped for other provinces and cities; 50 chunks make one document.
    Two styles: "notice" (the news articles' clauses, headings like 「二、重点任务 > （一）…」 —
    what retrieval_latency.py has always built) and "regulation" (the 17 regulations' clauses,
    numbered articles 「第二十三条 …」 under chapters taken from the real regulations, titles like
    「河北省医疗废物管理条例」), so that BM25 and the answer-unit code see law-like text;
  * vectors: every distinct clause is embedded once with the real model; a chunk's vector is the
    mean of its clauses' vectors plus Gaussian noise (sigma 0.01 per dimension), L2-normalised. The
    re-drawn numbers and places are not reflected in the vectors;
  * storage: through the product's own write path, `KnowledgeBase.commit_document(..., vectors)`,
    one document per call (tokenised for BM25 and upserted into Chroma as a real ingest does).
The vocabulary is small (one corpus recombined), so BM25 posting lists are longer than in a real
corpus of that size: BM25 timings are pessimistic.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent

CHUNKS_PER_DOC = 50
NOISE_SIGMA = 0.01
SEED = 20240622

_CLAUSE = re.compile(r"[^，,：:；;。！？!?]+[，,：:；;。！？!?]*")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_ARTICLE = re.compile(r"^第[一二三四五六七八九十百零〇]+条[\s\u3000]*")
_CHAPTER = re.compile(r"^##\s*第[一二三四五六七八九十百零〇]+章[\s\u3000]+(.+?)\s*$")
SOURCE_PLACES = ["广西壮族自治区", "广西", "南宁", "自治区", "我区", "驻邕"]
# The regulations' own places, longest first (北京市 before 北京), swapped like the Guangxi ones.
REGULATION_PLACES = SOURCE_PLACES + ["北京市", "上海市", "浙江省", "宁波市", "郑州市", "北京", "上海", "浙江", "宁波", "郑州"]
PLACES = [
    "河北省", "山西省", "辽宁省", "吉林省", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省",
    "河南省", "湖北省", "湖南省", "广东省", "海南省", "四川省", "贵州省", "云南省", "陕西省", "甘肃省",
    "青海省", "内蒙古", "宁夏", "新疆", "西藏", "石家庄", "太原", "沈阳", "长春", "南京", "杭州", "合肥",
    "福州", "南昌", "济南", "郑州", "武汉", "长沙", "广州", "海口", "成都", "贵阳", "昆明", "西安", "兰州",
    "西宁", "呼和浩特", "银川", "乌鲁木齐", "拉萨", "赣州", "遵义", "曲靖", "南充", "洛阳", "襄阳", "岳阳",
    "潍坊", "徐州", "温州", "绵阳", "大理", "喀什", "延边", "黔东南", "恩施", "湘西", "汕头", "宜宾", "毕节",
]
HEADINGS = [
    ["一、总体要求", "（一）指导思想"], ["一、总体要求", "（二）工作目标"], ["二、重点任务", "（一）提升核心专科能力"],
    ["二、重点任务", "（二）加强中心建设"], ["二、重点任务", "（三）提升医疗质量"], ["三、保障措施", "（一）加强组织领导"],
    ["三、保障措施", "（二）强化考核评估"], ["四、工作要求"], ["第二章 建设标准", "第八条"], ["附件 建设指南"], [],
]
TITLES = [
    "县医院综合能力提升工作实施方案", "全面提升医疗质量行动实施方案", "紧密型县域医共体建设工作方案",
    "县级医院重点专科建设指南", "县域医疗卫生服务能力提升工作通知", "“千县工程”工作推进会召开",
    "县医院急诊急救五大中心建设情况通报", "医疗质量管理专项培训班举办",
]


# --------------------------------------------------------------------------- measuring helpers
def _status_mb(field: str, pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of a process now (MiB): psutil when installed, else /proc/PID/status VmRSS."""
    try:
        import psutil  # type: ignore[import-not-found]

        return (psutil.Process() if pid == "self" else psutil.Process(int(pid))).memory_info().rss / 2**20
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - a process that is gone has no RSS
        return float("nan")
    value = _status_mb("VmRSS", pid)
    if value == value or pid != "self":
        return value
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb(pid: int | str = "self") -> float:
    """Peak resident set size of a process so far (MiB, VmHWM)."""
    return _status_mb("VmHWM", pid)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def pct(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 95))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def dev_rows() -> list[dict[str, Any]]:
    path = REPO / "evals/questions/dev.jsonl"
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def load_questions(n: int) -> list[str]:
    """n dev questions: answerable and unanswerable in their dev-set proportion (at least one each)."""
    rows = dev_rows()
    unans = [r["question"] for r in rows if r.get("type") == "unanswerable"]
    ans = [r["question"] for r in rows if r.get("type") != "unanswerable"]
    k = min(len(unans), max(1, round(n * len(unans) / len(rows))))
    picked = ans[: max(0, n - k)] + unans[:k]
    while len(picked) < n:  # more asked than the dev set holds: cycle
        picked.append(rows[len(picked) % len(rows)]["question"])
    return picked[:n]


# --------------------------------------------------------------------------- the synthesiser
def corpus_clauses(patterns: tuple[str, ...] = ("**/*.txt",)) -> list[str]:
    """Distinct clauses (with their trailing punctuation) of the shipped corpus, >= 6 CJK characters.

    The default (the two news articles) is what retrieval_latency.py has always used. Markdown
    regulations lose their headings, comments and leading 「第X条」, which the regulation style
    numbers anew."""
    seen: dict[str, None] = {}
    files = sorted({f for p in patterns for f in (REPO / "corpus").glob(p)})
    for f in files:
        markdown = f.suffix == ".md"
        body = not markdown  # a regulation's adoption lines come before its <!-- INFO END --> marker
        for line in f.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if "\xa0" in line or "  " in line:  # site navigation lines
                continue
            if markdown:
                body = body or line.startswith("<!-- INFO END")
                if not body or line.startswith(("#", "<!--", ">")):
                    continue
                line = _ARTICLE.sub("", line)
            for m in _CLAUSE.finditer(line):
                c = m.group().strip()
                if len(_CJK.findall(c)) >= 6:
                    seen.setdefault(c, None)
    return list(seen)


def regulation_parts() -> tuple[list[str], list[str]]:
    """(title stems, chapter names) of the shipped regulations, places removed from the stems:
    「医疗废物管理条例」, 「北京市院前医疗急救服务条例」 -> 「院前医疗急救服务条例」; 「医疗废物的集中处置」."""
    stems: list[str] = []
    chapters: dict[str, None] = {}
    for f in sorted((REPO / "corpus" / "regulations").glob("*.md")):
        lines = f.read_text(encoding="utf-8").splitlines()
        title = next((line[2:].strip() for line in lines if line.startswith("# ")), "")
        for place in REGULATION_PLACES:
            title = title.removeprefix(place)
        if title:
            stems.append(title.removeprefix("中华人民共和国"))
        for line in lines:
            m = _CHAPTER.match(line.strip())
            if m and m.group(1) not in ("总则", "附则"):
                chapters.setdefault(m.group(1).replace("\u3000", " ").strip(), None)
    return stems, list(chapters)


def _vary(clause: str, rng: random.Random, places: list[str] = SOURCE_PLACES) -> str:
    def number(m: re.Match[str]) -> str:
        s = m.group()
        if len(s) == 4 and s.startswith("20"):
            return str(rng.randint(2016, 2025))
        return str(rng.randint(10 ** (len(s) - 1) if len(s) > 1 else 1, 10 ** len(s) - 1))

    out = re.sub(r"\d+", number, clause)
    for place in places:
        if place in out:
            out = out.replace(place, rng.choice(PLACES))
    return out


def synth_chunks(clauses: list[str], n: int, rng: random.Random,
                 places: list[str] = SOURCE_PLACES) -> list[tuple[str, list[int]]]:
    """n (text, clause indices): runs of mostly consecutive clauses, 150-300 characters."""
    out: list[tuple[str, list[int]]] = []
    for _ in range(n):
        target = rng.randint(150, 300)
        i = rng.randrange(len(clauses))
        parts: list[str] = []
        used: list[int] = []
        size = 0
        while size < target:
            piece = _vary(clauses[i], rng, places)
            if parts and size + len(piece) > 300:
                break
            parts.append(piece)
            used.append(i)
            size += len(piece)
            i = (i + 1) % len(clauses) if rng.random() < 0.75 else rng.randrange(len(clauses))
        text = "".join(parts)
        text = re.sub(r"[，,：:；;]$", "。", text)
        out.append((text[:300], used))
    return out


def _cn(n: int) -> str:
    """2 -> 二, 23 -> 二十三 (article and chapter numbers)."""
    import cn2an

    return cn2an.an2cn(n)


class _RegulationDoc:
    """Titles, chapters and article numbers of one synthetic regulation (50 articles)."""

    def __init__(self, rng: random.Random, stems: list[str], chapters: list[str]):
        self.rng, self.chapters = rng, chapters
        self.place = rng.choice(PLACES)
        self.title = f"{self.place}{rng.choice(stems)}{rng.choice(['', '', '实施办法', '实施细则'])}"
        self.chapter, self.chapter_name, self.left = 1, "总则", rng.randint(3, 8)
        self.article = 0

    def next_article(self) -> tuple[str, str]:
        """(article label, section path) of the next article, opening a new chapter now and then."""
        if self.left == 0:
            self.chapter += 1
            self.chapter_name = self.rng.choice(self.chapters)
            self.left = self.rng.randint(4, 12)
        self.left -= 1
        self.article += 1
        label = f"第{_cn(self.article)}条"
        return label, f"第{_cn(self.chapter)}章 {self.chapter_name} > {label}"


def build_synthetic(
    kb: Any,
    n_chunks: int,
    *,
    style: str = "notice",
    clause_vecs: Callable[[list[str]], np.ndarray] | None = None,
    doc_seconds: list[float] | None = None,
) -> dict[str, Any]:
    """Fill `kb` with n_chunks synthetic chunks (see the module doc); returns build facts and timings.

    `clause_vecs` embeds the clause pool (default: `kb.embed_passages`, cached in that store);
    `doc_seconds`, when given, receives each commit_document call's duration, so a caller can see
    whether writing slows down as the store grows."""
    from ingest.chunking import chunking_fingerprint
    from ingest.documents import Chunk, DocMeta, LoadedDocument, Page

    if style not in ("notice", "regulation"):
        raise ValueError(f"unknown style {style!r}")
    regulation = style == "regulation"
    places = REGULATION_PLACES if regulation else SOURCE_PLACES
    rng = random.Random(SEED)
    nrng = np.random.default_rng(SEED)
    t_all = time.perf_counter()
    clauses = corpus_clauses(("regulations/*.md",) if regulation else ("**/*.txt",))
    stems, chapter_names = regulation_parts() if regulation else ([], [])
    t0 = time.perf_counter()
    pool = (clause_vecs or kb.embed_passages)(clauses)
    embed_s = time.perf_counter() - t0
    # The notice style draws all texts first (the order retrieval_latency.py's stores were built in);
    # the regulation style draws them per document, so a 200k build does not hold them all at once.
    t0 = time.perf_counter()
    upfront = None if regulation else synth_chunks(clauses, n_chunks, rng, places)
    texts_s = time.perf_counter() - t0
    fingerprint = chunking_fingerprint(kb.settings.chunking)
    commit_s = vectors_s = 0.0
    n_docs = -(-n_chunks // CHUNKS_PER_DOC)
    for d in range(n_docs):
        if upfront is not None:
            part = upfront[d * CHUNKS_PER_DOC : (d + 1) * CHUNKS_PER_DOC]
        else:
            t0 = time.perf_counter()
            part = synth_chunks(clauses, min(CHUNKS_PER_DOC, n_chunks - d * CHUNKS_PER_DOC), rng, places)
            texts_s += time.perf_counter() - t0
        doc_id = hashlib.sha256(f"qianxian-bench-synthetic-{SEED}-{d}".encode()).hexdigest()
        reg = _RegulationDoc(rng, stems, chapter_names) if regulation else None
        if reg is not None:
            year = rng.randint(2016, 2025)
            meta = DocMeta(title=reg.title, wenhao=None, issuer=f"{reg.place}人民代表大会常务委员会",
                           date=f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", doc_type="policy")
            name = f"synthetic/{d:06d}.md"
        else:
            place = rng.choice(PLACES)
            year = rng.randint(2016, 2025)
            doc_type = rng.choice(["policy", "news"])
            meta = DocMeta(
                title=f"{place}{rng.choice(TITLES)}",
                wenhao=f"{place[:2]}卫医发〔{year}〕{rng.randint(1, 99)}号" if doc_type == "policy" else None,
                issuer=f"{place}卫生健康委员会",
                date=f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                doc_type=doc_type,
            )
            name = f"synthetic/{d:05d}.txt"
        t0 = time.perf_counter()
        labelled: list[tuple[str, str, list[int]]] = []
        for text, used in part:
            if reg is not None:
                label, path = reg.next_article()
                labelled.append((f"{label}　{text}", path, used))
            else:
                labelled.append((text, " > ".join(rng.choice(HEADINGS)), used))
        doc = LoadedDocument(doc_id, name, "md" if regulation else "txt",
                             [Page(None, "\n".join(t for t, _, _ in labelled))], meta)
        chunks: list[Chunk] = []
        vectors = np.empty((len(part), pool.shape[1]), dtype=np.float32)
        offset = 0
        for o, (text, path, used) in enumerate(labelled):
            chunks.append(
                Chunk(
                    chunk_id=f"{doc_id[:32]}-{o:05d}", doc_id=doc_id, doc=name, ordinal=o, text=text,
                    title=meta.title, section_path=path, page_start=None,
                    page_end=None, char_start=offset, char_end=offset + len(text), wenhao=meta.wenhao,
                    issuer=meta.issuer, date=meta.date, doc_type=meta.doc_type,
                )
            )
            offset += len(text) + 1
            v = pool[used].mean(axis=0) + nrng.normal(0.0, NOISE_SIGMA, pool.shape[1])
            vectors[o] = v / np.linalg.norm(v)
        vectors_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        kb.commit_document(name, doc, chunks, vectors, chunking=fingerprint)
        took = time.perf_counter() - t0
        commit_s += took
        if doc_seconds is not None:
            doc_seconds.append(took)
        if (d + 1) % 100 == 0:
            log(f"  synthetic: {d + 1}/{n_docs} documents, {commit_s:.0f}s in commit_document")
    return {
        "chunks": n_chunks, "docs": n_docs, "clauses": len(clauses), "seed": SEED, "style": style,
        "model_id": kb.embedder.model_id, "clause_embed_s": round(embed_s, 1), "commit_s": round(commit_s, 1),
        "texts_s": round(texts_s, 1), "vectors_s": round(vectors_s, 1),
        "total_s": round(time.perf_counter() - t_all, 1),
    }
