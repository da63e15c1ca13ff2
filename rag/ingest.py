"""Files -> :class:`~rag.types.Document`: reading, metadata, and adding files to the corpus.

Example::

    >>> docs, errors = load_corpus(Path("corpus"))          # doctest: +SKIP
    >>> docs[0].doc_id, docs[0].meta.date                   # doctest: +SKIP
    ('000_e71591340c5b937c', '2026-03')

Supported: .txt/.md (UTF-8, UTF-8 with BOM, GB18030, else charset-normalizer's guess),
.html/.htm (trafilatura main text), .pdf (pypdf text), .docx (python-docx paragraphs).
Every failure is an :class:`~rag.errors.IngestError` whose message is one sentence that
names the file, so a batch reports it and goes on with the other files.

Metadata comes from the hand-written sidecar ``corpus/metadata.toml`` (one table per
doc id, fields of :class:`~rag.types.DocMeta`); files without an entry get a title, date
and source read from the text itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import tomllib
import unicodedata
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

from .clean import clean_text, is_heading, paragraph_spans, sentence_spans
from .errors import IngestError
from .types import DocMeta, Document

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "SIDECAR_NAME",
    "IngestReport",
    "read_raw",
    "load_document",
    "load_corpus",
    "load_sidecar",
    "add_files",
    "file_fingerprint",
    "extract_meta",
]

SUPPORTED_EXTENSIONS = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
SIDECAR_NAME = "metadata.toml"
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # same as Settings.max_upload_bytes
# A .docx is a zip; its parts together may not unpack to more than this (zip bombs).
MAX_DOCX_UNCOMPRESSED = 100 * 1024 * 1024
_TEXT_EXTS = (".txt", ".md")
_HTML_EXTS = (".html", ".htm")
_SAFE_NAME_RE = re.compile(r"[^\w.\-]+")  # \w is Unicode: Chinese file names stay readable


@dataclass(frozen=True)
class IngestReport:
    """What :func:`add_files` did: doc ids added, replaced, left as they were; errors."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------
# Reading


def _decode_text(data: bytes, name: str) -> str:
    # UTF-16 has NUL bytes by design; only its BOM tells it apart from a binary file.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise IngestError(
                f"File '{name}' starts like UTF-16 text but does not decode; save it as UTF-8."
            ) from None
    if b"\x00" in data[:8192]:
        raise IngestError(
            f"File '{name}' looks binary (it contains NUL bytes), not text; upload a text, HTML, PDF or DOCX file."
        )
    # Strict decoders first: UTF-8 (with or without BOM) and GB18030 cover Chinese text
    # files; a lenient guess only as a last resort, and only if it reads as text.
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None:
        text = str(best)
        bad = sum(
            1 for c in text if unicodedata.category(c) in ("Cc", "Co", "Cn") and c not in "\n\r\t"
        )
        if text.strip() and bad <= 0.01 * len(text) and best.chaos < 0.3:
            return text
    raise IngestError(
        f"File '{name}' is not decodable text (tried UTF-8, GB18030 and detection); save it as UTF-8."
    )


def _read_html(data: bytes, name: str) -> str:
    import trafilatura

    text = trafilatura.extract(data, include_comments=False, include_tables=True, favor_recall=True)
    if not text or not text.strip():
        raise IngestError(f"File '{name}' has no main article text that trafilatura could find.")
    return text


