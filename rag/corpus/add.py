"""Adding files to the corpus folder safely: each file is read and cleaned before it is
copied (atomically), only a sanitised base name is used, and a failing file is reported
without stopping the batch.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rag.corpus.clean import clean_text
from rag.corpus.formats import DEFAULT_MAX_BYTES, SUPPORTED_EXTENSIONS, read_raw
from rag.corpus.load import corpus_files, file_fingerprint
from rag.corpus.metadata import SIDECAR_NAME
from rag.errors import IngestError

__all__ = ["IngestReport", "add_files", "safe_name"]

_SAFE_NAME_RE = re.compile(r"[^\w.\-]+")  # \w is Unicode: Chinese file names stay readable


@dataclass(frozen=True)
class IngestReport:
    """What :func:`add_files` did: doc ids added, replaced, left as they were; errors."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def safe_name(name: str) -> str:
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
        name = safe_name(src.name)
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
        clash = [p.name for p in corpus_files(corpus_dir) if p.stem == stem and p.name != name]
        if clash:
            errors.append(
                f"Cannot add '{src.name}': doc id '{stem}' already exists as '{clash[0]}'; rename the file."
            )
            continue
        dest = corpus_dir / name
        if dest.resolve().parent != corpus_dir.resolve():  # belt and braces after safe_name
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
