"""Query handling: normalise the question, and turn a follow-up into a standalone question.

With an LLM configured the rewrite asks it; otherwise (and if the LLM fails) a deterministic
rule does it, so follow-ups work offline: a pronoun (它/其/该/此…) is replaced by the main
subject of the conversation, and an elliptical question (那X呢？) borrows the earlier question's
key terms.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from ingest.lexical import STOPWORDS, ChineseTokenizer

# Anaphora, minus the common words that merely contain such a character (其他, 此外, 尤其, …).
_PRONOUN = re.compile(
    r"(?<![尤极及与])(它们|它|他们|(?<!其)他|她|其(?![他余实次])|该(?![当])|(?<![因如彼为由])此(?![外])"
    r"|这个|那个|这些|那些|这次|这项|上述|前者|后者)"
)
# Words that name a specific thing: a question with none of these leans on the conversation.
_SPECIFIC_FLAGS = ("nr", "ns", "nt", "nz", "eng")
_ELLIPTIC_HEAD = re.compile(r"^(那么|那|还有|另外|以及|而|再)")
_ELLIPTIC_TAIL = re.compile(r"呢[?？]?$")
_QUESTION_WORDS = re.compile(r"(什么|哪些|哪个|哪一|哪几|哪里|哪年|几|多少|是否|如何|怎样|怎么|谁|吗|呢)")


def normalize_question(text: str) -> str:
    """Fold full-width letters, digits and punctuation (ＤＲＧ → DRG, ？ → ?) and collapse spaces."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", text).strip()


def is_followup(question: str, history: list[str], tokenizer: ChineseTokenizer | None = None) -> bool:
    """Whether the question leans on the conversation (pronoun, ellipsis, no subject of its own)."""
    if not history:
        return False
    core = question.strip()
    if _PRONOUN.search(core) or _ELLIPTIC_HEAD.search(core) or _ELLIPTIC_TAIL.search(core):
        return True
    if len(re.sub(r"[\W_]", "", core)) <= 5:
        return True
    if tokenizer is not None:
        return not any(_is_specific(word, flag) for word, flag in tokenizer.tagged(core))
    return False


def _is_specific(word: str, flag: str) -> bool:
    """A name, place, organisation, domain term, number or long noun: enough to stand alone."""
    if any(ch.isdigit() for ch in word):
        return True
    if flag.startswith(_SPECIFIC_FLAGS):
        return True
    return flag.startswith("n") and len(word) >= 4


class Rewriter:
    """Rewrites follow-ups; `llm` (prompt -> text) is used when given, the rules otherwise."""

    def __init__(self, tokenizer: ChineseTokenizer, llm: Callable[[str], str] | None = None):
        self.tokenizer = tokenizer
        self.llm = llm

    def rewrite(self, question: str, history: list[str]) -> str | None:
        """The standalone form of `question`, or None when it already stands alone."""
        history = [normalize_question(h) for h in history if h and h.strip()]
        if not is_followup(question, history, self.tokenizer):
            return None
        standalone = self._standalone_history(history)
        if self.llm is not None:
            try:
                text = self.llm(_llm_prompt(standalone, question)).strip().splitlines()[0].strip()
                if 2 <= len(text) <= 200:
                    return text
            except Exception:  # any LLM failure falls back to the rules; rewriting must not fail the answer
                pass
        return self._rule_rewrite(question, standalone)

    def _standalone_history(self, history: list[str]) -> list[str]:
        """Earlier questions may themselves be follow-ups: resolve them in order."""
        resolved: list[str] = []
        for q in history:
            if resolved and is_followup(q, resolved, self.tokenizer):
                resolved.append(self._rule_rewrite(q, resolved))
            else:
                resolved.append(q)
        return resolved

    def subject(self, question: str) -> str | None:
        """The main subject of a question: its longest noun (names and domain terms first), never a number."""
        words = [
            (w, flag) for w, flag in self.tokenizer.tagged(question)
            if w not in STOPWORDS and len(w) >= 2 and not _QUESTION_WORDS.search(w) and not re.search(r"\d", w)
        ]
        nouns = [w for w, flag in words if flag.startswith("n")]
        pool = nouns or [w for w, _ in words]
        return max(pool, key=len) if pool else None

    def _rule_rewrite(self, question: str, history: list[str]) -> str:
        previous = history[-1]
        q = question.strip()
        match = _PRONOUN.search(q)
        subject = self.subject(previous)
        if match and subject and subject not in q:
            return q[: match.start()] + subject + q[match.end() :]
        elliptic = bool(_ELLIPTIC_HEAD.search(q) or _ELLIPTIC_TAIL.search(q))
        focus = _ELLIPTIC_TAIL.sub("", _ELLIPTIC_HEAD.sub("", q)).strip(" ,，?？") if elliptic else q
        tagged = self.tokenizer.tagged(previous)
        about_person = any(flag == "nr" for _, flag in tagged)
        if elliptic and subject and focus and not about_person and subject not in focus and focus not in previous:
            # 那交流会呢？ after 研修班吸引了多少人参与？ asks the same about the new subject. (When the
            # earlier question is about a person, the new focus replaces that person: see below.)
            return previous.replace(subject, focus)
        # Borrow the earlier question's content words; in an ellipsis (那X呢) the new focus X takes
        # the place of the earlier person, so names are not carried over.
        context = [
            w for w, flag in tagged
            if w not in STOPWORDS and len(w) >= 2 and not _QUESTION_WORDS.search(w) and w not in focus
            and not (elliptic and flag == "nr")
        ]
        if not context:
            return q
        if not elliptic:
            return f"{''.join(context)} {q}"
        asked = _QUESTION_WORDS.search(previous)
        tail = previous[asked.start() :] if asked else "?"
        return f"{''.join(context)} {focus}{tail}"


def _llm_prompt(history: list[str], question: str) -> str:
    turns = "\n".join(f"用户：{h}" for h in history[-4:])
    return (
        "请根据下面的对话历史，把用户的最后一个问题改写成一个不依赖上下文、完整独立的中文问题。"
        "只输出改写后的问题本身，不要回答，不要解释。\n\n"
        f"对话历史：\n{turns}\n\n最后一个问题：{question}\n改写后的问题："
    )
