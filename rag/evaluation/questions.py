"""The evaluation question set: load it strictly, and check it against the articles.

A question file is JSON lines, one object per line::

    {"id": "x001", "question": "增城2026年要新建多少座智慧充电站", "doc": "m3_zengcheng_2026",
     "evidence": ["新建智慧充电站超90座"], "answer": "超90座",
     "answer_keys": ["90"], "type": "temporal"}

``doc`` is one id, a list of ids (multi_doc) or null (unanswerable). ``evidence`` strings
are verbatim clauses of the article and ``answer_keys`` strings every correct answer
contains; both are compared after :func:`normalize` (``rag.text.patterns.normalize``, the
project's one folding rule, importable from here too), because the corpus text is damaged
(spaces and line breaks inside words, full-width punctuation). An optional ``tags`` list
(e.g. ``["en", "typo", "paraphrase"]``) lets reports break scores down; any other extra
key is ignored.

Check a file from the shell::

    python -m rag.evaluation.questions validate eval/dev.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError, NotFoundError, RagError
from rag.settings import Settings
from rag.text.patterns import normalize, split_sentences

__all__ = ["DEFAULT_FILE", "QUESTION_TYPES", "RELDATE_TAG", "REQUIRED_KEYS", "Question",
           "load_eval_questions", "load_questions", "load_texts", "main", "normalize",
           "parse_question", "report_problems", "validate"]

QUESTION_TYPES = frozenset(
    {"fact", "number", "entity", "date", "temporal", "multi_doc", "unanswerable"}
)
REQUIRED_KEYS = ("id", "question", "doc", "evidence", "answer", "answer_keys", "type")
DEFAULT_FILE = "dev.jsonl"  # in the eval folder (RAG_EVAL_DIR): the set the bench times

# A question whose answer the article states with a relative date (今年6月 in a 2021 article)
# is tagged "reldate"; its keys may be the resolved date (2021年6月), which the text never prints.
RELDATE_TAG = "reldate"


@dataclass(frozen=True)
class Question:
    """One evaluation question; ``doc`` is empty when the articles do not answer it."""

    id: str
    question: str
    doc: tuple[str, ...]
    evidence: tuple[str, ...]
    answer: str
    answer_keys: tuple[str, ...]
    type: str
    tags: tuple[str, ...] = ()

    @property
    def answerable(self) -> bool:
        """True unless the question is meant to be refused."""
        return self.type != "unanswerable"


def load_questions(path: Path) -> list[Question]:
    """Read a question file, raising :class:`InputError` on the first malformed line.

    Blank lines are skipped; the error names the file, the 1-based line number and the
    problem. Duplicate ids are an error because results are keyed by id.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise NotFoundError(f"Question file {path} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"Question file {path} cannot be read as UTF-8 text ({err}).") from None

    questions: list[Question] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            q = _parse_line(line)
        except ValueError as err:
            raise InputError(f"{path}, line {lineno}: {err}") from None
        if q.id in seen:
            raise InputError(
                f"{path}, line {lineno}: id {q.id!r} is already used on line {seen[q.id]}; "
                "give every question its own id."
            )
        seen[q.id] = lineno
        questions.append(q)
    if not questions:
        raise InputError(f"Question file {path} holds no questions; add one JSON object per line.")
    return questions


def load_eval_questions(settings: Settings, path: Path | None = None) -> list[Question]:
    """The questions every eval and bench run is over: ``path``, else the eval folder's
    ``dev.jsonl`` (a missing default file says how to provide one)."""
    if path is not None:
        return load_questions(path)
    default = Path(settings.eval_dir) / DEFAULT_FILE
    if not default.is_file():
        raise NotFoundError(f"There is no question file at {default}; copy eval/{DEFAULT_FILE} "
                            "there or set RAG_EVAL_DIR.")
    return load_questions(default)


def _parse_line(line: str) -> Question:
    """Turn one JSON line into a Question, raising ValueError with a one-sentence reason."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg} at column {err.colno}).") from None
    return parse_question(obj)


def parse_question(obj: object) -> Question:
    """One decoded JSON object -> Question, raising ValueError with a one-sentence reason.
    Keys beyond the format's (origin fields such as ``source``) are ignored."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}.")
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        raise ValueError(f"missing key(s) {', '.join(missing)}.")

    for key in ("id", "question", "type"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise ValueError(f"{key!r} must be a non-empty string.")
    if not isinstance(obj["answer"], str):
        raise ValueError("'answer' must be a string (empty for unanswerable questions).")
    if obj["type"] not in QUESTION_TYPES:
        raise ValueError(f"type {obj['type']!r} is not one of {', '.join(sorted(QUESTION_TYPES))}.")

    doc = obj["doc"]
    if doc is None:
        docs: tuple[str, ...] = ()
    elif isinstance(doc, str) and doc.strip():
        docs = (doc,)
    elif isinstance(doc, list) and doc and all(isinstance(d, str) and d.strip() for d in doc):
        docs = tuple(doc)
    else:
        raise ValueError("'doc' must be a doc id, a non-empty list of doc ids, or null.")

    return Question(
        id=obj["id"],
        question=obj["question"],
        doc=docs,
        evidence=_str_list(obj, "evidence"),
        answer=obj["answer"],
        answer_keys=_str_list(obj, "answer_keys"),
        type=obj["type"],
        tags=_str_list(obj, "tags") if "tags" in obj else (),
    )


def _str_list(obj: dict, key: str) -> tuple[str, ...]:
    value = obj[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{key!r} must be a list of non-empty strings.")
    return tuple(value)


def validate(questions: Sequence[Question], texts: Mapping[str, str]) -> list[str]:
    """List every problem of ``questions`` against ``texts`` (doc id -> article text).

    Texts may be raw or cleaned: evidence and answer keys are looked up after
    :func:`normalize`. Each problem is one sentence starting with the question id; an
    empty list means the set is consistent.
    """
    norm = {doc_id: normalize(text) for doc_id, text in texts.items()}
    problems: list[str] = []
    for q in questions:
        problems.extend(f"{q.id}: {p}" for p in _question_problems(q, norm))
    return problems


def _question_problems(q: Question, norm: Mapping[str, str]) -> Iterable[str]:
    if q.type not in QUESTION_TYPES:
        yield f"type {q.type!r} is not one of {', '.join(sorted(QUESTION_TYPES))}."
    if not q.answerable:
        if q.doc or q.evidence or q.answer_keys:
            yield "an unanswerable question must have doc null, no evidence and no answer keys."
        return
    if not q.doc:
        yield f"a {q.type} question needs a doc id (doc null is only for unanswerable ones)."
    if not q.evidence:
        yield "an answerable question needs at least one evidence string."
    if not q.answer_keys:
        yield "an answerable question needs at least one answer key."
    if q.type == "multi_doc" and len(set(q.doc)) < 2:
        yield "a multi_doc question must list at least two different docs."

    unknown = [d for d in q.doc if d not in norm]
    for d in unknown:
        yield f"doc id {d!r} is not in the corpus."
    known = [d for d in q.doc if d in norm]
    if not known:
        return

    for ev in q.evidence:
        n = normalize(ev)
        if not any(n in norm[d] for d in known):
            yield f"evidence {ev!r} is not found in {_names(known)}."
        # A sentence end inside evidence means no single passage is sure to contain it.
        if len(split_sentences(n)) > 1:
            yield f"evidence {ev!r} spans a sentence end; keep it within one sentence."
    for key in q.answer_keys:
        if not any(normalize(key) in norm[d] for d in known) and not (
                RELDATE_TAG in q.tags and _is_absolute_date(normalize(key))):
            yield f"answer key {key!r} is not found in {_names(known)}."
    if q.type == "multi_doc" and not unknown:
        # Each listed article must contribute evidence, or the question is single-doc.
        for d in known:
            if not any(normalize(ev) in norm[d] for ev in q.evidence):
                yield f"no evidence string comes from doc {d!r}."


def _is_absolute_date(key: str) -> bool:
    """A date written out from the year on, as a relative one resolves to.

    >>> [_is_absolute_date(k) for k in ("2021", "2021年7月", "2021年7月5日", "7月", "2021年7")]
    [True, True, True, False, False]
    """
    year, _, rest = key.partition("年")
    if not (len(year) == 4 and year.isdecimal() and year[:2] in ("19", "20")):
        return False
    for unit in ("月", "日"):
        if not rest:
            return True
        number, found, rest = rest.partition(unit)
        if not (found and 1 <= len(number) <= 2 and number.isdecimal()):
            return False
    return not rest


def _names(doc_ids: Sequence[str]) -> str:
    return "doc " + ", ".join(repr(d) for d in doc_ids)


def load_texts(corpus_dir: Path) -> dict[str, str]:
    """Read every ``*.txt`` file of ``corpus_dir`` as UTF-8, keyed by file name stem."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise NotFoundError(f"Corpus folder {corpus_dir} does not exist; set RAG_CORPUS_DIR.")
    texts = {
        p.stem: p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(corpus_dir.glob("*.txt"))
    }
    if not texts:
        raise NotFoundError(f"Corpus folder {corpus_dir} has no .txt files to check against.")
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rag.evaluation.questions validate [FILE]``: print problems; exit 1 if any."""
    parser = argparse.ArgumentParser(prog="python -m rag.evaluation.questions",
                                     description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="check a question file against the corpus")
    check.add_argument("file", nargs="?", type=Path, help=f"default: <eval_dir>/{DEFAULT_FILE}")
    args = parser.parse_args(argv)

    try:
        settings = Settings.load()
        questions = load_eval_questions(settings, args.file)
        problems = validate(questions, load_texts(settings.corpus_dir))
    except RagError as err:
        print(str(err), file=sys.stderr)
        return 2
    return report_problems(problems, len(questions))


def report_problems(problems: Sequence[str], n_questions: int) -> int:
    """Print validation problems (one per line) or "N questions OK"; return the exit code."""
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) in {n_questions} questions.", file=sys.stderr)
        return 1
    print(f"{n_questions} questions OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
