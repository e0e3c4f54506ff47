"""Chinese BM25: our own tokens (jieba words with domain terms kept whole, character bigrams).

llama-index's BM25 retriever applies an English regex and stemmer that turns a run of Chinese
characters into one token, so we tokenize ourselves and index with bm25s, persisted next to the
Chroma store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import unicodedata
from importlib import resources
from collections.abc import Iterable
from pathlib import Path

import bm25s
import jieba
import numpy as np

from settings import LexicalSettings

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[a-z0-9]+(?:[.%][a-z0-9]+)*%?")

# Function words and question words: they say how something is asked, not what about.
STOPWORDS = frozenset(
    """的 了 和 与 及 或 是 在 对 为 以 将 把 被 由 从 于 等 也 都 而 并 其 之 这 那 该 此 有 个 吗 呢 吧 啊
    什么 哪些 哪个 哪里 哪 多少 几 几个 几家 如何 怎么 怎样 怎么样 为什么 是否 是不是 有没有 请问 请 一下 我 我们 你 你们
    他 他们 它 它们 要 会 能 可以 应该 需要 进行 开展 相关 关于 方面 情况 一个 哪一年 哪年 何时 什么时候 谁 多 分别 主要
    包括 哪几个 有哪些 是什么 是谁 一些 这个 那个 这些 那些 还 又 呢 中 上 下 内 后 前""".split()
)


def normalize(text: str) -> str:
    """Fold full-width forms and case so 'ＤＲＧ', 'drg' and 'DRG' are one term."""
    return unicodedata.normalize("NFKC", text).lower()


class ChineseTokenizer:
    """jieba (own instance, domain dictionary) and/or character bigrams, stopwords removed."""

    def __init__(self, cfg: LexicalSettings):
        self.mode = cfg.tokenizer
        jieba.setLogLevel(logging.WARNING)  # its start-up chatter is noise in our progress output
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        words = resources.files("ingest").joinpath("domain_words.txt")
        with resources.as_file(words) as path:
            self._jieba.load_userdict(str(path))
        if cfg.user_dict:
            self._jieba.load_userdict(str(cfg.user_dict))
        self._pos = None
        words_text = resources.files("ingest").joinpath("domain_words.txt").read_text(encoding="utf-8")
        extra = cfg.user_dict.read_text(encoding="utf-8") if cfg.user_dict else ""
        blob = f"v1|{self.mode}|{words_text}|{extra}"
        self.fingerprint = hashlib.sha256(blob.encode()).hexdigest()[:16]

    def cut(self, text: str) -> list[str]:
        """Precise-mode jieba words (no sub-words), for key terms and follow-up subjects."""
        return [w for w in (t.strip() for t in self._jieba.lcut(normalize(text))) if w and _WORD.fullmatch(w)]

    def tagged(self, text: str) -> list[tuple[str, str]]:
        """Precise-mode words with jieba part-of-speech flags (n*, v*, m, eng, …)."""
        import jieba.posseg

        if self._pos is None:
            self._pos = jieba.posseg.POSTokenizer(self._jieba)
        return [(p.word.strip(), p.flag) for p in self._pos.lcut(normalize(text)) if p.word.strip()]

    def words(self, text: str) -> list[str]:
        """jieba words (search mode: long words plus their parts), stopwords and punctuation dropped."""
        out = []
        for token in self._jieba.cut_for_search(normalize(text)):
            token = token.strip()
            if token and token not in STOPWORDS and _WORD.fullmatch(token):
                out.append(token)
        return out

    @staticmethod
    def bigrams(text: str) -> list[str]:
        """Overlapping character bigrams of each CJK run; Latin/digit runs as whole tokens."""
        out: list[str] = []
        for match in _WORD.finditer(normalize(text)):
            run = match.group()
            if _CJK.fullmatch(run):
                if len(run) == 1:
                    if run not in STOPWORDS:
                        out.append(run)
                else:
                    out.extend(run[i : i + 2] for i in range(len(run) - 1))
            else:
                out.append(run)
        return out

    def tokenize(self, text: str) -> list[str]:
        if self.mode == "jieba":
            return self.words(text)
        if self.mode == "bigram":
            return self.bigrams(text)
        # Bigrams get a marker so they do not merge with two-character jieba words.
        return self.words(text) + ["#" + t for t in self.bigrams(text)]


class LexicalIndex:
    """A bm25s index over chunk ids, rebuilt from stored tokens and saved atomically."""

    def __init__(self, ids: list[str], retriever: bm25s.BM25 | None):
        self.ids = ids
        self._pos = {cid: i for i, cid in enumerate(ids)}
        self._bm25 = retriever

    @classmethod
    def build(cls, ids: list[str], tokens: list[list[str]]) -> "LexicalIndex":
        if not ids:
            return cls([], None)
        retriever = bm25s.BM25()
        retriever.index([t if t else ["\x00empty"] for t in tokens], show_progress=False)
        return cls(ids, retriever)

    @classmethod
    def build_streaming(cls, rows: Iterable[tuple[str, list[str]]]) -> "LexicalIndex":
        """Build from (chunk id, tokens) rows read one at a time, mapping tokens to integer ids as
        they come: at 50k chunks this peaks at ~0.7 GB instead of ~2.2 GB for lists of strings."""
        ids: list[str] = []
        vocab: dict[str, int] = {}
        docs: list[list[int]] = []
        for cid, tokens in rows:
            ids.append(cid)
            docs.append([vocab.setdefault(t, len(vocab)) for t in (tokens or ["\x00empty"])])
        if not ids:
            return cls([], None)
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenization.Tokenized(ids=docs, vocab=vocab), show_progress=False)
        return cls(ids, retriever)

    def save(self, folder: Path, generation: int) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self._bm25 is not None:
            self._bm25.save(str(tmp), show_progress=False)
        (tmp / "ids.json").write_text(json.dumps({"generation": generation, "ids": self.ids}))
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> tuple["LexicalIndex", int] | None:
        """The saved index and its generation, or None when absent or unreadable."""
        try:
            meta = json.loads((folder / "ids.json").read_text())
            ids = meta["ids"]
            retriever = bm25s.BM25.load(str(folder)) if ids else None
            return cls(ids, retriever), int(meta["generation"])
        except (OSError, ValueError, KeyError):
            return None

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every indexed chunk (zeros when the query shares no term)."""
        if self._bm25 is None or not query_tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def search(self, query_tokens: list[str], k: int, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        scores = self.scores(query_tokens)
        if allowed is not None:
            mask = np.zeros(len(self.ids), dtype=bool)
            for cid in allowed:
                if cid in self._pos:
                    mask[self._pos[cid]] = True
            scores = np.where(mask, scores, 0.0)
        if not len(scores):
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def document_frequency(self, token: str) -> int:
        """How many chunks contain `token`; 0 for a term the corpus never uses.

        Read from the token's posting list (its column of bm25s' CSC score matrix), O(df): scoring
        every chunk for it (`get_scores`) cost O(chunks) per call, ~2 ms at 200k chunks, and the
        question analysis asks this for about a dozen terms per question."""
        if self._bm25 is None:
            return 0
        tid = self._bm25.vocab_dict.get(token)
        if tid is None:
            return 0
        indptr = self._bm25.scores["indptr"]
        return int(np.count_nonzero(self._bm25.scores["data"][indptr[tid] : indptr[tid + 1]]))

    def __len__(self) -> int:
        return len(self.ids)
