"""`qianxian`: the one console command (ingest, ask, serve, eval, verify, requirements, study, models).

Exit codes (INTERFACES.md): 0 success, 1 fatal error (nothing changed), 2 finished but some inputs
failed (each named on stderr as `path: reason`), 64 usage error. Heavy libraries are imported
inside the subcommands so `--help` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_FATAL, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2, 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class Fatal(Exception):
    """An error shown as one line on stderr with exit code 1."""


def _common(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    """`suppress`: on a nested action, an unset flag must not erase the one given before the action."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--data-dir", type=Path, default=default,
                        help="knowledge base folder (env QIANXIAN_DATA_DIR, default ./data)")
    parser.add_argument("--config", type=Path, default=default, help="TOML settings file (env QIANXIAN_CONFIG)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qianxian", description="千县工程 policy assistant: cited answers from your documents.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("ingest", help="add, update or prune documents in the knowledge base")
    _common(p)
    p.add_argument("paths", nargs="+", type=Path, help="files or folders (recursive)")
    p.add_argument("--prune", action="store_true", help="remove stored documents whose files under the folders are gone")
    p.add_argument("--rebuild", action="store_true", help="empty the knowledge base first (e.g. after changing the model)")
    p.add_argument("--no-wait", action="store_true", help="fail at once (exit 1) if another ingest is writing, instead of waiting")
    p.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("ask", help="answer one question with cited sources")
    _common(p)
    p.add_argument("question")
    p.add_argument("--history", help='JSON list of earlier user questions, e.g. \'["千县工程重点建设哪些中心？"]\'')
    p.add_argument("--json", action="store_true", help="print the Answer JSON")
    p.add_argument("--generator", choices=["extractive", "openai", "llamacpp"], help="override the configured generator")
    p.add_argument("--top-k", type=int, help="passages handed to the generator")
    p.add_argument("--doc", action="append", help="only this document (name as ingested); repeatable")
    p.add_argument("--doc-type", help="only documents of this type (e.g. policy, news)")
    p.add_argument("--date-from", help="only documents dated on or after YYYY-MM-DD")
    p.add_argument("--date-to", help="only documents dated on or before YYYY-MM-DD")

    p = sub.add_parser("serve", help="serve the chat UI")
    _common(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1; others require auth)")
    p.add_argument("--port", type=int, help="port (default 7860)")

    p = sub.add_parser("eval", help="measure answer quality on a question set")
    _common(p)
    p.add_argument("--questions", type=Path, required=True, help="JSONL question set")
    p.add_argument("--corpus", type=Path, required=True, help="folder with the documents the questions are about")
    p.add_argument("--out", type=Path, help="output folder for results.json and report.html (required unless --check)")
    p.add_argument("--systems", help="comma-separated systems (default: ours,llamaindex_default,bm25_only,dense_only)")
    p.add_argument("--compare", type=Path, help="an older results.json to show deltas against")
    p.add_argument("--check", action="store_true", help="only validate the question set against the corpus")
    p.add_argument("--limit", type=int, help="only the first N questions (quick runs)")

    p = sub.add_parser("verify", help="check that manifest, vectors and lexical index agree (and repair them)")
    _common(p)
    p.add_argument("--repair", action="store_true", help="fix what is found (takes the writer lock)")
    p.add_argument("--json", action="store_true", help="print one JSON report")

    p = sub.add_parser("requirements", help="the requirements checklist: list, export, set statuses, progress")
    _common(p)
    p.add_argument("--doc", help="only this document (its name as ingested, or part of the name or title)")
    p.add_argument("--subject", help="only requirements whose obligated subject contains this text")
    p.add_argument("--kind", choices=["obligation", "prohibition", "target", "deadline"])
    p.add_argument("--has-deadline", action="store_true", help="only requirements with a time limit or period")
    p.add_argument("--search", help="only requirements containing every word of this text")
    p.add_argument("--status", choices=["未开始", "进行中", "已完成", "不适用"], help="only requirements in this status")
    p.add_argument("--format", choices=["table", "csv", "xlsx", "json"], default="table")
    p.add_argument("--out", type=Path, help="write to this file (required for xlsx)")
    actions = p.add_subparsers(dest="action", parser_class=_Parser)
    a = actions.add_parser("status", help="set a requirement's status (and note)")
    _common(a, suppress=True)
    a.add_argument("id", help="the requirement id (first column of the list)")
    a.add_argument("value", choices=["未开始", "进行中", "已完成", "不适用"])
    a.add_argument("--note", help="free-text note (omitted: the old note is kept)")
    a = actions.add_parser("progress", help="per document: 已完成 n / total, and statuses left orphaned")
    _common(a, suppress=True)
    a.add_argument("--json", action="store_true")

    p = sub.add_parser("study", help="practice items from the documents (填空/判断/单选), every answer cited")
    _common(p)
    p.add_argument("--doc", action="append",
                   help="only this document (its name as ingested, or part of the name or title); repeatable")
    p.add_argument("--section", help="only sections whose path contains this text (e.g. 第四章)")
    p.add_argument("--n", type=int, help="how many items (default study.default_n = 10, at most study.max_n)")
    p.add_argument("--types", default="cloze,tf,mc", help="comma-separated item types: cloze, tf, mc")
    p.add_argument("--seed", type=int, help="same seed and same documents: same items")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: answer interactively (lines from stdin); json: print the items")
    p.add_argument("--user", help="trainee name: record the answers in <data-dir>/study.sqlite, favour weak sections")
    p.add_argument("--missed", action="store_true", help="only the items this --user last answered wrong (再练错题)")
    p.add_argument("--no-rephrase", action="store_true",
                   help="keep the generated wording (default: reworded by the LLM when answer.generator is openai "
                        "and study.rephrase is on; the answers never change)")

    p = sub.add_parser("models", help="build or inspect the offline embedding model")
    _common(p)
    p.add_argument("action", choices=["build", "info"])
    p.add_argument("--force", action="store_true", help="rebuild even if present and verified")
    return parser


def _settings(args: argparse.Namespace, extra: dict[str, Any] | None = None):
    from settings import configure_offline, load_settings

    configure_offline()
    overrides: dict[str, Any] = {"data_dir": getattr(args, "data_dir", None)}
    overrides.update(extra or {})
    try:
        return load_settings(args.config, overrides)
    except FileNotFoundError as exc:
        raise Fatal(str(exc)) from exc
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise Fatal(f"invalid settings: {exc}".splitlines()[0] + " (see `qianxian --help` and README)") from exc


def _embedder(settings):
    from ingest.embeddings import Embedder, ModelError

    try:
        return Embedder.from_settings(settings)
    except ModelError as exc:
        raise Fatal(str(exc)) from exc


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingest.knowledge_base import KnowledgeBase, KnowledgeBaseError
    from ingest.pipeline import ingest_paths

    settings = _settings(args)
    embedder = _embedder(settings)
    try:
        kb = KnowledgeBase(settings, embedder, rebuild=args.rebuild, wait=not args.no_wait)
        report = ingest_paths(
            kb, args.paths, prune=args.prune, show_progress=not (args.quiet or args.json), wait=not args.no_wait
        )
    except KnowledgeBaseError as exc:  # WriterBusy included: nothing was changed
        raise Fatal(str(exc)) from exc
    kb.close()
    for failure in report.failures:
        print(f"{failure.path}: {failure.reason}", file=sys.stderr)
    for warning in report.warnings:  # ingested, with something recovered around damage: not a failure
        print(f"{warning.path}: warning: {warning.reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print(
            f"{report.seen} files: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.removed} removed, {report.failed} failed; {report.chunks_added} chunks added, "
            f"{report.chunks_removed} removed; {report.seconds:.1f}s"
        )
    return EXIT_PARTIAL if report.failed else EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant import AskOptions, Assistant, AssistantError, QuestionError

    history: list[str] = []
    for flag in ("date_from", "date_to"):
        value = getattr(args, flag)
        if value and not _is_iso_date(value):
            print(f"--{flag.replace('_', '-')}: expected YYYY-MM-DD, got {value!r}", file=sys.stderr)
            return EXIT_USAGE
    if args.history:
        try:
            history = json.loads(args.history)
            if not isinstance(history, list) or not all(isinstance(h, str) for h in history):
                raise ValueError
        except ValueError:
            print("--history: must be a JSON list of strings", file=sys.stderr)
            return EXIT_USAGE
    extra = {"answer": {"generator": args.generator}} if args.generator else None
    settings = _settings(args, extra)
    try:
        assistant = Assistant.from_settings(settings)
        options = AskOptions(
            top_k=args.top_k, docs=args.doc, doc_type=args.doc_type, date_from=args.date_from, date_to=args.date_to
        )
        answer = assistant.ask(args.question, history, options)
    except QuestionError as exc:
        print(f"question: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AssistantError as exc:
        raise Fatal(str(exc)) from exc
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=1))
    else:
        print(answer.render_text())
    return EXIT_OK


