"""Pure parts of question reading and the answerer: answer types, parts of a question,
follow-ups, relative dates, plan and year fit. Made-up questions and sentences only."""

from datetime import date

import pytest

from rag.answer.candidates import list_items
from rag.answer.dates import absolute_text, resolve_dates, statement_years
from rag.answer.features import is_plan, plan_fit, year_fit
from rag.retrieve.query import QueryAnalysis, answer_type, complete_followup, split_parts
from rag.text.glossary import english_terms
from rag.text.patterns import is_english


@pytest.mark.parametrize("q,hist,expect", [
    ("那2024年呢", ["甲区2025年的目标是多少"], "甲区2024年的目标是多少"),
    ("那2024年呢?", ["甲区2025年的目标是多少"], "甲区2024年的目标是多少"),
    ("乙区呢", ["甲区2025年的目标是多少"], "甲区2025年的目标是多少 乙区"),
    ("丙区补贴最高多少", ["甲区2025年的目标是多少"], "丙区补贴最高多少"),
    ("那2024年呢", [], "那2024年呢"),
])
def test_complete_followup(q, hist, expect):
    assert complete_followup(q, hist) == expect


@pytest.mark.parametrize("q,t", [
    ("某区扶持办法最高给多少钱", "number"),
    ("某园区累计引进了几家企业", "number"),
    ("该市科技排名全国第几", "number"),
    ("谁担任协会会长", "entity"),
    ("这个平台是哪家公司做的", "entity"),
    ("Who founded the lab?", "entity"),
    ("某中心什么时候挂牌", "date"),
    ("哪一年办的展会", "date"),
    ("联盟聚焦哪些任务", "list"),
    ("三大任务是什么", "list"),
    ("哪几条线路开通了", "list"),
    ("What revenue target did the district set?", "number"),
])
def test_answer_type(q, t):
    assert answer_type(q) == t


@pytest.mark.parametrize("q,parts", [
    ("甲区有多少家企业？乙区呢？", ["甲区有多少家企业", "乙区呢"]),
    ("某会哪天开的；谁主持的", ["某会哪天开的", "谁主持的"]),
    ("甲区有多少家企业，乙区呢", ["甲区有多少家企业", "乙区呢"]),
    ("某区有多少家企业？", ["某区有多少家企业？"]),
])
def test_split_parts(q, parts):
    assert split_parts(q) == parts


def test_relative_dates_resolve_against_the_articles_date():
    refs = resolve_dates("去年9月启用,今年3月扩建,年底前完工", "2021-06-10")
    assert [(r.original, r.absolute) for r in refs] == [
        ("去年9月", "2020年9月"), ("今年3月", "2021年3月"), ("年底", "2021年年底")]
    # a month written without its year is the article's year; one after a year stays
    assert [r.absolute for r in resolve_dates("7月开放", "2019-11-02")] == ["2019年7月"]
    assert resolve_dates("2018年7月开放", "2019-11-02") == []
    # 本月 needs the article's month
    assert resolve_dates("本月开放", "2019") == []
    assert [r.absolute for r in resolve_dates("本月开放", "2019-11")] == ["2019年11月"]


def test_absolute_text_keeps_the_original_beside_it():
    assert absolute_text("今年5月,某馆开馆", "2022-08-01") == (
        "2022年5月(原文“今年5月”,报道日期2022-08-01),某馆开馆")
    assert absolute_text("某馆开馆", "2022-08-01") == "某馆开馆"


def test_statement_years():
    assert statement_years("力争全年新增企业30家", "2024-02-01") == ({2024}, False)
    assert statement_years("2023年实现营收9亿元", "2024-02-01") == ({2023}, True)
    assert statement_years("持续优化营商环境", "2024-02-01") == (set(), False)


def _qa(**kw) -> QueryAnalysis:
    base = dict(text="q", lang="zh", corrected="q", searched="q", qtype="number")
    return QueryAnalysis(**{**base, **kw})


def test_plan_year_versus_mentioned_year():
    plan_2024 = _qa(years=(2024,), asks_plan=True)
    # a 2024 article's "全年" is 2024, and it is a plan
    assert year_fit(plan_2024, "力争全年引进企业超40家", "2024-02-01", 2024) == 1
    assert plan_fit(plan_2024, "力争全年引进企业超40家") == 1
    # a later article printing 2024 states a result, not a plan
    assert year_fit(plan_2024, "2024年实现营收20亿元", "2025-03-01", 2025) == 1
    assert plan_fit(plan_2024, "2024年实现营收20亿元") == -1
    # no year written, an article of another year: another year's present
    assert year_fit(plan_2024, "持续推进平台建设", "2025-03-01", 2025) < 0
    assert is_plan("将建设三个园区") and not is_plan("将近一半的企业")


def test_list_items_follow_their_announcement():
    assert list_items("一是建平台,做服务;二是引人才;三是优环境。") == ["建平台", "引人才", "优环境"]
    assert list_items("重点包括:芯片、软件和数据。") == ["芯片", "软件", "数据"]
    assert list_items("没有列举的句子。") == []


