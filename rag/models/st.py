"""The real encoder: a sentence-transformers model, served by ONNX Runtime when it can be.

e5 models need a prefix on every input (``query: `` for questions, ``passage: `` for
chunks); the encoder adds it itself rather than through the model's prompts, so any
sentence-transformers model works. Rows come back float32 and of unit length, so an inner
product is a cosine. Nothing loads until the first ``encode``.

Example::

    enc = SentenceTransformerEncoder("models/multilingual-e5-small")
    enc.encode(["海珠区大模型备案数量"], kind="query").shape  # (1, 384)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelError
from rag.models.checksum import model_checksum, read_json
from rag.models.onnx import OnnxEmbedder, export_info
from rag.models.texts import Kind, as_list, check_kind

__all__ = ["PARALLEL_MIN_TEXTS", "SentenceTransformerEncoder"]

log = logging.getLogger(__name__)

PARALLEL_MIN_TEXTS = 16  # fewer texts than this are embedded on one thread


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
                "(or python -m rag.models.build_e5) to build it."
            )
        return self._path

    @property
    def model_id(self) -> str:
        """The upstream model name when known (BUILD_INFO.json), else the given string."""
        if self._path is not None:
            info = read_json(self._path / "BUILD_INFO.json") or {}
            return str(info.get("model_id") or self._path.name)
        return self.model

    @property
    def dim(self) -> int:
        """Vector size; read from the folder's config when local, else from the loaded model."""
        if self._dim is None:
            if self._path is not None:
                folder = self._require_folder()
                pool = read_json(folder / "1_Pooling" / "config.json") or {}
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
        """Weights checksum for a local folder (rag.models.checksum), else the hub id."""
        if self._fingerprint is None:
            if self._path is not None:
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
                # Lazy: torch and sentence-transformers take seconds to import.
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
        """The checked ONNX copy (rag.models.onnx) when allowed and present, else None for torch."""
        if self.backend == "torch" or self._path is None:
            if self.backend == "onnx":
                raise ModelError(f"RAG_EMBED_BACKEND=onnx needs a local model folder, not "
                                 f"{self.model!r}.")
            return None
        if export_info(self._path) is None:
            if self.backend == "onnx":
                raise ModelError(f"No current ONNX export in {self._path}; run "
                                 f"`python -m rag.models.export_onnx {self._path}`.")
            return None
        try:
            return OnnxEmbedder(self._path, threads=self.threads)
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
        check_kind(kind)
        items = as_list(texts)
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
    data = read_json(path)
    return data if isinstance(data, list) else []
