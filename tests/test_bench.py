"""`rag bench`: the synthetic corpus is deterministic and faithful, and a quick run (`--scale
2000`) returns every figure the report needs. Uses the fast fake encoder."""

import json
import random
from collections import Counter

import numpy as np
import pytest

from rag.app.cli import main
from rag.errors import InputError
from rag.evaluation.bench.measure import ann_recall_at_k, latency_stats
from rag.evaluation.bench.run import parse_scales
from rag.evaluation.bench.synthetic import DISTRICTS, CachedTokens, perturb, synthetic_corpus
from rag.settings import PROJECT_ROOT

# Made-up questions: the bench only times them, so they need not be answerable.
BENCH_QUESTIONS = [
    "从化区已集聚了多少家智能农机企业？",
    "增城2026年要新建多少座智慧充电站？",
    "花都区首批开通了多少条无人机配送航线？",
    "云翼物流公司总经理是谁？",
    "白云山茶文化节有多少家茶企参展？",
    "晨曦科技的快充桩多久能充满一辆货车？",
    "How many drone delivery routes did Huadu open?",
    "荔湾区有几个农机示范基地？",
    "那2025年呢",
    "溪云镇的数字乡村服务站建了几个？",
    "What is the largest subsidy for smart farm machinery in Conghua?",
    "火星上有几个充电站？",
]


def test_perturb_is_deterministic_and_changes_districts_years_numbers():
    text = "增城区2026年新建充电站200座。从化给予最高800万元补助。"
    a = perturb(text, random.Random(7))
    b = perturb(text, random.Random(7))
    assert a == b != text
    fixed = perturb("增城2026年新建200座。", random.Random(1), {d: d for d in
                          DISTRICTS} | {"增城": "从化"}, 1, 1.5, shuffle=False)
    assert fixed == "从化2027年新建300座。"


def test_cached_tokens_equal_the_tokenizer_on_real_text():
    from rag.corpus.clean import clean_text
    from rag.text.tokenize import default_tokenizer

    tok = default_tokenizer()
    cached = CachedTokens(tok)
    text = clean_text((PROJECT_ROOT / "corpus" / "002_0638385fcb057a50.txt")
                      .read_text(encoding="utf-8"))
    for i in range(0, min(len(text), 4000), 230):
        piece = "标题\n" + perturb(text[i : i + 230], random.Random(i))
        assert Counter(cached.tokens(piece)) == Counter(tok.tokens(piece))


