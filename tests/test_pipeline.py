"""Pipeline behaviour across index updates (fast fake encoder, made-up corpus of conftest.py)."""

from pathlib import Path

from rag.types import Answer

FARM = "m1_conghua_farm"  # the made-up article with the 800万元 subsidy


def _check_offsets(p, ans: Answer) -> None:
    for c in (*ans.citations, *ans.related):
        assert p.document(c.doc_id).text[c.start:c.end] == c.snippet


def test_citations_stay_exact_after_an_article_changes(madeup_pipeline, tmp_path):
    p = madeup_pipeline
    q = "从化区给予单个智能农机企业最高多少资金支持"
    before = p.ask(q)
    assert before.citations and "800万" in before.text
    _check_offsets(p, before)
    # Update the farm article so every offset after the insertion point moves.
    src = p.settings.corpus_dir / f"{FARM}.txt"
    new = tmp_path / src.name
    new.write_text("从化新增说明段落,用于测试偏移。\n\n" + src.read_text(encoding="utf-8"),
                   encoding="utf-8")
    report = p.ingest([new])
    assert report.updated == (FARM,)
    after = p.ask(q)
    assert after.citations and "800万" in after.text
    assert after.citations[0].start > before.citations[0].start  # the offsets really moved
    _check_offsets(p, after)
    assert p.document(FARM).text.startswith("从化新增说明段落")


def test_search_filters_by_article_and_date(madeup_pipeline):
    p = madeup_pipeline
    res = p.search("智慧充电站", k=5, doc_ids=["m2_zengcheng_2025"])
    assert res.hits and {h.chunk.doc_id for h in res.hits} == {"m2_zengcheng_2025"}
    res = p.search("智慧充电站", k=10, since="2026")
    dates = {p.document(h.chunk.doc_id).meta.date for h in res.hits}
    assert dates and all(d.startswith("2026") for d in dates)


def test_batch_search_writes_one_line_per_question(madeup_pipeline, tmp_path, capsys):
    import json

    from rag.app.cli import main

    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": "a", "question": "从化农机扶持", "x": 1}\n'
                   '{"id": "b", "question": "增城目标"}\n', encoding="utf-8")
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


def _opened_corpus_files(monkeypatch, corpus_dir: Path) -> list[str]:
    """Record every open() of a file inside ``corpus_dir`` from now on."""
    import builtins
    import io

    seen: list[str] = []
    real_open, real_io_open = builtins.open, io.open

    def spy(real):
        def opener(file, *a, **kw):
            if isinstance(file, (str, Path)) and Path(file).resolve().is_relative_to(
                    corpus_dir.resolve()):
                seen.append(str(file))
            return real(file, *a, **kw)
        return opener

    monkeypatch.setattr(builtins, "open", spy(real_open))
    monkeypatch.setattr(io, "open", spy(real_io_open))  # Path.read_text/read_bytes use io.open
    return seen


def test_ask_on_a_warm_index_reads_no_corpus_file(madeup_pipeline, monkeypatch, capsys):
    from rag.app.cli import main

    corpus = madeup_pipeline.settings.corpus_dir
    # the spy works: loading the corpus opens its files
    seen = _opened_corpus_files(monkeypatch, corpus)
    from rag.corpus.load import load_corpus

    load_corpus(corpus)
    assert seen, "the open() spy saw nothing"
    seen.clear()
    assert main(["ask", "从化区给予单个智能农机企业最高多少资金支持", "--json"]) == 0
    assert "800万" in capsys.readouterr().out
    assert seen == [], f"rag ask read corpus files: {seen}"


def test_a_changed_corpus_file_is_noticed_without_rereading_the_rest(madeup_pipeline):
    import os

    p = madeup_pipeline
    assert p.ensure_index() is None  # unchanged: nothing rebuilt
    f = p.settings.corpus_dir / "m3_zengcheng_2026.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("晨曦科技是增城本土",
                                                       "补充一句:某区新设立数据中心。晨曦科技是增城本土"),
                 encoding="utf-8")
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    report = p.ensure_index()
    assert report is not None and report.manifest.embedded_chunks >= 1
    assert "某区新设立数据中心" in p.document("m3_zengcheng_2026").text
    assert p.ensure_index() is None
