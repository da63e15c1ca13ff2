"""The ONNX Runtime copy of the embedder: same vectors as PyTorch, used by default, ignored
when stale, and never exported for a pipeline it does not reproduce."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import MODEL_DIR, require_model

from rag.errors import InputError, ModelError
from rag.models.export_onnx import MAX_DIFF, export_onnx, exportable
from rag.models.onnx import EXPORT_DIR, EXPORT_INFO, ONNX_FILE, export_info
from rag.models.st import SentenceTransformerEncoder
from rag.settings import Settings


def _fake_folder(tmp_path, kinds, pooling):
    tmp_path.mkdir()
    mods = [{"idx": i, "name": str(i), "path": "1_Pooling" if k == "Pooling" else "",
             "type": f"sentence_transformers.models.{k}"} for i, k in enumerate(kinds)]
    (tmp_path / "modules.json").write_text(json.dumps(mods))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return tmp_path


def test_only_mean_pooled_normalised_models_are_exported(tmp_path):
    mean = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    cls = {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    assert exportable(_fake_folder(tmp_path / "a", ["Transformer", "Pooling", "Normalize"],
                                   mean)) is None
    assert "pooling" in exportable(
        _fake_folder(tmp_path / "b", ["Transformer", "Pooling", "Normalize"], cls))
    assert "Dense" in exportable(
        _fake_folder(tmp_path / "c", ["Transformer", "Pooling", "Dense", "Normalize"], mean))
    with pytest.raises(ModelError, match="Cannot export"):
        export_onnx(tmp_path / "b")


def test_backend_setting_is_checked():
    assert Settings.load(env={"RAG_EMBED_BACKEND": "torch"}).embed_backend == "torch"
    with pytest.raises(InputError, match="RAG_EMBED_BACKEND"):
        Settings.load(env={"RAG_EMBED_BACKEND": "gpu"})


@pytest.mark.model
def test_onnx_vectors_equal_pytorch_vectors():
    require_model()
    assert export_info(MODEL_DIR) is not None, "setup exports the ONNX copy"
    texts = ["增城2026年要新建多少座智慧充电站", "How many drone routes does Huadu run?",
             "低空物流试点" * 200, "  前后空白  ", "从化"]
    fast = SentenceTransformerEncoder(MODEL_DIR, backend="auto")
    slow = SentenceTransformerEncoder(MODEL_DIR, backend="torch")
    for kind in ("query", "passage"):
        a, b = fast.encode(texts, kind=kind), slow.encode(texts, kind=kind)
        assert a.shape == b.shape == (len(texts), 384)
        assert float(np.abs(a - b).max()) < MAX_DIFF
        # one at a time (no padding) equals the batch (padded to the longest)
        single = np.stack([fast.encode([t], kind=kind)[0] for t in texts])
        assert float(np.abs(single - a).max()) < MAX_DIFF
    assert (fast.runtime, slow.runtime) == ("onnx", "torch")
    assert fast.fingerprint == slow.fingerprint  # an index built by either serves both
    # parallel runs (index builds) put every vector back in its text's row
    serial = SentenceTransformerEncoder(MODEL_DIR, backend="onnx", workers=1)
    parallel = SentenceTransformerEncoder(MODEL_DIR, backend="onnx", workers=3)
    many = [f"第{i}条:{t}" for i, t in enumerate(texts * 2)]
    a, b = serial.encode(many), parallel.encode(many)
    assert a.shape == (len(many), 384) and float(np.abs(a - b).max()) < 1e-6


@pytest.mark.model
def test_stale_export_is_ignored(tmp_path):
    require_model()
    # A folder whose files are the real model's, but whose export claims other weights.
    folder = tmp_path / "m"
    folder.mkdir()
    for f in MODEL_DIR.iterdir():
        if f.name != EXPORT_DIR:
            os.symlink(f, folder / f.name)
    (folder / EXPORT_DIR).mkdir()
    os.symlink(MODEL_DIR / EXPORT_DIR / ONNX_FILE, folder / EXPORT_DIR / ONNX_FILE)
    info = json.loads((MODEL_DIR / EXPORT_DIR / EXPORT_INFO).read_text())
    info["weights"] = "sha256:" + "0" * 64
    (folder / EXPORT_DIR / EXPORT_INFO).write_text(json.dumps(info))
    assert export_info(folder) is None
    enc = SentenceTransformerEncoder(folder, backend="auto")
    enc.encode(["从化"], kind="query")
    assert enc.runtime == "torch"
    with pytest.raises(ModelError, match="No current ONNX export"):
        SentenceTransformerEncoder(folder, backend="onnx").encode(["从化"])
