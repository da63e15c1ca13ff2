"""Pure parts of the extractive answerer: follow-ups, answer types, years."""

import pytest

from rag.answer.analysis import answer_type, complete_followup, question_years, sentence_years


@pytest.mark.parametrize("q,hist,expect", [
    ("那2025年呢", ["海珠2026年大模型目标是多少"], "海珠2025年大模型目标是多少"),
    ("那2025年呢?", ["海珠2026年大模型目标是多少"], "海珠2025年大模型目标是多少"),
    ("南沙呢", ["海珠2026年大模型目标是多少"], "海珠2026年大模型目标是多少 南沙"),
    ("南沙扶持办法最高给多少钱", ["海珠2026年大模型目标是多少"], "南沙扶持办法最高给多少钱"),
    ("那2025年呢", [], "那2025年呢"),
])
def test_complete_followup(q, hist, expect):
    assert complete_followup(q, hist) == expect


@pytest.mark.parametrize("q,t", [
    ("南沙扶持办法最高给多少钱", "number"),
    ("海珠区累计培育了几个大模型备案项目", "number"),
    ("谁担任联盟理事长", "entity"),
    ("Who founded Quwan?", "entity"),
    ("海珠区人工智能发展局什么时候挂牌成立", "date"),
    ("哪一年唯品会入驻琶洲", "date"),
    ("联盟聚焦哪些核心任务", "list"),
])
def test_answer_type(q, t):
    assert answer_type(q) == t


def test_question_years_explicit_and_relative():
    assert question_years("海珠2026年大模型目标") == {2026}
    assert question_years("2023年到2025年") == {2023, 2025}
    assert question_years("今年目标") == set()  # no clock given: no guess
    assert question_years("去年营收", today_year=2026) == {2025}


def test_sentence_years_resolve_against_publication_year():
    years, explicit = sentence_years("今年4月,百度飞桨落地琶洲算谷", 2023)
    assert years == {2023} and not explicit
    years, explicit = sentence_years("该中心去年9月试运营", 2023)
    assert years == {2022}
    years, explicit = sentence_years("力争2026年新引进50个团队", 2026)
    assert years == {2026} and explicit
