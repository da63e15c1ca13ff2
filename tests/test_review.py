"""The review desk over the real corpus with the fast fake encoder: a logged vote becomes an
eval question with verbatim evidence and its origin; duplicates, unanswerable questions,
edits, skips, deletions, export and import; the review routes and their login; and
``rag eval --questions reviewed.jsonl --history`` scoring the result. Questions here are
made up for the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_corpus
from fastapi.testclient import TestClient

from rag.app.api import create_app
from rag.app.cli import main as rag_main
from rag.app.feedback import FeedbackLog
from rag.app.review import ReviewDesk
from rag.app.review_api import selection_bar
from rag.app.review_panels import entry_html, entry_rows, suggest
from rag.errors import InputError, NotFoundError
from rag.evaluation.questions import load_questions
from rag.evaluation.reviewed import ReviewedSet
from rag.pipeline import Pipeline
from rag.settings import Settings

D0 = "000_e71591340c5b937c"
EVIDENCE = "算法备案项目320个"
ASKED = "海珠那边算法备案到底有几个"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("reviewhome")
    copy_corpus(home / "corpus")
    Pipeline(Settings.load(env={}, home=home, model="hash")).build_index()
    return home


@pytest.fixture
def desk(built, tmp_path) -> ReviewDesk:
    """A desk with its own eval folder over the module's index."""
    s = Settings.load(env={}, home=built, model="hash", eval_dir=tmp_path / "eval")
    return ReviewDesk(Pipeline(s), FeedbackLog(s.feedback_path))


def _vote(desk: ReviewDesk, question: str = ASKED, vote: str = "down") -> dict:
    return desk.feedback.append(question=question, answer="40个[1]", vote=vote,
                                citations=[{"n": 1, "doc_id": D0, "title": "琶洲", "start": 0,
                                            "end": 10, "snippet": "本版撰文"}],
                                comment="数字不对", index_build="b1")


def _select(desk: ReviewDesk, key: str, text: str = EVIDENCE, doc_id: str = D0) -> dict:
    i = desk.pipeline.document(doc_id).text.index(text)
    return desk.select(key, doc_id, i, i + len(text), text)


def test_a_vote_becomes_an_eval_question_with_its_origin(desk):
    fb = _vote(desk)
    ev = _select(desk, fb["id"])
    assert ev["text"] == EVIDENCE
    out = desk.save(fb["id"], question=fb["question"], evidence=desk.evidence(fb["id"]),
                    answer="320个", keys=["320"], qtype="number")
    rec = out.saved
    assert rec["id"] == f"rv-{fb['id']}" and rec["doc"] == D0 and rec["evidence"] == [EVIDENCE]
    assert (rec["source"], rec["feedback_id"]) == ("feedback", fb["id"])
    assert rec["asked_on"] == fb["time"][:10] and rec["reviewed_at"]
    assert "user" not in json.dumps(rec) and "comment" not in rec
    # The eval loader reads it (origin keys ignored) and the entry is marked reviewed.
    (loaded,) = load_questions(desk.reviewed.path)
    assert loaded.answer_keys == ("320",) and loaded.type == "number"
    assert desk.feedback.get(fb["id"])["status"] == "reviewed"
    assert desk.evidence(fb["id"]) == []
    assert desk.entries(pending_only=True) == []


def test_selection_is_trimmed_and_checked_against_the_article(desk):
    fb = _vote(desk)
    doc = desk.pipeline.document(D0)
    i = doc.text.index(EVIDENCE)
    item = desk.select(fb["id"], D0, i - 1, i + len(EVIDENCE) + 1)  # ";算法…320个,"
    assert item["text"] == EVIDENCE and doc.text[item["start"]:item["end"]] == EVIDENCE
    with pytest.raises(InputError, match="does not match"):
        desk.select(fb["id"], D0, i, i + 5, "别的文字")
    with pytest.raises(InputError, match="outside"):
        desk.select(fb["id"], D0, 5, 10**7)
    with pytest.raises(NotFoundError):
        desk.select(fb["id"], "no_such_doc", 0, 5)


def test_bad_review_input_gets_one_sentence_and_saves_nothing(desk):
    fb = _vote(desk)
    kw = dict(question=fb["question"], answer="320个", keys=["320"], qtype="number")
    with pytest.raises(InputError, match="Select the evidence"):
        desk.save(fb["id"], evidence=[], **kw)
    with pytest.raises(InputError, match="characters"):
        desk.save(fb["id"], evidence=[{"doc_id": D0, "text": "320个"}], **kw)
    with pytest.raises(InputError, match="not found"):
        desk.save(fb["id"], evidence=[{"doc_id": D0, "text": "海珠区算法备案项目九百九十九个"}],
                  **kw)
    with pytest.raises(InputError, match="key"):
        desk.save(fb["id"], evidence=[{"doc_id": D0, "text": EVIDENCE}],
                  **{**kw, "keys": ["  "]})
    assert not desk.reviewed.path.exists() and desk.feedback.get(fb["id"])["status"] == "new"


