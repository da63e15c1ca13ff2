"""The index folder: atomic builds, refusal of another model, damage detection, incremental
updates. Uses the fast fake encoder; retrieval quality is tested with the real model elsewhere."""

import json

import numpy as np
import pytest

from rag.errors import IndexStateError
from rag.index.store import IndexStore
from rag.models.encoder import HashEncoder
from rag.types import DocMeta, Document


class CountingEncoder(HashEncoder):
    """HashEncoder that counts what it embeds, to prove incremental updates."""

    def __init__(self, dim=64):
        super().__init__(dim)
        self.calls = 0
        self.texts = 0

    def encode(self, texts, kind="passage"):
        self.calls += 1
        self.texts += len(texts)
        return super().encode(texts, kind)


def _doc(doc_id, sentences, date="2025-01-01"):
    text, spans, pos = "", [], 0
    for s in sentences:
        spans.append((pos, pos + len(s)))
        text += s
        pos += len(s)
    return Document(doc_id, text, DocMeta(doc_id, f"标题{doc_id}", date),
                    ((0, len(text)),), tuple(spans))


# Made-up sentences about invented plans.
DOCS = [
    _doc("a", ["青禾区新建公共充电站超240个。", "充电服务企业营收超600亿元。"] * 3),
    _doc("b", ["溪云镇给予农机企业最高600万元补助。", "设立规模3亿元的农机产业基金。"] * 3),
]


def _build(store, enc, docs=DOCS, **kw):
    return store.build(docs, enc, chunk_chars=40, overlap=1, **kw)


def test_build_load_roundtrip_and_manifest(tmp_path):
    store, enc = IndexStore(tmp_path / "index"), CountingEncoder()
    m = _build(store, enc)
    snap = store.load(enc.model_id, enc.fingerprint)
    assert m.n_chunks == len(snap.chunks) == snap.vectors.shape[0] > 2
    for c in snap.chunks:
        assert snap.docs[c.doc_id].text[c.start:c.end] == c.text
    man = json.loads((store.current_path() / "manifest.json").read_text())
    for key in ("model_id", "model_checksum", "dim", "chunk_chars", "corpus_fingerprint",
                "built_at", "n_chunks"):
        assert key in man
    assert man["dim"] == 64


def test_crash_mid_build_keeps_last_good_index(tmp_path):
    store, enc = IndexStore(tmp_path / "index"), CountingEncoder()
    _build(store, enc)
    before = store.current_path()
    changed = [DOCS[0], _doc("b", ["全新的内容。"] * 4)]
    with pytest.raises(RuntimeError):
        _build(store, enc, docs=changed, _fail_after_embed=True)
    assert store.current_path() == before
    snap = store.load(enc.model_id, enc.fingerprint)
    assert any("600万元" in c.text for c in snap.chunks)  # old content still answers


def test_other_model_is_refused_with_rebuild_hint(tmp_path):
    store = IndexStore(tmp_path / "index")
    _build(store, HashEncoder(64))
    other = HashEncoder(32)
    with pytest.raises(IndexStateError, match="rag index --rebuild"):
        store.load(other.model_id, other.fingerprint)


@pytest.mark.parametrize("victim", ["vectors.npy", "faiss.index", "chunks.jsonl", "manifest.json",
                                    "sentence_vectors.npy"])
def test_corrupt_file_is_one_line_error(tmp_path, victim):
    store, enc = IndexStore(tmp_path / "index"), HashEncoder(64)
    _build(store, enc)
    (store.current_path() / victim).write_bytes(b"\x00garbage")
    with pytest.raises(IndexStateError) as e:
        store.load(enc.model_id, enc.fingerprint)
    msg = str(e.value)
    assert "\n" not in msg and "rag index --rebuild" in msg


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexStateError, match="rag index"):
        IndexStore(tmp_path / "none").load()


