"""`qianxian eval`: ask every question of a set to several systems, score them, write results.json
and report.html, print a side-by-side table.

    run_eval(settings, Path("evals/questions/test.jsonl"), Path("corpus"), Path("/tmp/eval"))

The corpus is ingested once into `<out>/store` (kept and reused while a fingerprint of the corpus
files' sha256, the ingest-relevant settings and the embedding model id matches); every variant of
our pipeline reads that one store, since only retrieval settings differ between them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evals.baselines import DEFAULT_SYSTEMS, KNOWN_SYSTEMS, OUR_VARIANTS, build_system, variant_settings
from evals.dataset import EvalError, QuestionSet, load_questions, run_check
from evals.metrics import TABLE_ROWS, latency_value, score_question, system_metrics
from settings import Settings

__all__ = ["EvalError", "run_check", "run_eval", "evaluate", "ingest_store", "print_table"]

SCHEMA_VERSION = 1
FINGERPRINT = "eval-fingerprint.json"
_SECRET_RE = re.compile(r"(^|_)(api_?key|key|password|passwd|secret|token|auth)$", re.IGNORECASE)


def mask_secrets(data: Any) -> Any:
    """settings.model_dump(mode="json") with anything secret-looking replaced by '***'."""
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            if _SECRET_RE.search(str(k)) and v not in (None, "", []):
                out[k] = "***" if not isinstance(v, list) else ["***"] * len(v)
            else:
                out[k] = mask_secrets(v)
        return out
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    return data


def _corpus_hashes(corpus: Path) -> dict[str, str]:
    out = {}
    for f in sorted(p for p in corpus.rglob("*") if p.is_file()):
        rel = f.relative_to(corpus)
        if any(part.startswith(".") for part in rel.parts):
            continue
        out[rel.as_posix()] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def store_fingerprint(settings: Settings, corpus: Path, model_id: str) -> dict[str, Any]:
    """What the ingested store depends on: the files, chunking, lexical tokenisation, the model."""
    return {
        "files": _corpus_hashes(corpus),
        "chunking": settings.chunking.model_dump(mode="json"),
        "lexical": settings.lexical.model_dump(mode="json"),
        "embedding": {
            "model_id": model_id,
            "passage_prefix": settings.embedding.passage_prefix,
        },
    }


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def ingest_store(settings: Settings, corpus: Path, store: Path, embedder: Any) -> tuple[Settings, bool, list[str]]:
    """Make `store` hold the corpus; returns (settings pointing at it, reused?, ingest failures)."""
    from assistant.assistant import Assistant, AssistantError

    store_settings = settings.model_copy(update={"data_dir": store})
    fingerprint = store_fingerprint(settings, corpus, embedder.model_id)
    fp_path = store / FINGERPRINT
    if fp_path.is_file():
        try:
            if json.loads(fp_path.read_text(encoding="utf-8")) == fingerprint:
                return store_settings, True, []
        except ValueError:
            pass
    if store.exists():
        shutil.rmtree(store)
    store.mkdir(parents=True)
    try:
        assistant = Assistant.from_settings(store_settings, embedder=embedder)
    except AssistantError as exc:
        raise EvalError(f"{store}: {exc}") from exc
    try:
        report = assistant.add_documents([corpus])
    finally:
        assistant.kb.close()
    failures = [f"{f.path}: {f.reason}" for f in report.failures]
    if report.seen == 0 or report.failed >= report.seen:
        raise EvalError(f"{corpus}: no document could be ingested" + (f" ({failures[0]})" if failures else ""))
    fp_path.write_text(json.dumps(fingerprint, ensure_ascii=False, indent=1), encoding="utf-8")
    return store_settings, False, failures


def _record(item: dict[str, Any], answer_json: dict[str, Any]) -> dict[str, Any]:
    rec = {"id": item["id"], "type": item["type"], **answer_json}
    rec["scores"] = score_question(item, answer_json)
    return rec


def _ask_all(system: Any, items: list[dict[str, Any]], progress: Any, task: Any) -> tuple[list[dict[str, Any]], int]:
    from assistant.answer import Answer

    records, errors = [], 0
    for item in items:
        try:
            answer = system.ask(item["question"], list(item.get("history") or []))
            data = answer.to_json()
        except Exception as exc:  # noqa: BLE001 - one failing question must not lose the run
            errors += 1
            _err(f"{system.name}:{item['id']}: {exc.__class__.__name__}: {exc}")
            data = Answer(question=item["question"], answer="", refused=False, error=str(exc)).to_json()
        records.append(_record(item, data))
        progress.advance(task)
    return records, errors


def evaluate(
    settings: Settings,
    qs: QuestionSet,
    corpus: Path,
    out: Path,
    systems: list[str],
    embedder: Any = None,
    show_progress: bool = True,
) -> tuple[dict[str, Any], int]:
    """Run the systems over the questions; returns (results dict, number of failed inputs)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.embeddings import Embedder, ModelError

    console = Console(stderr=True)
    if embedder is None:
        try:
            embedder = Embedder.from_settings(settings)
        except ModelError as exc:
            raise EvalError(str(exc)) from exc
    store = out / "store"
    store_settings, reused, failures = ingest_store(settings, corpus, store, embedder)
    for f in failures:
        _err(f)
    if show_progress:
        console.print(f"store: {store} ({'reused' if reused else 'ingested'})")

    items = qs.items
    records: dict[str, list[dict[str, Any]]] = {}
    errors = len(failures)
    build_seconds: dict[str, float] = {}
    with Progress(
        TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=not show_progress, transient=False,
    ) as progress:
        for name in systems:
            task = progress.add_task(name, total=len(items))
            t0 = time.perf_counter()
            system = build_system(name, store_settings, embedder, corpus)
            build_seconds[name] = round(time.perf_counter() - t0, 2)
            try:
                records[name], errs = _ask_all(system, items, progress, task)
            finally:
                close = getattr(system, "close", None)
                if close:
                    close()
            errors += errs

    results = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": mask_secrets(settings.model_dump(mode="json")),
        "corpus": str(corpus),
        "questions_file": str(qs.path),
        "store": {"path": str(store), "reused": reused, "model_id": embedder.model_id},
        "system_settings": {
            name: mask_secrets(variant_settings(settings, name).retrieval.model_dump(mode="json"))
            for name in systems
            if name in OUR_VARIANTS
        },
        "build_seconds": build_seconds,
        "questions": items,
        "metrics": {name: system_metrics(items, recs) for name, recs in records.items()},
        "systems": {name: {"questions": recs} for name, recs in records.items()},
    }
    return results, errors


