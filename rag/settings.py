"""One typed settings object. Defaults < ``RAG_*`` environment variables < explicit overrides.

Paths default to folders of the project root (the folder holding ``rag/``), never to the
current directory, so ``rag`` behaves the same wherever it is started. ``RAG_HOME`` moves
all of them at once (tests use it to isolate every run in a temporary folder).

Example::

    >>> s = Settings.load(top_k=3)
    >>> s.top_k
    3
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from rag.errors import InputError

__all__ = ["DEFAULT_MODEL_NAME", "PROJECT_ROOT", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_MODEL_NAME = "multilingual-e5-small"


@dataclass(frozen=True)
class Settings:
    home: Path = PROJECT_ROOT
    corpus_dir: Path | None = None  # default: home/corpus
    index_dir: Path | None = None  # default: home/index
    eval_dir: Path | None = None  # default: home/eval
    models_dir: Path | None = None  # default: home/models
    # A local folder or a hub id; default: models_dir/multilingual-e5-small (built offline).
    model: str = ""
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    embed_batch_size: int = 32
    torch_threads: int = 1  # see rag.models.st: 1 is far faster whenever the machine is shared
    # auto: the checked ONNX Runtime copy of the model when present (rag.models.onnx), else PyTorch
    embed_backend: str = "auto"
    embed_workers: int = 0  # parallel ONNX runs when embedding many texts; 0 = CPU cores

    # Chunking (characters of cleaned text; sentence-aware, so these are targets).
    chunk_chars: int = 220
    chunk_overlap_sentences: int = 1

    # Retrieval
    top_k: int = 5
    candidates: int = 50  # per method, before fusion
    fusion: str = "weighted"  # rrf | weighted: weighted won on the eval (README)
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    english_bm25_weight: float = 0.5  # x bm25_weight for English questions (see rag.retrieve)
    # Best-sentence boost on the top fused chunks (rag.retrieve); swept 0.3-5 on the eval:
    # MRR rises to a plateau from 1 to 5, 2 sits inside it. 0 turns it off.
    sentence_weight: float = 2.0
    sentence_top: int = 20
    # Best single-sentence dense similarity added to every fused candidate (rag.retrieve).
    sentence_dense_weight: float = 1.0
    ann: str = "auto"  # exact | hnsw | auto (hnsw above ann_threshold vectors)
    ann_threshold: int = 200_000
    reranker: str = ""  # optional cross-encoder path; quality never depends on it

    # Index back-end: "local" (index_dir) or "milvus" (a server several replicas share).
    backend: str = "local"
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: str = ""  # "user:password" when the server has authentication on
    milvus_prefix: str = "rag"  # collection names and the alias <prefix>_live
    milvus_timeout: float = 5.0  # seconds per call: a dead server is reported, not waited on
    # How often a serving process checks for a build another process switched in.
    reload_seconds: float = 2.0

    # Answering
    answer_passages: int = 5
    # "Today" for 今年/去年 in questions, as YYYY-MM-DD; empty: the real date. The eval pins it
    # to the day its question sets were written, so their figures do not move with the calendar.
    today: str = ""
    refuse_threshold: float = 0.35  # swept on eval/dev.jsonl: false refusals <= 0.05
    max_question_chars: int = 1000

    # Optional LLM (any OpenAI-compatible server)
    llm_base_url: str = ""
    llm_model: str = "local"
    llm_api_key: str = ""
    llm_timeout: float = 30.0

    # App
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""  # "user:pass,user2:pass2"; empty = open
    feedback_path: Path | None = None  # default: eval_dir/feedback.jsonl
    max_upload_bytes: int = 20 * 1024 * 1024

    def __post_init__(self) -> None:
        # Derived paths are filled here so a changed ``home`` moves them all.
        home = Path(self.home)
        object.__setattr__(self, "home", home)
        for name, sub in (
            ("corpus_dir", "corpus"),
            ("index_dir", "index"),
            ("eval_dir", "eval"),
            ("models_dir", "models"),
        ):
            if getattr(self, name) is None:
                object.__setattr__(self, name, home / sub)
            else:
                object.__setattr__(self, name, Path(getattr(self, name)))
        if not self.model:
            object.__setattr__(self, "model", str(self.models_dir / DEFAULT_MODEL_NAME))
        if self.feedback_path is None:
            object.__setattr__(self, "feedback_path", self.eval_dir / "feedback.jsonl")
        if self.fusion not in ("rrf", "weighted"):
            raise InputError(f"RAG_FUSION must be 'rrf' or 'weighted', not {self.fusion!r}.")
        if self.embed_backend not in ("auto", "onnx", "torch"):
            raise InputError(f"RAG_EMBED_BACKEND must be 'auto', 'onnx' or 'torch', not "
                             f"{self.embed_backend!r}.")
        if self.today:
            try:
                date.fromisoformat(self.today)
            except ValueError:
                raise InputError(f"RAG_TODAY must be a date like 2026-11-30, not "
                                 f"{self.today!r}.") from None
        if self.backend not in ("local", "milvus"):
            raise InputError(f"RAG_BACKEND must be 'local' or 'milvus', not {self.backend!r}.")
        if self.ann not in ("exact", "hnsw", "auto"):
            raise InputError(f"RAG_ANN must be 'exact', 'hnsw' or 'auto', not {self.ann!r}.")

    @property
    def today_date(self) -> date:
        """``today`` as a date (the real date when unset)."""
        return date.fromisoformat(self.today) if self.today else date.today()

    @classmethod
    def load(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, then ``RAG_<FIELD>`` variables, then ``overrides``.

        ``overrides`` with value None are ignored, so CLI flags that were not given fall
        through to the environment.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = "RAG_" + f.name.upper()
            if key in env and env[key] != "":
                values[f.name] = _parse(f, env[key], key)
        # RAG_LLM_URL is the name users guess first; accept it as an alias.
        if "llm_base_url" not in values and env.get("RAG_LLM_URL"):
            values["llm_base_url"] = env["RAG_LLM_URL"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _parse(f: dataclasses.Field, raw: str, key: str) -> Any:
    kind = str(f.type)
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if "Path" in kind:
            return Path(raw)
    except ValueError:
        raise InputError(f"{key}={raw!r} is not a valid {kind}; fix or unset it.") from None
    return raw
