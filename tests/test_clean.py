"""rag.clean: each article's real damage is repaired, and the text contract holds."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.corpus.clean import clean_text, paragraph_spans, sentence_spans

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
IDS = {
    "000": "000_e71591340c5b937c",
    "001": "001_537e429408746187",
    "002": "002_0638385fcb057a50",
    "003": "003_fe5e6cae250a9eee",
    "004": "004_81d908b98aeef4bd",
}


def raw(key: str) -> str:
    return (CORPUS / f"{IDS[key]}.txt").read_text(encoding="utf-8")


_CLEANED: dict[str, str] = {}


def cleaned(key: str) -> str:
    if key not in _CLEANED:
        _CLEANED[key] = clean_text(raw(key))
    return _CLEANED[key]


def paragraphs(text: str) -> list[str]:
    return [text[s:e] for s, e in paragraph_spans(text)]


# --- 004: newspaper PDF ---------------------------------------------------------------


def test_004_pdf_line_breaks_and_letter_spacing_repaired():
    t = cleaned("004")
    for s in [
        "人工智能产业链",
        "让制造企业实现售后服务智能化",
        "连续6年排名全国第一",
        "新一代人工智能已成为国际竞争的焦点",
        "本报记者郑杨",
        "动形成医检领域人工智能产业集群",
        "有助于实现医疗服务下沉",
        "AI技术",
    ]:
        assert s in t, s
    assert "星期四" not in t and "2023年 11月" not in t  # page header dropped
    assert "  " not in t and "\n\n" not in t


def test_004_doubled_captions_dropped_and_column_heading_kept():
    t = cleaned("004")
    assert "演示的佳都" not in t and "系统智慧地铁" not in t and "133133" not in t
    paras = paragraphs(t)
    # The commentary's heading (the last text line before the captions at the end of the
    # raw file) is its own paragraph.
    lines = raw("004").split("\n")
    cut = next(i for i, ln in enumerate(lines) if ln.strip().startswith("佳都人工智能科技馆中演示的"))
    heading = next(ln.strip() for ln in reversed(lines[:cut]) if ln.strip())
    assert 5 <= len(heading) <= 15 and heading in paras
    for h in ["产业化的突破口在哪儿", "场景应用多点开花", "“链长制”壮大产业链", "全面赋能任重道远"]:
        assert h in paras, h
    assert any(p.startswith("不寻常的产业,需要不寻常的路径。") for p in paras)  # commentary kept


# --- 001: PDF with paragraph gaps ----------------------------------------------------


def test_001_words_broken_across_paragraph_gap_are_joined():
    t = cleaned("001")
    for s in ["智能芯片", "标准共建", "众图科技", "产业化验证"]:
        assert s in t, s


def test_001_captions_dropped_headings_kept():
    paras = paragraphs(cleaned("001"))
    for cap in ["联盟成立仪式", "签约仪式", "颁发专家委员会聘书"]:
        assert cap not in paras
    assert "颁发专家委员会聘书" not in cleaned("001")
    for h in [
        "广州南沙全力构建人工智能产业新高地",
        "创新联盟成立,打造全球AI创新标杆",
        "硬科技项目“扎堆”,激活产业链生态",
    ]:
        assert h in paras, h


# --- 002 and 003: web pages ------------------------------------------------------------


@pytest.mark.parametrize("key", ["002", "003"])
def test_web_boilerplate_removed(key):
    t = cleaned(key)
    for bad in [
        "奔驰",
        "伊朗",
        "列车",
        "热门资讯",
        "相关内容",
        "特别声明",
        "Notice:",
        "网易首页",
        "申请入驻",
        "分享至",
        "无障碍浏览",
        "incentive-icons",
        "往期回顾",
        "专题推荐",
        "资料图",
        "创始人",
        "14:08:16",
    ]:
        assert bad not in t, bad
    assert "0" not in paragraphs(t)


def test_web_articles_keep_title_byline_and_last_sentence():
    p2, p3 = paragraphs(cleaned("002")), paragraphs(cleaned("003"))
    assert p2[0] == "海珠区委书记蔡澍:数智产业大发展,全年引育百家大模型企业"
    assert "文/记者 李春炜" in p2
    assert p3[0] == "广州明确“十五五”新增长极:锚定AI、海洋与生物医药破局"
    assert p3[1] == "南方财经记者赵晓晨 广州报道"
    assert p3[-1].endswith("为“十五五”时期的跨越发展开辟关键突破口。")
    assert "粤港澳大湾区国家技术创新中心" not in cleaned("003")  # image caption


# --- 000: one line with inline headings ------------------------------------------------


def test_000_inline_headings_become_paragraphs():
    paras = paragraphs(cleaned("000"))
    assert len(paras) >= 20
    for h in [
        "名企聚集 琶洲筑起产业“新高地”",
        "比赛驱动 算法大赛点燃创新“新引擎”",
        "生态创新 “有人推着你往前走”",
        "前瞻布局 绘就AI发展“路线图”",
        "幸福宣言",
        "两会声音 企业要主动拥抱人工智能",
    ]:
        assert h in paras, h
    byline_end = raw("000").index("(除署名外)") + len("(除署名外)")
    assert paras[0] == raw("000")[:byline_end]  # the inline byline, alone and exact
    assert paras[-1] == "信息时报记者 何小敏 张漫"
    assert "30 Under 30" in cleaned("000")  # spaces between Latin words stay


# --- normalisation and spacing --------------------------------------------------------


def test_nfkc_and_quotes():
    t = clean_text("ＡＩ技术，“好”。１２３％")
    assert t == "AI技术,“好”。123%"
    assert "，" not in "".join(cleaned(k) for k in IDS)  # consistent half-width commas


def test_spacing_rules():
    assert clean_text("新 建 站 点连续 6 年,AI 技 术") == "新建站点连续6年,AI技术"
    assert clean_text("基座 Proactive HealthGPT 很好。") == "基座Proactive HealthGPT很好。"
    assert clean_text("同 时 ，AI 还能。") == "同时,AI还能。"


def test_general_boilerplate_rules_on_synthetic_page():
    page = "\n".join(
        [
            "某某首页 > 某某号 > 正文 申请入驻",
            "",
            "标题在这里",
            "12",
            "分享至",
            "2024-01-02 03:04:05",
            "",
            "正文第一段说了一件事。第二句。",
            "",
            "某地风光。资料图",
            "",
            "正文第二段。",
            "相关推荐",
            "无关新闻一。",
            "无关新闻二。",
        ]
    )
    assert clean_text(page) == "标题在这里\n正文第一段说了一件事。第二句。\n正文第二段。"


def test_doubled_caption_line_dropped():
    text = "正文一段话在这里。\n 展厅中演示的系统展厅中演示的系统。。\n"
    assert clean_text(text) == "正文一段话在这里。"


# --- sentences and paragraphs ----------------------------------------------------------


def test_sentence_rules():
    t = "他说:“好!”然后走了。真的吗?是的……对;好\n标题行\n最后一句(括号内。)尾"
    sents = [t[s:e] for s, e in sentence_spans(t)]
    assert sents == [
        "他说:“好!”",
        "然后走了。",
        "真的吗?",
        "是的……",
        "对;",
        "好",
        "标题行",
        "最后一句(括号内。)",
        "尾",
    ]


def _tiles(text: str) -> None:
    sents = sentence_spans(text)
    for ps, pe in paragraph_spans(text):
        inside = [(s, e) for s, e in sents if ps <= s < pe]
        assert inside and inside[0][0] == ps and inside[-1][1] == pe
        assert all(a[1] == b[0] for a, b in zip(inside, inside[1:], strict=False))
        assert all(e <= pe for _, e in inside)  # never crosses a paragraph break
    assert sum(e - s for s, e in sents) == len(text) - text.count("\n")


@pytest.mark.parametrize("key", sorted(IDS))
def test_real_articles_idempotent_and_tiled(key):
    t = cleaned(key)
    assert clean_text(t) == t
    assert t == t.strip() and "\n\n" not in t and "\r" not in t
    _tiles(t)


# Boilerplate in each raw file: lines dropped on purpose, and the line from which the rest
# of the page is dropped. Everything else is article body and must survive.
_DROPPED = {
    "000": ([], None),
    "001": (["联盟成立仪式", "签约仪式", "颁发专家委员会聘书"], None),
    "002": (["创始人", "2025-02-15 14:08:16", "0"], "相关内容"),
    "003": (
        [
            "网易首页 > 网易号 > 正文 申请入驻",
            "0",
            "分享至",
            "粤港澳大湾区国家技术创新中心。资料图",
        ],
        "特别声明",
    ),
    "004": (["2023年 11月 16日 星期四9 调 查"], "佳都人工智能科技馆中演示的"),
}


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s.replace("⋯", "…")))


@pytest.mark.parametrize("key", sorted(IDS))
def test_cleaning_never_drops_article_sentences(key):
    drop, cut = _DROPPED[key]
    body = []
    for line in raw(key).split("\n"):
        if cut and line.strip().startswith(cut):
            break
        if line.strip() not in drop:
            body.append(line)
    stretches = re.findall(r"[^。]*。", _norm("\n".join(body)))
    assert len(stretches) > 20
    target = _norm(cleaned(key))
    missing = [s for s in stretches if s not in target]
    assert not missing, missing[:3]


# --- properties on arbitrary text -------------------------------------------------------

_ALPHABET = list(
    "中国人工智能产业大幅降低图资料记者文首页星期年月日。，、！？；：“”‘’（）《》…⋯—0123456789 "
    "AaBbZz.,;:!?()/>\"'\n\t\u3000\uff21\uff10\u200b\ufeff"
)
_TEXT = st.one_of(st.text(max_size=200), st.text(alphabet=st.sampled_from(_ALPHABET), max_size=300))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TEXT)
def test_clean_text_idempotent_on_arbitrary_text(x):
    c = clean_text(x)
    assert clean_text(c) == c
    assert c == c.strip() and "\n\n" not in c
    _tiles(c)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(IDS)), st.integers(0, 5000), st.integers(50, 3000))
def test_clean_text_idempotent_on_article_excerpts(key, start, length):
    x = raw(key)[start : start + length]
    c = clean_text(x)
    assert clean_text(c) == c
