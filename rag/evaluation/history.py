"""Eval runs over time: ``rag eval --history`` appends one line per run to eval/history.jsonl
and plots answer accuracy per question set into the report (``history.png``).

One line::

    {"date": "2026-11-30T10:02:11+0800", "commit": "7a6fcd3", "dirty": false,
     "index_build": "20261130-095812-4242-1", "sets": {"dev": {"n": 139, "accuracy": 0.911,
     "refusal_rate": 0.933, "false_refusal_rate": 0.024, "recall@5": 0.972, "mrr@10": 0.92}}}
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rag.errors import InputError
from rag.evaluation.sets import find_figure
from rag.linefile import LineFile

__all__ = ["HISTORY_FIGURES", "append_history", "git_commit", "history_entry", "index_build",
           "latest_figures", "plot_history", "read_history", "record_run"]

# name in history.jsonl -> dotted path into one set's summary.json
HISTORY_FIGURES = {
    "n": "questions.n",
    "accuracy": "answers.all.accuracy",
    "refusal_rate": "answers.all.refusal_rate",
    "false_refusal_rate": "answers.all.false_refusal_rate",
    "recall@5": "retrieval.hybrid.all.recall@5",
    "mrr@10": "retrieval.hybrid.all.mrr@10",
}


def index_build(snapshot) -> str:
    """The live build's name (its folder under index/builds/, which starts with its build
    time), or the manifest's build time when the snapshot has no folder."""
    path = getattr(snapshot, "path", None)
    return Path(path).name if path else str(snapshot.manifest.built_at)


def git_commit(root: Path) -> tuple[str, bool]:
    """(short commit of ``root``'s checkout, whether tracked files differ from it); ("",
    False) outside git."""
    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip()

    try:
        return git("rev-parse", "--short", "HEAD"), bool(
            git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "", False


def history_entry(summaries: Mapping[str, dict], *, commit: str, dirty: bool,
                  build: str, date: str | None = None) -> dict:
    """One history line from each set's summary (figures a run lacks are left out)."""
    sets = {}
    for name, summary in summaries.items():
        figs = {k: find_figure(summary, p) for k, p in HISTORY_FIGURES.items()}
        sets[name] = {k: v for k, v in figs.items() if v is not None}
    return {"date": date or time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit,
            "dirty": dirty, "index_build": build, "sets": sets}


def _check(obj: dict) -> str | None:
    if not isinstance(obj.get("date"), str) or not isinstance(obj.get("sets"), dict):
        return "needs a 'date' string and a 'sets' object"
    return None


def append_history(path: Path, entry: dict) -> None:
    """Append ``entry`` to the history file (created when missing)."""
    LineFile(Path(path), check=_check).append([entry])


def read_history(path: Path) -> list[dict]:
    """Every run in the history file, oldest first; [] when there is none."""
    path = Path(path)
    return LineFile(path, check=_check).read() if path.exists() else []


def latest_figures(entries: Sequence[dict]) -> dict[str, dict]:
    """Set name -> its figures from the newest run that scored it, with that run's
    ``date``, ``commit`` and ``index_build``."""
    out: dict[str, dict] = {}
    for e in entries:
        for name, figs in e.get("sets", {}).items():
            out[name] = {**figs, "date": e["date"], "commit": e.get("commit", ""),
                         "index_build": e.get("index_build", "")}
    return out


def plot_history(entries: Sequence[dict], path: Path, figure: str = "accuracy") -> Path:
    """A line per question set: ``figure`` (answer accuracy) for each run, oldest left."""
    if not entries:
        raise InputError("There is no eval history yet; run `rag eval --history` first.")
    import matplotlib  # lazy: matplotlib is slow to import and only the plot needs it

    matplotlib.use("Agg")  # no display on servers and in tests
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(n for e in entries for n in e.get("sets", {})))
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
    for name in names:
        pts = [(i, e["sets"][name][figure]) for i, e in enumerate(entries)
               if figure in e.get("sets", {}).get(name, {})]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, marker="o", label=name)
    step = max(1, len(entries) // 10)
    ticks = list(range(0, len(entries), step))
    ax.set_xticks(ticks, [f"{entries[i]['date'][:10]}\n{entries[i].get('commit', '')}"
                          for i in ticks], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"answer {figure}")
    ax.set_title(f"Answer {figure} per question set, run by run")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def record_run(summaries: Mapping[str, dict], *, history: Path, root: Path, snapshot,
               report_dir: Path) -> Path:
    """``rag eval --history``: append this run to ``history``, plot every run so far into
    ``report_dir/history.png`` and link the plot from ``report_dir/report.md``; returns
    the plot's path."""
    commit, dirty = git_commit(root)
    append_history(history, history_entry(summaries, commit=commit, dirty=dirty,
                                          build=index_build(snapshot)))
    entries = read_history(history)
    png = plot_history(entries, Path(report_dir) / "history.png")
    report = Path(report_dir) / "report.md"
    if report.exists():
        with open(report, "a", encoding="utf-8") as f:
            f.write(f"\n## History\n\nAnswer accuracy per set over the {len(entries)} runs "
                    f"in `{Path(history).name}` (newest right).\n\n![accuracy over time]"
                    "(history.png)\n")
    return png
