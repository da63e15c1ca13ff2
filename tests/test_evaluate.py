"""rag.evaluation: metric functions on hand-made rankings, the run-file writer, the guard,
the shared table and percentile helpers, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from rag.evaluation.common import markdown_table, percentiles
from rag.evaluation.guard import regressions
from rag.evaluation.metrics import (
    answer_correct,
    ndcg_at_k,
    prefix_recall,
    prefix_texts,
    recall_at_k,
    reciprocal_rank,
    top1_article,
)
from rag.evaluation.questions import Question
from rag.evaluation.results import Ranked, write_trec
from rag.evaluation.run import DEFAULT_METHODS
from rag.index.store import IndexStore


def q(evidence, doc=("d1",), type_="fact", keys=("甲",)) -> Question:
    return Question("q1", "问题?", tuple(doc), tuple(evidence), "", tuple(keys), type_)


# Made-up evidence and chunk texts (the invented charging-station plans of conftest.py).
SINGLE = q(["新建智慧充电站超90座"])
MULTI = q(["力争全年新建智慧充电站超60座", "新建智慧充电站超90座"],
          doc=("d1", "d2"), type_="multi_doc")
HIT = "今年,新建智慧\n充电站 超９０座,继续领跑。"  # damaged: break, space, full-width
HIT_60 = "2025年,力争全年新建智慧充电站超60座。"
MISS = "白云山茶文化节共有36家茶企参展。"


# -- recall@k and the multi-document share
def test_recall_at_k_counts_evidence_only_within_k_and_survives_damaged_text():
    ranking = [MISS, MISS, HIT, MISS]
    assert [recall_at_k(SINGLE, ranking, k) for k in (1, 3, 5)] == [0.0, 1.0, 1.0]
    assert recall_at_k(SINGLE, [MISS] * 10, 10) == 0.0


def test_single_doc_question_with_alternative_evidence_scores_one_if_any_found():
    alt = q(["不存在的证据句子", "新建智慧充电站超90座"])
    assert recall_at_k(alt, [HIT], 1) == 1.0


def test_multi_doc_question_scores_share_of_evidence_found():
    assert recall_at_k(MULTI, [HIT, MISS], 2) == 0.5
    assert recall_at_k(MULTI, [HIT, HIT_60], 1) == 0.5
    assert recall_at_k(MULTI, [HIT, HIT_60], 2) == 1.0
    assert recall_at_k(MULTI, [MISS], 1) == 0.0


# -- MRR, nDCG, top-1 article
def test_reciprocal_rank_is_first_relevant_rank_within_10():
    assert reciprocal_rank(SINGLE, [HIT]) == 1.0
    assert reciprocal_rank(SINGLE, [MISS, MISS, HIT, HIT]) == pytest.approx(1 / 3)
    assert reciprocal_rank(SINGLE, [MISS] * 10 + [HIT]) == 0.0


def test_ndcg_binary_gains_with_ideal_from_collection_count():
    # relevant at ranks 2 and 3; the collection holds 2 relevant chunks
    got = ndcg_at_k(SINGLE, [MISS, HIT, HIT, MISS], n_relevant=2)
    dcg = 1 / math.log2(3) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert got == pytest.approx(dcg / ideal)
    assert ndcg_at_k(SINGLE, [HIT, HIT], n_relevant=2) == pytest.approx(1.0)
    # a third relevant chunk left unranked lowers the score
    assert ndcg_at_k(SINGLE, [HIT, HIT], n_relevant=3) < 1.0
    assert ndcg_at_k(SINGLE, [MISS], n_relevant=0) == 0.0


def test_top1_article():
    assert top1_article(MULTI, ["d2", "x"]) == 1.0
    assert top1_article(MULTI, ["x", "d1"]) == 0.0
    assert top1_article(MULTI, []) == 0.0


# -- recall within the first 1000 characters
def test_prefix_recall_counts_only_evidence_inside_the_first_1000_characters():
    filler = "甲" * 600
    assert prefix_recall(SINGLE, [filler, filler, HIT]) == 0.0  # starts at 1200
    assert prefix_recall(SINGLE, [filler, HIT]) == 1.0  # 600 + 22 < 1000
    # evidence cut by the 1000-character boundary is not counted
    cut = "乙" * (1000 - 600 - 5) + HIT
    assert prefix_recall(SINGLE, [filler, cut]) == 0.0
    assert prefix_recall(SINGLE, [filler, cut], chars=2000) == 1.0


def test_prefix_recall_never_joins_evidence_across_two_chunks():
    a, b = "……新建智慧", "充电站超90座……"
    assert prefix_recall(SINGLE, [a, b]) == 0.0
    assert prefix_texts(["abcd", "efgh", "ijkl"], 6) == ["abcd", "ef"]


# -- answers
def test_answer_correct_needs_every_key_and_no_refusal():
    two = q(["x"], keys=("60", "90座"))
    assert answer_correct(two, "2025年超60座[1];2026年超９０ 座[2]", refused=False)
    assert not answer_correct(two, "超60座[1]", refused=False)
    assert not answer_correct(two, "60 90座", refused=True)
    # a [n] marker is not part of the answer text
    assert not answer_correct(q(["x"], keys=("2",)), "见原文[2]", refused=False)


# -- run files
def test_trec_writer_breaks_ties_by_chunk_id(tmp_path):
    R = Ranked
    run = {"q2": [R("d#9", "d", "", 0.5), R("d#10", "d", "", 0.5), R("a#1", "a", "", 0.9)],
           "q1": [R("b#0", "b", "", 1.0)]}
    path = tmp_path / "run.x.trec"
    write_trec(path, run, "tag")
    assert path.read_text(encoding="utf-8").splitlines() == [
        "q2 Q0 a#1 1 0.900000 tag",
        "q2 Q0 d#10 2 0.500000 tag",  # "d#10" < "d#9" as strings
        "q2 Q0 d#9 3 0.500000 tag",
        "q1 Q0 b#0 1 1.000000 tag",
    ]


# -- guard helpers
def test_regressions_flag_drops_beyond_tolerance_in_the_right_direction():
    summary = {"answers": {"all": {"accuracy": 0.80, "false_refusal_rate": 0.10}}}
    exp = {"tolerance": 0.01, "figures": {
        "answers.all.accuracy": {"value": 0.805, "better": "higher"},
        "answers.all.false_refusal_rate": {"value": 0.095, "better": "lower"}}}
    assert regressions(summary, exp) == []
    exp["figures"]["answers.all.accuracy"]["value"] = 0.82
    exp["figures"]["answers.all.false_refusal_rate"]["value"] = 0.08
    got = regressions(summary, exp)
    assert len(got) == 2 and got[0].startswith("answers.all.accuracy")


# -- helpers shared with the bench
def test_percentiles_eval_and_bench_shapes():
    assert percentiles([1, 2, 3, 4]) == {"p50": 2.5, "p95": 3.85, "n": 4}
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "n": 0}
    assert percentiles([1, 2, 3, 4], (50, 99), mean=True) == {
        "p50": 2.5, "p99": 3.97, "mean": 2.5, "n": 4}


def test_markdown_table_formats_every_cell():
    assert markdown_table(["a", "b"], [[1, 0.5]], lambda x: f"<{x}>") == (
        "| a | b |\n|---|---|\n| <1> | <0.5> |")


def test_load_eval_questions_default_file_and_explicit_path(tmp_path):
    from rag.errors import NotFoundError
    from rag.evaluation.questions import load_eval_questions
    from rag.settings import Settings

    settings = Settings.load(eval_dir=tmp_path)
    with pytest.raises(NotFoundError, match="dev.jsonl.*RAG_EVAL_DIR"):
        load_eval_questions(settings)
    (tmp_path / "dev.jsonl").write_text(json.dumps(TINY[0], ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    assert [q.id for q in load_eval_questions(settings)] == ["t1"]
    other = _write(tmp_path / "other.jsonl", TINY)
    assert [q.id for q in load_eval_questions(settings, other)] == ["t1", "t2", "t3"]


def test_expected_figures_need_a_run_with_hybrid_and_answers(tmp_path):
    from rag.errors import InputError
    from rag.evaluation.guard import EXPECTED_FIGURES, lookup, write_expected

    summary = {"retrieval": {"hybrid": {"all": {"recall@5": 0.9, "mrr@10": 0.8,
                                                "top1_article": 0.7}}},
               "answers": {"all": {"accuracy": 0.6, "refusal_rate": 0.5,
                                   "false_refusal_rate": 0.1}}}
    path = write_expected({"dev": summary}, tmp_path / "expected.json")
    written = json.loads(path.read_text(encoding="utf-8"))
    dev = written["sets"]["dev"]
    assert set(dev["figures"]) == set(EXPECTED_FIGURES)
    assert all(v["value"] == lookup(summary, k) for k, v in dev["figures"].items())
    assert regressions(summary, dev) == []
    # another set's run adds its entry and keeps dev's
    write_expected({"test": summary}, path)
    assert set(json.loads(path.read_text(encoding="utf-8"))["sets"]) == {"dev", "test"}
    with pytest.raises(InputError, match="hybrid method and answers"):
        write_expected({"dev": {"retrieval": summary["retrieval"]}}, tmp_path / "x.json")


# -- the CLI, end to end with the fake encoder, on the made-up corpus of conftest.py
TINY = [
    {"id": "t1", "question": "从化区的智能农机扶持措施是哪天发布的？", "doc": "m1_conghua_farm",
     "evidence": ["从化区工信局发布《从化区促进智能农机产业发展若干措施》"], "answer": "6月18日",
     "answer_keys": ["6月18日"], "type": "date"},
    {"id": "t2", "question": "增城区2025年和2026年各计划新建多少座智慧充电站？",
     "doc": ["m2_zengcheng_2025", "m3_zengcheng_2026"],
     "evidence": ["力争全年新建智慧充电站超60座", "新建智慧充电站超90座"],
     "answer": "超60座;超90座", "answer_keys": ["60", "90"], "type": "multi_doc",
     "tags": ["paraphrase"]},
    {"id": "t3", "question": "荔湾区2026年要新建多少座智慧充电站？", "doc": None,
     "evidence": [], "answer": "", "answer_keys": [], "type": "unanswerable"},
]


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.fixture
def tiny(madeup_home, monkeypatch):
    monkeypatch.setenv("RAG_MODEL", "hash")
    return _write(madeup_home / "tiny.jsonl", TINY)


@pytest.mark.slow
def test_cli_eval_writes_a_reproducible_report(tiny, tmp_path, capsys):
    from rag.app.cli import main

    rep1, rep2 = tmp_path / "r1", tmp_path / "r2"
    assert main(["eval", "--questions", str(tiny), "--report", str(rep1)]) == 0
    table = capsys.readouterr().out
    assert "naive" in table and "hybrid" in table and "accuracy" in table
    for name in ("summary.json", "latency.json", "answers.jsonl", "report.md", "chart.png",
                 *(f"run.{m}.trec" for m in DEFAULT_METHODS)):
        assert (rep1 / "tiny" / name).stat().st_size > 0, name
    s = json.loads((rep1 / "tiny" / "summary.json").read_text(encoding="utf-8"))
    # the side-by-side report and summary name every set run
    assert json.loads((rep1 / "summary.json").read_text("utf-8"))["sets"]["tiny"] == s
    assert "[tiny](tiny/report.md)" in (rep1 / "report.md").read_text("utf-8")
    assert s["questions"]["n"] == 3 and s["questions"]["answerable"] == 2
    assert set(s["retrieval"]) == set(DEFAULT_METHODS)
    assert s["retrieval"]["hybrid"]["all"]["n"] == 2
    assert set(s["retrieval"]["hybrid"]["by_type"]) == {"date", "multi_doc"}
    assert s["answers"]["all"]["n_unanswerable"] == 1
    assert s["settings"]["model_id"] == "hash-256" and s["settings"]["naive"]["window"] == 500
    assert "latency" not in json.dumps(s) and "p50" not in json.dumps(s)
    run = (rep1 / "tiny" / "run.dense.trec").read_text(encoding="utf-8").splitlines()
    n_chunks = len(IndexStore(tiny.parent / "index").load().chunks)
    assert n_chunks > 3 and len(run) == 3 * min(10, n_chunks)  # 10 per question at most
    assert run[0].split()[:2] == ["t1", "Q0"]
    answers = [json.loads(x) for x in (rep1 / "tiny" / "answers.jsonl").read_text("utf-8").splitlines()]
    assert [a["id"] for a in answers] == ["t1", "t2", "t3"]
    assert "![recall and MRR per method](chart.png)" in (rep1 / "tiny" / "report.md").read_text("utf-8")

    assert main(["eval", "--questions", str(tiny), "--report", str(rep2), "--json",
                 "--methods", "bm25,hybrid-weighted", "--no-answers"]) == 0
    printed = json.loads(capsys.readouterr().out)["sets"]["tiny"]
    assert set(printed["retrieval"]) == {"bm25", "hybrid-weighted"} and "answers" not in printed
    assert printed["retrieval"]["hybrid-weighted"]["fusion"] == "weighted"
    # deterministic: the same methods give byte-identical summaries
    assert main(["eval", "--questions", str(tiny), "--report", str(rep2)]) == 0
    assert (rep1 / "tiny" / "summary.json").read_bytes() == (
        rep2 / "tiny" / "summary.json").read_bytes()


@pytest.mark.slow
def test_cli_validate_reports_evidence_missing_from_the_articles(tiny, capsys):
    from rag.app.cli import main

    assert main(["eval", "--validate", "--questions", str(tiny)]) == 0
    bad = _write(tiny.with_name("bad.jsonl"), [{**TINY[0], "evidence": ["文章里没有这句话"]}])
    capsys.readouterr()
    assert main(["eval", "--validate", "--questions", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "[cleaned] t1: evidence" in out and "[raw] t1: evidence" in out


def test_cli_rejects_unknown_method(tiny, capsys):
    from rag.app.cli import main

    assert main(["eval", "--questions", str(tiny), "--methods", "tfidf"]) == 2
    assert "Unknown eval method 'tfidf'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_eval_write_expected_writes_the_guard_floor(tiny, madeup_home, tmp_path, capsys):
    from rag.app.cli import main

    assert main(["eval", "--questions", str(tiny), "--report", str(tmp_path / "r"),
                 "--write-expected"]) == 0
    summary = json.loads((tmp_path / "r" / "tiny" / "summary.json").read_text(encoding="utf-8"))
    expected = json.loads((madeup_home / "eval" / "expected.json").read_text(encoding="utf-8"))
    tiny_floor = expected["sets"]["tiny"]
    assert tiny_floor["figures"]["answers.all.accuracy"]["value"] == (
        summary["answers"]["all"]["accuracy"])
    assert regressions(summary, tiny_floor) == []
