"""Bench steps in a process of their own, so every RSS figure belongs to one workload.

The parent writes a JSON config and runs::

    python -m rag.evaluation.bench.worker scale|serve|backend CONFIG

The worker prints its figures as one JSON line on stdout. ``serve`` times a fresh serving
process (imports, first answer, peak RSS); ``scale`` is :func:`rag.evaluation.bench.scale.measure_scale`, ``backend`` is
:func:`rag.evaluation.bench.backends.measure_backend`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rag.errors import RagError
from rag.evaluation.bench.measure import memory_mb
from rag.settings import PROJECT_ROOT, Settings

__all__ = ["ROLES", "child_env", "main", "run_worker", "serve"]

ROLES = ("backend", "scale", "serve")
_MODULE = "rag.evaluation.bench.worker"


def serve(cfg: dict) -> dict:
    """A fresh serving process: time the first answer, answer more, report its own RSS."""
    t_start = time.perf_counter()
    # Imported here: how long a fresh process takes to import the pipeline is a figure.
    from rag.pipeline import Pipeline

    t_import = time.perf_counter()
    questions = cfg["questions"]
    p = Pipeline(Settings.load())
    p.ensure_index()
    first = p.ask(questions[0])
    t_first = time.perf_counter()
    for q in questions[1:]:
        p.ask(q)  # retrieval (dense + BM25) and the answerer's sentence embedding
    mem = memory_mb()
    return {"import_s": round(t_import - t_start, 3),
            "first_answer_s": round(t_first - t_import, 3),
            "first_answer_refused": first.refused,
            "questions": len(questions), **mem}


def run_worker(role: str, cfg: dict, env: dict[str, str], timeout: float) -> dict:
    """Run ``python -m rag.evaluation.bench.worker ROLE CONFIG`` and parse its last stdout
    line as JSON."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False)
        cfg_path = f.name
    try:
        proc = subprocess.run([sys.executable, "-m", _MODULE, role, cfg_path], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RagError(f"The bench's {role} step took over {timeout:.0f} s; try a smaller "
                       "--scale.") from None
    finally:
        os.unlink(cfg_path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RagError(f"The bench's {role} step failed ({tail[:200]}); run it again with "
                       "the same settings to see the full error.")
    return json.loads(lines[-1])


def child_env(s: Settings) -> dict[str, str]:
    """The environment of a bench subprocess: ``s``'s folders and model, offline, and this
    checkout first on the import path."""
    env = dict(os.environ)
    env.update({"RAG_HOME": str(s.home), "RAG_CORPUS_DIR": str(s.corpus_dir),
                "RAG_INDEX_DIR": str(s.index_dir), "RAG_EVAL_DIR": str(s.eval_dir),
                "RAG_MODELS_DIR": str(s.models_dir), "RAG_MODEL": str(s.model),
                "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(PROJECT_ROOT),
                                                    env.get("PYTHONPATH", "")) if x)
    return env


def main(argv: Sequence[str]) -> int:
    """``ROLE CONFIG``: run one step and print its figures as one JSON line."""
    role, cfg_path = argv[0], argv[1]
    if role not in ROLES:
        print(f"unknown bench step {role!r}; use one of {', '.join(ROLES)}", file=sys.stderr)
        return 2
    cfg = json.loads(Path(cfg_path).read_text(encoding="utf-8"))
    if role == "serve":
        out = serve(cfg)
    elif role == "backend":
        # Imported here, as the scale step below: the serve step times its own imports.
        from rag.evaluation.bench.backends import measure_backend

        out = measure_backend(cfg)
    else:
        # Imported here: the scale code loads FAISS, the index and the retriever, which the
        # serve step must import itself for its import time to mean anything.
        from rag.evaluation.bench.scale import measure_scale

        out = measure_scale(cfg)
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
