"""Bad input: empty, huge and strange questions; hostile articles and uploads.

Each is refused with a one-sentence message (HTTP 400/413, CLI exit 2) or answered normally;
none crashes the server, writes outside the corpus folder or changes the live index.
Uses the fast fake encoder and the made-up corpus of conftest.py."""

import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.app.api import create_app
from rag.app.cli import main
from rag.pipeline import Pipeline

GOOD = "从化区已集聚了多少家智能农机企业？"  # made up; the answer holds 45家


@pytest.fixture
def client(madeup_pipeline):
    with TestClient(create_app(madeup_pipeline, with_ui=False)) as c:
        yield c


@pytest.mark.parametrize("q", ["", "   ", "\n\t  \u3000"])
def test_empty_question_is_400_with_message(client, q):
    r = client.post("/api/ask", json={"question": q})
    assert r.status_code == 400
    assert "question" in r.json()["error"].lower()
    r = client.post("/api/search", json={"query": q})
    assert r.status_code == 400 and r.json()["error"]


@pytest.mark.parametrize("q", ["", "   "])
def test_empty_question_cli_exit_2_with_message(madeup_pipeline, capsys, q):
    assert main(["ask", q]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and err.count("\n") == 0 and "question" in err.lower()


def test_huge_question_is_413_then_server_still_answers(client):
    r = client.post("/api/ask", json={"question": "问" * 100_000})
    assert r.status_code == 413
    assert "100000" in r.json()["error"] and "shorten" in r.json()["error"]
    r = client.post("/api/ask", json={"question": GOOD})
    assert r.status_code == 200 and "45" in r.json()["answer"]


def test_huge_question_cli_exit_2(madeup_pipeline, capsys):
    assert main(["ask", "问" * 100_000]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "shorten" in err


STRANGE = [
    "从化区\x00\x07已集聚了\x1b[31m多少家智能农机企业？",  # control characters
    "从化🤖智能农机企业有多少家？😀👍🏽",  # emoji, with a skin-tone modifier
    "从化 district の 农机 モデル 모델 企业 target? مرحبا Привет",  # mixed scripts
    "<script>alert('x')</script>花都区首批开通了多少条无人机配送航线？",  # HTML/JavaScript
    "<img src=x onerror=alert(1)>\"'; DROP TABLE docs; --",
    "\u202e\u200b\u200d从化\ufeff农机\u2028企业",  # bidi override, zero-width, separators
    "ａｉ　ＡＩ　全角字符问题？",  # full-width
]


@pytest.mark.parametrize("q", STRANGE)
def test_strange_questions_answered_or_refused_normally(client, q):
    r = client.post("/api/ask", json={"question": q})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["answer"], str) and body["answer"]
    assert isinstance(body["refused"], bool)
    assert body["refused"] or body["citations"]  # an answer always cites
    r = client.post("/api/search", json={"query": q, "method": "hybrid"})
    assert r.status_code == 200


def test_question_of_only_control_characters_is_400(client):
    r = client.post("/api/ask", json={"question": "\x00\x01\x1b\x7f"})
    assert r.status_code == 400 and r.json()["error"]


def test_script_in_an_article_is_shown_as_text(madeup_pipeline, client, tmp_path):
    src = tmp_path / "xss_article.txt"
    src.write_text("溪云镇发布新政策\n\n<script>alert('pwned')</script>溪云镇将对农机企业给予"
                   "最高200万元补助。<img src=x onerror=alert(2)>\n", encoding="utf-8")
    report = madeup_pipeline.ingest([src])
    assert report.added == ("xss_article",), report
    page = client.get("/article/xss_article").text
    assert "&lt;script&gt;alert(" in page
    assert "<script>alert(" not in page and "<img src=x" not in page
    body = client.get("/api/docs/xss_article").json()
    assert "<script>alert('pwned')</script>" in body["text"]  # JSON keeps the text as is


def _zip_bomb(path: Path, mb: int = 120) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(mb):
                f.write(block)


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


def test_hostile_uploads_rejected_nothing_written_index_unchanged(madeup_pipeline, tmp_path):
    home = madeup_pipeline.settings.home
    p = Pipeline(madeup_pipeline.settings.replace(max_upload_bytes=200_000),
                 encoder=madeup_pipeline.encoder)
    live = p.store.current_path()
    up = tmp_path / "uploads"
    up.mkdir()
    text = "溪云镇发布新政策。溪云镇将建设农机产业园。".encode()
    files = {
        "..\\..\\..\\escape.txt": text,  # Windows-style traversal in the name itself
        "huge.txt": "大".encode() * 100_000,  # 300 kB, over the 200 kB limit
        "payload.exe": b"MZ" + b"\0" * 100,
        "notes.txt.sh": b"#!/bin/sh\nrm -rf /\n",
        "noext": text,
        "fake.docx": "这其实是文本".encode(),
        "bomb.docx": None,
        "empty.txt": b"",
        "binary.txt": b"\x00\x01\x02" * 100,
        "metadata.toml": b"[x]\ntitle='y'\n",
    }
    for name, data in files.items():
        if data is None:
            _zip_bomb(up / name)
        else:
            (up / name).write_bytes(data)
    outside_before = _tree(tmp_path)
    corpus_before = _tree(home / "corpus")

    paths = [up / n for n in files if n != "..\\..\\..\\escape.txt"]
    report = p.ingest(paths)
    assert not report.added and not report.updated
    assert len(report.errors) == len(paths), report.errors
    for e in report.errors:
        assert e and e.count("\n") == 0
    joined = " ".join(report.errors)
    assert "zip bomb" in joined and "limit" in joined and "extension" in joined
    assert _tree(home / "corpus") == corpus_before
    assert p.store.current_path() == live  # the live build was not replaced

    # A traversal name is cut to its base name and lands inside the corpus, nowhere else.
    report = p.ingest([up / "..\\..\\..\\escape.txt"])
    assert report.added and not report.errors
    added = set(_tree(home / "corpus")) - set(corpus_before)
    assert len(added) == 1 and "/" not in next(iter(added)) and ".." not in next(iter(added))
    after = {k: v for k, v in _tree(tmp_path).items() if not k.startswith("home/")}
    assert after == {k: v for k, v in outside_before.items() if not k.startswith("home/")}
    assert not (tmp_path.parent / "escape.txt").exists()


def test_malformed_batch_file_is_a_message(madeup_pipeline, capsys, tmp_path):
    batch = tmp_path / "q.jsonl"
    batch.write_text('{"id": 1}\nnot json\n', encoding="utf-8")
    assert main(["ask", "--batch", str(batch)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "line 1" in err
