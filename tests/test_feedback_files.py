"""The shared JSON-lines files (feedback log, reviewed set, history): locked appends and
atomic rewrites from two processes lose no line; a corrupt or torn line is set aside in
``.rejected``, logged, and never lost."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
from pathlib import Path

import pytest

from rag.app.feedback import CAPS, FeedbackLog
from rag.errors import InputError, NotFoundError
from rag.linefile import LineFile, read_jsonl

N = 150  # records per writer


def _writer(path: str, tag: str, mark_every: int) -> None:
    """Append N votes; every ``mark_every``-th one is then marked skipped, which rewrites
    the whole file while the other process keeps appending."""
    log = FeedbackLog(Path(path))
    for i in range(N):
        rec = log.append(question=f"{tag}-{i} 海珠的目标是多少", answer="200个[1]",
                         citations=[{"n": 1}], vote="down", comment="长" * 300)
        if mark_every and i % mark_every == 0:
            log.mark(rec["id"], "skipped")


def test_two_writer_processes_lose_no_line(tmp_path):
    path = tmp_path / "eval" / "feedback.jsonl"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), tag, 10)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    recs = FeedbackLog(path).entries()
    assert sorted(r["question"] for r in recs) == sorted(
        f"{t}-{i} 海珠的目标是多少" for t in ("a", "b") for i in range(N))
    skipped = {r["question"].split()[0] for r in recs if r["status"] == "skipped"}
    assert skipped == {f"{t}-{i}" for t in ("a", "b") for i in range(0, N, 10)}
    assert len({r["id"] for r in recs}) == 2 * N
    assert not path.with_name("feedback.jsonl.rejected").exists()


def test_a_corrupt_line_is_set_aside_with_a_warning(tmp_path, caplog):
    path = tmp_path / "feedback.jsonl"
    good = {"question": "南沙补贴最多多少", "answer": "a", "vote": "down"}
    bad_json = '{"question": "半行'
    bad_vote = json.dumps({"question": "q", "vote": "maybe"}, ensure_ascii=False)
    path.write_text("\n".join([json.dumps(good, ensure_ascii=False), bad_json, "[1, 2]",
                               bad_vote, ""]), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="rag.linefile"):
        recs = FeedbackLog(path).entries()
    assert [r["question"] for r in recs] == ["南沙补贴最多多少"]
    assert len([r for r in caplog.records if "set aside" in r.getMessage()]) == 3
    rejected = path.with_name("feedback.jsonl.rejected").read_text(encoding="utf-8")
    assert rejected.splitlines() == [bad_json, "[1, 2]", bad_vote]  # verbatim, mendable
    # The log no longer holds them, so the next read warns about nothing new.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag.linefile"):
        assert len(FeedbackLog(path).entries()) == 1
    assert not caplog.records


def test_a_torn_last_line_does_not_swallow_the_next_record(tmp_path):
    path = tmp_path / "feedback.jsonl"
    log = FeedbackLog(path)
    log.append(question="第一条", answer="a", citations=[], vote="up")
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"question": "写到一半的')  # a writer killed mid-line
    log.append(question="第三条", answer="c", citations=[], vote="down")
    assert [r["question"] for r in log.entries()] == ["第一条", "第三条"]
    assert "写到一半" in path.with_name("feedback.jsonl.rejected").read_text(encoding="utf-8")


def test_a_record_says_what_answered_and_never_who_asked(tmp_path):
    log = FeedbackLog(tmp_path / "fb.jsonl")
    rec = log.append(question="问" * 3000, answer="答", citations=[{"n": 1}], vote="down",
                     comment="意见", mode="llm", index_build="20261130-101500-42-1")
    assert len(rec["question"]) == CAPS["question"] and rec["question"].endswith("…")
    stored = json.loads((tmp_path / "fb.jsonl").read_text(encoding="utf-8"))
    assert stored["mode"] == "llm" and stored["index_build"] == "20261130-101500-42-1"
    assert set(stored) == {"id", "time", "question", "answer", "citations", "vote", "comment",
                           "mode", "index_build"}
    with pytest.raises(InputError):
        log.append(question="q", answer="a", citations=[], vote="meh")
    with pytest.raises(InputError):
        log.append(question="  ", answer="a", citations=[], vote="up")


def test_mark_delete_and_records_from_before_ids(tmp_path):
    path = tmp_path / "fb.jsonl"
    old = {"question": "旧记录", "answer": "a", "citations": [], "vote": "down", "comment": "",
           "time": "2026-01-02T03:04:05+0800"}
    path.write_text(json.dumps(old, ensure_ascii=False) + "\n", encoding="utf-8")
    log = FeedbackLog(path)
    first = log.entries()[0]
    assert first["status"] == "new" and len(first["id"]) == 12
    assert log.entries()[0]["id"] == first["id"]  # stable without being written
    log.mark(first["id"], "reviewed", "rv-1")
    got = log.get(first["id"])
    assert (got["status"], got["question_id"]) == ("reviewed", "rv-1") and got["reviewed_at"]
    assert log.mark(first["id"], "new")["status"] == "new"
    log.delete(first["id"])
    assert log.entries() == []
    with pytest.raises(NotFoundError):
        log.delete(first["id"])
    with pytest.raises(InputError):
        log.mark("x", "archived")


def test_line_file_update_is_all_or_nothing(tmp_path):
    f = LineFile(tmp_path / "x.jsonl")
    f.append([{"a": 1}, {"a": 2}])

    def boom(records):
        raise RuntimeError("crash while changing")

    with pytest.raises(RuntimeError):
        f.update(boom)
    assert f.read() == [{"a": 1}, {"a": 2}]
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_an_input_file_is_read_whole_or_refused_naming_its_bad_line(tmp_path):
    p = tmp_path / "in.jsonl"
    p.write_bytes('\ufeff{"id": "a", "question": "青禾区有几座充电站?"}\n\n'.encode())
    assert read_jsonl(p, ("id", "question")) == [{"id": "a", "question": "青禾区有几座充电站?"}]
    p.write_text('{"id": "a", "question": "q"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(InputError, match='line 2 needs at least "id" and "question"'):
        read_jsonl(p, ("id", "question"))
    p.write_text('{"id": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        read_jsonl(p)
    with pytest.raises(InputError, match="Cannot read"):
        read_jsonl(tmp_path / "missing.jsonl")
