"""Tokens, typo correction, English expansion."""

import pytest

from rag.text.glossary import expand_english
from rag.text.spelling import TypoCorrector
from rag.text.tokenize import default_tokenizer, tokens

# A made-up corpus: invented firms and plans, and two district names.
CORPUS = ("增城区交通局表示,增城区新建智慧充电站超90座。云翼物流公司开通无人机配送航线。"
          "晨曦科技研发快充桩,给予最高800万元。从化区智能农机。增城、从化、云翼物流。")


def test_figures_kept_whole_and_bare():
    t = tokens("低空经济企业备案超200个,最高800万元,45.3%")
    for w in ("200个", "200", "800万元", "800", "45.3%", "低空经济", "备案"):
        assert w in t
    assert "," not in t and "的" not in tokens("增城的目标")


@pytest.fixture(scope="module")
def corrector():
    tk = default_tokenizer()
    return TypoCorrector(tk.words(CORPUS) * 2, CORPUS, tk)


# Made-up typos: an invented firm's name, a common word, a district name.
@pytest.mark.parametrize("typo,fixed", [
    ("增成区2026年充电站目标", "增城区2026年充电站目标"),
    ("芸翼物流的航线", "云翼物流的航线"),
    ("晨希科技的快充桩", "晨曦科技的快充桩"),
    ("智惠充电站有多少座", "智慧充电站有多少座"),
])
def test_homophone_typos_are_corrected(corrector, typo, fixed):
    assert corrector.correct(typo) == fixed


@pytest.mark.parametrize("q", [
    "云翼物流公司总经理是谁",
    "增城区计划新建多少座智慧充电站",
    "晨曦科技研发的快充桩要多久充满",
    "从化区农机合作社理事长是谁",
    "增城区的目标",
])
def test_correct_questions_are_unchanged(corrector, q):
    assert corrector.correct(q) == q


def test_expand_english_adds_chinese_terms():
    out = expand_english("How much funding does Conghua's AI subsidy policy offer?")
    for zh in ("从化", "人工智能", "扶持"):
        assert zh in out
    assert expand_english("large model target of Huadu").split().count("大模型") == 1
    assert expand_english("增城2026年目标") == "增城2026年目标"  # Chinese queries untouched
    assert expand_english("Paris is nice") == "Paris is nice"  # no partial-word matches ("pa")


def test_pinyin_names_in_english_questions():
    tk = default_tokenizer()
    text = "研究院院长王建国表示,两者之间协同发展。王建国分析,从化有优势。"
    words = tk.words(text)
    assert "王建国" in words and "之间" in words  # jieba joins the name; 之间 is "zhijian"-like
    c = TypoCorrector(words, text, tk)
    # the whole name, not the shorter word a part of it also spells
    assert c.pinyin_names("What did Wang Jianguo say about Conghua?") == ["王建国", "从化"]
    assert c.pinyin_names("王建国说了什么") == []  # Chinese questions need no help
    assert c.pinyin_names("What did the institute say?") == []
    out = expand_english("What did Wang Jianguo say?", c.pinyin_names("What did Wang Jianguo say?"))
    assert out.endswith("王建国")


def test_an_abbreviation_is_read_as_the_one_full_name_the_corpus_writes():
    tk = default_tokenizer()
    text = "东湖智能装备研究院与西岭大学合作。西岭理工学院也参加。东湖园区发布政策。"
    vocab = ["东湖智能装备研究院", "西岭大学", "西岭理工学院", "东湖园区"] * 2
    c = TypoCorrector(vocab, text, tk)
    assert c.full_name("东智院") == "东湖智能装备研究院"  # its characters, in order
    assert c.full_name("湖装院") == "东湖智能装备研究院"  # may start in the name's second
    assert c.full_name("西大") == "西岭大学"
    assert c.full_name("西学") == ""  # fits two names: no guess
    assert c.full_name("智装院") == ""  # starts too deep into the name
    assert c.full_name("东湖") == ""  # the corpus writes it: nothing to expand


def test_a_phrase_with_a_question_word_names_no_subject():
    tk = default_tokenizer()
    assert not any("哪" in e for e in tk.entities("增城区推动哪些项目落地"))
    assert "增城区" in tk.entities("增城区推动哪些项目落地")


def test_a_question_word_is_never_a_typo():
    tk = default_tokenizer()
    text = "多元化的产业布局。多元化发展。"
    c = TypoCorrector(tk.words(text) * 3, text, tk)
    assert c.correct("仓库离滨江多远") == "仓库离滨江多远"  # 多远 sounds like 多元


def test_a_typo_split_across_a_word_boundary_and_no_grammar_words_corrected():
    tk = default_tokenizer()
    text = "青禾区计划培育低空企业超30家,低空物流加快起步。使得企业各自受益,各自发展。"
    c = TypoCorrector(tk.words(text) * 3, text, tk)
    # jieba reads 家底 + 空: the typo 底空 (低空) straddles its word boundary
    assert c.correct("青禾区要培育多少家底空企业") == "青禾区要培育多少家低空企业"
    # a particle or a classifier is grammar, never a misspelt corpus word (时的/使得, 个字/各自)
    assert c.correct("按大会时的说法,企业有多少家") == "按大会时的说法,企业有多少家"
    assert c.correct("重点产业是哪几个字") == "重点产业是哪几个字"


def test_a_firm_name_after_a_rare_noun_is_coined_but_not_a_common_phrase():
    from rag.text.lexicon import LEXICON

    tk = default_tokenizer()
    suffixes = LEXICON.words("org")
    assert tk.coined_names("商汤科技签了什么项目", suffixes) == ["商汤科技"]  # 商汤: a dynasty, to jieba
    for phrase in ("广州数字科技集团", "客户用的售后平台", "生物科技企业有多少家"):
        assert tk.coined_names(phrase, suffixes) == [], phrase
