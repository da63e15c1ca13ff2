"""The question set is well-formed, grounded in the articles, and as varied as promised."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from rag.errors import InputError
from rag.evaluation.questions import Question, load_questions, load_texts, main, normalize, validate

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "dev.jsonl"
CORPUS = ROOT / "corpus"

D0, D1, D2, D3, D4 = (
    "000_e71591340c5b937c",
    "001_537e429408746187",
    "002_0638385fcb057a50",
    "003_fe5e6cae250a9eee",
    "004_81d908b98aeef4bd",
)

GOOD = {
    "id": "q1",
    "question": "海珠2026年新增备案目标是多少？",
    "doc": D0,
    "evidence": ["新增大模型和算法备案项目超200个"],
    "answer": "超200个",
    "answer_keys": ["200"],
    "type": "temporal",
}


@pytest.fixture(scope="module")
def raw_texts() -> dict[str, str]:
    return load_texts(CORPUS)


@pytest.fixture(scope="module")
def questions() -> list[Question]:
    return load_questions(QUESTIONS)


def write(tmp_path: Path, *objs: object) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text(
        "\n".join(o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objs)
        + "\n",
        encoding="utf-8",
    )
    return path


# --- the checked-in set -------------------------------------------------------------------


def test_checked_in_set_validates_against_raw_corpus(questions, raw_texts):
    assert set(raw_texts) == {D0, D1, D2, D3, D4}
    assert validate(questions, raw_texts) == []


def test_checked_in_set_validates_against_cleaned_text(questions, raw_texts):
    # A cleaner may re-join broken words and fold punctuation; evidence must still match.
    cleaned = {
        d: re.sub(r"[ \t]+", "", unicodedata.normalize("NFKC", t)).replace("\n\n", "\n")
        for d, t in raw_texts.items()
    }
    assert validate(questions, cleaned) == []


def test_counts_meet_minimums(questions):
    types = Counter(q.type for q in questions)
    assert len(questions) >= 90
    assert types["unanswerable"] >= 12
    assert types["temporal"] >= 12
    assert types["multi_doc"] >= 6
    for t in ("number", "entity", "date", "fact"):
        assert types[t] >= 8, t

    per_doc = Counter(d for q in questions for d in q.doc)
    assert per_doc[D4] >= 25
    assert per_doc[D0] >= 20 and per_doc[D3] >= 20
    assert per_doc[D1] >= 15 and per_doc[D2] >= 15

    tags = Counter(t for q in questions for t in q.tags)
    assert tags["typo"] >= 6 and tags["paraphrase"] >= 10
    english = [q for q in questions if "en" in q.tags]
    assert len(english) >= 10
    # The "en" tag must be honest: the question is mostly Latin letters, not Chinese.
    for q in english:
        latin = sum(c.isascii() and c.isalpha() for c in q.question)
        cjk = sum("\u4e00" <= c <= "\u9fff" for c in q.question)
        assert latin > 3 * cjk, q.id


def test_every_article_is_covered_from_beginning_to_end(questions, raw_texts):
    for doc_id, text in raw_texts.items():
        norm = normalize(text)
        positions = [
            norm.find(normalize(e)) / len(norm)
            for q in questions
            if doc_id in q.doc
            for e in q.evidence
            if normalize(e) in norm
        ]
        # 002 ends with an unrelated "related news" list, so its content stops near 0.7.
        assert min(positions) < 0.2 and max(positions) > 0.6, doc_id


def test_items_follow_the_authoring_rules(questions, raw_texts):
    norm = {d: normalize(t) for d, t in raw_texts.items()}
    ids = [q.id for q in questions]
    assert len(ids) == len(set(ids))
    for q in questions:
        assert q.answerable == bool(q.doc), q.id
        if not q.answerable:
            assert (q.evidence, q.answer_keys, q.answer) == ((), (), ""), q.id
            continue
        assert 1 <= len(q.answer_keys) <= 2, q.id
        assert q.answer.strip(), q.id
        for e in q.evidence:
            assert 8 <= len(normalize(e)) <= 50, (q.id, e)
        if q.type == "multi_doc":
            # One evidence string per article, each from a different one.
            owners = [[d for d in q.doc if normalize(e) in norm[d]] for e in q.evidence]
            assert len(q.evidence) == len(q.doc) and all(owners), q.id


# --- load_questions ------------------------------------------------------------------------


def test_load_normalises_doc_and_ignores_unknown_keys(tmp_path):
    multi = dict(GOOD, id="q2", doc=[D0, D2], type="multi_doc", note="free text")
    none = dict(
        GOOD, id="q3", doc=None, evidence=[], answer="", answer_keys=[], type="unanswerable"
    )
    qs = load_questions(write(tmp_path, GOOD, "", multi, none))
    assert [q.doc for q in qs] == [(D0,), (D0, D2), ()]
    assert [q.answerable for q in qs] == [True, True, False]
    assert qs[0].evidence == ("新增大模型和算法备案项目超200个",) and qs[0].tags == ()


@pytest.mark.parametrize(
    ("bad_line", "words"),
    [
        ({k: v for k, v in GOOD.items() if k != "answer_keys"}, "answer_keys"),
        (dict(GOOD, type="opinion"), "opinion"),
        ('{"id": "q2", "question": ', "JSON"),
        ("[1, 2]", "object"),
        (dict(GOOD, doc=7), "doc"),
        (dict(GOOD, evidence="新增大模型和算法备案项目超200个"), "evidence"),
        (dict(GOOD, question="  "), "question"),
    ],
    ids=[
        "missing-key",
        "bad-type",
        "bad-json",
        "not-object",
        "bad-doc",
        "bad-evidence",
        "empty-question",
    ],
)
def test_malformed_line_names_file_line_and_problem(tmp_path, bad_line, words):
    path = write(tmp_path, dict(GOOD, id="q0"), bad_line)
    with pytest.raises(InputError) as err:
        load_questions(path)
    msg = str(err.value)
    assert str(path) in msg and "line 2" in msg and words in msg


def test_duplicate_id_is_an_error(tmp_path):
    with pytest.raises(InputError, match="line 2.*already used on line 1"):
        load_questions(write(tmp_path, GOOD, GOOD))


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no questions"):
        load_questions(write(tmp_path, ""))


# --- validate -------------------------------------------------------------------------------


def q(**changes) -> Question:
    base = dict(
        GOOD, doc=(D0,), evidence=tuple(GOOD["evidence"]), answer_keys=tuple(GOOD["answer_keys"])
    )
    base.update(changes)
    return Question(**base)


def test_normalize_folds_width_and_whitespace():
    assert normalize("大 幅 降 低 连 接 成\n\n本，（AI）") == "大幅降低连接成本,(AI)"
    assert normalize("") == ""


def test_damaged_text_matches_clean_evidence(raw_texts):
    # 004 has spaces and line breaks inside this clause; the clean reading must match.
    assert (
        validate(
            [q(doc=(D4,), evidence=("大幅降低连接成本",), answer_keys=("连接成本",))], raw_texts
        )
        == []
    )


def test_validate_reports_fabricated_evidence(raw_texts):
    problems = validate([q(evidence=("海珠区2026年新增大模型备案项目超300个",))], raw_texts)
    assert len(problems) == 1 and "evidence" in problems[0] and "q1" in problems[0]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (dict(doc=("999_nope",)), "not in the corpus"),
        (dict(answer_keys=("9999亿",)), "answer key '9999亿'"),
        (dict(doc=(D2,)), "not found"),  # right figure, wrong article
        (dict(type="unanswerable"), "unanswerable"),
        (dict(evidence=()), "evidence"),
        (dict(answer_keys=()), "answer key"),
        (dict(doc=()), "needs a doc"),
        (dict(type="opinion"), "not one of"),
        (dict(type="multi_doc"), "two different docs"),
        (dict(type="multi_doc", doc=(D0, D2)), "no evidence string comes from doc"),
        (
            dict(
                evidence=(
                    "人工智能应用企业营收超500亿元,全力打造全国领先的人工智能产业集聚区。幸福宣言",
                )
            ),
            "sentence end",
        ),
    ],
)
def test_validate_reports_each_kind_of_problem(raw_texts, changes, words):
    problems = validate([q(**changes)], raw_texts)
    assert problems and any(words in p for p in problems), problems


def test_validate_accepts_a_consistent_question(raw_texts):
    assert validate([q()], raw_texts) == []


# --- command line ---------------------------------------------------------------------------


def test_cli_prints_ok_or_problems(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / f"{D0}.txt").write_text((CORPUS / f"{D0}.txt").read_text("utf-8"), "utf-8")
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus))

    assert main(["validate", str(write(tmp_path, GOOD))]) == 0
    assert capsys.readouterr().out.strip() == "1 questions OK"

    bad = dict(GOOD, evidence=["这句话不在文章里出现过"])
    assert main(["validate", str(write(tmp_path, bad))]) == 1
    assert "这句话不在文章里出现过" in capsys.readouterr().out

    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