def test_unanswerable_and_duplicates(desk):
    a = _vote(desk, "天河区去年的算力补贴发了多少")
    out = desk.save(a["id"], question=a["question"], evidence=[], unanswerable=True)
    assert out.saved["type"] == "unanswerable" and out.saved["doc"] is None
    # The same question again (spacing and punctuation aside) is refused outright.
    b = _vote(desk, "天河区 去年的算力补贴发了多少？")
    out = desk.save(b["id"], question=b["question"], evidence=[], unanswerable=True)
    assert out.saved is None and out.duplicate.kind == "same"
    assert out.duplicate.id == f"rv-{a['id']}"
    # Near: close vectors (the fake encoder shares character n-grams) and the same answer.
    c = _vote(desk, "天河区去年的算力补贴发了多少钱")
    out = desk.save(c["id"], question=c["question"], evidence=[], unanswerable=True)
    assert out.saved is None and out.duplicate.kind == "near"
    out = desk.save(c["id"], question=c["question"], evidence=[], unanswerable=True,
                    confirm_near=True)
    assert out.saved is not None and len(desk.reviewed.records()) == 2


def test_edit_skip_delete(desk):
    fb = _vote(desk)
    _select(desk, fb["id"])
    first = desk.save(fb["id"], question=fb["question"], evidence=desk.evidence(fb["id"]),
                      answer="320个", keys=["320"], qtype="number").saved
    _select(desk, fb["id"])
    edited = desk.save(fb["id"], question=fb["question"] + "呢", evidence=desk.evidence(fb["id"]),
                       answer="算法备案320个", keys=["320个"], qtype="number").saved
    (rec,) = desk.reviewed.records()
    assert rec["id"] == first["id"] == edited["id"] and rec["answer_keys"] == ["320个"]
    assert rec["edited_at"] and rec["reviewed_at"] == first["reviewed_at"]
    other = _vote(desk, "南沙补贴有上限吗", vote="up")
    assert desk.skip(other["id"])["status"] == "skipped"
    assert [e["id"] for e in desk.entries(pending_only=True)] == []
    assert [e["id"] for e in desk.entries(down_only=True)] == [fb["id"]]
    desk.delete(other["id"])
    assert [e["id"] for e in desk.entries()] == [fb["id"]]
    desk.delete_question(rec["id"])
    assert desk.reviewed.records() == [] and desk.feedback.get(fb["id"])["status"] == "new"
    assert desk.entries(since="2999") == [] and len(desk.entries(since="2000-01")) == 1
    with pytest.raises(InputError):
        desk.entries(since="last week")


def test_export_and_import_between_offices(desk, built, tmp_path):
    for text in ("海珠那边算法备案到底有几个", "海珠区那些算法备案,排全国第几"):
        fb = _vote(desk, text)
        _select(desk, fb["id"], EVIDENCE)
        desk.save(fb["id"], question=text, evidence=desk.evidence(fb["id"]),
                  answer="320个", keys=["320" if "几个" in text else "第三"], qtype="number")
    out = tmp_path / "office-a.jsonl"
    assert desk.export(out) == 2 and not (tmp_path / "office-a.jsonl.lock").exists()
    s2 = Settings.load(env={}, home=built, model="hash", eval_dir=tmp_path / "other")
    other = ReviewDesk(Pipeline(s2), FeedbackLog(s2.feedback_path))
    rep = other.import_file(out)
    assert len(rep.added) == 2 and rep.duplicates == ()
    assert other.reviewed.records()[0]["source"] == "feedback"
    rep = other.import_file(out)  # the same file again: all duplicates, nothing added
    assert rep.added == () and len(rep.duplicates) == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text(out.read_text(encoding="utf-8") + '{"id": "x", "question": "半行\n',
                   encoding="utf-8")
    with pytest.raises(InputError, match="line 3"):
        other.import_file(bad)
    fake = tmp_path / "fake.jsonl"
    rec = {**json.loads(out.read_text(encoding="utf-8").splitlines()[0]), "id": "z1",
           "question": "编出来的问题", "evidence": ["文章里没有的一句话啊啊啊"]}
    fake.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="Nothing was imported"):
        other.import_file(fake)
    assert len(other.reviewed.records()) == 2


