"""Reading one file's raw text: .txt/.md (UTF-8, UTF-8 with BOM, GB18030, else
charset-normalizer's guess), .html/.htm (trafilatura main text), .pdf (pypdf text), .docx
(python-docx paragraphs).

Every failure is an :class:`~rag.errors.IngestError` whose message is one sentence that names
the file, so a batch reports it and goes on with the other files.
"""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

from rag.errors import IngestError

__all__ = ["DEFAULT_MAX_BYTES", "SUPPORTED_EXTENSIONS", "read_raw"]

SUPPORTED_EXTENSIONS = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")
DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # same as Settings.max_upload_bytes
# A .docx is a zip; its parts together may not unpack to more than this (zip bombs).
MAX_DOCX_UNCOMPRESSED = 100 * 1024 * 1024
_HTML_EXTS = (".html", ".htm")


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
