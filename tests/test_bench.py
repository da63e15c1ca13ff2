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

REPO_QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"


def test_perturb_is_deterministic_and_changes_districts_years_numbers():
    text = "海珠区2026年新增大模型备案200个。南沙给予最高1000万元支持。"
    a = perturb(text, random.Random(7))
    b = perturb(text, random.Random(7))
    assert a == b != text
    fixed = perturb("海珠2026年新增200个。", random.Random(1), {d: d for d in
                          DISTRICTS} | {"海珠": "南沙"}, 1, 1.5, shuffle=False)
    assert fixed == "南沙2027年新增300个。"


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
    texts = ["海珠区2026年新增200个。目标500亿元。", "南沙最高1000万元。", "天河2025年增长5%。"]
    titles = ["海珠", "南沙", "天河"]
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
    lines = REPO_QUESTIONS.read_text(encoding="utf-8").splitlines()[:12]
    (corpus_home / "eval" / "questions.jsonl").write_text("\n".join(lines) + "\n",
                                                          encoding="utf-8")
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
        assert lat["n"] == 12 and 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert r["cold_start"]["subprocess_s"] > 0 and r["cold_start"]["in_process_s"] > 0
    assert 50 < r["serving"]["vmhwm_mb"] < 1536 and r["serving"]["ok"] is True
    nv = r["naive"]
    assert nv["chunks"] > 0 and nv["build_s"] > 0 and nv["query_ms"]["p50"] > 0
    assert set(nv["ratios_ours_over_naive"]) == {"build_s", "hybrid_p50", "dense_p50", "ask_p50"}
    (s,) = r["scale"]
    assert s["n_chunks"] == 2000
    for part in ("exact", "hnsw", "bm25"):
        assert s[part]["query_ms"]["n"] == 12 and s[part]["build_s"] >= 0
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
    assert err.count("\n") == 0 and "questions.jsonl" in err

