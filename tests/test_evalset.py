"""The question set is well-formed, grounded in the articles, and as varied as promised."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from conftest import write_madeup_corpus

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

# The made-up articles of conftest.py: M3 plans over 90 charging stations for 2026, M2 over 60
# for 2025; DAMAGED is a made-up article with spaces and a line break inside a clause.
M2, M3, DAMAGED = "m2_zengcheng_2025", "m3_zengcheng_2026", "m9_damaged"
DAMAGED_TEXT = "据测算,新建站点全 部 投\n运后,车主找桩时间明显缩短。"

GOOD = {
    "id": "q1",
    "question": "增城2026年计划新建多少座智慧充电站？",
    "doc": M3,
    "evidence": ["新建智慧充电站超90座"],
    "answer": "超90座",
    "answer_keys": ["90"],
    "type": "temporal",
}


def madeup_corpus(folder: Path) -> Path:
    write_madeup_corpus(folder)
    (folder / f"{DAMAGED}.txt").write_text(DAMAGED_TEXT, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def raw_texts(tmp_path_factory) -> dict[str, str]:
    """The raw made-up articles, by doc id."""
    return load_texts(madeup_corpus(tmp_path_factory.mktemp("evalset") / "corpus"))


@pytest.fixture(scope="module")
def real_texts() -> dict[str, str]:
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


def test_checked_in_set_validates_against_raw_corpus(questions, real_texts):
    assert set(real_texts) == {D0, D1, D2, D3, D4}
    assert validate(questions, real_texts) == []


def test_checked_in_set_validates_against_cleaned_text(questions, real_texts):
    # A cleaner may re-join broken words and fold punctuation; evidence must still match.
    cleaned = {
        d: re.sub(r"[ \t]+", "", unicodedata.normalize("NFKC", t)).replace("\n\n", "\n")
        for d, t in real_texts.items()
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


def test_every_article_is_covered_from_beginning_to_end(questions, real_texts):
    for doc_id, text in real_texts.items():
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


def test_items_follow_the_authoring_rules(questions, real_texts):
    norm = {d: normalize(t) for d, t in real_texts.items()}
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
    multi = dict(GOOD, id="q2", doc=[M3, M2], type="multi_doc", note="free text")
    none = dict(
        GOOD, id="q3", doc=None, evidence=[], answer="", answer_keys=[], type="unanswerable"
    )
    qs = load_questions(write(tmp_path, GOOD, "", multi, none))
    assert [q.doc for q in qs] == [(M3,), (M3, M2), ()]
    assert [q.answerable for q in qs] == [True, True, False]
    assert qs[0].evidence == ("新建智慧充电站超90座",) and qs[0].tags == ()


@pytest.mark.parametrize(
    ("bad_line", "words"),
    [
        ({k: v for k, v in GOOD.items() if k != "answer_keys"}, "answer_keys"),
        (dict(GOOD, type="opinion"), "opinion"),
        ('{"id": "q2", "question": ', "JSON"),
        ("[1, 2]", "object"),
        (dict(GOOD, doc=7), "doc"),
        (dict(GOOD, evidence="新建智慧充电站超90座"), "evidence"),
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
        GOOD, doc=(M3,), evidence=tuple(GOOD["evidence"]), answer_keys=tuple(GOOD["answer_keys"])
    )
    base.update(changes)
    return Question(**base)


def test_normalize_folds_width_and_whitespace():
    assert normalize("新 建 站 点 全 部 投\n\n运，（AI）") == "新建站点全部投运,(AI)"
    assert normalize("") == ""


def test_damaged_text_matches_clean_evidence(raw_texts):
    # The damaged article has spaces and a line break inside this clause; the clean reading
    # must match, and the same clause is not found as is.
    assert "新建站点全部投运后" not in raw_texts[DAMAGED]
    assert (
        validate(
            [q(doc=(DAMAGED,), evidence=("新建站点全部投运后",), answer_keys=("投运",))],
            raw_texts,
        )
        == []
    )


def test_validate_reports_fabricated_evidence(raw_texts):
    problems = validate([q(evidence=("增城区2026年新建智慧充电站超300座",))], raw_texts)
    assert len(problems) == 1 and "evidence" in problems[0] and "q1" in problems[0]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        (dict(doc=("999_nope",)), "not in the corpus"),
        (dict(answer_keys=("9999亿",)), "answer key '9999亿'"),
        (dict(doc=(M2,)), "not found"),  # right kind of figure, wrong article
        (dict(type="unanswerable"), "unanswerable"),
        (dict(evidence=()), "evidence"),
        (dict(answer_keys=()), "answer key"),
        (dict(doc=()), "needs a doc"),
        (dict(type="opinion"), "not one of"),
        (dict(type="multi_doc"), "two different docs"),
        (dict(type="multi_doc", doc=(M3, M2)), "no evidence string comes from doc"),
        (dict(evidence=("带动充电服务企业营收超80亿元。增城区交通局局长周明远表示",)), "sentence end"),
    ],
)
def test_validate_reports_each_kind_of_problem(raw_texts, changes, words):
    problems = validate([q(**changes)], raw_texts)
    assert problems and any(words in p for p in problems), problems


def test_validate_accepts_a_consistent_question(raw_texts):
    assert validate([q()], raw_texts) == []


# --- command line ---------------------------------------------------------------------------


def test_cli_prints_ok_or_problems(tmp_path, monkeypatch, capsys):
    corpus = madeup_corpus(tmp_path / "corpus")
    monkeypatch.setenv("RAG_CORPUS_DIR", str(corpus))

    assert main(["validate", str(write(tmp_path, GOOD))]) == 0
    assert capsys.readouterr().out.strip() == "1 questions OK"

    bad = dict(GOOD, evidence=["这句话不在文章里出现过"])
    assert main(["validate", str(write(tmp_path, bad))]) == 1
    assert "这句话不在文章里出现过" in capsys.readouterr().out

    assert main(["validate", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err