def _is_iso_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    import ui

    settings = _settings(args, {"ui": {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}})
    try:
        return ui.serve(settings)
    except ui.ServeError as exc:
        raise Fatal(str(exc)) from exc


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.runner import EvalError, run_check, run_eval

    settings = _settings(args)
    try:
        if args.check:
            return run_check(args.questions, args.corpus)
        if args.out is None:
            print("eval: --out DIR is required (unless --check)", file=sys.stderr)
            return EXIT_USAGE
        systems = args.systems.split(",") if args.systems else None
        return run_eval(settings, args.questions, args.corpus, args.out, systems, args.compare, args.limit)
    except EvalError as exc:
        raise Fatal(str(exc)) from exc


def cmd_models(args: argparse.Namespace) -> int:
    from ingest.embeddings import ModelError, build_model, resolve_model

    settings = _settings(args)
    try:
        if args.action == "build" and settings.embedding.model_path is None:
            info = build_model(settings.cache_path, force=args.force)
        else:
            info = resolve_model(settings)
    except ModelError as exc:
        raise Fatal(str(exc)) from exc
    print(f"path: {info.path}\nname: {info.name}\nsource: {info.source} {info.version}\n"
          f"dimension: {info.dimension}\nhash: {info.hash}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when consistent (or fully repaired), 2 when drift remains (INTERFACES.md)."""
    from ingest.knowledge_base import KnowledgeBase, KnowledgeBaseError

    settings = _settings(args)
    if not settings.chroma.server_url and not (settings.data_path / "kb.sqlite").exists():
        raise Fatal(f"{settings.data_path}: no knowledge base here")  # in server mode the server holds it
    try:
        kb = KnowledgeBase(settings, _embedder(settings))
        found = kb.problems()
        if args.repair and found:
            kb.repair()
        left = kb.problems() if args.repair else found
    except KnowledgeBaseError as exc:
        raise Fatal(str(exc)) from exc
    kb.close()
    if args.json:
        print(json.dumps({
            "schema_version": 1, "consistent": not left,
            "problems": [{"kind": p.kind, "doc": p.doc, "detail": p.detail} for p in found],
            "repaired": len(found) - len(left) if args.repair else 0,
        }, ensure_ascii=False))
    else:
        for p in found:
            print(f"{p.kind}: {p.doc or '(store)'}: {p.detail}")
        state = "consistent" if not found else ("repaired" if not left else f"{len(left)} problem(s) remain")
        print(f"{settings.data_path}: {state}")
    return EXIT_OK if not left else EXIT_PARTIAL


def cmd_requirements(args: argparse.Namespace) -> int:
    """List/export (exit 64 for xlsx without --out), `status ID VALUE`, `progress`; 1 without a checklist."""
    from ingest import requirements as rq

    if args.action is None and args.format == "xlsx" and args.out is None:
        print("requirements: --format xlsx needs --out FILE", file=sys.stderr)
        return EXIT_USAGE
    settings = _settings(args)
    if not (settings.data_path / "kb.sqlite").exists():
        raise Fatal(f"{settings.data_path}: no knowledge base here (run `qianxian ingest` first)")
    try:
        if args.action == "status":
            req = rq.set_status(settings, args.id, args.value, args.note)
            print(f"{req.id}: {req.status}" + (f" ({req.note})" if req.note else ""))
            return EXIT_OK
        if args.action == "progress":
            return _requirements_progress(settings, args.json)
        filters = rq.Filters(doc=args.doc, subject=args.subject, kind=args.kind, has_deadline=args.has_deadline,
                             search=args.search, status=args.status)
        reqs = rq.list_requirements(settings, filters)
    except rq.RequirementsError as exc:
        raise Fatal(str(exc)) from exc
    if args.format == "xlsx":
        rq.export_xlsx(reqs, args.out)
    elif args.format == "csv":
        text = rq.export_csv(reqs, args.out)
        if args.out is None:
            sys.stdout.write(text)
    elif args.format == "json":
        text = json.dumps({"schema_version": rq.SCHEMA_VERSION, "requirements": [r.to_json() for r in reqs]},
                          ensure_ascii=False, indent=1)
        _emit(text, args.out)
    else:
        _emit(_requirements_table(reqs), args.out)
    if args.out is not None:
        print(f"{len(reqs)} requirements written to {args.out}", file=sys.stderr)
    return EXIT_OK


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


def _requirements_table(reqs: list) -> str:
    """The checklist as a terminal table with Chinese headers (the CSV/XLSX carry every column)."""
    from rich.console import Console
    from rich.table import Table

    from ingest.requirements import KIND_LABELS

    table = Table("编号", "文档", "章节", "主体", "类型", "期限/指标", "要求原文", "状态", show_lines=False)
    for r in reqs:
        table.add_row(r.id, r.title or r.doc, r.section_path, r.subject or "", KIND_LABELS[r.kind],
                      " ".join(x for x in (r.deadline, r.figure) if x), r.text, r.status)
    console = Console(width=200, record=True, file=open(os.devnull, "w"), force_terminal=False)
    console.print(table)
    console.print(f"{len(reqs)} requirements")
    return console.export_text().rstrip()


def _requirements_progress(settings, as_json: bool) -> int:
    from ingest.requirements import SCHEMA_VERSION, orphaned_statuses, progress_by_document

    progress, orphans = progress_by_document(settings), orphaned_statuses(settings)
    if as_json:
        print(json.dumps({
            "schema_version": SCHEMA_VERSION,
            "documents": [{"doc": p.doc, "title": p.title, "total": p.total, "counts": p.counts} for p in progress],
            "orphaned": [o.__dict__ for o in orphans],
        }, ensure_ascii=False, indent=1))
        return EXIT_OK
    for p in progress:
        print(f"{p.label}  {p.title or p.doc}")
    for o in orphans:
        print(f"orphaned: {o.id} {o.status} {o.doc} {o.section_path}: {o.text[:40]}" + (f" ({o.note})" if o.note else ""))
    return EXIT_OK


def cmd_study(args: argparse.Namespace) -> int:
    """Practice items (study/): json prints them; text asks them one by one from stdin. Exit 64 for a
    bad --types/--n/--user, 1 without a knowledge base or when nothing matches. Imports nothing that
    loads the model or Chroma: the items come from the stored chunks."""
    from study import progress
    from study.items import ITEM_TYPES, SCHEMA_VERSION, StudyError, item_pool

    types = [t.strip() for t in args.types.split(",") if t.strip()]
    unknown = [t for t in types if t not in ITEM_TYPES]
    if unknown or not types:
        print(f"study: --types: {'unknown item type ' + repr(unknown[0]) if unknown else 'no item type given'} "
              f"(choose from {', '.join(ITEM_TYPES)})", file=sys.stderr)
        return EXIT_USAGE
    settings = _settings(args)
    if args.n is not None and not 1 <= args.n <= settings.study.max_n:
        print(f"study: --n must be between 1 and {settings.study.max_n} (study.max_n), got {args.n}", file=sys.stderr)
        return EXIT_USAGE
    if args.missed and args.user is None:
        print("study: --missed needs --user NAME", file=sys.stderr)
        return EXIT_USAGE
    user = None
    if args.user is not None:
        try:
            user = progress.check_user(args.user)
        except StudyError as exc:
            print(f"study: --user: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        pool = item_pool(settings)  # no knowledge base: StudyError, one line, exit 1
        drawn = progress.draw(settings, user, pool, missed=args.missed, docs=args.doc, section=args.section,
                              n=args.n, types=types, seed=args.seed)
        if args.missed and not drawn:
            print(f"{user}：没有待复习的错题", file=sys.stderr)
            return EXIT_OK
        if not args.no_rephrase:
            drawn = _study_rephrase(settings, drawn)
        if args.format == "json":
            print(json.dumps({"schema_version": SCHEMA_VERSION, "items": [i.to_json() for i in drawn]},
                             ensure_ascii=False, indent=1))
            return EXIT_OK
        return _study_session(settings, drawn, user)
    except StudyError as exc:
        raise Fatal(str(exc)) from exc


def _study_rephrase(settings, drawn: list) -> list:
    """The drawn items reworded by the configured LLM where its checks allow (study/phrasing.py); the
    client (and llama-index) is loaded only then. A failure is one line on stderr, the items as drawn."""
    from study import phrasing

    if not phrasing.wanted(settings):
        return drawn
    from assistant.generators import GeneratorError, OpenAIGenerator

    try:
        llm = OpenAIGenerator(phrasing.client_settings(settings), settings.answer.refusal_sentence)
    except (GeneratorError, ImportError) as exc:
        print(f"study: 题目改写未启用：{exc}", file=sys.stderr)
        return drawn
    result = phrasing.rephrase(drawn, settings, llm.complete)
    if result.message:
        print(f"study: {result.message}", file=sys.stderr)
    return result.items


def _study_session(settings, drawn: list, user: str | None) -> int:
    from rich.console import Console

    from study import progress
    from study.terminal import run_session

    console = Console(highlight=False, soft_wrap=not sys.stdout.isatty())  # a pipe: whole lines, no hard wraps
    on_answer = None
    if user is not None:
        def on_answer(item, correct: bool, response: str) -> None:
            progress.record(settings, user, item, correct, response)
    run_session(drawn, sys.stdin, console, echo=not sys.stdin.isatty(), on_answer=on_answer)
    if user is not None:
        console.print(f"{user}：{progress.summary(settings, user).label}（进度保存在 {progress.store_path(settings)}）")
    return EXIT_OK


COMMANDS = {
    "ingest": cmd_ingest, "ask": cmd_ask, "serve": cmd_serve, "eval": cmd_eval, "verify": cmd_verify, "models": cmd_models,
    "requirements": cmd_requirements, "study": cmd_study,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Fatal as exc:
        print(f"qianxian {args.command}: {exc}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print(f"qianxian {args.command}: interrupted", file=sys.stderr)
        return EXIT_FATAL
    except BrokenPipeError:  # `qianxian study --format json | head`: the reader left, which is no error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