def test_a_corrupt_reviewed_line_is_kept_aside(desk):
    desk.reviewed.path.parent.mkdir(parents=True, exist_ok=True)
    desk.reviewed.path.write_text('{"id": "r1", "question": "缺字段"}\n', encoding="utf-8")
    assert ReviewedSet(desk.reviewed.path).records() == []
    assert "缺字段" in desk.reviewed.path.with_name("reviewed.jsonl.rejected").read_text(
        encoding="utf-8")


def test_panels_escape_and_cap_what_users_typed(desk):
    fb = _vote(desk, "<script>alert(1)</script>" + "长" * 300)
    row = entry_rows([desk.feedback.get(fb["id"])])[0]
    assert len(row[3]) == 80 and row[3].endswith("…")
    page = entry_html(desk.feedback.get(fb["id"]), desk.pipeline.snapshot.docs, fb["id"])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert f"/review/article/{D0}?entry={fb['id']}&amp;start=0&amp;end=10" in page
    assert "</script>" not in selection_bar('x"</script><b>', D0).split("<script>")[1][:400]
    assert suggest([{"text": "新增超200个,营收307.5亿元"}])[1] == ["200个", "307.5亿元"]


def test_review_routes_select_list_export_and_need_login(built, tmp_path):
    s = Settings.load(env={}, home=built, model="hash", eval_dir=tmp_path / "eval",
                      auth="staff:pw")
    c = TestClient(create_app(Pipeline(s), with_ui=False))
    auth = ("staff", "pw")
    r = c.post("/api/feedback", auth=auth, json={"question": ASKED, "answer": "40个",
                                                 "vote": "down", "mode": "extractive"})
    fid = r.json()["id"]
    rec = FeedbackLog(s.feedback_path).get(fid)
    assert rec["mode"] == "extractive" and rec["index_build"]  # the live build's name
    assert c.get(f"/review/article/{D0}?entry={fid}").status_code == 401
    page = c.get(f"/review/article/{D0}?entry={fid}", auth=auth)
    assert page.status_code == 200 and 'id="rv-use"' in page.text and '<mark' not in page.text
    text = Pipeline(s).document(D0).text
    i = text.index(EVIDENCE)
    body = {"entry": fid, "doc_id": D0, "start": i, "end": i + len(EVIDENCE), "text": EVIDENCE}
    assert c.post("/api/review/selection", json=body).status_code == 401
    r = c.post("/api/review/selection", json=body, auth=auth)
    assert r.status_code == 200 and r.json()["count"] == 1
    r = c.post("/api/review/selection", json={**body, "end": 10**8}, auth=auth)
    assert r.status_code == 400 and "outside" in r.json()["error"]
    listed = c.get("/api/review/feedback?down_only=true", auth=auth).json()
    assert [e["id"] for e in listed] == [fid]
    assert c.get("/api/review/export", auth=auth).text == ""
    assert c.post("/api/feedback", auth=auth, json={"question": "问" * 1001, "answer": "a",
                                                    "vote": "up"}).status_code == 422


def test_rag_eval_scores_the_reviewed_set_and_keeps_history(desk, built, tmp_path,
                                                            monkeypatch, capsys):
    fb = _vote(desk)
    _select(desk, fb["id"])
    desk.save(fb["id"], question=fb["question"], evidence=desk.evidence(fb["id"]),
              answer="320个", keys=["320"], qtype="number")
    eval_dir = desk.pipeline.settings.eval_dir
    monkeypatch.setenv("RAG_MODEL", "hash")
    monkeypatch.setenv("RAG_INDEX_DIR", str(built / "index"))
    monkeypatch.setenv("RAG_CORPUS_DIR", str(built / "corpus"))
    monkeypatch.setenv("RAG_EVAL_DIR", str(eval_dir))
    for _ in range(2):
        assert rag_main(["eval", "--questions", str(eval_dir / "reviewed.jsonl"), "--methods",
                         "hybrid", "--history", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["sets"]["reviewed"]
    assert summary["questions"]["n"] == 1 and "accuracy" in summary["answers"]["all"]
    history = [json.loads(x) for x in (eval_dir / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2 and history[-1]["sets"]["reviewed"]["n"] == 1
    assert history[-1]["index_build"] and "commit" in history[-1]
    assert (eval_dir / "report" / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert "history.png" in (eval_dir / "report" / "report.md").read_text(encoding="utf-8")
    latest, png = desk.figures()
    assert latest["reviewed"]["n"] == 1 and png == eval_dir / "report" / "history.png"
