"""Retrieval details: the best-sentence boost on fused chunks, and BM25's lower weight for
English questions (fast hash encoder over the real corpus)."""

from __future__ import annotations

import pytest

from rag.retrieve import Retriever, keyword_idf


def test_sentence_boost_is_added_and_ordered(hash_pipeline):
    r = hash_pipeline.retriever()
    res = r.search("海珠区累计培育大模型备案项目多少个", k=10)
    boosted = [dict(h.details).get("sentence") for h in res.hits]
    assert all(b is not None and 0.0 <= b <= 1.0 for b in boosted)
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)
    # the top chunk holds a sentence with nearly all of the question's words
    assert boosted[0] >= 0.8
    plain = Retriever(r.snap, r.encoder, r.settings.replace(sentence_weight=0.0))
    res0 = plain.search("海珠区累计培育大模型备案项目多少个", k=10)
    assert all("sentence" not in dict(h.details) for h in res0.hits)
    # boost = weight x coverage, on top of the fused score
    by_id = {h.chunk.chunk_id: h.score for h in res0.hits}
    for h in res.hits:
        if h.chunk.chunk_id in by_id:
            want = by_id[h.chunk.chunk_id] + r.settings.sentence_weight * dict(h.details)["sentence"]
            assert h.score == pytest.approx(want, abs=1e-3)


def test_sentence_boost_prefers_the_chunk_whose_one_sentence_answers(hash_pipeline):
    r = hash_pipeline.retriever()
    idf = keyword_idf(r.snap)
    assert idf and all(v > 0 for v in idf.values())
    # Fused lists where the second chunk has the full-coverage sentence: the boost lifts it.
    q = "海珠区累计培育大模型备案项目"
    rows = [i for i, c in enumerate(r.snap.chunks) if "累计培育大模型备案项目40个" in c.text]
    other = next(i for i, c in enumerate(r.snap.chunks) if "海珠" not in c.text)
    fused = [(other, 1.0, ()), (rows[0], 0.9, ())]
    out = r._sentence_boost(q, fused)
    assert out[0][0] == rows[0]


def test_english_questions_weigh_bm25_less(hash_pipeline):
    r = hash_pipeline.retriever()
    ranked = {"dense": [(0, 0.9), (1, 0.1)], "bm25": [(1, 9.0), (0, 1.0)]}
    zh = dict((row, s) for row, s, _ in r._fuse(ranked, english=False))
    en = dict((row, s) for row, s, _ in r._fuse(ranked, english=True))
    assert zh[1] == pytest.approx(1.0) and en[1] == pytest.approx(r.settings.english_bm25_weight)
    assert zh[0] == pytest.approx(1.0) and en[0] == pytest.approx(1.0)
    # and no sentence boost for English: its words cannot match Chinese sentences
    res = r.search("How many AI companies in Nansha", k=5)
    assert all("sentence" not in dict(h.details) for h in res.hits)
