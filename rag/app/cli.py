"""``rag``: the command line. Each subcommand's docstring is its help text.

Every user-facing failure is one sentence on stderr and exit code 2 (``RagError``), never a
traceback. ``--json`` prints JSON for machines; the default is plain text for people.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rag.app.jsonio import answer_to_dict, document_to_dict, search_to_dict
from rag.errors import InputError, RagError
from rag.linefile import read_jsonl
from rag.pipeline import Pipeline
from rag.settings import Settings

__all__ = ["build_parser", "main"]


def _settings(args) -> Settings:
    return Settings.load(home=getattr(args, "home", None), model=getattr(args, "model", None))


def _pipeline(args) -> Pipeline:
    return Pipeline(_settings(args))


def _print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def cmd_ingest(args) -> int:
    """Add or update articles (.txt .md .html .pdf .docx), then update the index.

    Example: rag ingest new_policy.pdf notes/*.md
    With no PATH, (re)indexes the corpus folder as it is.
    """
    p = _pipeline(args)
    if not args.paths:
        rep = p.build_index()
        print(f"indexed {rep.manifest.n_docs} articles, {rep.manifest.n_chunks} chunks")
        for e in rep.errors:
            print(f"skipped: {e}", file=sys.stderr)
        return 0
    report = p.ingest([Path(x) for x in args.paths])
    for e in report.errors:
        print(f"error: {e}", file=sys.stderr)
    if args.json:
        _print_json({"added": list(report.added), "updated": list(report.updated),
                     "unchanged": list(report.unchanged), "errors": list(report.errors)})
    else:
        print(f"added {len(report.added)}, updated {len(report.updated)}, "
              f"unchanged {len(report.unchanged)}, failed {len(report.errors)}")
    if report.errors:
        # The good files are indexed; the exit code still tells a script that some were not.
        print(f"{len(report.errors)} of {len(args.paths)} files failed; the others were "
              "indexed.", file=sys.stderr)
        return 1
    return 0


def cmd_remove(args) -> int:
    """Remove articles from the index (and their files from the corpus folder).

    Example: rag remove 002_0638385fcb057a50
    Unknown ids change nothing; `rag docs` lists the ids.
    """
    p = _pipeline(args)
    p.ensure_index()
    removed = p.remove(args.doc_ids)
    if args.json:
        _print_json({"removed": list(removed)})
    else:
        print(f"removed {len(removed)}: {' '.join(removed)}")
    return 0


def cmd_docs(args) -> int:
    """List the articles: id, title, date, source, characters.

    Example: rag docs --json
    """
    p = _pipeline(args)
    p.ensure_index()
    docs = p.documents()
    if args.json:
        for d in docs:
            _print_json(document_to_dict(d))
        return 0
    for d in docs:
        date = (d.meta.date or "日期不详") + ("(推断)" if d.meta.date_inferred else "")
        print(f"{d.doc_id}\t{date}\t{d.meta.source or '-'}\t{len(d.text)}字\t{d.meta.title}")
    return 0


def cmd_show(args) -> int:
    """Print the cleaned text of one article (the text all citation offsets point into).

    Example: rag show 002_0638385fcb057a50
    """
    p = _pipeline(args)
    p.ensure_index()
    d = p.document(args.doc_id)
    if args.json:
        _print_json(document_to_dict(d, with_text=True))
    else:
        print(f"# {d.meta.title}\n# {d.meta.date or '日期不详'} {d.meta.source}\n")
        print(d.text)
    return 0


def cmd_index(args) -> int:
    """Build or update the index from the corpus folder (only changed articles are embedded).

    Example: rag index --rebuild
    """
    p = _pipeline(args)
    t = time.perf_counter()
    rep = p.build_index(rebuild=args.rebuild)
    m = rep.manifest
    for e in rep.errors:
        print(f"skipped: {e}", file=sys.stderr)
    if args.json:
        _print_json(m.to_dict())
    else:
        print(f"index: {m.n_docs} articles, {m.n_chunks} chunks, embedded {m.embedded_chunks}, "
              f"{m.ann} vectors, {time.perf_counter() - t:.1f}s -> {p.store.current_path()}")
    return 0


def _write_lines(out: Path, rows) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def _run_batch(args, default_out: str, run) -> int:
    """``--batch IN --out OUT``: one output line per input line, ``{"id", **run(question)}``.
    The pipeline (and so the model) is shared by every line."""
    out_path = Path(args.out or default_out)
    rows = [{"id": r["id"], **run(r["question"])} for r in read_jsonl(Path(args.batch), ("id", "question"))]
    _write_lines(out_path, rows)
    print(f"{len(rows)} questions -> {out_path}", file=sys.stderr)
    return 0


def _filters(args) -> dict:
    """The article and date filters of ``rag search`` / ``rag ask``."""
    return dict(doc_ids=args.doc or None, since=args.since, until=args.until)


def cmd_search(args) -> int:
    """Ranked passages for a query.

    Example: rag search "南沙扶持办法最高给多少钱" -k 3 --method hybrid
    Batch:   rag search --batch questions.jsonl --out hits.jsonl
    """
    p = _pipeline(args)
    p.ensure_index()
    kw = dict(k=args.k, method=args.method, **_filters(args))
    if args.batch:
        return _run_batch(args, "hits.jsonl",
                          lambda q: search_to_dict(p.search(q, **kw), p.snapshot.docs))
    if not args.query:
        raise InputError("Give a query, or --batch FILE.")
    res = p.search(args.query, **kw)
    d = search_to_dict(res, p.snapshot.docs)
    if args.json:
        _print_json(d)
        return 0
    if res.corrected:
        print(f"(已按「{res.searched}」搜索)")
    for h in d["hits"]:
        print(f"[{h['rank']}] {h['score']:.4f}  {h['title']} ({h['date'] or '日期不详'})  "
              f"{h['chunk_id']} {h['start']}-{h['end']}")
        print("    " + h["text"].replace("\n", " ")[:300])
    return 0


def _print_answer(ans) -> None:
    print(ans.text)
    if ans.note:
        print(f"注: {ans.note}")
    cites = ans.citations or ans.related
    if cites:
        print("\n可能相关:" if ans.refused else "\n来源:")
    for c in cites:
        date = (c.date or "日期不详") + ("(推断)" if c.date_inferred else "")
        print(f"[{c.n}] 《{c.title}》 {date} {c.source}  {c.doc_id}:{c.start}-{c.end}")
        print("    " + c.snippet.replace("\n", " ")[:200])


def cmd_ask(args) -> int:
    """A short cited answer (extractive by default; --llm uses the configured LLM server).

    Example: rag ask "海珠2026年大模型目标是多少"
    Batch:   rag ask --batch questions.jsonl --out answers.jsonl
    """
    p = _pipeline(args)
    p.ensure_index()
    kw = dict(k=args.k, llm=args.llm, **_filters(args))
    if args.batch:
        return _run_batch(args, "answers.jsonl",
                          lambda q: answer_to_dict(p.ask(q, **kw), p.snapshot.docs))
    if not args.question:
        raise InputError("Give a question, or --batch FILE.")
    if args.json:
        _print_json(answer_to_dict(p.ask(args.question, **kw), p.snapshot.docs))
        return 0
    final = None
    for item in p.ask_stream(args.question, **kw):
        if isinstance(item, str):
            print(item, end="", flush=True)
        else:
            final = item
    if args.llm:
        print("\n")
    _print_answer(final)
    return 0


def cmd_serve(args) -> int:
    """Start the staff app (Gradio chat + REST API) on HOST:PORT.

    Example: rag serve --host 127.0.0.1 --port 7860
    """
    # Imported here so the other subcommands never load the web stack (FastAPI, uvicorn,
    # gradio), which is heavy and only `serve` needs.
    from rag.app.api import serve

    s = _settings(args)
    serve(s, host=args.host or s.host, port=args.port or s.port)
    return 0


def cmd_eval(args) -> int:
    """Evaluate retrieval and answers on a question file; write run files and a report.

    Example: rag eval --methods bm25,dense,hybrid,naive --report eval/report
    Validate a question file only: rag eval --validate --questions my.jsonl
    Refresh the regression guard's floor: rag eval --write-expected
    Track figures over time: rag eval --questions eval/reviewed.jsonl --history
    """
    # Imported here: the eval code adds ~0.1 s of imports the other subcommands need not pay.
    from rag.evaluation.run import main_cli

    return main_cli(args, _settings(args))


def cmd_review(args) -> int:
    """Reviewed questions: list logged feedback, export or import the reviewed set.

    Example: rag review list --down --pending
    Share:   rag review export office-a.jsonl   then elsewhere   rag review import office-a.jsonl
    """
    # Imported here: the review desk pulls the eval modules the other subcommands never need.
    from rag.app.review_cli import run_review

    return run_review(args, _pipeline(args))


def cmd_bench(args) -> int:
    """Measure speed and memory: model load, build, latency, cold start, RSS, scale.

    Example: rag bench --json
    """
    # Imported here: the bench code adds ~0.1 s of imports the other subcommands need not pay.
    from rag.evaluation.bench.run import main_cli

    return main_cli(args, _settings(args))


def build_parser() -> argparse.ArgumentParser:
    """The ``rag`` parser: global ``--home``/``--model``, one subparser per ``cmd_*``."""
    ap = argparse.ArgumentParser(prog="rag", description=__doc__.splitlines()[0])
    ap.add_argument("--home", help="project folder holding corpus/, index/, models/ (RAG_HOME)")
    ap.add_argument("--model", help="embedding model folder or hub id (RAG_MODEL)")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name, fn):
        sp = sub.add_parser(name, help=fn.__doc__.splitlines()[0], description=fn.__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.set_defaults(fn=fn)
        return sp

    sp = add("ingest", cmd_ingest)
    sp.add_argument("paths", nargs="*")
    sp.add_argument("--json", action="store_true")
    sp = add("remove", cmd_remove)
    sp.add_argument("doc_ids", nargs="+", metavar="DOC_ID")
    sp.add_argument("--json", action="store_true")
    sp = add("docs", cmd_docs)
    sp.add_argument("--json", action="store_true")
    sp = add("show", cmd_show)
    sp.add_argument("doc_id")
    sp.add_argument("--json", action="store_true")
    sp = add("index", cmd_index)
    sp.add_argument("--rebuild", action="store_true", help="re-embed every article")
    sp.add_argument("--json", action="store_true")
    for name, fn in (("search", cmd_search), ("ask", cmd_ask)):
        sp = add(name, fn)
        sp.add_argument("query" if name == "search" else "question", nargs="?")
        sp.add_argument("-k", type=int, default=None, help="passages (default from settings)")
        sp.add_argument("--doc", action="append", help="only this article id (repeatable)")
        sp.add_argument("--since", help="only articles dated on/after YYYY[-MM[-DD]]")
        sp.add_argument("--until", help="only articles dated on/before YYYY[-MM[-DD]]")
        sp.add_argument("--json", action="store_true")
        sp.add_argument("--batch", help="JSONL file with id and question per line")
        sp.add_argument("--out", help="output JSONL for --batch")
        if name == "search":
            sp.add_argument("--method", default="hybrid", choices=["hybrid", "dense", "bm25"])
        else:
            sp.add_argument("--llm", action="store_true", help="answer with the LLM server")
    sp = add("serve", cmd_serve)
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp = add("eval", cmd_eval)
    sp.add_argument("--sets", help="question sets of eval/ to score side by side, e.g. dev,test "
                    "(default: every one of dev, test, reviewed that exists)")
    sp.add_argument("--questions", help="one question file instead of the sets")
    sp.add_argument("--methods", default="naive,bm25,dense,hybrid")
    sp.add_argument("--llm", action="store_true",
                    help="also score the LLM answerer (RAG_LLM_BASE_URL), with seconds per answer")
    sp.add_argument("--llm-sample", type=int, default=0,
                    help="with --llm: score the LLM on N questions per set, spread evenly")
    sp.add_argument("--report", help="report folder (default eval/report)")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--validate", action="store_true", help="only check the question files")
    sp.add_argument("--no-answers", action="store_true", help="retrieval metrics only")
    sp.add_argument("--write-expected", action="store_true",
                    help="also write the guarded figures to eval/expected.json")
    sp.add_argument("--history", action="store_true", help="also append this run's figures to "
                    "eval/history.jsonl and plot accuracy over time into the report")
    sp = add("review", cmd_review)
    sp.add_argument("action", choices=["list", "export", "import"])
    sp.add_argument("file", nargs="?", help="JSONL file to export to or import from")
    sp.add_argument("--down", action="store_true", help="list: 👎 votes only")
    sp.add_argument("--pending", action="store_true", help="list: not yet reviewed only")
    sp.add_argument("--since", default="", help="list: on or after YYYY[-MM[-DD]]")
    sp.add_argument("--json", action="store_true")
    sp = add("bench", cmd_bench)
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--scale", default="10000,100000", help="synthetic corpus sizes in chunks")
    sp.add_argument("--out", help="report file (default eval/bench.md)")
    sp.add_argument("--backends", default="local,milvus",
                    help="index back-ends compared side by side ('' for none)")
    sp.add_argument("--backend-chunks", default="10000",
                    help="synthetic chunks for the back-end comparison")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the exit code (2 for a ``RagError``, printed as one line)."""
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
