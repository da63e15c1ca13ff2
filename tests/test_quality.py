"""Quality with the real offline model (multilingual-e5-small built by scripts/setup.sh).

These are the behaviours the product promises, checked end to end through the Pipeline over
the made-up corpus of conftest.py (real model, invented articles): the right passage at rank 1
for a paraphrase and an English question, a typo corrected, the 2026 figure for the 2026
question (never the 2025 one presented as 2026's), refusals, exact citation offsets.
"""

import pytest

pytestmark = pytest.mark.model

FARM = "m1_conghua_farm"  # subsidy up to 800万元, a speaker's quote
CHARGE_2025 = "m2_zengcheng_2025"  # plan for the year: over 60 charging stations
CHARGE_2026 = "m3_zengcheng_2026"  # 2026: over 90 charging stations


def test_paraphrase_finds_passage_at_rank_1(madeup_real_pipeline):
    res = madeup_real_pipeline.search("从化给智能农机企业的补贴上限是多少")  # text: 最高800万元资金支持
    top = res.hits[0]
    assert top.chunk.doc_id == FARM and "800万元" in top.chunk.text


def test_english_question_finds_passage_at_rank_1(madeup_real_pipeline):
    res = madeup_real_pipeline.search(
        "What is the maximum funding under Conghua's smart farm machinery measures?")
    top = res.hits[0]
    assert top.chunk.doc_id == FARM and "800万元" in top.chunk.text


def test_typo_question_is_corrected_and_found(madeup_real_pipeline):
    res = madeup_real_pipeline.search("增成区2026年要新建多少座智慧充电站")
    assert res.searched.startswith("增城区")
    assert any("超90座" in h.chunk.text for h in res.hits[:3])


def test_2026_question_gets_2026_figure_and_article(madeup_real_pipeline):
    ans = madeup_real_pipeline.ask("增城2026年要新建多少座智慧充电站")
    assert not ans.refused
    assert "90" in ans.text and "60" not in ans.text  # 2025's 超60座 is not shown as 2026's
    assert ans.citations[0].doc_id == CHARGE_2026
    assert ans.citations[0].date.startswith("2026")


def test_2025_question_gets_2025_figure(madeup_real_pipeline):
    ans = madeup_real_pipeline.ask("增城2025年新建智慧充电站多少座")
    assert not ans.refused and "60" in ans.text and "90" not in ans.text
    assert ans.citations[0].doc_id == CHARGE_2025


def test_followup_uses_previous_question(madeup_real_pipeline):
    ans = madeup_real_pipeline.ask("那2025年呢", history=["增城2026年要新建多少座智慧充电站"])
    assert not ans.refused and "60" in ans.text


@pytest.mark.parametrize("q", [
    "荔湾区2026年要新建多少座智慧充电站？",  # a district no article covers
    "云翼物流公司一共发射了多少颗卫星？",  # no figure in 颗 anywhere
    "海王星上有多少个无人机航站？",
])
def test_unanswerable_is_refused_with_related_passages(madeup_real_pipeline, q):
    ans = madeup_real_pipeline.ask(q)
    assert ans.refused and "没有找到" in ans.text
    assert ans.related  # the closest passages, shown as "possibly related"


def test_citation_offsets_reproduce_snippets(madeup_real_pipeline):
    p = madeup_real_pipeline
    for q in ("从化智能农机扶持最高给多少钱", "是谁说农户最缺的不是机器", "增城区交通局局长是谁"):
        ans = p.ask(q)
        assert ans.citations, q
        for c in ans.citations:
            doc = p.document(c.doc_id)
            assert doc.text[c.start:c.end] == c.snippet
            assert c.snippet in ans.text.replace(f"[{c.n}]", "") or c.snippet[:20] in ans.text


def test_speaker_is_named_for_who_said_questions(madeup_real_pipeline):
    ans = madeup_real_pipeline.ask("是谁说农户最缺的不是机器，而是会用机器的人？")
    assert not ans.refused and "陈立新" in ans.text


def test_answer_is_short(madeup_real_pipeline):
    ans = madeup_real_pipeline.ask("从化智能农机扶持最高给多少钱")
    assert "800万元" in ans.text and len(ans.text) <= 160


def test_yearless_question_gives_both_dates(madeup_real_pipeline):
    """The same measure in a 2025 and a 2026 article: both figures, each with its date."""
    ans = madeup_real_pipeline.ask("增城要新建多少座智慧充电站")
    assert not ans.refused
    assert "60" in ans.text and "90" in ans.text
    dates = {c.date[:4] for c in ans.citations}
    assert dates == {"2025", "2026"}
    assert "日期" in ans.note
