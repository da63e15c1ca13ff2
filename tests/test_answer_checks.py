"""The extractive answerer's evidence checks, on a small made-up corpus (fast hash encoder):
a figure must belong to the subject and measure asked, must not just repeat the question,
must carry the asked unit, and a "who holds role X" needs the role; the answer may sit in the
sentence after the one naming the subject. Uses the real offline model: confidence blends in dense similarity."""

from __future__ import annotations

import pytest
from conftest import REPO, require_model, write_madeup_corpus

from rag.pipeline import Pipeline
from rag.settings import Settings

pytestmark = pytest.mark.model

ARTICLES = {
    "a_nansha": (
        "南沙人工智能产业观察",
        "2025-05-10",
        "南沙区集聚人工智能企业100多家,产业生态加快形成。\n\n"
        "当日,南沙设立规模8亿元的创新产业基金,重点投向算力和大模型。\n\n"
        "南沙区科技局负责人表示,将持续优化营商环境。",
    ),
    "b_quwan": (
        "琶洲数字经济企业巡礼",
        "2026-03-01",
        "趣丸科技发布了新一代语音大模型,服务全球用户。\n\n"
        "琶洲会展经济持续回暖,全年展会数量创新高。\n\n"
        "全区数字经济企业于2025年实现营收300亿元。\n\n"
        "树根互联联合创始人介绍了工业互联网平台。\n\n"
        "“接到客户维修要求后,从接单、派单到维修都能精准控制,全程不到24小时。”他说。"
        "平台已连接120多万台设备,服务客户超过3000家。",
    ),
    "c_model": (
        "广州大模型备案进展",
        "2026-01-20",
        "2025年,一款聚焦品牌营销的“星河大模型”通过了生成式人工智能服务备案,成为业内标杆。"
        "这个诞生于广州企业远帆科技的模型,是营销预测领域首个完成双备案的垂类模型。",
    ),
}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    require_model()
    home = tmp_path_factory.mktemp("checks")
    write_madeup_corpus(home / "corpus", ARTICLES)
    p = Pipeline(Settings.load(env={}, home=home, models_dir=REPO / "models"))
    p.build_index()
    return p


def test_figure_for_the_subject_asked_is_answered(pipe):
    a = pipe.ask("南沙集聚了多少人工智能企业？")
    assert not a.refused and "100多家" in a.text
    assert a.citations[0].doc_id == "a_nansha"


@pytest.mark.parametrize("question", [
    # The only 营收 figure belongs to 全区, not to 趣丸科技 (named two paragraphs earlier:
    # the subject may sit in the paragraph before, not further).
    "趣丸科技去年的营收有多少？",
    # "8亿元" is the fund's size, given in the question; nothing says how much went to 算力.
    "南沙8亿元的创新产业基金投向算力多少钱？",
    # No article mentions 奖金: the money figures nearby cannot be its answer.
    "南沙人工智能产业基金的奖金是多少？",
    # "负责人表示" names no 局长.
    "南沙区科技局的局长是谁？",
    # 天河 is in no article (English: checked through the glossary's 天河).
    "How many AI companies are there in Tianhe?",
])
def test_unsupported_answers_are_refused(pipe, question):
    a = pipe.ask(question)
    assert a.refused, a.text


def test_duration_question_wants_a_duration(pipe):
    # Both sentences are about the platform; only one gives a time.
    a = pipe.ask("树根互联的平台,客户报修到修好要多久？")
    assert not a.refused and "24小时" in a.text, a.text


def test_answer_found_in_the_sentence_after_the_one_naming_the_subject(pipe):
    # The maker is named in the sentence after the one naming the model ("这个…的模型").
    a = pipe.ask("星河大模型是哪家广州企业做的？")
    assert not a.refused and "远帆科技" in a.text, a.text
    c = a.citations[0]
    assert pipe.document(c.doc_id).text[c.start:c.end] == c.snippet


def test_money_unit_asked_as_yiyuan_or_wanyuan(pipe):
    r = pipe.retriever()
    # jieba keeps 亿元/万元 whole; both ask for an amount of money in any magnitude.
    for q in ("南沙的产业基金规模是多少亿元？", "南沙的产业基金规模是多少万元？"):
        assert r.analyze(q).unit == "money", q
    a = pipe.ask("南沙的产业基金规模是多少万元？")
    assert not a.refused and "8亿元" in a.text, a.text
    # An amount of money is asked; a count of firms is no answer.
    a = pipe.ask("南沙集聚的人工智能企业营收是多少亿元？")
    assert a.refused or "100多家" not in a.text, a.text
