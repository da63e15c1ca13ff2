"""Retrieval details: the best-sentence boosts (lexical and dense) on fused chunks, and BM25's
lower weight for English questions (fast hash encoder over the made-up corpus of conftest.py)."""

from __future__ import annotations

import pytest

from rag.retrieve.boosts import sentence_dense, sentence_lexical
from rag.retrieve.fusion import fuse
from rag.retrieve.search import Retriever


def test_sentence_boost_is_added_and_ordered(madeup_pipeline):
    r = madeup_pipeline.retriever()
    res = r.search("增城区累计建成智慧充电站多少座", k=10)
    boosted = [dict(h.details).get("sentence") for h in res.hits]
    assert all(b is not None and 0.0 <= b <= 1.0 for b in boosted)
    assert [h.score for h in res.hits] == sorted((h.score for h in res.hits), reverse=True)
    # the top chunk holds a sentence with nearly all of the question's words
    assert boosted[0] >= 0.8
    plain = Retriever(r.snap, r.encoder, r.settings.replace(sentence_weight=0.0))
    res0 = plain.search("增城区累计建成智慧充电站多少座", k=10)
    assert all("sentence" not in dict(h.details) for h in res0.hits)
    # boost = weight x coverage, on top of the fused score
    by_id = {h.chunk.chunk_id: h.score for h in res0.hits}
    for h in res.hits:
        if h.chunk.chunk_id in by_id:
            want = by_id[h.chunk.chunk_id] + r.settings.sentence_weight * dict(h.details)["sentence"]
            assert h.score == pytest.approx(want, abs=1e-3)


def test_sentence_boost_prefers_the_chunk_whose_one_sentence_answers(madeup_pipeline):
    r = madeup_pipeline.retriever()
    idf = r.snap.idf
    assert idf and all(v > 0 for v in idf.values())
    # Fused lists where the second chunk has the full-coverage sentence: the boost lifts it.
    q = "增城区累计建成智慧充电站"
    rows = [i for i, c in enumerate(r.snap.chunks) if "累计建成智慧充电站210座" in c.text]
    other = next(i for i, c in enumerate(r.snap.chunks) if "增城" not in c.text)
    fused = [(other, 1.0, ()), (rows[0], 0.9, ())]
    out = sentence_lexical(r.snap, r.tokenizer, q, fused, r.settings.sentence_weight,
                           r.settings.sentence_top)
    assert out[0][0] == rows[0]


def test_english_questions_weigh_bm25_less(madeup_pipeline):
    r = madeup_pipeline.retriever()
    ranked = {"dense": [(0, 0.9), (1, 0.1)], "bm25": [(1, 9.0), (0, 1.0)]}
    zh = dict((row, s) for row, s, _ in fuse(ranked, r.weights(english=False)))
    en = dict((row, s) for row, s, _ in fuse(ranked, r.weights(english=True)))
    assert zh[1] == pytest.approx(1.0) and en[1] == pytest.approx(r.settings.english_bm25_weight)
    assert zh[0] == pytest.approx(1.0) and en[0] == pytest.approx(1.0)
    # and no sentence boost for English: its words cannot match Chinese sentences
    res = r.search("How many drone routes in Huadu", k=5)
    assert all("sentence" not in dict(h.details) for h in res.hits)


def test_sentence_dense_adds_each_chunks_best_sentence_similarity(madeup_pipeline):
    r = madeup_pipeline.retriever()
    snap = r.snap
    # A question worded exactly like one sentence of a chunk: the hash encoder gives that
    # sentence similarity 1, so the chunk holding it must gain the full weight.
    target = next(i for i, c in enumerate(snap.chunks) if len(snap.chunk_sentence_rows(c)) >= 3)
    rows = snap.chunk_sentence_rows(snap.chunks[target])
    doc_id = snap.chunks[target].doc_id
    starts, ends, first = snap.sentence_rows[doc_id]
    s, e = starts[rows[1] - first], ends[rows[1] - first]
    q = snap.docs[doc_id].text[s:e]
    others = [i for i, c in enumerate(snap.chunks) if c.doc_id != doc_id][:5]
    fused = [(o, 1.0, ()) for o in others] + [(target, 0.5, ())]
    out = sentence_dense(snap, r.query_vector(q), fused, r.settings.sentence_dense_weight)
    assert out[0][0] == target
    assert out[0][1] == pytest.approx(0.5 + r.settings.sentence_dense_weight)
    best = dict(out[0][2])["sentence_dense"]
    assert best == pytest.approx(1.0, abs=1e-3)
    # every candidate got its own best sentence's similarity, and lower ones gained less
    assert all("sentence_dense" in dict(d) for _, _, d in out)
    assert all(sc < out[0][1] for _, sc, _ in out[1:])
    # weight 0 turns it off in search
    off = Retriever(snap, r.encoder, r.settings.replace(sentence_dense_weight=0.0))
    assert all("sentence_dense" not in dict(h.details) for h in off.search(q, k=5).hits)
    assert any("sentence_dense" in dict(h.details) for h in r.search(q, k=5).hits)


def test_snapshot_without_sentence_vectors_searches_without_that_stage(madeup_pipeline):
    from rag.index.snapshot import IndexSnapshot

    r = madeup_pipeline.retriever()
    s = r.snap
    bare = IndexSnapshot(s.path, s.manifest, s.docs, s.chunks, s.vectors, s.dense, s.keyword)
    assert bare.sentence_row(s.chunks[0].doc_id, 0, 1) is None
    res = Retriever(bare, r.encoder, r.settings).search("从化智能农机扶持最高给多少钱", k=5)
    assert len(res.hits) == 5
    assert all("sentence_dense" not in dict(h.details) for h in res.hits)
