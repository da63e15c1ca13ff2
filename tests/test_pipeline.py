"""Pipeline behaviour across index updates (fast fake encoder)."""

from pathlib import Path

from rag.types import Answer


def _check_offsets(p, ans: Answer) -> None:
    for c in (*ans.citations, *ans.related):
        assert p.document(c.doc_id).text[c.start:c.end] == c.snippet


def test_citations_stay_exact_after_an_article_changes(hash_pipeline, tmp_path):
    p = hash_pipeline
    q = "南沙扶持办法最高给多少钱"
    before = p.ask(q)
    _check_offsets(p, before)
    # Update the Nansha article so every offset after the insertion point moves.
    src = p.settings.corpus_dir / "001_537e429408746187.txt"
    new = tmp_path / src.name
    new.write_text("南沙新增说明段落,用于测试偏移。\n\n" + src.read_text(encoding="utf-8"),
                   encoding="utf-8")
    report = p.ingest([new])
    assert report.updated == ("001_537e429408746187",)
    after = p.ask(q)
    _check_offsets(p, after)
    assert p.document("001_537e429408746187").text.startswith("南沙新增说明段落")


def test_search_filters_by_article_and_date(hash_pipeline):
    p = hash_pipeline
    res = p.search("人工智能", k=5, doc_ids=["004_81d908b98aeef4bd"])
    assert res.hits and {h.chunk.doc_id for h in res.hits} == {"004_81d908b98aeef4bd"}
    res = p.search("人工智能", k=10, since="2026")
    dates = {p.document(h.chunk.doc_id).meta.date for h in res.hits}
    assert dates and all(d.startswith("2026") for d in dates)


def test_batch_search_writes_one_line_per_question(hash_pipeline, tmp_path, capsys):
    import json

    from rag.cli import main

    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "question": "南沙扶持办法", "x": 1}\n'
                   '{"id": "b", "question": "海珠目标"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["search", "--batch", str(inp), "--out", str(out), "-k", "3"]) == 0
    rows = [json.loads(x) for x in Path(out).read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    hit = rows[0]["hits"][0]
    for key in ("rank", "doc_id", "chunk_id", "title", "date", "start", "end", "text", "score"):
        assert key in hit
    assert "timings_ms" in rows[0]
    out2 = tmp_path / "ans.jsonl"
    assert main(["ask", "--batch", str(inp), "--out", str(out2)]) == 0
    row = json.loads(out2.read_text(encoding="utf-8").splitlines()[0])
    for key in ("answer", "refused", "mode", "citations", "hits"):
        assert key in row
