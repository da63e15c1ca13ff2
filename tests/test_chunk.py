"""Chunking: the offset contract, overlap, no chunk across documents."""

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.corpus.chunk import chunk_corpus, chunk_document, fixed_windows
from rag.types import DocMeta, Document


def _doc(doc_id: str, sentences: list[str]) -> Document:
    text, spans, pos = "", [], 0
    for s in sentences:
        spans.append((pos, pos + len(s)))
        text += s
        pos += len(s)
    return Document(doc_id, text, DocMeta(doc_id, "t"), sentences=tuple(spans))


sentence = st.text(alphabet="海珠大模型算力备案200个。,abc ", min_size=1, max_size=80)


@settings(max_examples=200, deadline=None)
@given(st.lists(sentence, min_size=1, max_size=30), st.integers(10, 400), st.integers(0, 3))
def test_offsets_and_coverage(sents, target, overlap):
    doc = _doc("d", sents)
    chunks = chunk_document(doc, target, overlap)
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text  # the citation contract
        assert c.doc_id == "d"
        # chunk boundaries are sentence boundaries
        assert c.start in {s for s, _ in doc.sentences}
        assert c.end in {e for _, e in doc.sentences}
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert covered == set(range(len(doc.text)))  # nothing is lost
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts))  # always moves forward


def test_overlap_repeats_one_sentence():
    doc = _doc("d", ["一二三。", "四五六。", "七八九。", "十十十。"])
    chunks = chunk_document(doc, target_chars=8, overlap=1)
    assert [c.text for c in chunks] == ["一二三。四五六。", "四五六。七八九。", "七八九。十十十。"]


def test_long_sentence_is_one_chunk_not_cut():
    long = "很长" * 200 + "。"
    doc = _doc("d", ["短句。", long, "尾。"])
    texts = [c.text for c in chunk_document(doc, target_chars=50, overlap=0)]
    assert long in texts


def test_never_across_documents():
    a, b = _doc("a", ["甲。"] * 5), _doc("b", ["乙。"] * 5)
    for c in chunk_corpus([a, b], target_chars=1000):
        assert set(c.text) <= ({"甲", "。"} if c.doc_id == "a" else {"乙", "。"})


def test_fixed_windows_baseline():
    text = "x" * 1200
    w = fixed_windows("r", text, 500, 50)
    assert [(c.start, c.end) for c in w] == [(0, 500), (450, 950), (900, 1200)]
    assert all(text[c.start:c.end] == c.text for c in w)
