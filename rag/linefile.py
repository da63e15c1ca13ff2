"""A JSON-lines file that several writers share: the feedback log, the reviewed questions,
the eval history.

Every read and write holds one lock (``filelock`` on ``<file>.lock``), across threads and
processes (the app and a ``rag`` command may write at once). An append is one ``write`` of
whole lines, flushed and fsynced; a change to existing lines (a status, an edit, a
deletion) writes a new file beside the old one and swaps it in with ``os.replace``, so a
reader sees the old file or the new one, never half of each. A line that is not valid JSON
or fails the file's check is never dropped silently: it is moved to ``<file>.rejected``
verbatim and logged as a warning::

    f = LineFile(Path("eval/feedback.jsonl"), check=lambda o: None if "vote" in o else "no vote")
    f.append([{"vote": "up"}])
    f.read()   # -> [{"vote": "up"}]
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock, Timeout

from rag.errors import InputError, RagError

__all__ = ["LOCK_TIMEOUT", "LineFile", "read_jsonl", "write_atomic"]

log = logging.getLogger("rag.linefile")

LOCK_TIMEOUT = 30.0  # seconds; writes take milliseconds, so a longer wait means a stuck writer

Check = Callable[[dict], str | None]  # a record -> None, or why it is unusable


def _no_check(obj: dict) -> str | None:
    return None


class LineFile:
    """One JSON object per line at ``path``; ``check`` rejects unusable records."""

    def __init__(self, path: Path, check: Check = _no_check) -> None:
        self.path = Path(path)
        self.rejected_path = self.path.with_name(self.path.name + ".rejected")
        self.check = check
        self._lock = FileLock(str(self.path.with_name(self.path.name + ".lock")),
                              timeout=LOCK_TIMEOUT)

    def _locked(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._lock.acquire()
        except Timeout:
            raise RagError(f"{self.path} is locked by another writer for over "
                                  f"{LOCK_TIMEOUT:.0f} s; retry, or remove a stale "
                                  f"{self._lock.lock_file}.") from None

    # -- reading
    def read(self) -> list[dict]:
        """Every usable record in file order; unusable lines go to ``.rejected``."""
        with self._locked():
            return self._read_locked()

    def _read_locked(self) -> list[dict]:
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        good: list[dict] = []
        bad: list[bytes] = []
        for n, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            obj, why = _parse(line, self.check)
            if why is None:
                good.append(obj)
            else:
                log.warning("%s line %d set aside in %s: %s", self.path, n,
                            self.rejected_path.name, why)
                bad.append(line)
        if bad:
            # Kept verbatim, so a person can mend a line and append it again.
            with open(self.rejected_path, "ab") as f:
                f.write(b"".join(x + b"\n" for x in bad))
                f.flush()
                os.fsync(f.fileno())
            self._write_locked(good)
        return good

    # -- writing
    def append(self, records: Iterable[dict]) -> None:
        """Add ``records`` at the end, in one write."""
        data = "".join(_dump(r) for r in records).encode("utf-8")
        if not data:
            return
        with self._locked():
            # A writer that crashed mid-line left no newline: start on a fresh line, so the
            # torn line stays one line (set aside on the next read) and ours stays whole.
            if self.path.exists() and self.path.stat().st_size:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        data = b"\n" + data
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def update(self, change: Callable[[list[dict]], list[dict]]) -> list[dict]:
        """Replace the records by ``change(records)`` atomically; returns the new records.
        Nobody can append between the read and the swap."""
        with self._locked():
            new = change(self._read_locked())
            self._write_locked(new)
            return new

    def _write_locked(self, records: list[dict]) -> None:
        write_atomic(self.path, records)


def _dump(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def _parse(line: bytes, check: Check) -> tuple[dict, str | None]:
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return {}, f"not valid JSON ({e.__class__.__name__})"
    if not isinstance(obj, dict):
        return {}, f"a JSON {type(obj).__name__}, not an object"
    return obj, check(obj)


def write_atomic(path: Path, records: Iterable[dict]) -> None:
    """Write ``records`` as JSON lines to ``path`` through a temporary file and a rename:
    a reader sees the old file or the new one, never part of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(_dump(r) for r in records))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (the directory entry), where the OS allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_jsonl(path: Path, keys: Iterable[str] = ()) -> list[dict]:
    """The objects of a JSON-lines file a user hands in (blank lines skipped, a BOM allowed),
    each holding ``keys``. Unlike a :class:`LineFile`, whose bad lines are set aside, an input
    file is wrong as a whole: the first bad line raises ``InputError`` naming it."""
    need = list(keys)
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except OSError as e:
        raise InputError(f"Cannot read {path}: {e.strerror}.") from None
    rows = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{path} line {n} is not valid JSON.") from None
        if need and (not isinstance(obj, dict) or not all(k in obj for k in need)):
            raise InputError(f"{path} line {n} needs at least "
                             + " and ".join(f'"{k}"' for k in need) + ".")
        rows.append(obj)
    return rows
