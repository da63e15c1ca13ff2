"""Tokens, typo correction, English expansion."""

import pytest

from rag.text.glossary import expand_english
from rag.text.spelling import TypoCorrector
from rag.text.tokenize import default_tokenizer, tokens

CORPUS = ("海珠区人工智能发展局表示,海珠区新增大模型和算法备案项目超200个。琶洲试验区、琶洲算法大赛。"
          "南沙区发布扶持办法,南沙给予最高1000万元。树根互联连接设备。海珠、琶洲、南沙。")


def test_figures_kept_whole_and_bare():
    t = tokens("新增大模型备案超200个,最高1000万元,45.3%")
    for w in ("200个", "200", "1000万元", "1000", "45.3%", "大模型", "备案"):
        assert w in t
    assert "," not in t and "的" not in tokens("海珠的目标")


@pytest.fixture(scope="module")
def corrector():
    tk = default_tokenizer()
    return TypoCorrector(tk.words(CORPUS) * 2, CORPUS, tk)


@pytest.mark.parametrize("typo,fixed", [
    ("海株2026年大模型目标", "海珠2026年大模型目标"),
    ("琶州算法大赛", "琶洲算法大赛"),
    ("南莎扶持办法最高多少", "南沙扶持办法最高多少"),
    ("树跟互联的设备", "树根互联的设备"),
])
def test_homophone_typos_are_corrected(corrector, typo, fixed):
    assert corrector.correct(typo) == fixed


@pytest.mark.parametrize("q", [
    "信息时报这篇报道是哪两位记者撰文的",
    "海珠计划引进多少家低空经济企业",
    "海珠以哪两个龙头企业的总部项目为契机",
    "海珠区人工智能发展局在全国有什么特殊之处",
    "海珠区的目标",
])
def test_correct_questions_are_unchanged(corrector, q):
    assert corrector.correct(q) == q


def test_expand_english_adds_chinese_terms():
    out = expand_english("How much funding does Nansha's AI support policy offer?")
    for zh in ("南沙", "人工智能", "扶持"):
        assert zh in out
    assert expand_english("large model target of Haizhu").count("大模型") == 1
    assert expand_english("海珠2026年目标") == "海珠2026年目标"  # Chinese queries untouched
    assert expand_english("Paris is nice") == "Paris is nice"  # no partial-word matches ("pa")


def test_pinyin_names_in_english_questions():
    tk = default_tokenizer()
    text = "研究院院长王建国表示,两者之间协同发展。王建国分析,南沙有优势。"
    words = tk.words(text)
    assert "王建国" in words and "之间" in words  # jieba joins the name; 之间 is "zhijian"-like
    c = TypoCorrector(words, text, tk)
    # the whole name, not the shorter word a part of it also spells
    assert c.pinyin_names("What did Wang Jianguo say about Nansha?") == ["王建国", "南沙"]
    assert c.pinyin_names("王建国说了什么") == []  # Chinese questions need no help
    assert c.pinyin_names("What did the institute say?") == []
    out = expand_english("What did Wang Jianguo say?", c.pinyin_names("What did Wang Jianguo say?"))
    assert out.endswith("王建国")