# ------------------------------------------------------------------------------------------------
# table


def _fmt(value: Any, latency: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if latency else f"{value:.3f}"


def table_rows(metrics: dict[str, Any], systems: list[str]) -> list[tuple[str, list[float | None], bool]]:
    """(label, value per system, is_latency) rows of the side-by-side table."""
    rows: list[tuple[str, list[float | None], bool]] = []
    for key, label, _ in TABLE_ROWS:
        rows.append((label, [metrics[s]["overall"].get(key) for s in systems], False))
    rows.append(("answer length (chars, mean)", [metrics[s]["overall"].get("answer_chars") for s in systems], True))
    for stage in ("total", "retrieve", "generate"):
        for pct in ("p50", "p95"):
            rows.append(
                (f"latency {stage} {pct} (ms)", [latency_value(metrics[s]["overall"], stage, pct) for s in systems], True)
            )
    return rows


def print_table(results: dict[str, Any], old: dict[str, Any] | None = None, file: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file or sys.stdout, width=160)
    metrics = results["metrics"]
    systems = list(metrics)
    first = metrics[systems[0]]["overall"]
    title = (
        f"{results['questions_file']} — {first['n']} questions "
        f"({first['n_answerable']} answerable, {first['n_unanswerable']} unanswerable)"
    )
    table = Table(title=title)
    table.add_column("metric")
    old_metrics = (old or {}).get("metrics", {})
    for s in systems:
        table.add_column(s, justify="right")
        if s in old_metrics:
            table.add_column(f"Δ {s}", justify="right")
    old_rows = {label: (vals, lat) for label, vals, lat in table_rows(old_metrics, [s for s in systems if s in old_metrics])} if old_metrics else {}
    old_systems = [s for s in systems if s in old_metrics]
    for label, values, latency in table_rows(metrics, systems):
        cells = [label]
        for s, v in zip(systems, values):
            cells.append(_fmt(v, latency))
            if s in old_metrics:
                ov = old_rows[label][0][old_systems.index(s)]
                cells.append("—" if v is None or ov is None else (f"{v - ov:+.0f}" if latency else f"{v - ov:+.3f}"))
        table.add_row(*cells)
    console.print(table)


def deltas(results: dict[str, Any], old: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{system: {metric: new - old}} for systems and overall metrics present in both runs."""
    out: dict[str, dict[str, float]] = {}
    for s, m in results["metrics"].items():
        if s not in old.get("metrics", {}):
            continue
        o = old["metrics"][s]["overall"]
        out[s] = {
            key: m["overall"][key] - o[key]
            for key, _, _ in TABLE_ROWS
            if isinstance(m["overall"].get(key), (int, float)) and isinstance(o.get(key), (int, float))
        }
    return out


# ------------------------------------------------------------------------------------------------
# entry point


def _load_old(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise EvalError(f"{path}: not a results.json ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise EvalError(f"{path}: not a results.json (no 'metrics')")
    return data


def run_eval(
    settings: Settings,
    questions: Path,
    corpus: Path,
    out: Path,
    systems: list[str] | None = None,
    compare: Path | None = None,
    limit: int | None = None,
    *,
    embedder: Any = None,
    show_progress: bool = True,
) -> int:
    """The whole `qianxian eval` run; returns the exit code (0, or 2 if some inputs failed)."""
    from evals.report import write_report

    systems = [s.strip() for s in (systems or DEFAULT_SYSTEMS) if s.strip()]
    unknown = [s for s in systems if s not in KNOWN_SYSTEMS]
    if unknown or not systems:
        raise EvalError(f"--systems: unknown system '{(unknown or [''])[0]}' (known: {', '.join(KNOWN_SYSTEMS)})")
    systems = list(dict.fromkeys(systems))
    corpus, out = Path(corpus), Path(out)
    if not corpus.is_dir():
        raise EvalError(f"{corpus}: no such folder")
    qs = load_questions(Path(questions))
    if limit is not None:
        if limit < 1:
            raise EvalError(f"--limit: must be at least 1, got {limit}")
        qs.items = qs.items[:limit]
    old = _load_old(compare) if compare else None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvalError(f"{out}: cannot create ({exc.strerror or exc})") from None

    results, errors = evaluate(settings, qs, corpus, out, systems, embedder=embedder, show_progress=show_progress)
    if old is not None:
        results["compare"] = {"file": str(compare), "deltas": deltas(results, old)}
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    write_report(results, out / "report.html", old=old)
    print_table(results, old)
    print(f"results: {out / 'results.json'}\nreport:  {out / 'report.html'}")
    return 2 if errors else 0