def test_incremental_update_embeds_changed_article_only(tmp_path):
    store, enc = IndexStore(tmp_path / "index"), CountingEncoder()
    m1 = _build(store, enc)
    assert m1.embedded_chunks == m1.n_chunks
    new_b = _doc("b", ["溪云镇给予农机企业最高900万元补助。"] * 3)
    n_b = len([c for c in store.load().chunks if c.doc_id == "b"])
    m2 = _build(store, enc, docs=[DOCS[0], new_b])
    n_a = len([c for c in store.load().chunks if c.doc_id == "a"])
    assert m2.embedded_chunks == m2.n_chunks - n_a  # only b's chunks were embedded
    assert n_b > 0
    assert m2.embedded_sentences == len(new_b.sentences)  # and only b's sentences
    m3 = _build(store, enc, docs=[DOCS[0], new_b, _doc("c", ["溪云镇新增一句。"])])
    assert m3.embedded_chunks == 1 and m3.embedded_sentences == 1
    m4 = _build(store, enc, docs=[DOCS[0], new_b], rebuild=True)
    assert m4.embedded_chunks == m4.n_chunks
    snap = store.load()
    # vectors of reused chunks equal a fresh embedding of the same input
    from rag.index.manifest import passage_input

    c0 = snap.chunks[0]
    fresh = enc.encode([passage_input(c0, snap.docs[c0.doc_id].meta)])[0]
    assert np.allclose(snap.vectors[0], fresh)


def test_only_live_and_previous_builds_are_kept(tmp_path):
    store, enc = IndexStore(tmp_path / "index"), HashEncoder(64)
    for i in range(4):
        _build(store, enc, docs=[DOCS[0], _doc("x", [f"第{i}版。"])])
    builds = [p for p in (tmp_path / "index" / "builds").iterdir()]
    assert len(builds) == 2 and store.current_path() in builds


def test_sentence_vectors_cover_every_sentence_and_map_to_chunks(tmp_path):
    from rag.index.manifest import indexed_sentences

    store, enc = IndexStore(tmp_path / "index"), CountingEncoder()
    blank = _doc("c", ["溪云镇新增一句。", "   ", "再来一句。"])
    m = _build(store, enc, docs=[*DOCS, blank])
    snap = store.load(enc.model_id, enc.fingerprint)
    spans = indexed_sentences(snap.docs.values())
    assert m.n_sentences == len(spans) == snap.sentence_vectors.shape[0]
    assert len(spans) == sum(len(d.sentences) for d in DOCS) + 2  # the blank one has no vector
    for row, (doc_id, s, e) in enumerate(spans):
        fresh = enc.encode([snap.docs[doc_id].text[s:e]])[0]
        assert np.allclose(snap.sentence_vectors[row], fresh)
        assert snap.sentence_row(doc_id, s, e) == row
        assert snap.sentence_row(doc_id, s, e + 1) is None
    for c in snap.chunks:
        rows = snap.chunk_sentence_rows(c)
        want = [i for i, (d, s, e) in enumerate(spans) if d == c.doc_id and s < c.end and e > c.start]
        assert list(rows) == want and want


def test_inconsistent_sentence_vectors_are_refused(tmp_path):
    store, enc = IndexStore(tmp_path / "index"), HashEncoder(64)
    _build(store, enc)
    path = store.current_path() / "sentence_vectors.npy"
    np.save(path, np.load(path)[:-1])
    with pytest.raises(IndexStateError, match="inconsistent"):
        store.load(enc.model_id, enc.fingerprint)


def test_older_index_format_says_so(tmp_path):
    store, enc = IndexStore(tmp_path / "index"), HashEncoder(64)
    _build(store, enc)
    path = store.current_path() / "manifest.json"
    man = json.loads(path.read_text())
    man["format_version"] = 1
    del man["n_sentences"]  # an older build lacks the newer fields
    path.write_text(json.dumps(man))
    with pytest.raises(IndexStateError, match="has format 1, this version reads"):
        store.load(enc.model_id, enc.fingerprint)
    _build(store, enc)  # `rag index` replaces it without --rebuild
    assert store.load(enc.model_id, enc.fingerprint).sentence_vectors is not None
