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


# ------------------------------------------------------------------ a made-up corpus
# Five short articles written for the tests: invented facts about invented firms and people,
# set in districts the real articles do not cover. Answer, retrieval, load and fault tests
# ask about these, so no test needs a question, answer or evidence from eval/.
# doc id -> (title, date, text); paragraphs are separated by blank lines.
MADEUP_ARTICLES: dict[str, tuple[str, str, str]] = {
    "m1_conghua_farm": (
        "从化区出台智能农机扶持措施",
        "2025-06-18",
        "6月18日,从化区工信局发布《从化区促进智能农机产业发展若干措施》,围绕研发、制造、"
        "应用三个环节,给予单个企业最高800万元资金支持。\n\n"
        "目前,从化区已集聚智能农机企业45家,2024年智能农机产业规模约达30亿元,同比增长15%。\n\n"
        "“农户最缺的不是机器,而是会用机器的人。”从化区农机合作社理事长陈立新说。"
        "他介绍,合作社今年已培训新农机手1200名。\n\n"
        "从化区还将开放农田、气象等领域数据资源,支持企业在田间开展无人驾驶农机测试。\n\n"
        "从化区农业农村局介绍,全区已有2.6万亩农田接入智慧灌溉系统,灌溉用水比传统方式节约约三成。\n\n"
        "按照计划,全区将建设3个智能农机示范基地,每个基地面积不少于500亩。"
        "示范基地建成后,将向周边农户开放农机租赁服务,租金不高于市场价的八成。\n\n"
        "在春耕现场,一台无人驾驶插秧机每小时可插秧约8亩,效率相当于6名熟练农民。",
    ),
    "m2_zengcheng_2025": (
        "增城区2025年绿色出行工作要点",
        "2025-02-10",
        "2025年,增城区将大力推动绿色出行,力争全年新建智慧充电站超60座,新增新能源公交线路超18条。\n\n"
        "全区计划培育新能源物流企业超20家,建成换电站15座,公共充电桩利用率提高到45%以上。\n\n"
        "2024年,增城区新能源汽车保有量达到5.2万辆,占全区汽车保有量的比重升至14%。\n\n"
        "区财政将安排专项资金1.5亿元,用于充电设施建设补贴和老旧公交车更新。\n\n"
        "增城区交通局表示,将优先在工业园区和镇街布局充电设施,方便货运车辆就近补能。",
    ),
    "m3_zengcheng_2026": (
        "增城绿色交通新布局",
        "2026-03-05",
        "2026年,增城区将围绕规划先行、站点加密、运营升级三条主线,新建智慧充电站超90座,"
        "带动充电服务企业营收超80亿元。\n\n"
        "增城区交通局局长周明远表示,新建站点将优先覆盖工业园区和偏远镇街。"
        "周明远介绍,全区主要景区还将配建充电车位不少于800个,节假日实行错峰充电优惠。\n\n"
        "截至2025年底,增城区累计建成智慧充电站210座,数量位列全市第二。\n\n"
        "据测算,新建站点全部投运后,全区车主寻找充电桩的平均时间可缩短到10分钟以内。\n\n"
        "晨曦科技是增城本土的充电设备企业,晨曦科技研发的快充桩可在15分钟内充满一辆小型货车。",
    ),
    "m4_huadu_drone": (
        "花都区低空物流试点观察",
        "2026-01-20",
        "1月20日,花都区低空物流试点正式启动,首批开通无人机配送航线12条。\n\n"
        "试点由花都区交通局与云翼物流公司共同推进。云翼物流公司总经理林晓舟表示,"
        "航线将覆盖8个镇街的农产品集散点。\n\n"
        "按照试点方案,单架无人机每天最多可完成40次配送,单程飞行距离不超过25公里。\n\n"
        "林晓舟介绍,无人机送货比地面车辆平均节省约35分钟,农户下单后最快半小时就能收到化肥和种子。\n\n"
        "花都区交通局相关负责人说,试点期间将同步测试夜间飞行和雨天飞行两类场景。\n\n"
        "花都区同时设立规模2亿元的低空经济产业基金,重点投向无人机整机和飞控系统。",
    ),
    "m5_baiyun_tea": (
        "白云山茶文化节开幕",
        "2024-09-12",
        "第十届白云山茶文化节于9月12日开幕,为期5天,预计吸引游客约5万人次。\n\n"
        "本届茶文化节设置了制茶体验、茶艺表演和茶园徒步三大板块,共有36家茶企参展。\n\n"
        "白云区文化旅游部门的数据显示,去年白云山片区接待游客约1800万人次,茶园观光线路最受欢迎。\n\n"
        "茶农代表黄秀英说,借助直播带货,她家的茶叶线上销量比前年翻了一番。\n\n"
        "主办方介绍,茶文化节期间还将评选出10款年度好茶,获奖茶叶将在线上商城统一展销。",
    ),
}


def write_madeup_corpus(dest: Path, articles: dict[str, tuple[str, str, str]] | None = None
                        ) -> Path:
    """Write ``articles`` (default MADEUP_ARTICLES; doc id -> title, date, text) and their
    metadata.toml into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    meta = []
    for doc_id, (title, date, text) in (articles or MADEUP_ARTICLES).items():
        (dest / f"{doc_id}.txt").write_text(text + "\n", encoding="utf-8")
        meta.append(f'[{doc_id}]\ntitle = "{title}"\ndate = "{date}"\nsource = "测试日报"\n')
    (dest / "metadata.toml").write_text("\n".join(meta), encoding="utf-8")
    return dest


@pytest.fixture
def madeup_home(isolated_home):
    """A temporary RAG_HOME holding the made-up corpus."""
    write_madeup_corpus(isolated_home / "corpus")
    return isolated_home


@pytest.fixture
def madeup_pipeline(madeup_home, monkeypatch):
    """A pipeline over the made-up corpus with the fast deterministic fake encoder."""
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    monkeypatch.setenv("RAG_MODEL", "hash")
    p = Pipeline(Settings.load())
    p.build_index()
    return p


@pytest.fixture(scope="session")
def madeup_real_pipeline(tmp_path_factory):
    """One index over the made-up corpus with the real offline e5 model, shared by the session."""
    require_model()
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    home = tmp_path_factory.mktemp("madeuphome")
    write_madeup_corpus(home / "corpus")
    p = Pipeline(Settings.load(env={}, home=home, models_dir=REPO / "models"))
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
