"""The systems an eval compares, all answering with the same Answer shape.

- `ours` and its variants (`bm25_only`, `dense_only`, `ours_rrf`): the product's Assistant, made
  different purely by settings, all reading one ingested store.
- `llamaindex_default`: a plain llama-index VectorStoreIndex over the same files' text (extracted
  by the product's loader so PDFs/DOCX work), default SentenceSplitter, the same local e5 model
  through HuggingFaceEmbedding, no LLM (MockLLM): the answer is the top-2 retrieved chunks, cited
  as [1] and [2]. It never refuses and ignores the conversation history, as a default pipeline does.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from assistant.answer import Answer, Citation, Retrieved
from settings import Settings

DEFAULT_SYSTEMS = ["ours", "llamaindex_default", "bm25_only", "dense_only"]


def variant_settings(settings: Settings, name: str) -> Settings:
    """The settings of one of our pipeline's variants (only retrieval differs)."""
    updates: dict[str, dict[str, Any]] = {
        "ours": {},
        "bm25_only": {"use_dense": False},
        "dense_only": {"use_lexical": False},
        "ours_rrf": {"fusion": "rrf"},
    }
    if name not in updates:
        raise KeyError(name)
    return settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update=updates[name])})


OUR_VARIANTS = ("ours", "bm25_only", "dense_only", "ours_rrf")
KNOWN_SYSTEMS = (*OUR_VARIANTS, "llamaindex_default")


class System(Protocol):
    name: str

    def ask(self, question: str, history: list[str]) -> Answer: ...


class OursSystem:
    """Our Assistant with variant settings, over an already-ingested data dir."""

    def __init__(self, name: str, settings: Settings, embedder: Any):
        from assistant.assistant import Assistant

        self.name = name
        self.settings = variant_settings(settings, name)
        self.assistant = Assistant.from_settings(self.settings, embedder=embedder)

    def ask(self, question: str, history: list[str]) -> Answer:
        return self.assistant.ask(question, history)

    def close(self) -> None:
        kb = getattr(self.assistant, "kb", None)
        if kb is not None and hasattr(kb, "close"):
            kb.close()


def corpus_documents(corpus: Path) -> list[tuple[str, str, str, str]]:
    """(doc, doc_id, title, text) of every loadable document in the corpus, as the product sees them."""
    from ingest.documents import LoadError
    from ingest.loaders import SUPPORTED_SUFFIXES, load_file
    from ingest.pipeline import discover

    files, _ = discover([Path(corpus)])
    out = []
    for f in files:
        if f.path.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        try:
            loaded = load_file(f.path, f.name)
        except LoadError:
            continue  # the product's ingest reports it; the baseline just lacks that document too
        out.append((loaded.doc, loaded.doc_id, loaded.meta.title, "\n".join(p.text for p in loaded.pages)))
    return out


class LlamaIndexDefault:
    """Plain llama-index: VectorStoreIndex + default SentenceSplitter + HuggingFaceEmbedding, no LLM."""

    name = "llamaindex_default"
    top_n = 10
    answer_n = 2

    def __init__(self, corpus: Path, model_path: Path, query_prefix: str = "query: ", passage_prefix: str = "passage: "):
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core import Settings as LISettings
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        # Settings.llm = None prints "LLM is explicitly disabled. Using MockLLM." on stdout.
        with contextlib.redirect_stdout(io.StringIO()):
            LISettings.llm = None
        self.embed_model = HuggingFaceEmbedding(
            model_name=str(model_path),
            query_instruction=query_prefix,
            text_instruction=passage_prefix,
            device="cpu",
        )
        docs = corpus_documents(corpus)
        self.documents = [
            Document(text=text, metadata={"doc": doc, "doc_id": doc_id, "title": title}) for doc, doc_id, title, text in docs
        ]
        t0 = time.perf_counter()
        self.index = VectorStoreIndex.from_documents(self.documents, embed_model=self.embed_model)
        self.build_seconds = time.perf_counter() - t0
        self.retriever = self.index.as_retriever(similarity_top_k=self.top_n)

    def ask(self, question: str, history: list[str]) -> Answer:
        started = time.perf_counter()
        nodes = self.retriever.retrieve(question)
        retrieve_ms = (time.perf_counter() - started) * 1000
        retrieved = []
        for i, n in enumerate(nodes):
            meta = n.node.metadata
            retrieved.append(
                Retrieved(
                    rank=i + 1, doc_id=meta.get("doc_id", ""), doc=meta.get("doc", ""), text=n.node.get_content(),
                    score=round(float(n.score or 0.0), 4), chunk_id=n.node.node_id, title=meta.get("title", ""),
                )
            )
        t0 = time.perf_counter()
        top = retrieved[: self.answer_n]
        answer_text = "\n\n".join(f"{r.text}[{i + 1}]" for i, r in enumerate(top))
        citations = [
            Citation(
                n=i + 1, doc_id=r.doc_id, doc=r.doc, title=r.title, wenhao=None, section_path="", page=None,
                passage=r.text, span=None, chunk_id=r.chunk_id,
            )
            for i, r in enumerate(top)
        ]
        latency = {
            "rewrite": 0.0,
            "retrieve": retrieve_ms,
            "rerank": 0.0,
            "generate": (time.perf_counter() - t0) * 1000,
        }
        latency["total"] = (time.perf_counter() - started) * 1000
        return Answer(
            question=question, answer=answer_text, refused=False, citations=citations, retrieved=retrieved,
            latency_ms=latency, generator="llamaindex_default",
        )


def build_system(
    name: str, settings: Settings, embedder: Any, corpus: Path, log: Callable[[str], None] = lambda s: None
) -> System:
    if name in OUR_VARIANTS:
        return OursSystem(name, settings, embedder)
    if name == "llamaindex_default":
        log("building the llama-index baseline (default SentenceSplitter, same e5 model)…")
        return LlamaIndexDefault(
            corpus, Path(embedder.info.path), settings.embedding.query_prefix, settings.embedding.passage_prefix
        )
    raise KeyError(name)
