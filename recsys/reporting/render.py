"""The dashboard page as one HTML string (inline CSS and SVG; links relative to the page)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from pathlib import Path

from recsys.reporting.dashboard import DashboardData
from recsys.reporting.quality import QualityRun
from recsys.reporting.svg import Series, time_chart
from recsys.reporting.tracking import champion_trend

LEADERBOARD_METRICS = ("ndcg_at_10", "precision_at_10", "recall_at_10", "map_at_10",
                       "hit_rate_at_10", "coverage", "novelty", "rmse", "fit_seconds")
SHOWN_RUNS = 20
SHOWN_VALIDATIONS = 10
SHOWN_FAILED_EXAMPLES = 5

CSS = """
:root { --fg:#1d1d1f; --muted:#5c5c66; --line:#d9d6cf; --ok:#0b6e3f; --bad:#a4161a; --warn:#8a5a00; }
* { box-sizing: border-box; }
body { margin:0; background:#f6f5f2; color:var(--fg);
       font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; }
header, main { max-width:72rem; margin:0 auto; padding:0 1rem; }
header { padding-top:1rem; }
h1 { margin:0; font-size:1.7rem; } h2 { margin:0 0 .6rem; font-size:1.2rem; }
nav a { margin-right:.8rem; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:1rem; margin:1rem 0; }
.muted, .empty { color:var(--muted); }
.tiles { display:grid; grid-template-columns:repeat(auto-fill,minmax(13rem,1fr)); gap:.6rem; margin:1rem 0; }
.tile { background:#fff; border:1px solid var(--line); border-radius:8px; padding:.6rem .8rem; }
.tile b { display:block; font-size:1.15rem; }
table { border-collapse:collapse; width:100%; margin:.4rem 0; font-size:.9rem; }
th, td { text-align:left; padding:.3rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0eee9; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.scroll { overflow-x:auto; }
.pass { color:var(--ok); font-weight:600; } .fail { color:var(--bad); font-weight:600; }
.warn { color:var(--warn); font-weight:600; }
.alias { display:inline-block; background:#0b5cad; color:#fff; border-radius:4px; padding:0 .4rem; margin-right:.2rem; font-size:.8rem; }
.alias.champion { background:#0b6e3f; }
details { margin:.4rem 0; } summary { cursor:pointer; font-weight:600; }
code, pre { font-family:ui-monospace,"DejaVu Sans Mono",monospace; font-size:.85rem; }
pre { background:#f0eee9; padding:.6rem; border-radius:6px; overflow-x:auto; white-space:pre-wrap; }
.chart { max-width:100%; height:auto; } .chart .grid { stroke:#e5e2dc; }
.chart .tick { font-size:11px; fill:#5c5c66; } .chart .chart-title { font-size:13px; font-weight:600; }
"""


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _link(target: Path, page_dir: Path, text: str) -> str:
    if not target.exists():
        return f'{escape(text)} <span class="muted">(file gone: {escape(str(target))})</span>'
    href = os.path.relpath(target.resolve(), page_dir)
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], numeric: Iterable[int] = ()) -> str:
    """A table of already-escaped cells."""
    nums = set(numeric)
    out = ["<div class='scroll'><table><thead><tr>",
           *(f"<th scope='col'>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(
            f"<td class='num'>{c}</td>" if i in nums else f"<td>{c}</td>"
            for i, c in enumerate(row)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _tiles(data: DashboardData) -> str:
    champion = data.champion
    last_run = data.runs[-1] if data.runs else None
    drift = data.drift[-1] if data.drift else None
    tiles = [
        ("Champion", f"v{champion.version} {champion.variant}" if champion else "none yet",
         f"{champion.metric} {_num(champion.score)}" if champion else "no model registered"),
        ("Last pipeline run", _time(last_run.started) if last_run else "no runs yet",
         f"{last_run.dataset}, {len(last_run.variants)} variants" if last_run else ""),
        ("Latest drift decision",
         ("retrain" if drift.retrain else "drift, no retrain" if drift.drift_detected
          else "no drift") if drift else "no drift check yet",
         _time(drift.checked_at) if drift else ""),
        ("Serving", f"{data.serving.requests} request(s)" if data.serving else "no traffic logged",
         f"errors {_share(data.serving.error_share)}" if data.serving else ""),
    ]
    return "<div class='tiles'>" + "".join(
        f"<div class='tile' id='tile-{escape(name.lower().replace(' ', '-'))}'>"
        f"<span class='muted'>{escape(name)}</span><b>{escape(value)}</b>"
        f"<span class='muted'>{escape(sub)}</span></div>"
        for name, value, sub in tiles) + "</div>"


def _runs(data: DashboardData) -> str:
    metric = data.sources.metric
    if not data.runs:
        return "<p class='empty'>No pipeline runs yet: <code>movierec run</code> records them.</p>"
    best = [(r.started, r.leaderboard(metric)[0].metrics[metric]) for r in data.runs
            if r.variants and metric in r.leaderboard(metric)[0].metrics]
    trend = [(t, s) for t, s, _ in champion_trend(data.versions)]
    chart = time_chart([Series(f"champion {metric}", trend, step=True),
                        Series("best variant of the run", best, line=False)],
                       title=f"Champion's {metric} over time", y_label=metric)
    parts = [chart]
    for n, run in enumerate(reversed(data.runs[-SHOWN_RUNS:])):
        board = run.leaderboard(metric)
        columns = [m for m in LEADERBOARD_METRICS if any(m in v.metrics for v in board)]
        rows = [[str(i), escape(v.variant), *(_num(v.metrics.get(m)) for m in columns)]
                for i, v in enumerate(board, start=1)]
        head = (f"{_time(run.started)} · {escape(run.dataset)} · {len(board)} variant(s) · "
                f"best {escape(board[0].variant) if board else '-'} · {escape(run.status.lower())}")
        parts.append(f"<details{' open' if n == 0 else ''}><summary>{head}</summary>"
                     f"<p class='muted'>MLflow run <code>{escape(run.run_id)}</code>, "
                     f"commit <code>{escape(str(run.git_commit)[:12])}</code>, data "
                     f"<code>{escape(str(run.data_hash)[:12])}</code></p>"
                     + _table(["rank", "variant", *columns], rows, range(2, 2 + len(columns)))
                     + "</details>")
    if len(data.runs) > SHOWN_RUNS:
        parts.append(f"<p class='muted'>{len(data.runs) - SHOWN_RUNS} older run(s) in MLflow.</p>")
    return "".join(parts)


def _registry(data: DashboardData) -> str:
    if not data.versions:
        return (f"<p class='empty'>No registered versions of {escape(data.sources.model_name)} "
                "yet.</p>")
    rows = []
    for v in reversed(data.versions):
        aliases = "".join(f"<span class='alias {escape(a)}'>{escape(a)}</span>" for a in v.aliases)
        decision = (f"<span class='pass'>{escape(v.decision)}</span>" if v.decision == "promoted"
                    else escape(v.decision or "-"))
        rows.append([f"v{v.version}", aliases or "-", escape(v.variant), escape(v.metric),
                     _num(v.score), decision, escape(v.reason), _time(v.created)])
    return _table(["version", "aliases", "variant", "metric", "score", "decision", "reason",
                   "registered"], rows, [4])


def _quality_run(run: QualityRun, page_dir: Path, open_: bool) -> str:
    status = ("<span class='pass'>passed</span>" if run.success
              else f"<span class='fail'>FAILED ({run.n_failed} of {run.n_expectations})</span>")
    rows = []
    for check in sorted(run.checks, key=lambda c: (c.success, c.table)):
        mark = "<span class='pass'>pass</span>" if check.success else "<span class='fail'>fail</span>"
        detail = []
        if check.error:
            detail.append(escape(check.error))
        if not check.success and check.unexpected_count is not None:
            detail.append(f"{check.unexpected_count} unexpected")
        if not check.success and check.observed:
            detail.append(f"observed {escape(check.observed)}")
        if not check.success and check.expected:
            detail.append(f"expected {escape(check.expected)}")
        examples = "<br>".join(escape(e) for e in check.examples[:SHOWN_FAILED_EXAMPLES])
        rows.append([mark, escape(check.table), escape(check.description),
                     escape(check.column or "-"), "; ".join(detail) or "-", examples or "-"])
    docs = (_link(run.docs_index, page_dir, "GX Data Docs") if run.docs_index else "no Data Docs")
    kind = "batch of new ratings" if run.batch else "dataset"
    return (f"<details{' open' if open_ else ''}><summary>{_time(run.checked_at)} · "
            f"{escape(run.dataset)} ({kind}) · {status}</summary>"
            f"<p class='muted'>{len(run.checks)} expectations; {docs} (they load scripts and "
            "styles from CDNs and need the network)</p>"
            + _table(["result", "table", "expectation", "column", "details",
                      "sample failing rows"], rows) + "</details>")


def _quality(data: DashboardData, page_dir: Path) -> str:
    if not data.quality:
        return ("<p class='empty'>No validation results yet: <code>movierec run</code> or "
                "<code>movierec validate</code> records them.</p>")
    shown = list(reversed(data.quality[-SHOWN_VALIDATIONS:]))
    return "".join(_quality_run(run, page_dir, n == 0) for n, run in enumerate(shown))


def _shilling(data: DashboardData) -> str:
    if not data.records:
        return "<p class='empty'>No pipeline run records yet (<code>reports/runs/</code>).</p>"
    rows = []
    for record in reversed(data.records[-SHOWN_RUNS:]):
        s = record.shilling
        if s is None:
            rows.append([_time(record.finished_at), escape(record.dataset),
                         "filter disabled" if record.shilling_skipped else "no report", "-", "-",
                         "-", "-"])
            continue
        flagged = ", ".join(str(u) for u in s.flagged_users[:10])
        more = f" and {len(s.flagged_users) - 10} more" if len(s.flagged_users) > 10 else ""
        rows.append([_time(record.finished_at), escape(record.dataset),
                     f"{s.n_users} users, {s.n_ratings} ratings", str(s.n_flagged_users),
                     f"{s.n_quarantined_ratings} ({_share(s.n_quarantined_ratings / s.n_ratings if s.n_ratings else None)})",
                     _num(s.threshold, 2), escape(flagged + more) or "-"])
    return _table(["run finished", "dataset", "checked", "users removed", "ratings quarantined",
                   "threshold", "removed user ids"], rows, [3])


def _drift(data: DashboardData, page_dir: Path) -> str:
    if not data.drift:
        return ("<p class='empty'>No drift check yet: <code>movierec run</code> or "
                "<code>movierec monitor</code> records them.</p>")
    chart = time_chart([Series("share of drifted columns",
                               [(d.checked_at, d.drift_share) for d in data.drift])],
                       title="Drifted-column share per check", y_label="share",
                       y_range=(0.0, 1.0), percent=True)
    rows = []
    for d in reversed(data.drift):
        decision = ("<span class='fail'>retrain</span>" if d.retrain
                    else "<span class='warn'>drift, no retrain</span>" if d.drift_detected
                    else "<span class='pass'>no drift</span>")
        report = _link(d.report, page_dir, d.report.name) if d.report else "-"
        rows.append([_time(d.checked_at), decision, _share(d.drift_share),
                     escape(", ".join(d.drifted_columns) or "-"), escape(d.reason),
                     "-" if d.batch_rows is None else str(d.batch_rows), report])
    return chart + _table(["checked", "decision", "drifted share", "drifted columns", "reason",
                           "batch rows", "Evidently report"], rows, [2, 5])


def _serving(data: DashboardData) -> str:
    health = data.serving
    if health is None:
        return (f"<p class='empty'>No inference log at "
                f"<code>{escape(str(data.sources.inference_log))}</code>: no traffic served yet.</p>")
    lat = health.latency_ms
    facts = [
        ("requests", str(health.requests)),
        ("period", f"{_time(health.first)} to {_time(health.last)}"),
        ("error share (4xx/5xx)", _share(health.error_share)),
        ("cold-start share of /recommend", _share(health.cold_start_share)),
        ("latency p50 / p90 / p99", " / ".join(f"{lat[p]:.1f} ms" for p in ("p50", "p90", "p99"))
         if lat else "-"),
        ("recommendation lists served", str(health.lists)),
        ("distinct movies recommended", str(health.distinct_items)),
        ("mean list length", _num(health.mean_list_length, 1)),
        ("empty lists", _share(health.empty_list_share)),
        ("model versions", ", ".join(f"{v} ({n})" for v, n in health.model_versions.items()) or "-"),
    ]
    endpoints = ", ".join(f"/{e} {n}" for e, n in health.by_endpoint.items())
    statuses = ", ".join(f"{s}: {n}" for s, n in health.by_status.items())
    return (_table(["measure", "value"], [[escape(k), escape(v)] for k, v in facts])
            + f"<p class='muted'>By endpoint: {escape(endpoints)}. By status: {escape(statuses)}.</p>")


def _tools(data: DashboardData) -> str:
    s = data.sources
    commands = [
        ("MLflow UI (runs, metrics, registry)",
         f"mlflow ui --backend-store-uri {s.tracking_uri} --host 127.0.0.1 --port 5000"),
        ("Evidently UI (every drift report)",
         f"evidently ui --workspace {s.path(s.evidently_workspace)} --host 127.0.0.1 --port 8000"),
        ("Prefect UI (flow runs, artifacts)",
         f"PREFECT_HOME={s.path(s.prefect_home)} prefect server start --host 127.0.0.1 --port 4200"),
    ]
    return "".join(f"<p>{escape(what)}:</p><pre>{escape(cmd)}</pre>" for what, cmd in commands)


def render(data: DashboardData, page_dir: Path) -> str:
    """The whole page."""
    sections = [
        ("runs", "Pipeline runs", _runs(data)),
        ("registry", "Registry: versions, aliases, promotion decisions", _registry(data)),
        ("quality", "Data quality (Great Expectations)", _quality(data, page_dir)),
        ("shilling", "Shilling quarantine per run", _shilling(data)),
        ("drift", "Drift decisions", _drift(data, page_dir)),
        ("serving", "Serving health (inference log)", _serving(data)),
        ("tools", "Open the tools", _tools(data)),
    ]
    nav = "".join(f"<a href='#{key}'>{escape(title.split(':')[0].split('(')[0].strip())}</a>"
                  for key, title, _ in sections)
    body = "".join(f"<section id='{key}' aria-labelledby='{key}-h'><h2 id='{key}-h'>"
                   f"{escape(title)}</h2>{html}</section>" for key, title, html in sections)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>movierec: team dashboard</title><style>{CSS}</style></head><body>"
        f"<header><h1>movierec team dashboard</h1><p class='muted'>Generated "
        f"{_time(data.generated_at)} from {escape(str(data.sources.root))} "
        f"(MLflow: <code>{escape(data.sources.tracking_uri)}</code>).</p><nav>{nav}</nav>"
        f"{_tiles(data)}</header><main>{body}</main></body></html>\n"
    )
