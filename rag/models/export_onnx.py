"""Export a model folder to ONNX at set-up, checked against PyTorch (read by rag.models.onnx).

Why written here and not sentence-transformers' own ``backend="onnx"``: that path needs
``optimum``, and no optimum release installs beside transformers 5 (pip reports the
conflict). The export itself is ``torch.onnx.export`` of the model's own modules, and it is
*checked*: ``export_onnx`` encodes sample texts both ways and refuses to write the file if any
vector differs by more than ``MAX_DIFF``. Only the plain pipeline this project builds
(Transformer -> mean pooling -> Normalize) is exported; any other model keeps PyTorch.

Example::

    python -m rag.models.export_onnx models/multilingual-e5-small   # export (setup does this)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import ModelError
from rag.models.checksum import model_checksum, read_json
from rag.models.onnx import (
    EXPORT_DIR,
    EXPORT_INFO,
    EXPORT_VERSION,
    ONNX_FILE,
    OnnxEmbedder,
    export_info,
)

__all__ = ["MAX_DIFF", "OPSET", "export_onnx", "exportable", "main"]

MAX_DIFF = 1e-4  # largest allowed |onnx - torch| per vector component
OPSET = 17

# Texts the export is checked on: short queries, a long passage that is truncated, mixed script.
_CHECK_TEXTS = (
    "query: 某区明年的算力建设目标是多少？",
    "query: How many AI companies are in Nansha?",
    "passage: 琶洲试验区加速构建“热带雨林”式创新生态。" * 60,
    "passage: 2026年,广州将实施“人工智能+”行动,GDP增长5%。",
    "query: x",
    "query:   全角ＡＢＣ　①  and   spaces  ",  # whitespace is kept, as sentence-transformers does
)


def exportable(model_dir: Path) -> str | None:
    """None when the folder is Transformer -> mean pooling -> Normalize, else why not."""
    modules = read_json(model_dir / "modules.json")
    if not isinstance(modules, list):
        return "no modules.json"
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds != ["Transformer", "Pooling", "Normalize"]:
        return f"modules {kinds} are not Transformer, Pooling, Normalize"
    pool_path = next(
        (model_dir / m.get("path", "") / "config.json" for m in modules if "Pooling" in m["type"]),
        None,
    )
    pool = read_json(pool_path) if pool_path else None
    if not isinstance(pool, dict) or not pool.get("pooling_mode_mean_tokens"):
        return "pooling is not mean"
    others = [k for k, v in pool.items() if k.startswith("pooling_mode_") and v
              and k != "pooling_mode_mean_tokens"]
    if others:
        return f"pooling also uses {others}"
    return None


def export_onnx(model_dir: Path) -> dict:
    """Export ``model_dir`` to ``onnx/model.onnx``, checked against PyTorch; returns the info.

    Skips (returning the existing info) when a current export is there. Raises ModelError
    when the folder cannot be exported or the check fails; nothing is written then.
    """
    model_dir = Path(model_dir)
    have = export_info(model_dir)
    if have is not None:
        return have
    why = exportable(model_dir)
    if why:
        raise ModelError(f"Cannot export {model_dir} to ONNX: {why}.")
    try:
        # Lazy, and checked before minutes of work: the heavy export dependencies.
        import onnxruntime  # noqa: F401
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ModelError(f"ONNX export needs torch and onnxruntime ({err}).") from err

    t0 = time.perf_counter()
    st = SentenceTransformer(str(model_dir), device="cpu")
    dest = model_dir / EXPORT_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=model_dir))
    tmp.chmod(0o755)
    try:
        _trace(st, tmp / ONNX_FILE)
        diff = _max_diff(st, model_dir, tmp / ONNX_FILE)
        if not diff <= MAX_DIFF:
            raise ModelError(
                f"ONNX export of {model_dir} differs from PyTorch by {diff:.2e} (> {MAX_DIFF}); "
                "not used."
            )
        info = {
            "version": EXPORT_VERSION,
            "weights": model_checksum(model_dir),
            "max_abs_diff": diff,
            "check_texts": len(_CHECK_TEXTS),
            "opset": OPSET,
            "torch": torch.__version__,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        (tmp / EXPORT_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def _trace(st: Any, onnx_path: Path) -> None:
    """Write ``st``'s transformer + mean pooling + L2 normalisation as one graph."""
    import torch  # lazy: heavy, and only this set-up step needs it

    class _Embed(torch.nn.Module):
        # Mean pooling over real tokens, then L2 normalisation: what modules 1 and 2 do.
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            out = self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=-1)

    transformer = st[0].auto_model.eval()
    sample = st.tokenizer(list(_CHECK_TEXTS[:2]), padding=True, return_tensors="pt")
    # The tracer warns about shape-dependent Python branches in transformers' code; the
    # axes it names are declared dynamic and the check afterwards proves the graph right.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Embed(transformer),
            (sample["input_ids"], sample["attention_mask"]),
            str(onnx_path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                          "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter needs no onnxscript
        )


def _max_diff(st: Any, model_dir: Path, onnx_path: Path) -> float:
    """Largest |PyTorch - ONNX| vector component over the check texts."""
    want = st.encode(list(_CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)
    got = OnnxEmbedder(model_dir, threads=1, onnx_path=onnx_path).encode(list(_CHECK_TEXTS))
    return float(np.abs(want - got).max())


def main(argv: list[str] | None = None) -> int:
    """``python -m rag.models.export_onnx MODEL_DIR``: export (or confirm) the ONNX copy.

    Prints one line; a failed export is reported, and PyTorch stays in use.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m rag.models.export_onnx MODEL_DIR", file=sys.stderr)
        return 2
    try:
        info = export_onnx(Path(args[0]))
    except ModelError as err:
        print(f"onnx: {err} PyTorch stays in use.", file=sys.stderr)
        return 1
    print(f"onnx: {args[0]}/{EXPORT_DIR}/{ONNX_FILE} ok (max difference from PyTorch "
          f"{info['max_abs_diff']:.1e}, {info['check_texts']} texts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
