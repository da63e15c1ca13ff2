"""Shared fixtures. Every test runs with RAG_HOME in its own temporary folder (autouse), so
no test reads or writes the repo's index/ or eval/; the real model folder is shared read-only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
MODEL_DIR = REPO / "models" / "multilingual-e5-small"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith("RAG_"):
            monkeypatch.delenv(k)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RAG_HOME", str(home))
    monkeypatch.setenv("RAG_MODELS_DIR", str(REPO / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def copy_corpus(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in CORPUS.iterdir():
        shutil.copy2(f, dest / f.name)
    return dest


@pytest.fixture
def corpus_home(isolated_home):
    """A temporary RAG_HOME holding a copy of the real corpus."""
    copy_corpus(isolated_home / "corpus")
    return isolated_home


@pytest.fixture
def hash_pipeline(corpus_home, monkeypatch):
    """A pipeline over the real corpus with the fast deterministic fake encoder."""
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    monkeypatch.setenv("RAG_MODEL", "hash")
    p = Pipeline(Settings.load())
    p.build_index()
    return p


def require_model() -> None:
    if not (MODEL_DIR / "config.json").exists():
        pytest.fail(f"The offline embedding model is missing at {MODEL_DIR}; run "
                    "`bash scripts/setup.sh` first (the README's test command does).")


@pytest.fixture(scope="session")
def real_pipeline(tmp_path_factory):
    """One index over the real corpus with the real offline e5 model, shared by the session."""
    require_model()
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    home = tmp_path_factory.mktemp("realhome")
    copy_corpus(home / "corpus")
    s = Settings.load(env={}, home=home, models_dir=REPO / "models")
    p = Pipeline(s)
    p.build_index()
    return p


# -- Milvus: a real `milvus-lite server` on a free loopback port, never a mock

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MilvusServer:
    """One `milvus-lite server` process on 127.0.0.1 over ``data_dir``; ``stop``/``start``
    again on the same port and data keep the collections (the fault tests use that)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir, self.port = Path(data_dir), port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, wait: float = 60) -> MilvusServer:
        import subprocess
        import sys
        import time

        try:
            import milvus_lite  # noqa: F401
            from pymilvus import MilvusClient
        except ImportError:
            pytest.fail("pymilvus and milvus-lite are not installed; run `bash scripts/test.sh` "
                        "(it installs the .[milvus] extra).")
        self.log = open(self.data_dir.parent / f"milvus-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir),
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + wait
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"milvus-lite server exited with {self.proc.returncode}; see "
                            f"{self.log.name}.")
            try:
                MilvusClient(uri=self.uri, timeout=2).list_collections(timeout=2)
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"milvus-lite server on port {self.port} did not answer in "
                                f"{wait:.0f} s; see {self.log.name}.")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A Milvus Lite server for the whole session (each test uses its own collection prefix)."""
    root = tmp_path_factory.mktemp("milvus")
    server = MilvusServer(root / "data").start()
    yield server
    server.stop()


@pytest.fixture
def milvus_env(milvus_server, monkeypatch, request):
    """RAG_* variables that point this test's pipelines at the session's Milvus server, under
    a collection prefix of its own."""
    import hashlib

    prefix = "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    env = {"RAG_BACKEND": "milvus", "RAG_MILVUS_URI": milvus_server.uri,
           "RAG_MILVUS_PREFIX": prefix}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env
