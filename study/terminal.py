"""A practice session in a terminal (`qianxian study`): one item at a time, the answer read from a
line of input, immediate feedback with the cited passage, the score and a review of the mistakes.

Answers are read line by line from any text stream, a terminal or a pipe alike, so a script or a
test can answer (`printf 'A\\n对\\n' | qianxian study`); end of input ends the session early and the
score is still shown. With a trainee's name each answer is recorded (`study.progress.record`) as it
is given, so an interrupted session keeps what was answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.text import Text

from study.items import Item, is_correct

TYPE_LABELS = {"cloze": "填空", "tf": "判断", "mc": "单选"}
LETTERS = "ABCDEFGH"
# What a trainee may type for a true/false item (is_correct accepts the same words).
TF_WORDS = {"对": True, "正确": True, "是": True, "√": True, "t": True, "true": True, "y": True,
            "错": False, "错误": False, "否": False, "×": False, "f": False, "false": False, "n": False}
SKIP = ""  # an empty line: 不会 (shown the answer, counted wrong)


@dataclass
class Answered:
    item: Item
    response: str
    correct: bool


@dataclass
class SessionResult:
    drawn: int
    answered: list[Answered] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(a.correct for a in self.answered)

    @property
    def mistakes(self) -> list[Answered]:
        return [a for a in self.answered if not a.correct]


def answer_text(item: Item) -> str:
    """The correct answer as the trainee would type it."""
    if item.type == "tf":
        return "对" if item.answer else "错"
    if item.type == "mc" and item.choices:
        return f"{LETTERS[item.choices.index(item.answer)]}. {item.answer}"
    return str(item.answer)


def citation_line(item: Item) -> str:
    src = item.source
    parts = [f"《{src.title or src.doc}》", src.section_path]
    if src.page is not None:
        parts.append(f"第 {src.page} 页")
    return "出处：" + " ".join(p for p in parts if p)


def passage_text(item: Item) -> Text:
    """The cited passage with the answer (a tf item: the statement's clause) highlighted."""
    text = Text(item.source.passage)
    start, end = item.source.span
    if 0 <= start < end <= len(item.source.passage):
        text.stylize("bold black on yellow", start, end)
    return text


def _parse(item: Item, line: str) -> str | bool | None:
    """The response to grade, or None when the line is no answer of this type (asked again)."""
    line = line.strip()
    if line == SKIP:
        return SKIP
    if item.type == "tf":
        return TF_WORDS.get(line.lower())
    if item.type == "mc" and item.choices:
        letter = line.upper().rstrip(".．、")
        if len(letter) == 1 and letter in LETTERS[: len(item.choices)]:
            return letter
        return line if line in item.choices else None
    return line


def _ask(item: Item, number: int, total: int, console: Console) -> None:
    console.print()
    console.print(Text(f"第 {number}/{total} 题 · {TYPE_LABELS.get(item.type, item.type)}", style="bold"))
    console.print(Text(item.prompt))
    if item.type == "mc" and item.choices:
        for letter, choice in zip(LETTERS, item.choices):
            console.print(Text(f"  {letter}. {choice}"))
    hint = {"tf": "请输入 对 或 错", "mc": f"请输入 A–{LETTERS[len(item.choices or ()) - 1]}",
            "cloze": "请填写空白处"}.get(item.type, "")
    console.print(Text(f"（{hint}；直接回车表示不会）", style="dim"))


def _read_answer(item: Item, stdin: TextIO, console: Console, echo: bool) -> tuple[str, str | bool] | None:
    """(the line as typed, the response to grade), or None at end of input."""
    while True:
        console.print("你的答案：", end="")
        line = stdin.readline()
        if not line:
            console.print()
            return None
        line = line.rstrip("\r\n")
        if echo:
            console.print(Text(line), highlight=False)
        parsed = _parse(item, line)
        if parsed is not None:
            return line.strip(), parsed
        console.print(Text("无法识别这个答案，请重新输入。", style="yellow"))


def _feedback(item: Item, correct: bool, skipped: bool, console: Console) -> None:
    if correct:
        console.print(Text("✓ 正确", style="bold green"))
    else:
        console.print(Text(("✗ 未作答" if skipped else "✗ 错误") + f"，正确答案：{answer_text(item)}", style="bold red"))
    if item.explanation:
        console.print(Text(f"说明：{item.explanation}"))
    console.print(Text(citation_line(item), style="cyan"))
    console.print(passage_text(item))


def run_session(
    items: list[Item], stdin: TextIO, console: Console, *, echo: bool = False,
    on_answer: Callable[[Item, bool, str], None] | None = None,
) -> SessionResult:
    """Ask every item in turn; `echo` repeats piped input so the transcript reads like a terminal's;
    `on_answer(item, correct, response)` is called after each answer (recording progress)."""
    result = SessionResult(drawn=len(items))
    try:
        for number, item in enumerate(items, 1):
            _ask(item, number, len(items), console)
            got = _read_answer(item, stdin, console, echo)
            if got is None:
                break
            line, response = got
            correct = response != SKIP and is_correct(item, response)
            result.answered.append(Answered(item, line, correct))
            if on_answer is not None:
                on_answer(item, correct, line)
            _feedback(item, correct, response == SKIP, console)
    except KeyboardInterrupt:  # Ctrl-C ends the session like end of input: the score is still shown
        console.print()
    show_score(result, console)
    return result


def show_score(result: SessionResult, console: Console) -> None:
    console.print()
    done = len(result.answered)
    if done:
        line = f"得分：{result.score} / {done}（{result.score / done:.0%}）"
    else:
        line = "得分：0 / 0"
    if done < result.drawn:
        line += f"，本次共 {result.drawn} 题，已答 {done} 题"
    console.print(Text(line, style="bold"))
    if not result.mistakes:
        if done:
            console.print(Text("全部答对！"))
        return
    console.print(Text(f"错题回顾（{len(result.mistakes)} 题）", style="bold"))
    for n, wrong in enumerate(result.mistakes, 1):
        item = wrong.item
        console.print()
        console.print(Text(f"{n}. [{TYPE_LABELS.get(item.type, item.type)}] {item.prompt}"))
        if item.type == "mc" and item.choices:
            console.print(Text("   " + "  ".join(f"{l}. {c}" for l, c in zip(LETTERS, item.choices))))
        console.print(Text(f"   你的答案：{wrong.response or '（未作答）'}    正确答案：{answer_text(item)}"))
        if item.explanation:
            console.print(Text(f"   说明：{item.explanation}"))
        console.print(Text("   " + citation_line(item), style="cyan"))
