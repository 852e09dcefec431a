"""The demo's HTML report: what was measured, two queries by example with the sentence pairs
that explain them, the table beside the published anchors, per-facet plots.

A folder: ``index.html``, ``demo.json`` (everything the page shows) and two PNGs. The page is
static (no script, no outside resources) so it opens from disk and prints as it looks.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from finesim._util.atomic import atomic_path
from finesim._util.jsonio import write_json
from finesim.evaluation.report import _pyplot, _save

GROUPS = ("background", "method", "result", "all")
FACET_COLOURS = {"background": "#4c78a8", "method": "#f58518", "result": "#54a24b"}
STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d232b;margin:0;
background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:28px 0 22px}
header h1{margin:0 0 6px;font-size:27px;font-weight:650}
header p{margin:0;opacity:.85}
.wrap{max-width:1040px;margin:0 auto;padding:0 28px}
main section{margin:30px 0}
h2{font-size:21px;margin:0 0 10px;color:#1f3a5f}
p.lead{max-width:80ch}
.example{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:16px 20px;
margin:0 0 18px}
.example h3{margin:0 0 4px;font-size:18px}
.meta{color:#5b6470;font-size:14px;margin:0 0 10px}
.query{background:#f1f4f8;border-radius:6px;padding:8px 14px;margin:0 0 12px;font-size:14.5px}
.query ol{margin:4px 0;padding-left:22px}
.query li.other{color:#8a929c}
.query li.asked{font-weight:500}
.hits{list-style:none;padding:0;margin:0}
.hit{border-top:1px solid #e6e9ed;padding:10px 0 6px}
.hit h4{margin:0 0 4px;font-size:16px}
.grade{display:inline-block;font-size:12.5px;padding:1px 8px;border-radius:10px;margin-left:6px;
background:#e3e6ea;color:#39414b;font-weight:600;vertical-align:1px}
.grade.g3{background:#1b7f3b;color:#fff}.grade.g2{background:#61b47a;color:#fff}
.grade.g1{background:#f2d98a}.grade.g0{background:#f2b8b5}
table.pairs{border-collapse:collapse;width:100%;font-size:14px;margin:4px 0}
table.pairs td{vertical-align:top;padding:4px 6px;border:0}
table.pairs td.q{width:46%;background:#fff6d6}table.pairs td.c{width:46%;background:#e4f2e7}
table.pairs td.sim{width:8%;text-align:center;color:#5b6470;white-space:nowrap}
.facet{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#7a828c;
margin-right:5px}
table.figures{border-collapse:collapse;width:100%;background:#fff;font-size:14.5px}
table.figures th,table.figures td{border-bottom:1px solid #e3e6ea;padding:7px 9px;
text-align:left;vertical-align:top}
table.figures th{background:#eef1f5;font-weight:600}
table.figures td.num{white-space:nowrap;font-variant-numeric:tabular-nums}
table.figures td.num b{font-size:15.5px}
table.figures .ci{color:#6b737d;font-size:12.5px}
table.figures tr.anchor td{background:#fbf7ea}
table.figures tr.reference td{background:#f4f6f9}
table.figures td.note{color:#4a525c;font-size:13.5px}
.kind{font-size:11px;text-transform:uppercase;color:#7a828c;letter-spacing:.04em}
figure{margin:14px 0;background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px}
figure img{max-width:100%}
figcaption{color:#4a525c;font-size:14px;margin-top:4px}
footer{color:#5b6470;font-size:13.5px;padding:10px 0 40px}
code{background:#eef1f5;padding:1px 4px;border-radius:3px;font-size:13.5px}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _figure(value: float, interval: Sequence[float] | None) -> str:
    ci = f'<br><span class="ci">[{interval[0]:.2f}, {interval[1]:.2f}]</span>' if interval else ""
    return f"<b>{value:.2f}</b>{ci}"


def _example(example: dict[str, Any], number: int) -> str:
    query = example["query"]
    facet = query["facet"]
    items = []
    for s in query["sentences"]:
        asked = s["facet"] == facet
        label = f'<span class="facet">{_e(s["facet"] or "-")}</span>'
        items.append(f'<li class="{"asked" if asked else "other"}">{label}{_e(s["text"])}</li>')
    hits = []
    for hit in example["hits"]:
        grade = hit.get("grade")
        badge = (
            f'<span class="grade g{grade}">judged: {_e(hit["grade_name"])} ({grade})</span>'
            if grade is not None
            else '<span class="grade">not judged for this query</span>'
        )
        pairs = "".join(
            "<tr>"
            f'<td class="q"><span class="facet">{_e(p["query_facet"] or "-")}</span>'
            f"{_e(p['query'])}</td>"
            f'<td class="sim">↔<br>{p["similarity"]:.2f}</td>'
            f'<td class="c"><span class="facet">{_e(p["candidate_facet"] or "-")}</span>'
            f"{_e(p['candidate'])}</td></tr>"
            for p in hit["pairs"]
        )
        hits.append(
            f'<li class="hit" data-id="{_e(hit["id"])}"><h4>{hit["rank"]}. {_e(hit["title"])}'
            f"{badge}</h4>"
            f'<div class="meta">paper {_e(hit["id"])} · score {hit["score"]:.3f}</div>'
            f'<table class="pairs">{pairs}</table></li>'
        )
    return (
        f'<article class="example" id="example-{number}">'
        f"<h3>Papers like “{_e(query['title'])}” on its {_e(facet)}</h3>"
        f'<p class="meta">query paper {_e(query["id"])} · searched all '
        f"{example['corpus']:,} papers with {_e(example['scoring'])} · CSFCube's experts "
        f"judged {example['pool']} candidates for this query-facet</p>"
        f'<div class="query">The query paper (its {_e(facet)} sentences ask; the others are '
        f"shown grey):<ol>{''.join(items)}</ol></div>"
        f'<p class="meta">Top {len(hits)}, '
        "each with the sentence pairs that make it match (query sentence ↔ paper sentence, "
        f'cosine):</p><ol class="hits">{"".join(hits)}</ol></article>'
    )


def _rows(rows: Sequence[dict[str, Any]]) -> str:
    body = []
    for row in rows:
        ci = row.get("ci95") or {}
        cells = [
            _figure(row["figures"]["all"][m], (ci.get("all") or {}).get(m))
            for m in ("map", "ndcg%20")
        ]
        split = row["split"] if row["kind"] != "anchor" else "published"
        body.append(
            f'<tr class="{_e(row["kind"])}"><td><span class="kind">{_e(row["kind"])}</span><br>'
            f"{_e(row['name'])}</td>"
            f'<td class="num">{cells[0]}</td><td class="num">{cells[1]}</td>'
            f'<td class="note">{_e(row["note"])}<br><span class="ci">queries: {_e(split)}</span>'
            "</td></tr>"
        )
    head = (
        "<tr><th>System</th><th>MAP [95% CI]</th><th>NDCG%20 [95% CI]</th>"
        "<th>What the row is</th></tr>"
    )
    return f'<table class="figures">{head}{"".join(body)}</table>'


def _paired(rows: Sequence[dict[str, Any]]) -> str:
    for row in rows:
        comparison = row.get("vs_abstract")
        if comparison:
            m = comparison["map"]
            low, high = m["ci95"]
            return (
                f"<p>{_e(row['name'])} minus the plain abstract cosine, paired on the same "
                f"queries: MAP {m['difference']:+.2f} [{low:+.2f}, {high:+.2f}], "
                f"p = {m['p_value']:.3f}.</p>"
            )
    return ""


def _facet_plot(rows: Sequence[dict[str, Any]], folder: Path) -> str:
    plt = _pyplot()
    measured = [r for r in rows if r["kind"] != "anchor"]
    anchors = [r for r in rows if r["kind"] == "anchor"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    width = 0.8 / len(measured)
    x = np.arange(len(GROUPS))
    for ax, metric, label in zip(axes, ("map", "ndcg%20"), ("MAP", "NDCG%20"), strict=True):
        for i, row in enumerate(measured):
            values = [row["figures"][g][metric] for g in GROUPS]
            ax.bar(x - 0.4 + (i + 0.5) * width, values, width, label=row["name"])
        for j, anchor in enumerate(anchors):  # published for all facets together only
            value = anchor["figures"]["all"][metric]
            style = ("--", ":")[j % 2]
            ax.hlines(value, 2.55, 3.45, colors="k", linestyles=style, lw=1.4, label=anchor["name"])
        ax.set_xticks(x, GROUPS)
        ax.set_title(f"{label} per facet", fontsize=11)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(  # under the plots: saved with bbox_inches="tight", so it is kept
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, fontsize=8.5
    )
    return _save(fig, folder, "per-facet.png")


def _query_plot(rows: Sequence[dict[str, Any]], folder: Path) -> str | None:
    base = next((r for r in rows if r.get("per_query") and r["kind"] == "plain"), None)
    tuned = next((r for r in rows if r.get("per_query") and r["kind"] == "hybrid"), None)
    if base is None or tuned is None:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for facet, colour in FACET_COLOURS.items():
        keys = [k for k in tuned["per_query"] if k.endswith("_" + facet) and k in base["per_query"]]
        ax.scatter(
            [base["per_query"][k]["map"] for k in keys],
            [tuned["per_query"][k]["map"] for k in keys],
            s=22,
            color=colour,
            label=facet,
            alpha=0.85,
        )
    ax.plot([0, 100], [0, 100], color="#999", lw=1)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"AP, {base['name']}")
    ax.set_ylabel(f"AP, {tuned['name']}")
    ax.legend(fontsize=8)
    ax.set_title("each query-facet's AP", fontsize=10)
    return _save(fig, folder, "per-query.png")


def write_demo_report(demo: dict[str, Any], folder: Path) -> Path:
    """Write ``folder/index.html`` (with ``demo.json`` and the plots) for ``demo``: what
    ``finesim demo`` computed (``about``, ``examples``, ``rows``, ``timings``)."""
    folder.mkdir(parents=True, exist_ok=True)
    about, rows = demo["about"], demo["rows"]
    write_json(folder / "demo.json", demo)
    facets = _facet_plot(rows, folder)
    queries = _query_plot(rows, folder)
    examples = "".join(_example(e, i) for i, e in enumerate(demo["examples"], start=1))
    timing = demo.get("timings", {})
    spent = f" · {timing['total']:.0f} s" if "total" in timing else ""
    scatter = (
        f'<figure><img src="{queries}" alt="AP per query"><figcaption>Each point is one '
        "query-facet; above the line the hybrid ranks that query's pool better than the abstract "
        "cosine.</figcaption></figure>"
        if queries
        else ""
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>finesim demo: faceted paper search on CSFCube</title><style>{STYLE}</style></head>
<body><header><div class="wrap"><h1>Papers like this one, facet by facet</h1>
<p>finesim with <b>{_e(about["model"])}</b> ({about["dimension"]} dimensions) on CSFCube:
{about["papers"]:,} computer-science abstracts, {about["sentences"]:,} sentences,
{about["queries"]} judged query-facets{spent}</p></div></header>
<main class="wrap">
<section id="measured"><h2>What was measured</h2><p class="lead">
CSFCube (Mysore et al., NeurIPS 2021 Datasets and Benchmarks) asks for papers similar to a
query paper on one facet of it: its <i>background</i>, its <i>method</i> or its <i>result</i>.
Experts graded the candidates of each of its 50 query-facets (34 query papers, pools of 88 to
250 candidates) from 0 (irrelevant) to 3 (identical). First the job itself: two query papers
search the whole corpus, and each hit shows the sentence pairs that explain it. Then the
figures: every system re-ranks each judged pool, and MAP and NDCG%20 (NDCG over the top 20% of
the pool) are the mean of the two folds' test means, as CSFCube's <code>ranking_eval.py</code>
computes them. Brackets are 95% intervals (queries resampled within each fold).</p></section>
<section id="examples"><h2>Queries by example</h2>{examples}</section>
<section id="table"><h2>How well it ranks: CSFCube, all facets, two-fold test</h2>
{_rows(rows)}{_paired(rows)}</section>
<section id="facets"><h2>Per facet</h2>
<figure><img src="{facets}" alt="MAP and NDCG%20 per facet"><figcaption>The same systems per
facet (the preset row on fold 2's test queries only, see the table). Method queries are the
hardest for every system; the anchors are published for all facets together only.
</figcaption></figure>{scatter}</section>
<footer>Made by <code>finesim demo</code> (<code>make demo</code>); everything on this page is in
<code>demo.json</code> beside it. Rows: <code>finesim eval csfcube --scoring min-l2</code>,
<code>--scoring abstract</code>, <code>--scoring hybrid</code>, <code>--cv --learn</code>,
<code>--rankings sample_ranked_pools</code>. Model fingerprint {_e(about["fingerprint"])}.
CSFCube is CC BY-NC 4.0 (iesl/CSFCube).</footer>
</main></body></html>
"""
    index = folder / "index.html"
    with atomic_path(index) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return index