def test_questions_in_two_parts_are_completed_from_the_first(tmp_path):
    from rag.retrieve.query import analyze
    from rag.text.spelling import TypoCorrector
    from rag.text.tokenize import default_tokenizer

    tk = default_tokenizer()
    corrector = TypoCorrector({}, "", tk)
    qa = analyze("海珠区有多少家企业？南沙区呢？", tk, corrector, date(2026, 1, 1))
    assert [p.corrected for p in qa.parts] == ["海珠区有多少家企业", "南沙区有多少家企业"]
    qa = analyze("天河和黄埔分别有多少家企业？", tk, corrector, date(2026, 1, 1))
    assert [p.subjects for p in qa.parts] == [("天河",), ("黄埔",)]
    # A part naming nothing is about the first part's lead noun phrase, even when jieba
    # reads the first character of that name as a preposition (因 + 科瑞).
    qa = analyze("因科瑞机器人团队哪年成立？聚焦什么研发方向？", tk, corrector, date(2026, 1, 1))
    assert qa.parts[1].corrected.startswith("因科瑞机器人团队聚焦")
    qa = analyze("今年的目标是多少", tk, corrector, date(2026, 1, 1))
    assert qa.years == (2026,) and qa.relative == (("今年", 2026),)


@pytest.mark.parametrize("q, english", [
    ("How much does the river ferry (江渡一号) cost?", True),
    ("What did “云帆计划” promise to firms?", True),
    ("江渡一号 cost 多少钱？", False),
    ("江渡一号多少钱", False),
    ("2026", False),
])
def test_english_questions_may_gloss_a_chinese_name(q, english):
    assert is_english(q) is english


def test_english_terms_group_the_alternatives_of_one_term():
    terms = english_terms("What is the output and the price?")
    assert any({"产值", "产量"} <= set(t) for t in terms) and ("价格",) in terms


def test_the_noun_after_a_question_word_names_the_answers_type_not_a_shared_word():
    from rag.answer.features import question_words
    from rag.retrieve.query import analyze
    from rag.text.spelling import TypoCorrector
    from rag.text.tokenize import default_tokenizer

    tk = default_tokenizer()
    corrector = TypoCorrector({}, "", tk)

    def words(q):
        return question_words(analyze(q, tk, corrector, date(2026, 1, 1)), tk)

    w = words("星河团队聚焦什么研发方向")
    assert "研发" in w and "方向" not in w  # 方向 is what is asked; 研发 narrows it
    assert "项目" in words("星河团队启动了什么项目")  # a bare noun is all the phrase says
    assert "部门" not in words("星河计划由哪个部门牵头")
    w = words("星河园区想形成多大规模的集群")
    assert "规模" in w and not {"大规模", "大规", "多"} & set(w)  # 多大 is the question word


def test_a_question_asking_what_changed_is_no_list():
    assert answer_type("调度平台上线后配送的花费有什么变化") == "fact"
    assert answer_type("调度平台有什么功能") == "list"


def test_the_noun_after_shenme_is_the_type_asked():
    from rag.answer.features import asked_noun
    from rag.retrieve.query import analyze
    from rag.text.spelling import TypoCorrector
    from rag.text.tokenize import default_tokenizer

    tk = default_tokenizer()
    corrector = TypoCorrector({}, "", tk)
    qa = analyze("星河园区被确定为什么定位", tk, corrector, date(2026, 1, 1))
    assert asked_noun(qa, tk) == "定位"  # jieba reads 为什么 here
    assert asked_noun(analyze("星河园区为什么发展快", tk, corrector, date(2026, 1, 1)), tk) == ""


def test_the_first_characters_of_a_known_organisation_are_a_subject():
    from rag.answer.features import question_words
    from rag.retrieve.query import analyze
    from rag.text.spelling import TypoCorrector
    from rag.text.tokenize import default_tokenizer

    tk = default_tokenizer()
    corrector = TypoCorrector({}, "", tk)
    org = next(n for n in tk.domain_names() if len(n) == 4 and n.endswith("科技"))
    qa = analyze(f"{org[:2]}的新产品有多少款", tk, corrector, date(2026, 1, 1))
    assert org[:2] in qa.subjects
    # a written year is judged by year fit, and does not leave 年头 behind as a word
    qa = analyze("星河园区2023年头五个月省了多少钱", tk, corrector, date(2026, 1, 1))
    assert "年头" not in question_words(qa, tk) and "年头" not in qa.measure


def test_a_later_part_is_about_the_event_before_not_its_place_and_a_type_is_no_subject():
    from rag.retrieve.query import analyze
    from rag.text.spelling import TypoCorrector
    from rag.text.tokenize import default_tokenizer

    tk = default_tokenizer()
    corrector = TypoCorrector({}, "", tk)
    event = next(w for w in tk.domain_words() if w.endswith("大赛"))  # a contest of the dictionary
    qa = analyze(f"2023年广州办的是第几届{event}？到2026年启动的又是第几届？", tk, corrector,
                 date(2026, 1, 1))
    assert qa.parts[1].corrected.startswith(event)
    assert "城市" not in analyze("星河工厂在哪个城市", tk, corrector, date(2026, 1, 1)).subjects
