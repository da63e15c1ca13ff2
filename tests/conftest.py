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
