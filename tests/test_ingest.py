"""rag.corpus (formats, load, add): reading every format, metadata, and adding files safely."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from rag.corpus import formats
from rag.corpus.add import add_files, safe_name
from rag.corpus.formats import SUPPORTED_EXTENSIONS, read_raw
from rag.corpus.load import file_fingerprint, load_corpus, load_document
from rag.errors import IngestError

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ARTICLE = "溪云镇智能农机产业发展迅速。溪云镇力争全年引进农机企业超30家。"  # made up


def one_sentence(msg: str, name: str) -> None:
    assert "\n" not in msg and name in msg and msg.endswith(".")


# --- reading -------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_text_encodings_decode(tmp_path, encoding):
    p = tmp_path / "a.txt"
    p.write_bytes(ARTICLE.encode(encoding))
    assert read_raw(p) == ARTICLE  # the BOM is not part of the text


def test_gb18030_is_not_mistaken_for_utf8(tmp_path):
    p = tmp_path / "gbk.md"
    p.write_bytes("溪云镇农机合作社已连续5年获评全市先进。".encode("gb18030"))
    assert load_document(p).text == "溪云镇农机合作社已连续5年获评全市先进。"


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("empty.txt", b"", "empty"),
        ("blob.txt", b"\x00\x01\x02binary\x00" * 20, "binary"),
        ("notes.xyz", ARTICLE.encode(), "extension"),
        ("garbled.txt", bytes(range(128, 256)) * 4, "decodable"),
        ("fake.docx", b"this is not a zip archive at all", "zip"),
        ("fake.pdf", b"%PDF-1.4 nonsense", "PDF"),
    ],
)
def test_bad_files_raise_one_sentence(tmp_path, name, data, reason):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(IngestError) as err:
        read_raw(p)
    one_sentence(str(err.value), name)
    assert reason in str(err.value)


def test_over_max_bytes(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text(ARTICLE * 50, encoding="utf-8")
    with pytest.raises(IngestError, match="limit"):
        read_raw(p, max_bytes=100)


def _tiny_pdf(text: str) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DictionaryObject, NameObject, StreamObject

    w = PdfWriter()
    page = w.add_blank_page(width=400, height=200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): w._add_object(font)})}
    )
    stream = StreamObject()
    stream.set_data(f"BT /F1 12 Tf 20 150 Td ({text}) Tj ET".encode("latin-1"))
    page[NameObject("/Contents")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def test_pdf_round_trip(tmp_path):
    # ASCII text: embedding a CJK font in a hand-made PDF is out of scope for a unit test.
    p = tmp_path / "report.pdf"
    p.write_bytes(_tiny_pdf("Guangzhou builds an AI industry hub."))
    doc = load_document(p)
    assert doc.text == "Guangzhou builds an AI industry hub."
    assert doc.doc_id == "report"


def test_docx_round_trip(tmp_path):
    import docx

    d = docx.Document()
    d.add_paragraph("溪云镇的农机故事")
    d.add_paragraph("智能农机已成为春耕的新帮手。培训，是关键环节。")
    p = tmp_path / "word.docx"
    d.save(p)
    doc = load_document(p)
    assert doc.text == "溪云镇的农机故事\n智能农机已成为春耕的新帮手。培训,是关键环节。"
    assert doc.meta.title == "溪云镇的农机故事"
    assert [doc.text[s:e] for s, e in doc.sentences][1] == "智能农机已成为春耕的新帮手。"


def test_docx_zip_bomb_rejected_without_unpacking_it_all(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "MAX_DOCX_UNCOMPRESSED", 1_000_000)
    p = tmp_path / "bomb.docx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"\0" * 3_000_000)  # compresses to a few KB
    assert p.stat().st_size < 50_000
    with pytest.raises(IngestError, match="zip bomb") as err:
        read_raw(p)
    one_sentence(str(err.value), "bomb.docx")


def test_docx_zip_bomb_with_lying_directory_rejected(tmp_path, monkeypatch):
    # The zip directory claims a tiny size; the streamed read still stops at the limit.
    monkeypatch.setattr(formats, "MAX_DOCX_UNCOMPRESSED", 1_000_000)
    p = tmp_path / "liar.docx"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b"\0" * 3_000_000)
    data = bytearray(p.read_bytes())
    cd = data.rfind(b"PK\x01\x02")  # central directory entry: uncompressed size at +24
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")
    p.write_bytes(bytes(data))
    with pytest.raises(IngestError) as err:
        read_raw(p)
    one_sentence(str(err.value), "liar.docx")


def test_html_main_text_extracted(tmp_path):
    body = "".join(
        f"<p>广州人工智能产业发展迅速，第{i}段正文内容较长，用于测试主体内容的提取。</p>"
        for i in range(5)
    )
    html = f"<html><body><nav>首页 > 新闻 > 正文</nav><article><h1>广州人工智能</h1>{body}</article><footer>版权所有 联系我们</footer></body></html>"
    p = tmp_path / "page.html"
    p.write_text(html, encoding="utf-8")
    text = load_document(p).text
    assert text.startswith("广州人工智能\n广州人工智能产业发展迅速,第0段")
    assert "第4段" in text and "版权所有" not in text and "首页" not in text


# --- documents and metadata -----------------------------------------------------------


def test_load_document_dates_from_text():
    d2 = load_document(CORPUS / "002_0638385fcb057a50.txt", None)
    d4 = load_document(CORPUS / "004_81d908b98aeef4bd.txt", None)
    assert d2.meta.date == "2025-02-15" and not d2.meta.date_inferred
    assert d4.meta.date == "2023-11-16" and not d4.meta.date_inferred
    assert d4.meta.title == "产业化的突破口在哪儿"
    assert d2.meta.title == "海珠区委书记蔡澍:数智产业大发展,全年引育百家大模型企业"
    assert (
        d2.raw_sha256
        == hashlib.sha256((CORPUS / "002_0638385fcb057a50.txt").read_bytes()).hexdigest()
    )
    assert d2.paragraphs[0] == (0, len(d2.meta.title))


def test_date_patterns(tmp_path):
    cases = {
        "a.txt": ("标题\n2023年11月16日\n正文一句话。", "2023-11-16"),
        "b.txt": ("标题\n2024/3/5 来源:某报\n正文一句话。", "2024-03-05"),
        "c.txt": (
            "标题\n\n" + "正文很长一句话。" * 40 + "会议于2022年 1月 9日举行。",
            "2022-01-09",
        ),
    }
    for name, (text, date) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert load_document(tmp_path / name).meta.date == date
    deep = load_document(tmp_path / "c.txt").meta
    assert deep.date_inferred and "inferred" in deep.date_note  # body date, not a dateline


def test_sidecar_metadata_used_and_not_a_document(tmp_path):
    shutil.copy(CORPUS / "metadata.toml", tmp_path / "metadata.toml")
    shutil.copy(CORPUS / "003_fe5e6cae250a9eee.txt", tmp_path)
    docs, errors = load_corpus(tmp_path)
    assert errors == [] and [d.doc_id for d in docs] == ["003_fe5e6cae250a9eee"]
    m = docs[0].meta
    assert m.source == "21世纪经济报道" and m.date.startswith("2026-01") and m.date_inferred
    assert m.file == "003_fe5e6cae250a9eee.txt"


def test_real_corpus_loads_with_sidecar():
    docs, errors = load_corpus(CORPUS)
    assert errors == []
    assert [d.doc_id[:3] for d in docs] == ["000", "001", "002", "003", "004"]
    by = {d.doc_id[:3]: d.meta for d in docs}
    assert by["002"].date == "2025-02-15" and by["004"].date == "2023-11-16"
    assert all(m.date and m.title and m.region and m.date_note for m in by.values())
    assert by["000"].date_inferred and by["001"].date.startswith("2025")


def test_broken_file_skips_only_itself(tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(b"")
    (tmp_path / "notes.csv").write_text("x,y", encoding="utf-8")  # unsupported: ignored
    docs, errors = load_corpus(tmp_path)
    assert [d.doc_id for d in docs] == ["a"]
    assert len(errors) == 1 and "b.txt" in errors[0]


def test_fingerprints(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text(ARTICLE, encoding="utf-8")
    assert file_fingerprint(p) == hashlib.sha256(p.read_bytes()).hexdigest()
    # The index manifest's fingerprint (rag.index) is the one that marks an index stale.
    from rag.index.manifest import corpus_fingerprint

    doc = load_document(p)
    fp = corpus_fingerprint([doc])
    assert fp == corpus_fingerprint([doc])
    assert corpus_fingerprint([replace(doc, text=doc.text + "x")]) != fp


# --- adding files -----------------------------------------------------------------------


def test_add_files_batch_with_bad_files(tmp_path):
    src, corpus = tmp_path / "in", tmp_path / "corpus"
    src.mkdir()
    corpus.mkdir()
    (corpus / "old.txt").write_text("原有文章。", encoding="utf-8")
    files = {
        "utf8.txt": ARTICLE.encode("utf-8"),
        "bom.txt": ARTICLE.encode("utf-8-sig"),
        "gb.txt": ARTICLE.encode("gb18030"),
        "empty.txt": b"",
        "bin.txt": b"\x00\xff" * 50,
        "x.exe": b"MZ",
        "garbled.md": bytes(range(128, 256)) * 4,
        "old.md": "另一篇。".encode(),  # same doc id as old.txt, other extension
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    report = add_files([src / n for n in files], corpus, max_bytes=10_000)
    assert report.added == ("utf8", "bom", "gb")
    assert len(report.errors) == 5
    for err, name in zip(
        report.errors, ["empty.txt", "bin.txt", "x.exe", "garbled.md", "old.md"], strict=True
    ):
        one_sentence(err, name)
    assert (corpus / "old.txt").read_text(encoding="utf-8") == "原有文章。"  # nothing lost
    assert sorted(p.name for p in corpus.iterdir()) == ["bom.txt", "gb.txt", "old.txt", "utf8.txt"]
    assert (corpus / "gb.txt").read_bytes() == files["gb.txt"]  # copied byte for byte


def test_add_files_updated_and_unchanged(tmp_path):
    corpus = tmp_path / "corpus"
    a = tmp_path / "a.txt"
    a.write_text(ARTICLE, encoding="utf-8")
    assert add_files([a], corpus).added == ("a",)
    assert add_files([a], corpus).unchanged == ("a",)
    a.write_text(ARTICLE + "新增一句。", encoding="utf-8")
    assert add_files([a], corpus).updated == ("a",)
    assert (corpus / "a.txt").read_text(encoding="utf-8").endswith("新增一句。")
    assert not [p for p in corpus.iterdir() if p.name.startswith(".")]  # no temp files left


def test_add_files_never_writes_outside_corpus(tmp_path):
    corpus = tmp_path / "deep" / "corpus"
    corpus.mkdir(parents=True)
    (tmp_path / "deep" / "sub").mkdir()
    src = tmp_path / "deep" / "sub" / ".." / ".." / "x.txt"  # a traversal path that exists
    (tmp_path / "x.txt").write_text(ARTICLE, encoding="utf-8")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    report = add_files([src], corpus)
    assert report.added == ("x",)
    after = sorted(str(p) for p in tmp_path.rglob("*"))
    assert set(after) - set(before) == {str(corpus / "x.txt")}


@pytest.mark.parametrize(
    "name,safe",
    [
        ("../../x.txt", "x.txt"),
        ("/etc/passwd.txt", "passwd.txt"),
        ("..\\..\\win.TXT", "win.txt"),
        ("a b;rm -rf*.md", "a_b_rm_-rf.md"),
        ("..hidden.txt", "hidden.txt"),
        ("广州 报告.docx", "广州_报告.docx"),
    ],
)
def test_safe_names(name, safe):
    assert safe_name(name) == safe


def test_supported_extensions():
    assert set(SUPPORTED_EXTENSIONS) == {".txt", ".md", ".html", ".htm", ".pdf", ".docx"}
