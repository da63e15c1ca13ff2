"""Which weights a model folder holds: the fingerprint the index manifest stores.

Both the runtime (the encoder, the ONNX export check) and the set-up builds read it, so it
lives here, apart from either.

Example::

    model_checksum("models/multilingual-e5-small")  # -> "sha256:" + 64 hex digits
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rag.errors import ModelError

__all__ = ["BUILD_INFO", "WEIGHTS_FILE", "model_checksum", "read_json", "sha256_file"]

WEIGHTS_FILE = "model.safetensors"
BUILD_INFO = "BUILD_INFO.json"


def read_json(path: Path) -> Any:
    """The parsed JSON file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks so a 500 MB file needs little memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_checksum(path: str | Path) -> str:
    """A stable fingerprint of a model folder, for the index manifest.

    The weights sha256 from ``BUILD_INFO.json`` when present (cheap), else a sha256 over
    ``config.json`` and the weights file. Raises ModelError when there is neither.
    """
    path = Path(path)
    info_path = path / BUILD_INFO
    if info_path.is_file():
        try:
            return (
                "sha256:" + json.loads(info_path.read_text(encoding="utf-8"))["weights"]["sha256"]
            )
        except (ValueError, KeyError, TypeError):
            pass  # a damaged BUILD_INFO falls through to hashing the files themselves
    h = hashlib.sha256()
    found = False
    for name in ("config.json", WEIGHTS_FILE, "pytorch_model.bin"):
        f = path / name
        if f.is_file():
            found = True
            h.update(name.encode() + b"\0" + sha256_file(f).encode())
    if not found:
        raise ModelError(
            f"No model files (config.json, {WEIGHTS_FILE}) in {path}; build or download the model."
        )
    return "sha256:" + h.hexdigest()
