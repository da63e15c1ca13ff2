"""The one object the CLI, the API and the app talk to.

``Pipeline`` owns the settings, the encoder (loaded once, on first use) and the live index
snapshot, on the local folder or a Milvus server (``RAG_BACKEND``). Queries read an immutable
snapshot; an ingest here or in another process switches the live build, and the next question
(within ``RAG_RELOAD_SECONDS``) uses it while questions running meanwhile finish on the old
one::

    p = Pipeline(Settings.load())
    p.ask("海珠2026年大模型目标是多少").text
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rag.answer.extractive import ExtractiveAnswerer, Found
from rag.answer.llm.answerer import LLMAnswerer
from rag.answer.llm.client import LLMClient
from rag.answer.messages import LLM_NOT_ASKED
from rag.corpus.add import IngestReport, add_files
from rag.corpus.load import corpus_files, load_corpus, load_document, source_stamps
from rag.corpus.metadata import load_sidecar
from rag.errors import BuildGone, InputError, NotFoundError, TooLargeError
from rag.index.backend import open_store
from rag.index.manifest import Manifest
from rag.index.snapshot import IndexSnapshot
from rag.models.encoder import get_encoder
from rag.retrieve.live import LiveRetriever
from rag.retrieve.query import QueryAnalysis, complete_followup
from rag.retrieve.search import Retriever, SearchResult
from rag.settings import Settings
from rag.text.patterns import PERSON_PRONOUN
from rag.types import Answer, Document

__all__ = ["BuildReport", "Pipeline"]

@dataclass(frozen=True)
class BuildReport:
    manifest: Manifest
    errors: tuple[str, ...]  # files skipped while loading the corpus


class Pipeline:
    """Ingest, index, search and answer over one corpus folder and one index folder."""

    def __init__(self, settings: Settings | None = None, encoder=None) -> None:
        self.settings = settings or Settings.load()
        self._encoder = encoder
        self._enc_lock = threading.Lock()
        self.store = open_store(self.settings)
        self.live = LiveRetriever(self.store, lambda: self.encoder, self.settings)

    # -- components, created once on first use
    @property
    def encoder(self):
        with self._enc_lock:
            if self._encoder is None:
                self._encoder = get_encoder(self.settings)
            return self._encoder

    def retriever(self) -> Retriever:
        """The retriever over the live index (loaded on first use, switched when another
        process switched the live build)."""
        return self.live.get()

    @property
    def snapshot(self) -> IndexSnapshot:
        return self.retriever().snap

    def warm_up(self) -> None:
        """Load model and index and run one query, so the first user does not wait."""
        self.search("人工智能", k=1)

    # -- building
    def build_index(self, rebuild: bool = False, progress=None) -> BuildReport:
        """(Re)build the index from the corpus folder; only changed articles are embedded."""
        stamps = source_stamps(self.settings.corpus_dir)  # before reading: see source_stamps
        docs, errors = load_corpus(self.settings.corpus_dir)
        if not docs:
            raise InputError(f"No readable articles in {self.settings.corpus_dir}; add some "
                             "with `rag ingest FILE`.")
        s = self.settings
        manifest = self.store.build(docs, self.encoder, chunk_chars=s.chunk_chars,
                                    overlap=s.chunk_overlap_sentences, ann=s.ann,
                                    ann_threshold=s.ann_threshold, rebuild=rebuild,
                                    progress=progress, source_stamps=stamps)
        self._reload()
        return BuildReport(manifest, tuple(errors))

    def ensure_index(self) -> BuildReport | None:
        """Build the index if there is none or the corpus files changed since it was built.

        Compares the files' size and modification time with the stamps the build stored, so
        an unchanged corpus costs a few ``stat`` calls: no article is read or cleaned.
        """
        if not self.store.exists():
            return self.build_index()
        if self.settings.backend == "milvus":
            # The shared index is the record: a replica's own corpus folder may be behind it.
            self.snapshot  # noqa: B018 (loads it: a damaged index is reported here)
            return None
        # An index that exists but is damaged or from another model is reported, never
        # silently rebuilt: the user (or /api/health) must see it. `rag index --rebuild` fixes it.
        snap = self.snapshot
        stamps = source_stamps(self.settings.corpus_dir)
        if stamps and stamps != snap.manifest.source_stamps:
            return self.build_index()
        return None

    def _reload(self) -> None:
        self.live.reload()

    def ingest(self, paths: Sequence[Path]) -> IngestReport:
        """Add or update articles from files, then update the index incrementally.

        Returns the ``IngestReport``; a file that fails is reported and skipped, the rest are
        indexed, and if indexing fails the last good index stays live. On Milvus the new build
        is the live build's articles plus these files (the shared index is the record).
        """
        report = add_files([Path(p) for p in paths], self.settings.corpus_dir,
                           self.settings.max_upload_bytes)
        changed = set(report.added) | set(report.updated)
        if not self.store.exists():
            self.build_index()
        elif changed and self.settings.backend == "milvus":
            sidecar = load_sidecar(self.settings.corpus_dir)
            new = [load_document(f, sidecar.get(f.stem), self.settings.max_upload_bytes)
                   for f in corpus_files(self.settings.corpus_dir) if f.stem in changed]
            self._build_docs([d for d in self.documents() if d.doc_id not in changed] + new)
        elif changed:
            self.build_index()
        return report

    def remove(self, doc_ids: Sequence[str]) -> tuple[str, ...]:
        """Remove articles from the index (and their files from the corpus folder); returns
        the ids removed. Unknown ids raise before anything changes."""
        ids = list(dict.fromkeys(doc_ids))
        known = {d.doc_id for d in self.documents()}
        unknown = [d for d in ids if d not in known]
        if unknown or not ids:
            raise NotFoundError(f"No article with id {(unknown or [''])[0]!r}; `rag docs` "
                                "lists the ids.")
        if not known - set(ids):
            raise InputError("Removing every article would leave the index empty; add "
                             "another article first.")
        for f in corpus_files(self.settings.corpus_dir):
            if f.stem in ids:
                f.unlink()
        if self.settings.backend == "milvus":
            self._build_docs([d for d in self.documents() if d.doc_id not in ids])
        else:
            self.build_index()
        return tuple(ids)

    def _build_docs(self, docs: list[Document]) -> None:
        """Build exactly ``docs`` (unchanged ones reuse their vectors) and switch to it."""
        s = self.settings
        self.store.build(docs, self.encoder, chunk_chars=s.chunk_chars,
                         overlap=s.chunk_overlap_sentences, ann=s.ann,
                         ann_threshold=s.ann_threshold)
        self._reload()

    # -- reading
    def documents(self) -> list[Document]:
        return sorted(self.snapshot.docs.values(), key=lambda d: d.doc_id)

    def document(self, doc_id: str) -> Document:
        d = self.snapshot.docs.get(doc_id)
        if d is None:
            raise NotFoundError(f"No article with id {doc_id!r}; `rag docs` lists the ids.")
        return d

    def check_question(self, question: str) -> str:
        """Normalise a question or raise: empty -> InputError, too long -> TooLargeError."""
        if question is None or not str(question).strip():
            raise InputError("The question is empty; type a question.")
        q = "".join(ch for ch in str(question) if ch.isprintable() or ch in " \t")
        q = " ".join(q.split())
        if not q:
            raise InputError("The question has no readable characters; type a question.")
        if len(q) > self.settings.max_question_chars:
            raise TooLargeError(f"The question has {len(q)} characters, over the limit of "
                                f"{self.settings.max_question_chars}; shorten it.")
        return q

    def search(self, query: str, k: int | None = None, method: str = "hybrid",
               doc_ids: Sequence[str] | None = None, since: str | None = None,
               until: str | None = None) -> SearchResult:
        """Ranked passages for ``query``."""
        q = self.check_question(query)
        try:
            r = self.retriever()
            return r.search(q, k=k, method=method, doc_ids=doc_ids, since=since, until=until)
        except BuildGone:  # dropped by GC two builds later: switch to the live one, once
            return self.live.reload().search(q, k=k, method=method, doc_ids=doc_ids,
                                             since=since, until=until)

    def ask(self, question: str, *, k: int | None = None, llm: bool = False,
            history: Sequence[str] = (), doc_ids: Sequence[str] | None = None,
            since: str | None = None, until: str | None = None) -> Answer:
        """A cited answer. ``history`` holds earlier questions of the conversation, so a
        follow-up such as "那2025年呢" is completed from the previous question."""
        final = None
        for item in self.ask_stream(question, k=k, llm=llm, history=history, doc_ids=doc_ids,
                                    since=since, until=until):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def ask_stream(self, question: str, *, k: int | None = None, llm: bool = False,
                   history: Sequence[str] = (), doc_ids: Sequence[str] | None = None,
                   since: str | None = None, until: str | None = None
                   ) -> Iterator[str | Answer]:
        """Yield text deltas (LLM mode) and finally the ``Answer``."""
        t0 = time.perf_counter()
        q = self.check_question(question)
        full_q = complete_followup(q, [self.check_question(h) for h in history if h and h.strip()])
        k = k or self.settings.answer_passages
        retriever = self.retriever()  # once: an ingest landing meanwhile must not mix snapshots
        filters = dict(doc_ids=doc_ids, since=since, until=until)

        def find(retriever: Retriever) -> tuple[list[Found], SearchResult]:
            qa = retriever.analyze(full_q)
            found: list[Found] = []
            for part in qa.parts or (qa,):
                if found and found[-1].qa.wants_person and PERSON_PRONOUN.search(part.corrected):
                    # "…校长是谁？他担任什么职务？": 他 is the person the part before answers.
                    name = ExtractiveAnswerer(self.settings, retriever.snap,
                                              retriever.tokenizer).person_named(found[-1])
                    if name:
                        part = retriever.analyze(
                            PERSON_PRONOUN.sub(name, part.corrected, count=1))
                found.append(self._find(retriever, part, k, filters))
            res = found[0].result if len(found) == 1 else retriever.search(
                full_q, k=k, searched=qa.searched, **filters)
            return found, res

        try:
            found, res = find(retriever)
        except BuildGone:  # dropped by GC two builds later: switch to the live one, once
            retriever = self.live.reload()
            found, res = find(retriever)
        t_ret = (time.perf_counter() - t0) * 1000
        extractive = ExtractiveAnswerer(self.settings, retriever.snap, retriever.tokenizer)

        def fallback() -> Answer:
            return extractive.answer(full_q, found)

        if llm:
            yield from self._llm(q, full_q, res, extractive, fallback, t0, t_ret)
            return
        ans = fallback()
        yield _with(ans, question=q, hits=res.hits,
                    timings=(("retrieve", t_ret), *ans.timings_ms,
                             ("total", (time.perf_counter() - t0) * 1000)))

    def _find(self, retriever: Retriever, qa: QueryAnalysis, k: int, filters: dict) -> Found:
        """One (sub-)question's hits; hits from articles of the years it asks (their 今年 is
        that year, though they may not print it); hits from articles of other years (a figure
        question without a year may be answered at two dates); its sentences' similarities."""
        docs = retriever.snap.docs.values()
        if qa.article_years and not filters.get("doc_ids"):
            # "2023年那篇调查里…": the articles of that year only, when there are any.
            named = [d.doc_id for d in docs if d.meta.year() in qa.article_years]
            filters = {**filters, "doc_ids": named or None}
        res = retriever.search(qa.text, k=k, searched=qa.searched, **filters)
        top_year = retriever.snap.docs[res.hits[0].chunk.doc_id].meta.year() if res.hits else None
        same, other = (), ()
        if not filters.get("doc_ids"):
            if qa.years:
                same = self._within(retriever, qa, [d.doc_id for d in docs
                                                    if d.meta.year() in qa.years], filters)
            elif qa.qtype == "number" and top_year:
                other = self._within(retriever, qa, [d.doc_id for d in docs if d.meta.year()
                                                     and d.meta.year() != top_year], filters)
        sims = retriever.sentence_similarities(qa.searched, (*res.hits, *same, *other))
        return Found(qa, res, other, sims, same)

    @staticmethod
    def _within(retriever: Retriever, qa: QueryAnalysis, doc_ids: list[str], filters: dict):
        if not doc_ids:
            return ()
        return retriever.search(qa.text, k=4, searched=qa.searched, doc_ids=doc_ids,
                                since=filters.get("since"), until=filters.get("until")).hits

    def _llm(self, q: str, full_q: str, res: SearchResult, extractive: ExtractiveAnswerer,
             fallback, t0: float, t_ret: float) -> Iterator[str | Answer]:
        if not self.settings.llm_base_url:
            yield _with(fallback(), note="未配置 LLM 服务(RAG_LLM_BASE_URL),以下为抽取式答案。",
                        question=q)
            return
        checked = fallback()
        if checked.refused:
            # The evidence checks found no sentence that answers: the LLM is not asked, so
            # it cannot phrase an answer the articles do not support.
            yield _with(checked, question=q, hits=res.hits, note=LLM_NOT_ASKED,
                        timings=(("retrieve", t_ret),
                                 ("total", (time.perf_counter() - t0) * 1000)))
            return
        for item in LLMAnswerer(LLMClient.from_settings(self.settings)).stream(full_q, extractive.passages(res),
                                                  lambda: checked):
            if isinstance(item, Answer):
                yield _with(item, question=q, hits=res.hits,
                            timings=(("retrieve", t_ret),
                                     ("total", (time.perf_counter() - t0) * 1000)))
            else:
                yield item

    def health(self) -> dict:
        """Status for /api/health: never raises."""
        out: dict = {"status": "ok", "corpus_dir": str(self.settings.corpus_dir),
                     "index_dir": str(self.store.root), "backend": self.settings.backend,
                     "model": self.settings.model, "llm": bool(self.settings.llm_base_url)}
        try:
            self.store.ping()  # Milvus down: this request says so, the next one may be fine
            m = self.snapshot.manifest
            out.update(documents=m.n_docs, chunks=m.n_chunks, built_at=m.built_at,
                       model_id=m.model_id, ann=m.ann,
                       embed_runtime=getattr(self.encoder, "runtime", None))
        except Exception as e:  # health reports problems, it does not raise them
            out.update(status="error", error=str(e))
        return out


def _with(ans: Answer, *, question: str | None = None, note: str | None = None, hits=None,
          timings=None) -> Answer:
    changes: dict = {}
    if question is not None:
        changes["question"] = question
    if note is not None:
        changes["note"] = note
    if hits is not None:
        changes["hits"] = tuple(hits)
    if timings is not None:
        changes["timings_ms"] = tuple((k, round(v, 2)) for k, v in timings)
    return replace(ans, **changes)
