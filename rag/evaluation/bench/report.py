"""The bench's outputs: ``bench.md`` (tables and chart), ``bench.json`` (raw numbers),
``bench.png``, and the plain-text summary ``rag bench`` prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rag.evaluation.bench.measure import (
    ALT_HYBRID_QUESTIONS,
    SCALE_TARGET_N,
    TARGETS,
    ratio,
)
from rag.evaluation.common import markdown_table

__all__ = ["format_table", "render_markdown", "write_chart", "write_report"]


def render_markdown(r: dict, chart: str | None = "bench.png") -> str:
    """The human report: every table of ``r`` plus the chart."""
    out = _intro(r) + _five_articles(r)
    if r["scale"]:
        out += _scale_section(r)
    if r.get("backends"):
        out += _backends_section(r["backends"])
    if chart:
        out.append(f"\n![latency and build time]({chart})\n")
    return "\n".join(out) + "\n"


def _intro(r: dict) -> list[str]:
    meta = r["meta"]
    return [f"# rag bench\n\nRun {meta['started']} on {meta['cpus']} CPU(s), Python "
            f"{meta['python']}, model `{Path(meta['model']).name}`, {meta['questions']} "
            f"questions, {meta['total_s']} s in all. Raw numbers: `bench.json`; rerun with "
            "`rag bench`.\n",
            f"Load average (1/5/15 min) {meta.get('loadavg_start')} at the start and "
            f"{meta.get('loadavg_end')} at the end: other processes shared the CPUs, which "
            "inflates latencies; the ours/naive ratios, measured in the same run, stay "
            "comparable.\n"]


def _five_articles(r: dict) -> list[str]:
    lat, b, nv = r["latency_ms"], r["build"], r["naive"]
    out = ["## Five articles\n", markdown_table(["figure", "value"], [
        ["model load (first encode)", f"{r['model']['first_encode_s']} s ({r['model'].get('runtime', 'torch')})"],
        ["index build, all chunks and sentences embedded",
         f"{b['seconds']} s ({b['docs']} articles, {b['chunks']} chunks, "
         f"{b.get('sentences', 0)} sentences, {b['chunks_per_s']} chunks/s)"],
        ["cold start, `python -m rag ask --json` end to end",
         f"{r['cold_start']['subprocess_s']} s"],
        ["cold start inside a fresh process (model + index + first answer)",
         f"{r['cold_start']['in_process_s']} s (+{r['cold_start']['import_s']} s imports)"],
        ["serving process peak RSS (VmHWM)",
         f"{r['serving']['vmhwm_mb']} MB (target ≤ {TARGETS['serving_rss_mb']} MB: "
         f"{'met' if r['serving']['ok'] else 'MISSED'})"],
    ])]
    out.append("\n### Warm latency (ms)\n")
    out.append(markdown_table(["operation", "p50", "p95", "p99", "n"], [
        [k, v["p50"], v["p95"], v["p99"], v["n"]] for k, v in lat.items()]
        + [["naive search (dense)", nv["query_ms"]["p50"], nv["query_ms"]["p95"],
            nv["query_ms"]["p99"], nv["query_ms"]["n"]]]))
    ratios = nv["ratios_ours_over_naive"]
    out.append("\n### Ours vs the naive pipeline (same run, same embedder)\n")
    out.append(markdown_table(["figure", "ours", "naive", "ours/naive"], [
        ["build (s)", b["seconds"], nv["build_s"], ratios["build_s"]],
        ["chunks", b["chunks"], nv["chunks"], ratio(b["chunks"], nv["chunks"])],
        ["search p50 (ms), hybrid vs naive dense", lat["search_hybrid"]["p50"],
         nv["query_ms"]["p50"], ratios["hybrid_p50"]],
        ["search p50 (ms), dense vs naive dense", lat["search_dense"]["p50"],
         nv["query_ms"]["p50"], ratios["dense_p50"]],
        ["answer p50 (ms) vs naive search", lat["ask"]["p50"], nv["query_ms"]["p50"],
         ratios["ask_p50"]],
    ]))
    return out


def _scale_section(r: dict) -> list[str]:
    out = ["\n## Scale (synthetic chunks)\n",
           "Chunks are perturbed copies of the real ones (districts swapped, years shifted, "
           "other numbers scaled, sentences shuffled; seed "
           f"{r['meta']['seed']}). Embedding 100k chunks with the real model would take about an "
           "hour on 2 cores, so a copy's **vector is its original's plus Gaussian noise** "
           f"(σ={r['scale'][0]['noise_sigma']} per dimension, renormalised); BM25 indexes the "
           "perturbed texts. Query latencies use the real questions; hybrid runs through "
           "`Retriever.search` (query encoding, typo correction, dense + BM25, RRF).\n",
           _scale_table(r["scale"]),
           "\nMemory added by each structure (RSS delta, MB) and BM25 tokenisation "
           "(jieba; memoised per sentence in the bench, projected without memo):\n",
           markdown_table(["chunks", "exact", "HNSW", "BM25", "tokenise s (memo)",
                           "tokenise s (projected, no memo)"],
                          [[s["n_chunks"], s["exact"]["rss_delta_mb"],
                            s["hnsw"]["rss_delta_mb"], s["bm25"]["rss_delta_mb"],
                            s["bm25"]["tokenize_s"],
                            s["bm25"]["tokenize_uncached_projected_s"]]
                           for s in r["scale"]]),
           "\nWhere a hybrid query's time goes (stage p50, ms, configured index), the "
           "first query after loading (it builds the typo corrector), and HNSW with a "
           "wider search (`efSearch`):\n",
           _stage_table(r["scale"]),
           f"\nThe hybrid column for the index that is not configured uses the first "
           f"{ALT_HYBRID_QUESTIONS} questions."]
    for s in (s for s in r["scale"] if s["n_chunks"] >= SCALE_TARGET_N):
        ann = s["hybrid"]["configured_ann"]
        out.append(f"\nTargets at {s['n_chunks']} chunks: hybrid p50 "
                   f"{s['hybrid'][ann]['query_ms']['p50']} ms with the configured "
                   f"`{ann}` index (target ≤ {TARGETS['scale_hybrid_p50_ms']} ms), peak RSS "
                   f"{s['rss']['vmhwm_mb']} MB (target ≤ {TARGETS['scale_rss_mb']} MB): "
                   f"**{'met' if s['ok'] else 'MISSED'}**.")
    return out


def _scale_table(scale: list[dict]) -> str:
    rows = []
    for s in scale:
        hy = s["hybrid"]
        rows.append([s["n_chunks"], s["exact"]["build_s"], s["exact"]["query_ms"]["p50"],
                     s["exact"]["query_ms"]["p95"], s["exact"]["query_ms_1thread"]["p50"], s["hnsw"]["build_s"],
                     s["hnsw"]["query_ms"]["p50"], s["hnsw"]["query_ms"]["p95"],
                     s["hnsw"]["recall_at_10"], s["bm25"]["build_s"],
                     s["bm25"]["query_ms"]["p50"], s["bm25"]["query_ms"]["p95"],
                     hy["exact"]["query_ms"]["p50"], hy["hnsw"]["query_ms"]["p50"],
                     s["rss"]["vmrss_mb"], s["rss"]["vmhwm_mb"]])
    return markdown_table(
        ["chunks", "exact build s", "exact p50 ms", "exact p95 ms",
         "exact p50 ms (1 thread)", "HNSW build s",
         "HNSW p50 ms", "HNSW p95 ms", "HNSW recall@10", "BM25 build s", "BM25 p50 ms",
         "BM25 p95 ms", "hybrid p50 ms (exact)", "hybrid p50 ms (HNSW)", "RSS MB",
         "peak RSS MB"], rows)


def _stage_table(scale: list[dict]) -> str:
    rows = []
    for s in scale:
        h = s["hybrid"][s["hybrid"]["configured_ann"]]
        st = h["stage_p50_ms"]
        sweep = ", ".join(f"ef {x['ef_search']}: recall {x['recall_at_10']}, "
                          f"p50 {x['query_ms']['p50']} ms" for x in s["hnsw"]["ef_sweep"])
        rows.append([s["n_chunks"], st.get("prepare"), st.get("dense"), st.get("bm25"),
                     st.get("fuse"), h["first_query_ms"],
                     f"ef {s['hnsw']['ef_search']}: recall {s['hnsw']['recall_at_10']} "
                     f"(same source passage: {s['hnsw']['source_recall_at_10']}); {sweep}"])
    return markdown_table(["chunks", "prepare (typo corrector)", "dense (encode + FAISS)",
                           "bm25", "fuse", "first query ms", "HNSW recall@10"], rows)


def write_chart(r: dict, path: Path) -> None:
    """Two panels: warm latency of each operation; query p50 against corpus size."""
    import matplotlib  # lazy: matplotlib is slow to import and only the report draws

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    names = list(r["latency_ms"]) + ["naive"]
    p50 = [v["p50"] for v in r["latency_ms"].values()] + [r["naive"]["query_ms"]["p50"]]
    p95 = [v["p95"] for v in r["latency_ms"].values()] + [r["naive"]["query_ms"]["p95"]]
    x = np.arange(len(names))
    ax.bar(x - 0.2, p50, 0.4, label="p50")
    ax.bar(x + 0.2, p95, 0.4, label="p95")
    ax.set_xticks(x, [n.replace("search_", "") for n in names])
    ax.set_ylabel("ms")
    ax.set_title(f"Warm latency, {r['build']['chunks']} real chunks")
    ax.legend()
    ax = axes[1]
    if r["scale"]:
        ns = [s["n_chunks"] for s in r["scale"]]
        series = {"exact": [s["exact"]["query_ms"]["p50"] for s in r["scale"]],
                  "HNSW": [s["hnsw"]["query_ms"]["p50"] for s in r["scale"]],
                  "BM25": [s["bm25"]["query_ms"]["p50"] for s in r["scale"]],
                  "hybrid (end to end)": [s["hybrid"][s["hybrid"]["configured_ann"]]
                                          ["query_ms"]["p50"] for s in r["scale"]]}
        for label, ys in series.items():
            ax.plot(ns, ys, marker="o", label=label)
        ax.axhline(TARGETS["scale_hybrid_p50_ms"], color="grey", ls="--", lw=1,
                   label="hybrid target")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks (synthetic)")
        ax.set_ylabel("query p50, ms")
        ax.set_title("Query latency vs corpus size")
        ax.legend(fontsize=8)
    else:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _backends_section(rows: list[dict]) -> list[str]:
    def lat(v: dict) -> str:
        return f"{v['p50']} / {v['p95']}"

    n = rows[0]["synthetic"]["n_chunks"]
    out = ["\n## Index back-ends side by side\n",
           "Each back-end in a process of its own, the same encoder and questions. Five "
           "articles: a full build (every chunk and sentence embedded), then warm hybrid "
           f"search, BM25 alone and extractive answers. {n} synthetic chunks (one article "
           "each, vectors given, so no embedding): the rows written and switched in, the "
           "build loaded as a serving process loads it, then warm hybrid search. Milvus is "
           "a private `milvus-lite server` on loopback started by the bench; its RSS is the "
           "server's, beside the client's.\n",
           markdown_table(["figure", *(b["backend"] for b in rows)], [
               ["five articles: build s (chunks/s)",
                *(f"{b['five']['build_s']} ({b['five']['chunks_per_s']})" for b in rows)],
               ["five articles: hybrid search p50 / p95 ms",
                *(lat(b["five"]["search_ms"]) for b in rows)],
               ["five articles: BM25 search p50 / p95 ms",
                *(lat(b["five"]["bm25_ms"]) for b in rows)],
               ["five articles: answer p50 / p95 ms", *(lat(b["five"]["ask_ms"]) for b in rows)],
               ["five articles: client RSS MB", *(b["five"]["rss"]["vmrss_mb"] for b in rows)],
               [f"{n} chunks: write + switch s (rows/s)",
                *(f"{b['synthetic']['write_s']} ({b['synthetic']['rows_per_s']})"
                  for b in rows)],
               [f"{n} chunks: load s", *(b["synthetic"]["load_s"] for b in rows)],
               [f"{n} chunks: hybrid search p50 / p95 ms",
                *(lat(b["synthetic"]["search_ms"]) for b in rows)],
               ["client peak RSS MB (VmHWM)", *(b["rss"]["vmhwm_mb"] for b in rows)],
               ["server RSS MB (VmRSS / VmHWM)",
                *(f"{b['server_rss'].get('vmrss_mb')} / {b['server_rss'].get('vmhwm_mb')}"
                  if b.get("server_rss") else "—" for b in rows)],
           ])]
    return out


def write_report(r: dict, out_md: Path) -> tuple[Path, Path, Path]:
    """Write ``out_md`` and, beside it, ``<stem>.json`` (raw numbers) and ``<stem>.png``."""
    out_md = Path(out_md)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    js, png = out_md.with_suffix(".json"), out_md.with_suffix(".png")
    js.write_text(json.dumps(r, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_chart(r, png)
    out_md.write_text(render_markdown(r, png.name), encoding="utf-8")
    return out_md, js, png


def format_table(r: dict) -> str:
    """A plain-text summary for the terminal."""
    lat = r["latency_ms"]
    lines = [f"model load        {r['model']['first_encode_s']:.2f} s",
             f"index build       {r['build']['seconds']:.2f} s  ({r['build']['chunks']} chunks + "
             f"{r['build'].get('sentences', 0)} sentences, {r['build']['chunks_per_s']} chunks/s; naive {r['naive']['build_s']:.2f} s)",
             f"cold start        {r['cold_start']['subprocess_s']:.2f} s subprocess, "
             f"{r['cold_start']['in_process_s']:.2f} s in process",
             f"serving peak RSS  {r['serving']['vmhwm_mb']:.0f} MB",
             "latency ms        p50 / p95 / p99"]
    for k, v in lat.items():
        lines.append(f"  {k:<15} {v['p50']:>8} / {v['p95']:>8} / {v['p99']:>8}")
    nq = r["naive"]["query_ms"]
    lines.append(f"  {'naive':<15} {nq['p50']:>8} / {nq['p95']:>8} / {nq['p99']:>8}")
    for s in r["scale"]:
        ann = s["hybrid"]["configured_ann"]
        lines.append(f"scale {s['n_chunks']:>7}: exact p50 {s['exact']['query_ms']['p50']} ms, "
                     f"HNSW p50 {s['hnsw']['query_ms']['p50']} ms recall@10 "
                     f"{s['hnsw']['recall_at_10']}, BM25 p50 {s['bm25']['query_ms']['p50']} ms, "
                     f"hybrid p50 {s['hybrid'][ann]['query_ms']['p50']} ms ({ann}), "
                     f"peak RSS {s['rss']['vmhwm_mb']:.0f} MB")
    for b in r.get("backends", []):
        syn = b["synthetic"]
        lines.append(f"back-end {b['backend']:<6}: five articles hybrid p50 "
                     f"{b['five']['search_ms']['p50']} ms, build {b['five']['build_s']} s; "
                     f"{syn['n_chunks']} chunks write {syn['write_s']} s, hybrid p50 "
                     f"{syn['search_ms']['p50']} ms; client peak RSS {b['rss']['vmhwm_mb']:.0f} MB"
                     + (f", server {b['server_rss'].get('vmhwm_mb')} MB"
                        if b.get("server_rss") else ""))
    return "\n".join(lines)