def _read_pdf(path: Path, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise IngestError(
                f"File '{name}' is an encrypted PDF; remove the password and try again."
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"File '{name}' is not a readable PDF ({type(exc).__name__}).") from None
    text = "\n\n".join(pages)
    if not text.strip():
        raise IngestError(f"File '{name}' has no extractable text (a scanned PDF needs OCR first).")
    return text


def _check_zip(path: Path, name: str) -> None:
    """Refuse a .docx that is not a zip or that unpacks to more than the limit.

    The sizes in the zip directory can lie, so members are actually read (streamed, and
    stopped at the limit) rather than trusting ``file_size``.
    """
    if not zipfile.is_zipfile(path):
        raise IngestError(f"File '{name}' is not a valid .docx (it is not a zip archive).")
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(i.file_size for i in zf.infolist())
            if declared > MAX_DOCX_UNCOMPRESSED:
                raise IngestError(
                    f"File '{name}' would unpack to {declared} bytes, over the {MAX_DOCX_UNCOMPRESSED}-byte limit for .docx (possible zip bomb)."
                )
            total = 0
            for info in zf.infolist():
                with zf.open(info) as fh:
                    while chunk := fh.read(1 << 16):
                        total += len(chunk)
                        if total > MAX_DOCX_UNCOMPRESSED:
                            raise IngestError(
                                f"File '{name}' unpacks to more than the {MAX_DOCX_UNCOMPRESSED}-byte limit for .docx (possible zip bomb)."
                            )
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        NotImplementedError,
    ) as exc:
        raise IngestError(
            f"File '{name}' is a damaged .docx archive ({type(exc).__name__})."
        ) from None


def _read_docx(path: Path, name: str) -> str:
    _check_zip(path, name)
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises assorted errors for non-Word zips
        raise IngestError(
            f"File '{name}' is not a Word document python-docx can open ({type(exc).__name__})."
        ) from None
    return "\n\n".join(p.text for p in document.paragraphs)


