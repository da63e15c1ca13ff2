"""Text -> vector. One protocol, a real encoder and a deterministic fake.

``Encoder.encode(texts, kind)`` returns float32 rows of unit length, so an inner product
is a cosine. e5 models need a prefix on every input (``query: `` for questions,
``passage: `` for chunks); the encoder adds it itself rather than through the model's
prompts, so any sentence-transformers model works.

Example::

    >>> enc = HashEncoder(dim=64)
    >>> enc.encode(["海珠区", "海珠"]).shape
    (2, 64)
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from .errors import InputError, ModelError

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

Kind = Literal["query", "passage"]
PARALLEL_MIN_TEXTS = 16  # fewer texts than this are embedded on one thread
KINDS = ("query", "passage")


class Encoder(Protocol):
    """What the index and retriever need from an embedding model."""

    model_id: str
    dim: int
    fingerprint: str  # changes whenever the vectors would; stored in the index manifest

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Return float32 array (len(texts), dim) with L2-normalised rows."""
        ...


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"Encoding kind must be 'query' or 'passage', not {kind!r}.")


def _as_list(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; encoding it character by character is never meant.
    if isinstance(texts, str):
        raise InputError("encode() takes a list of texts, not a single string; wrap it in a list.")
    return list(texts)


# ---------------------------------------------------------------- real model


def _looks_local(model: str) -> bool:
    """True when ``model`` names a folder rather than a hub id like ``org/name``."""
    if Path(model).expanduser().exists():
        return True
    return (
        os.path.isabs(model)
        or model.startswith((".", "~"))
        or model.count("/") > 1
        or (os.sep != "/" and os.sep in model)
    )


def _read_json(path: Path) -> Any:
    """The parsed JSON file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class SentenceTransformerEncoder:
    """A sentence-transformers model (local folder or hub id), loaded on first ``encode``.

    Construction touches no weights: ``dim``, ``model_id`` and ``fingerprint`` come from the
    folder's small JSON files when it is local. The model loads once, under a lock, so
    concurrent first requests do not load it twice; ``load_seconds`` records how long it took.
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        query_prefix: str = "query: ",
        passage_prefix: str = "passage: ",
        batch_size: int = 32,
        threads: int = 1,
        backend: str = "auto",
        workers: int = 0,
    ) -> None:
        self.model = str(model)
        self.threads = threads
        # Parallel ONNX runs for many texts (index builds); 0 = one per usable CPU core.
        self.workers = workers or len(os.sched_getaffinity(0)) or 1
        self.backend = backend  # auto | onnx | torch; ``runtime`` says which one loaded
        self.runtime: str | None = None
        self.prefixes = {"query": query_prefix, "passage": passage_prefix}
        self.batch_size = batch_size
        self.load_seconds: float | None = None
        self._local = _looks_local(self.model)
        self._path = Path(self.model).expanduser() if self._local else None
        self._st: Any = None
        self._lock = threading.Lock()
        self._dim: int | None = None
        self._fingerprint: str | None = None

    # -- cheap metadata ------------------------------------------------------------

    def _require_folder(self) -> Path:
        assert self._path is not None
        if (
            not (self._path / "config.json").is_file()
            and not (self._path / "modules.json").is_file()
        ):
            raise ModelError(
                f"Embedding model not found at {self._path}; run `bash scripts/setup.sh` "
                "(or python -m rag.modelbuild) to build it."
            )
        return self._path

    @property
    def model_id(self) -> str:
        """The upstream model name when known (BUILD_INFO.json), else the given string."""
        if self._path is not None:
            info = _read_json(self._path / "BUILD_INFO.json") or {}
            return str(info.get("model_id") or self._path.name)
        return self.model

    @property
    def dim(self) -> int:
        """Vector size; read from the folder's config when local, else from the loaded model."""
        if self._dim is None:
            if self._path is not None:
                folder = self._require_folder()
                pool = _read_json(folder / "1_Pooling" / "config.json") or {}
                has_dense = any(
                    "Dense" in str(m.get("type", ""))
                    for m in (_read_json_list(folder / "modules.json"))
                )
                if pool.get("word_embedding_dimension") and not has_dense:
                    self._dim = int(pool["word_embedding_dimension"])
            if self._dim is None:  # a Dense head or a hub id: ask the model itself
                self._dim = int(self.encode(["dim"]).shape[1])
        return self._dim

    @property
    def fingerprint(self) -> str:
        """Weights checksum for a local folder (see rag.modelbuild.model_checksum), else the hub id."""
        if self._fingerprint is None:
            if self._path is not None:
                from .modelbuild import model_checksum

                self._fingerprint = model_checksum(self._require_folder())
            else:
                self._fingerprint = f"hub:{self.model}"
        return self._fingerprint

    # -- loading and encoding -------------------------------------------------------

    def _load(self) -> Any:
        if self._st is not None:
            return self._st
        with self._lock:
            if self._st is None:
                source = str(self._require_folder()) if self._path is not None else self.model
                t0 = time.perf_counter()
                onnx = self._load_onnx()
                if onnx is not None:
                    self.load_seconds = time.perf_counter() - t0
                    log.info("loaded %s (onnxruntime) in %.2f s", source, self.load_seconds)
                    self.runtime = "onnx"
                    self._st = onnx
                    return self._st
                import torch
                from sentence_transformers import SentenceTransformer

                # One thread by default: measured on the 2-core box, a query took 42 ms with one
                # thread and ~970 ms with two while anything else ran (OpenMP threads spin-wait
                # for a busy core). A server always shares the machine. RAG_TORCH_THREADS=2
                # speeds up a build on an otherwise idle machine.
                if not os.environ.get("OMP_NUM_THREADS"):
                    cores = len(os.sched_getaffinity(0))
                    torch.set_num_threads(max(1, min(self.threads, cores)))
                try:
                    st = SentenceTransformer(source, device="cpu")
                except Exception as err:  # any loader failure is one user-facing sentence
                    raise ModelError(
                        f"Could not load embedding model {source} ({type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else 'no detail'}); "
                        "run `bash scripts/setup.sh` to build the default model."
                    ) from err
                self.load_seconds = time.perf_counter() - t0
                log.info("loaded %s in %.2f s", source, self.load_seconds)
                self.runtime = "torch"
                self._st = st
        return self._st

    def _load_onnx(self) -> Any:
        """The checked ONNX copy (rag.onnxrt) when allowed and present, else None for torch."""
        if self.backend == "torch" or self._path is None:
            if self.backend == "onnx":
                raise ModelError(f"RAG_EMBED_BACKEND=onnx needs a local model folder, not "
                                 f"{self.model!r}.")
            return None
        from . import onnxrt

        if onnxrt.export_info(self._path) is None:
            if self.backend == "onnx":
                raise ModelError(f"No current ONNX export in {self._path}; run "
                                 f"`python -m rag.onnxrt {self._path}`.")
            return None
        try:
            return onnxrt.OnnxEmbedder(self._path, threads=self.threads)
        except Exception as err:  # a broken runtime falls back to PyTorch, said once
            if self.backend == "onnx":
                raise ModelError(f"Could not start ONNX Runtime for {self._path} "
                                 f"({type(err).__name__}: {err}).") from err
            log.warning("ONNX Runtime unavailable (%s); using PyTorch", err)
            return None

    @property
    def loaded(self) -> bool:
        """True once the weights are in memory."""
        return self._st is not None

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Embed ``texts`` with the ``kind`` prefix; float32 (n, dim), unit rows."""
        _check_kind(kind)
        items = _as_list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        st = self._load()
        prefix = self.prefixes[kind]
        if self.runtime == "onnx":
            # One text per run: padding costs more than batching saves here (119 chunks:
            # 9.1 s one at a time, 13.4 s in batches of 32, on one thread).
            texts = [prefix + t for t in items]
            if self.workers < 2 or len(texts) < PARALLEL_MIN_TEXTS:
                return st.encode(texts, batch_size=1)
            # One session, several single-threaded runs at once (ONNX Runtime's run() is
            # thread-safe and releases the GIL): 359 sentences in 4.8 s on 2 cores, 10.3 s
            # with one run at a time. Queries and the few sentences an answer may embed stay
            # on one thread, beside other requests.
            n = min(self.workers, len(texts))
            with ThreadPoolExecutor(n) as pool:
                parts = list(pool.map(lambda i: st.encode(texts[i::n], batch_size=1), range(n)))
            out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
            for i, part in enumerate(parts):
                out[i::n] = part
            return out
        vecs = st.encode(
            [prefix + t for t in items],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder({self.model!r}, loaded={self.loaded})"


def _read_json_list(path: Path) -> list[dict]:
    data = _read_json(path)
    return data if isinstance(data, list) else []


# ---------------------------------------------------------------- test fake


class HashEncoder:
    """A deterministic stand-in for unit tests: character uni- and bi-grams hashed into ``dim``.

    Texts sharing characters get a positive cosine; identical texts get identical vectors in
    every process (crc32, not Python's salted ``hash``). Queries and passages are encoded the
    same way. A text with no non-space characters maps to a fixed unit vector so every row
    stays normalised.

    Example: ``HashEncoder(64).encode(["海珠区"]) @ HashEncoder(64).encode(["海珠"]).T > 0``.
    """

    def __init__(self, dim: int = 256) -> None:
        if dim < 2:
            raise InputError(f"HashEncoder needs dim >= 2, not {dim}.")
        self.dim = dim
        self.model_id = f"hash-{dim}"
        self.fingerprint = f"hash:v1:{dim}"
        self.load_seconds = 0.0

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        chars = [c for c in text.lower() if not c.isspace()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:], strict=False)]
        for g in grams:
            h = zlib.crc32(g.encode("utf-8"))
            # The top bit picks a sign so unrelated grams cancel instead of piling up.
            v[h % self.dim] += -1.0 if h & 0x80000000 else 1.0
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            v[0] = 1.0
            return v
        return v / norm

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Embed ``texts``; ``kind`` is checked but does not change the vectors."""
        _check_kind(kind)
        items = _as_list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in items]).astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"HashEncoder(dim={self.dim})"


# ---------------------------------------------------------------- factory


def get_encoder(settings: Settings) -> Encoder:
    """The encoder ``settings.model`` names: ``hash`` / ``hash:128`` -> HashEncoder, else a model.

    Nothing is loaded here; a SentenceTransformerEncoder loads on its first ``encode``.
    """
    model = str(settings.model)
    if model == "hash" or model.startswith("hash:"):
        _, _, size = model.partition(":")
        try:
            return HashEncoder(int(size) if size else 256)
        except ValueError:
            raise InputError(
                f"RAG_MODEL={model!r}: the size after 'hash:' must be a whole number."
            ) from None
    return SentenceTransformerEncoder(
        model,
        query_prefix=settings.query_prefix,
        passage_prefix=settings.passage_prefix,
        batch_size=settings.embed_batch_size,
        threads=settings.torch_threads,
        backend=settings.embed_backend,
        workers=settings.embed_workers,
    )
