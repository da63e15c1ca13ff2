"""The eval's outputs: run files, answers.jsonl, summary.json, latency.json, report.md and
chart.png in one folder, and the plain-text table ``rag eval`` prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rag.evaluation.baseline import NAIVE_OVERLAP, NAIVE_WINDOW
from rag.evaluation.common import markdown_table
from rag.evaluation.metrics import EVAL_K, K_VALUES, PREFIX_CHARS
from rag.evaluation.results import EvalResult, write_trec

__all__ = ["ANSWER_COLS", "RETRIEVAL_COLS", "format_table", "render_markdown", "write_chart",
           "write_report"]

RETRIEVAL_COLS = (*(f"recall@{k}" for k in K_VALUES), f"recall@{PREFIX_CHARS}ch",
                  f"mrr@{EVAL_K}", f"ndcg@{EVAL_K}", "top1_article")
ANSWER_COLS = ("accuracy", "false_refusal_rate", "refusal_rate", "median_chars")


def _fmt(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def _table(header, rows) -> str:
    return markdown_table(header, rows, _fmt)


def _gain(summary: dict, method: str, col: str) -> str:
    base = summary["retrieval"].get("naive", {}).get("all", {})
    if method == "naive" or col not in base:
        return "-"
    return f"{summary['retrieval'][method]['all'][col] - base[col]:+.3f}"


def render_markdown(summary: dict, latency: dict, chart: str | None = "chart.png") -> str:
    """The human report: retrieval, answers, by type, latency, the chart."""
    out = _intro(summary) + _retrieval_section(summary)
    if chart:
        out += [f"![recall and MRR per method]({chart})", ""]
    if "answers" in summary:
        out += _answers_section(summary["answers"])
    out += _by_type_section(summary["retrieval"]) + _latency_section(latency)
    return "\n".join(out)


def _intro(summary: dict) -> list[str]:
    st = summary["settings"]
    qs = summary["questions"]
    return ["# Evaluation report", "",
            f"{qs['n']} questions ({qs['answerable']} answerable, {qs['unanswerable']} "
            f"unanswerable) from `{qs['file']}`; model `{st['model_id']}`, chunks of "
            f"~{st['chunk_chars']} characters, fusion `{st['fusion']}`, refuse threshold "
            f"{st['refuse_threshold']}, corpus `{st['corpus_fingerprint']}`.", "",
            "A chunk is relevant when it contains an evidence string (NFKC, whitespace "
            "removed). Recall@k: share of answerable questions whose evidence is in the top k "
            "(multi-document questions score the share of their evidence found). "
            f"Recall@{PREFIX_CHARS}ch counts evidence within the first {PREFIX_CHARS} "
            "characters of ranked text, which is fair across chunk sizes. `naive` = raw text, "
            f"{NAIVE_WINDOW}-character windows with {NAIVE_OVERLAP} overlap, same encoder, "
            "dense only.", ""]


def _retrieval_section(summary: dict) -> list[str]:
    r = summary["retrieval"]
    rows = [[m, *(r[m]["all"].get(c, "-") for c in RETRIEVAL_COLS),
             _gain(summary, m, "recall@5"), _gain(summary, m, f"mrr@{EVAL_K}")] for m in r]
    return ["## Retrieval", "",
            _table(["method", *RETRIEVAL_COLS, "Δrecall@5 vs naive", "ΔMRR vs naive"], rows), ""]


def _answers_section(a: dict) -> list[str]:
    rows = [["all", a["all"]["n"], *(a["all"].get(c, "-") for c in ANSWER_COLS)]]
    groups = {**a.get("by_type", {}), **{f"tag:{k}": v for k, v in a.get("by_tag", {}).items()}}
    rows += [[t, v["n"], *(v.get(c, "-") for c in ANSWER_COLS)] for t, v in groups.items()]
    return ["## Answers (extractive, default pipeline)", "",
            "Correct = not refused and contains every answer key (normalised); refusal "
            "rate over unanswerable questions; false refusals over answerable ones; "
            "median length without [n] markers, over answers given.", "",
            _table(["group", "n", *ANSWER_COLS], rows), ""]


def _by_type_section(r: dict) -> list[str]:
    cols = ("recall@1", "recall@5", f"mrr@{EVAL_K}", "top1_article")
    rows = []
    for m in r:
        for group in ("by_type", "by_tag"):
            for t, v in r[m].get(group, {}).items():
                label = t if group == "by_type" else f"tag:{t}"
                rows.append([m, label, v["n"], *(v.get(c, "-") for c in cols)])
    return ["## Retrieval by question type", "", _table(["method", "group", "n", *cols], rows), ""]


def _latency_section(latency: dict) -> list[str]:
    rows = []
    for m, stages in latency.get("search", {}).items():
        rows += [[f"search {m}", k, v["p50"], v["p95"]] for k, v in stages.items()]
    rows += [["answer", k, v["p50"], v["p95"]] for k, v in latency.get("answer", {}).items()]
    return ["## Latency (ms, this run; varies between runs)", "",
            _table(["what", "stage", "p50", "p95"], rows), ""]


def write_chart(summary: dict, path: Path) -> None:
    """Grouped bars: recall@1/3/5/10 and MRR@10 for each method."""
    import matplotlib  # lazy: matplotlib is slow to import and only the report draws

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    metrics = [*(f"recall@{k}" for k in K_VALUES), f"mrr@{EVAL_K}"]
    methods = list(summary["retrieval"])
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(metrics))
    for i, m in enumerate(methods):
        vals = [summary["retrieval"][m]["all"].get(c, 0.0) for c in metrics]
        ax.bar(x + (i - (len(methods) - 1) / 2) * width, vals, width, label=m)
    ax.set_xticks(x, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (answerable questions)")
    ax.set_title("Retrieval quality per method")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    # No software/date metadata, so an unchanged run writes an unchanged file.
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def write_report(result: EvalResult, folder: Path) -> None:
    """Write run files, answers.jsonl, summary.json, latency.json, chart.png, report.md."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for method, run in result.runs.items():
        write_trec(folder / f"run.{method}.trec", run, f"rag-{method}")
    for name, rows in (("answers.jsonl", result.answers), ("answers_llm.jsonl", result.answers_llm)):
        if rows:
            with open(folder / name, "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    dump = dict(ensure_ascii=False, indent=2, sort_keys=False)
    (folder / "summary.json").write_text(json.dumps(result.summary, **dump) + "\n",
                                         encoding="utf-8")
    (folder / "latency.json").write_text(json.dumps(result.latency, **dump) + "\n",
                                         encoding="utf-8")
    write_chart(result.summary, folder / "chart.png")
    (folder / "report.md").write_text(render_markdown(result.summary, result.latency) + "\n",
                                      encoding="utf-8")


def format_table(summary: dict) -> str:
    """The compact plain-text table ``rag eval`` prints."""
    short = ("R@1", "R@3", "R@5", "R@10", "R@1kch", "MRR", "nDCG", "Top1doc")
    lines = [f"{'method':<16}" + "".join(f"{h:>8}" for h in short)]
    for m, v in summary["retrieval"].items():
        lines.append(f"{m:<16}" + "".join(f"{v['all'].get(c, 0.0):>8.3f}" for c in RETRIEVAL_COLS))
    if "answers" in summary:
        a = summary["answers"]["all"]
        lines.append(f"answers: accuracy {a.get('accuracy', 0.0):.3f}, refusal (unanswerable) "
                     f"{a.get('refusal_rate', 0.0):.3f}, false refusal "
                     f"{a.get('false_refusal_rate', 0.0):.3f}, median {a['median_chars']:.0f} "
                     "chars")
    q = summary["questions"]
    lines.append(f"({q['answerable']} answerable / {q['n']} questions)")
    return "\n".join(lines)
