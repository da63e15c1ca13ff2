"""Article metadata: the hand-written sidecar ``corpus/metadata.toml`` (one table per doc
id, fields of :class:`~rag.types.DocMeta`), or a title, date and source read from the text.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import fields
from pathlib import Path

from rag.corpus.clean import is_heading
from rag.errors import IngestError
from rag.text.patterns import paragraph_spans
from rag.types import DocMeta

__all__ = ["SIDECAR_NAME", "extract_meta", "load_sidecar", "meta_from_entry"]

SIDECAR_NAME = "metadata.toml"

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


def meta_from_entry(doc_id: str, entry: dict, file: str) -> DocMeta:
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
