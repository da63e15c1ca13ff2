"""Both index back-ends side by side, each in a process of its own (``worker backend CFG``,
:func:`rag.evaluation.bench.backends.measure_backend`):

- five articles: a full build of the corpus (every chunk embedded; the same encoder for both,
  so the difference is where the rows go), then warm hybrid search and extractive answers
  over the eval questions;
- N synthetic chunks (:mod:`rag.evaluation.bench.synthetic`, one article per chunk, vectors
  given): the rows written and switched in (embedding excluded), the build loaded as a
  serving process loads it, then warm hybrid search;
- RSS of the client process and, for Milvus, of the Milvus Lite server the bench started.

``compare_backends`` starts a private ``milvus-lite server`` on a free loopback port in a
temporary folder, so the figures do not depend on what else a shared server holds.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rag.errors import RagError
from rag.evaluation.bench.measure import process_rss_mb
from rag.evaluation.bench.worker import run_worker

__all__ = ["compare_backends"]


def _start_milvus(data_dir: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                             str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, uri
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RagError("The bench could not start `milvus-lite server`; install the "
                               "Milvus extra with `pip install -e '.[milvus]'`.") from None
            time.sleep(0.2)


def compare_backends(backends: Sequence[str], questions: list[str],
                     n_synthetic: int, env: dict[str, str],
                     log: Callable[[str], None]) -> list[dict]:
    """One figure set per back-end (see the module doc)."""
    out = []
    for backend in backends:
        log(f"back-end {backend}: five articles, then {n_synthetic} synthetic chunks")
        with tempfile.TemporaryDirectory(prefix=f"rag-bench-{backend}-") as tmp:
            cfg = {"backend": backend, "questions": questions, "n": n_synthetic,
                   "index_dir": str(Path(tmp) / "index"), "uri": ""}
            server = None
            if backend == "milvus":
                server, cfg["uri"] = _start_milvus(Path(tmp) / "milvus")
            try:
                r = run_worker("backend", cfg, env, 3600)
                if server is not None:
                    r["server_rss"] = process_rss_mb(server.pid)
            finally:
                if server is not None:
                    server.terminate()
                    server.wait(timeout=30)
            out.append(r)
    return out
