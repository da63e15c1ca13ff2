"""Eval history: one line per run with date, commit, index build and figures per set; the
newest figures per set; the accuracy plot; a corrupt line set aside."""

from __future__ import annotations

import json

import pytest

from rag.errors import InputError
from rag.evaluation.history import (
    append_history,
    git_commit,
    history_entry,
    latest_figures,
    plot_history,
    read_history,
)
from rag.settings import PROJECT_ROOT


def _summary(acc: float, n: int = 10) -> dict:
    return {"questions": {"n": n}, "answers": {"all": {"accuracy": acc, "refusal_rate": 0.5}},
            "retrieval": {"hybrid": {"all": {"recall@5": 0.9, "mrr@10": 0.8}}}}


def test_history_lines_latest_figures_and_plot(tmp_path):
    path = tmp_path / "history.jsonl"
    runs = [({"dev": _summary(0.8), "reviewed": _summary(0.5, 2)}, "2026-11-01T10:00:00+0800"),
            ({"dev": _summary(0.85)}, "2026-11-10T10:00:00+0800"),
            ({"reviewed": _summary(0.75, 4)}, "2026-11-20T10:00:00+0800")]
    for i, (sums, date) in enumerate(runs):
        append_history(path, history_entry(sums, commit=f"c{i}", dirty=False, build=f"b{i}",
                                           date=date))
    entries = read_history(path)
    assert [e["commit"] for e in entries] == ["c0", "c1", "c2"]
    assert entries[0]["sets"]["dev"] == {"n": 10, "accuracy": 0.8, "refusal_rate": 0.5,
                                         "recall@5": 0.9, "mrr@10": 0.8}
    latest = latest_figures(entries)
    assert latest["dev"]["accuracy"] == 0.85 and latest["dev"]["commit"] == "c1"
    assert latest["reviewed"]["n"] == 4 and latest["reviewed"]["index_build"] == "b2"
    png = plot_history(entries, tmp_path / "report" / "history.png")
    data = png.read_bytes()
    assert data[:4] == b"\x89PNG" and len(data) > 5000
    # An unchanged history draws an unchanged file (no date or software metadata).
    assert plot_history(entries, tmp_path / "again.png").read_bytes() == data


def test_corrupt_history_line_is_set_aside_and_empty_history_is_explained(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"date": "2026-11-01", "sets": {}}\nnot json\n{"sets": 3}\n',
                    encoding="utf-8")
    assert len(read_history(path)) == 1
    assert path.with_name("history.jsonl.rejected").read_text().splitlines() == [
        "not json", '{"sets": 3}']
    assert read_history(tmp_path / "none.jsonl") == []
    with pytest.raises(InputError, match="history"):
        plot_history([], tmp_path / "x.png")


def test_git_commit_of_this_checkout_and_outside_git(tmp_path):
    commit, dirty = git_commit(PROJECT_ROOT)
    assert len(commit) >= 7 and isinstance(dirty, bool)
    assert git_commit(tmp_path) == ("", False)
    json.dumps({"commit": commit})