def test_synthetic_corpus_keeps_real_rows_and_unit_vectors():
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((3, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    texts = ["增城区2026年新建200座。目标80亿元。", "从化最高800万元。", "花都2025年增长5%。"]
    titles = ["增城", "从化", "花都"]
    s1 = synthetic_corpus(texts, titles, vecs, 50)
    s2 = synthetic_corpus(texts, titles, vecs, 50)
    assert s1.texts == s2.texts and np.array_equal(s1.vectors, s2.vectors)
    assert s1.texts[:3] == texts and np.array_equal(s1.vectors[:3], vecs)
    assert len(set(s1.texts)) > 10  # copies really differ
    assert np.allclose(np.linalg.norm(s1.vectors, axis=1), 1.0, atol=1e-5)
    cos = (s1.vectors[3:] * vecs[s1.base_rows[3:]]).sum(axis=1)
    assert cos.min() > 0.5 and cos.max() < 1.0  # near the original, never equal
    assert len(s1.tokens) == 50 and all(s1.tokens)


def test_recall_percentiles_and_scale_parsing():
    assert ann_recall_at_k(np.array([[1, 2, 3]]), np.array([[3, 2, 9]]), 3) == pytest.approx(2 / 3, abs=1e-4)
    assert latency_stats([1, 2, 3, 4]) == {"p50": 2.5, "p95": 3.85, "p99": 3.97, "mean": 2.5,
                                           "n": 4}
    assert latency_stats([])["n"] == 0
    assert parse_scales("10000,100k") == [10000, 100000]
    assert parse_scales("none") == []
    with pytest.raises(InputError):
        parse_scales("10000,lots")


@pytest.mark.slow
def test_quick_bench_run_reports_every_figure(corpus_home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RAG_MODEL", "hash")
    (corpus_home / "eval").mkdir()
    rows = [{"id": f"b{i}", "question": q, "doc": None, "evidence": [], "answer": "",
             "answer_keys": [], "type": "unanswerable"} for i, q in enumerate(BENCH_QUESTIONS)]
    (corpus_home / "eval" / "dev.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    live = corpus_home / "index"
    out = tmp_path / "report" / "bench.md"
    assert main(["bench", "--scale", "2000", "--backend-chunks", "600", "--json", "--out",
                 str(out)]) == 0
    r = json.loads(capsys.readouterr().out)

    assert r["model"]["first_encode_s"] >= 0 and r["model"]["dim"] == 256
    assert r["build"]["docs"] == 5 and r["build"]["chunks"] > 50
    assert r["build"]["chunks_per_s"] > 0
    for op in ("search_hybrid", "search_dense", "search_bm25", "ask"):
        lat = r["latency_ms"][op]
        assert lat["n"] == len(BENCH_QUESTIONS) and 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert r["cold_start"]["subprocess_s"] > 0 and r["cold_start"]["in_process_s"] > 0
    assert 50 < r["serving"]["vmhwm_mb"] < 1536 and r["serving"]["ok"] is True
    nv = r["naive"]
    assert nv["chunks"] > 0 and nv["build_s"] > 0 and nv["query_ms"]["p50"] > 0
    assert set(nv["ratios_ours_over_naive"]) == {"build_s", "hybrid_p50", "dense_p50", "ask_p50"}
    (s,) = r["scale"]
    assert s["n_chunks"] == 2000
    for part in ("exact", "hnsw", "bm25"):
        assert s[part]["query_ms"]["n"] == len(BENCH_QUESTIONS) and s[part]["build_s"] >= 0
    assert s["hnsw"]["recall_at_10"] >= 0.9
    assert s["hybrid"]["configured_ann"] == "exact"
    assert s["hybrid"]["exact"]["query_ms"]["p50"] > 0 and s["hybrid"]["hnsw"]["query_ms"]["p50"] > 0
    assert s["rss"]["vmhwm_mb"] >= s["rss"]["vmrss_mb"] > 0
    # The report files, and the live index folder left alone (the bench builds its own).
    assert json.loads(out.with_suffix(".json").read_text())["scale"][0]["n_chunks"] == 2000
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    md = out.read_text(encoding="utf-8")
    assert "HNSW recall@10" in md and "ours/naive" in md and "Gaussian noise" in md
    # Both back-ends side by side, Milvus on the bench's own milvus-lite server.
    local, milvus = r["backends"]
    assert (local["backend"], milvus["backend"]) == ("local", "milvus")
    for b in (local, milvus):
        assert b["five"]["chunks"] == r["build"]["chunks"] and b["five"]["chunks_per_s"] > 0
        assert b["five"]["search_ms"]["n"] == 12 and b["five"]["search_ms"]["p50"] > 0
        assert b["synthetic"]["n_chunks"] == 600 and b["synthetic"]["rows_per_s"] > 0
        assert b["synthetic"]["search_ms"]["p50"] > 0 and b["rss"]["vmhwm_mb"] > 0
    assert milvus["server_rss"]["vmrss_mb"] > 0 and "server_rss" not in local
    assert "Index back-ends side by side" in md
    assert not live.exists()


def test_bench_without_question_file_says_what_to_do(corpus_home, monkeypatch, capsys):
    monkeypatch.setenv("RAG_MODEL", "hash")
    assert main(["bench", "--scale", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "dev.jsonl" in err