def read_raw(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Return the raw text of one file, before cleaning.

    Raises :class:`IngestError` (one sentence naming the file) for a missing, empty,
    oversized, binary, undecodable or unsupported file and for a broken PDF/DOCX.
    """
    path = Path(path)
    name = path.name
    ext = path.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise IngestError(
            f"File '{name}' has unsupported extension '{ext or '(none)'}'; use one of {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    try:
        size = path.stat().st_size
    except OSError:
        raise IngestError(f"File '{name}' cannot be found or read.") from None
    if size == 0:
        raise IngestError(f"File '{name}' is empty.")
    if size > max_bytes:
        raise IngestError(f"File '{name}' is {size} bytes, over the {max_bytes}-byte limit.")
    if ext == ".pdf":
        return _read_pdf(path, name)
    if ext == ".docx":
        return _read_docx(path, name)
    try:
        data = path.read_bytes()
    except OSError:
        raise IngestError(f"File '{name}' cannot be read.") from None
    if ext in _HTML_EXTS:
        if b"\x00" in data[:8192]:
            raise IngestError(f"File '{name}' looks binary (it contains NUL bytes), not HTML.")
        return _read_html(data, name)
    return _decode_text(data, name)


# ---------------------------------------------------------------------------------------
# Metadata


_DATE_PATTERNS = [
    # 2025-02-15, 2025-02-15 14:08:16, 2025/2/15, 2025.2.15
    re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"),
    # 2023年11月16日, 2023年 11月 16日
    re.compile(r"(?<!\d)(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
]
_HEAD_CHARS = 200  # a dateline or page header sits in the first lines
_SOURCE_RE = re.compile(r"来源[:：]\s*([^\s,，。|]{2,20})")
_OUTLET_BYLINE_RE = re.compile(r"(?:^|\s)([^\s/,，。:：]{2,8}?)(?:全媒体)?记者")
_NOT_OUTLETS = {"本报", "本刊", "本台", "本网", "特约"}


def _find_date(text: str) -> tuple[int, str] | None:
    """Earliest valid full date in ``text`` as (position, ISO string)."""
    found = []
    for pat in _DATE_PATTERNS:
        for m in pat.finditer(text):
            y, mo, d = (int(g) for g in m.groups())
            try:
                found.append((m.start(), dt.date(y, mo, d).isoformat()))
            except ValueError:
                continue
    return min(found) if found else None


def extract_meta(doc_id: str, raw: str, text: str) -> DocMeta:
    """Metadata read from the article itself, for files without a sidecar entry.

    Title: the first heading-like paragraph (else the doc id). Date: a full date in the
    header (first lines of the raw text, where web pages print a timestamp and
    newspapers a page header); else the first full date in the body, marked inferred
    because it may be the date of an event. Source: a "来源:" line or an outlet named
    before "记者" in a byline.
    """
    title = next((text[s:e] for s, e in paragraph_spans(text) if is_heading(text[s:e])), doc_id)
    date, inferred, note = None, False, ""
    stripped = raw.lstrip()
    head = _find_date(stripped[:_HEAD_CHARS])
    if head:
        date, note = head[1], "printed at the top of the article"
    else:
        body = _find_date(stripped)
        if body:
            date, inferred = body[1], True
            note = "first full date in the text (inferred; it may be the date of an event, not of publication)"
    source = ""
    m = _SOURCE_RE.search(raw)
    if m:
        source = m.group(1)
    else:
        for m in _OUTLET_BYLINE_RE.finditer(raw[:_HEAD_CHARS] + "\n" + raw[-_HEAD_CHARS:]):
            if m.group(1) not in _NOT_OUTLETS and not m.group(1).endswith(("本报", "文")):
                source = m.group(1)
                break
    return DocMeta(
        doc_id=doc_id, title=title, date=date, date_inferred=inferred, date_note=note, source=source
    )


_META_FIELDS = {f.name for f in fields(DocMeta)} - {"doc_id", "file"}


def _meta_from_entry(doc_id: str, entry: dict, file: str) -> DocMeta:
    unknown = set(entry) - _META_FIELDS
    if unknown:
        raise IngestError(
            f"The {SIDECAR_NAME} entry for '{doc_id}' has unknown field(s) {', '.join(sorted(unknown))}; use only {', '.join(sorted(_META_FIELDS))}."
        )
    values = {k: v for k, v in entry.items() if k in _META_FIELDS}
    if values.get("date") in ("", None):
        values["date"] = None
    elif not isinstance(values["date"], str):
        values["date"] = str(values["date"])  # TOML may hold a real date: 2025-02-15
    return DocMeta(doc_id=doc_id, file=file, **values)


def load_sidecar(corpus_dir: Path) -> dict[str, dict]:
    """Entries of ``corpus_dir/metadata.toml`` by doc id (empty if there is no sidecar)."""
    path = Path(corpus_dir) / SIDECAR_NAME
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise IngestError(
            f"The sidecar {path} is not valid TOML ({exc}); fix it or remove it."
        ) from None
    return {k: v for k, v in data.items() if isinstance(v, dict)}


# ---------------------------------------------------------------------------------------
# Documents


def file_fingerprint(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_document(
    path: Path, meta: dict | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Document:
    """Read, clean and describe one file; ``meta`` is its sidecar entry, if any.

    ``doc_id`` is the file name without extension. Raises :class:`IngestError` when the
    file cannot be read or has no text left after cleaning.
    """
    path = Path(path)
    doc_id = path.stem
    raw = read_raw(path, max_bytes=max_bytes)
    text = clean_text(raw)
    if not text:
        raise IngestError(f"File '{path.name}' has no article text left after cleaning.")
    if meta:
        doc_meta = _meta_from_entry(doc_id, meta, path.name)
    else:
        auto = extract_meta(doc_id, raw, text)
        doc_meta = DocMeta(**{**auto.to_dict(), "file": path.name})
    return Document(
        doc_id=doc_id,
        text=text,
        meta=doc_meta,
        paragraphs=tuple(paragraph_spans(text)),
        sentences=tuple(sentence_spans(text)),
        raw_sha256=file_fingerprint(path),
    )


def _corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in Path(corpus_dir).iterdir()
        if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS and not p.name.startswith(".")
    )


def load_corpus(corpus_dir: Path) -> tuple[list[Document], list[str]]:
    """Load every supported file of ``corpus_dir``, sorted by doc id.

    Returns ``(documents, errors)``: a file that fails is skipped with a one-line error
    and the rest still load. The sidecar ``metadata.toml`` is read, never loaded as a
    document.
    """
    errors: list[str] = []
    try:
        sidecar = load_sidecar(corpus_dir)
    except IngestError as exc:
        errors.append(str(exc))
        sidecar = {}
    docs: dict[str, Document] = {}
    for path in _corpus_files(corpus_dir):
        doc_id = path.stem
        if doc_id in docs:
            errors.append(
                f"File '{path.name}' has the same doc id as '{docs[doc_id].meta.file}'; rename one of them."
            )
            continue
        try:
            docs[doc_id] = load_document(path, sidecar.get(doc_id))
        except IngestError as exc:
            errors.append(str(exc))
    return [docs[k] for k in sorted(docs)], errors


# ---------------------------------------------------------------------------------------
# Adding files


def _safe_name(name: str) -> str:
    """Base name only, limited to letters, digits, "_", "-" and ".", no leading dot."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = unicodedata.normalize("NFKC", base)
    base = _SAFE_NAME_RE.sub("_", base).lstrip(".")
    base = re.sub(r"\.{2,}", ".", base)
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = stem[:100].strip("._-")
    return f"{stem}.{ext.lower()}" if ext else stem


def _atomic_copy(src: Path, dest: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            while chunk := inp.read(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_files(
    paths: list[Path], corpus_dir: Path, max_bytes: int = DEFAULT_MAX_BYTES
) -> IngestReport:
    """Validate files and copy the good ones into ``corpus_dir``.

    Each file must read and clean to non-empty text before it is copied (atomically:
    temp file + ``os.replace``), so a failing file never damages the corpus. Only the
    sanitised base name is used, so no name writes outside ``corpus_dir``. A file with
    the same name replaces the old one (``updated``) unless its bytes are identical
    (``unchanged``); a different extension for an existing doc id is an error.
    """
    corpus_dir = Path(corpus_dir)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    added: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    errors: list[str] = []
    for src in paths:
        src = Path(src)
        name = _safe_name(src.name)
        stem, ext = Path(name).stem, Path(name).suffix.lower()
        if not stem or name == SIDECAR_NAME:
            errors.append(f"Cannot add '{src.name}': the file name is not usable; rename it.")
            continue
        if ext not in SUPPORTED_EXTENSIONS:
            errors.append(
                f"Cannot add '{src.name}': unsupported extension '{ext or '(none)'}'; use one of {', '.join(SUPPORTED_EXTENSIONS)}."
            )
            continue
        try:
            if not clean_text(read_raw(src, max_bytes=max_bytes)):
                raise IngestError(f"File '{src.name}' has no article text left after cleaning.")
        except IngestError as exc:
            errors.append(str(exc))
            continue
        clash = [p.name for p in _corpus_files(corpus_dir) if p.stem == stem and p.name != name]
        if clash:
            errors.append(
                f"Cannot add '{src.name}': doc id '{stem}' already exists as '{clash[0]}'; rename the file."
            )
            continue
        dest = corpus_dir / name
        if dest.resolve().parent != corpus_dir.resolve():  # belt and braces after _safe_name
            errors.append(f"Cannot add '{src.name}': its name points outside the corpus folder.")
            continue
        existed = dest.exists()
        if existed and file_fingerprint(dest) == file_fingerprint(src):
            unchanged.append(stem)
            continue
        try:
            _atomic_copy(src, dest)
        except OSError as exc:
            errors.append(
                f"Cannot add '{src.name}': copying into the corpus failed ({exc.strerror or exc})."
            )
            continue
        (updated if existed else added).append(stem)
    return IngestReport(tuple(added), tuple(updated), tuple(unchanged), tuple(errors))
