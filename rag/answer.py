"""Extractive answers: the sentence (or clause window) that answers, with citations.

No LLM. Candidate sentences come from the top retrieved passages; each is scored by

- keyword overlap with the question (IDF-weighted jieba tokens; figures count whole),
- answer type: 多少/几/规模 want a figure, 谁 a person or organisation, 哪年/何时 a date,
  哪些 a list,
- time: years in the sentence, with 今年/去年/明年/年底 resolved against the article's
  publication date, must fit the year the question asks about,
- the passage's retrieval rank (dense + BM25 already agree on it).

The answer is refused ("not found", with the closest passages as possibly related) when the
best sentence's evidence is weak: see ``_confidence``; the threshold is tuned on the project's
eval set (``rag eval``), never on one question.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .retrieve import Retriever, SearchResult, keyword_idf
from .settings import Settings
from .tokenize import _CJK
from .types import Answer, Citation, Document, Hit

REFUSAL_ZH = "资料中没有找到这个问题的答案。"
REFUSAL_EN = "The articles do not contain the answer to this question."
MAX_ANSWER_CHARS = 150
NEIGHBOUR_SHARE = 0.7  # an adjacent sentence scoring this share of the best joins the answer

_YEAR = re.compile(r"(?<!\d)(20\d\d)(?=年|\s*-|\s*—|\s*至|\s*到|$|[^\d])")
_REL_YEAR = {"今年": 0, "本年": 0, "当年": 0, "年底": 0, "年内": 0, "全年": 0, "去年": -1,
             "上年": -1, "前年": -2, "明年": 1}
_FIGURE = re.compile(r"\d+(?:\.\d+)?\s*(?:[万亿千百]|多|余)?\s*(?:[个家人名项件款台支条户场次倍]|"
                     r"亿元|万元|元|平方米|吨|斤|P|%|年|届|万|亿|小时|分钟|天|个月|周)")
# Figures in Chinese numerals: 第五届, 三大路径, 两个.
_CN_FIGURE = re.compile(r"[一二三四五六七八九十两百千]+(?:[个家人名项件款台支条户场次倍届年大]|万|亿)")
_LIST = re.compile(r"[、]")
_PERSON = re.compile(r"(表示|说|指出|介绍|坦言|强调|认为|呼吁|感慨|透露|告诉记者)")
_DATEPAT = re.compile(r"(20\d\d年|\d{1,2}月\d{1,2}日|\d{1,2}月|今年|去年|年底|前不久|近日)")
# Policy targets are stated with planning words; achieved results with 实现/累计/已.
_ASKS_TARGET = re.compile(r"目标|计划|规划|打算|预期|力争|要达到|target|goal|plan")
_PLAN_WORDS = re.compile(r"力争|目标|计划|预期|争取|将(?!近)|打造|确保|突破")  # 将近 = nearly
_CLAUSE_END = re.compile(r"[,，;；:：]")


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s))


def question_years(q: str, today_year: int | None = None) -> set[int]:
    """Years the question asks about: explicit 2026年; 今年/去年/明年 only with ``today_year``."""
    ys = {int(y) for y in _YEAR.findall(_norm(q))}
    if today_year:
        for w, off in _REL_YEAR.items():
            if w in q and w not in ("全年", "年内", "年底", "当年"):
                ys.add(today_year + off)
    return ys


def answer_type(q: str) -> str:
    """Coarse expected answer type of a question (Chinese or English)."""
    ql = q.lower()
    if re.search(r"哪一?年|何时|什么时候|哪天|几月|哪个月|日期|when|what year|which year|what date", ql):
        return "date"
    if re.search(r"谁|哪位|何人|哪家|哪个(企业|公司|单位|机构|部门)|who|which (company|organi)", ql):
        return "entity"
    if re.search(r"哪几", ql):
        return "list"  # "哪几条线" asks for the lines, not how many
    if re.search(r"多少|几|规模|多大|多久|多长时间|金额|比例|数量|目标|how (much|many|long)|what (is|was) the (number|amount|target|scale)|percentage", ql):
        return "number"
    if re.search(r"哪些|包括|有什么|what are|which", ql):
        return "list"
    return "fact"


def sentence_years(text: str, doc_year: int | None) -> tuple[set[int], bool]:
    """Years a sentence speaks of, and whether any was written explicitly."""
    explicit = {int(y) for y in _YEAR.findall(text)}
    resolved = set(explicit)
    if doc_year:
        for w, off in _REL_YEAR.items():
            if w in text:
                resolved.add(doc_year + off)
    return resolved, bool(explicit)


def complete_followup(q: str, history: Sequence[str]) -> str:
    """Turn an elliptical follow-up into a full question using the previous one.

    ``complete_followup("那2025年呢", ["海珠2026年大模型目标是多少"])`` ->
    ``"海珠2025年大模型目标是多少"``.
    """
    if not history:
        return q
    prev = history[-1]
    elliptical = len(q) <= 14 and (q.startswith(("那", "那么", "还有", "and ", "what about"))
                                   or q.rstrip("?？ ").endswith("呢"))
    if not elliptical:
        return q
    core = re.sub(r"^(那么|那|还有)", "", q).rstrip("?？ ")
    core = re.sub(r"呢$", "", core)
    ys = _YEAR.findall(_norm(core))
    if ys and _YEAR.search(prev):
        return _YEAR.sub(ys[0], prev, count=1)
    return f"{prev} {core}".strip()


@dataclass(frozen=True)
class Candidate:
    doc_id: str
    start: int
    end: int
    text: str
    hit_rank: int
    score: float = 0.0
    coverage: float = 0.0
    year_fit: int = 0  # +1 fits the asked year, -1 contradicts it, 0 no year asked / unknown


class ExtractiveAnswerer:
    """Answers from retrieved passages without an LLM. Cheap to construct per request."""

    def __init__(self, settings: Settings, retriever: Retriever) -> None:
        self.settings = settings
        self.retriever = retriever
        self.docs = retriever.snap.docs
        # Derived data (IDF, sentence spans, normalised texts) lives on the snapshot it was
        # derived from, so an ingest that swaps the snapshot can never serve stale spans.
        self._cache = retriever.snap.derived
        self.idf = keyword_idf(retriever.snap)

    def _cached(self, key, build):
        v = self._cache.get(key)
        if v is None:
            v = build()
            self._cache[key] = v  # a race builds it twice at worst: same value
        return v

    # -- candidates
    @staticmethod
    def _full_sentences(doc: Document) -> list[tuple[int, int]]:
        """Sentence spans with ；-separated parts joined again: the subject of "海珠区累计培育
        …40个,…;算法备案项目320个" sits in the first part, the figure in the second."""
        out: list[tuple[int, int]] = []
        for s, e in doc.sentences:
            if out and doc.text[out[-1][1] - 1] in ";；" and doc.text[out[-1][1]:s].strip() == "":
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
        return out

    def _candidates(self, res: SearchResult) -> list[Candidate]:
        seen = set()
        out = []
        for h in res.hits:
            d = self.docs[h.chunk.doc_id]
            for s, e in self._sentences_of(d):
                if e <= h.chunk.start or s >= h.chunk.end or (d.doc_id, s) in seen:
                    continue
                seen.add((d.doc_id, s))
                out.append(Candidate(d.doc_id, s, e, d.text[s:e], h.rank))
        return out

    def _sentences_of(self, d: Document) -> list[tuple[int, int]]:
        return self._cached(("sentences", d.doc_id), lambda: self._full_sentences(d))

    def _previous_text(self, c: Candidate) -> str:
        d = self.docs[c.doc_id]
        prev = [sp for sp in self._sentences_of(d) if sp[1] <= c.start]
        return d.text[prev[-1][0]:prev[-1][1]] if prev else ""

    def _score(self, q: str, qtoks: list[str], c: Candidate, qtype: str, years: set[int]
               ) -> Candidate:
        tk = self.retriever.tokenizer
        doc = self.docs[c.doc_id]
        stoks = set(tk.tokens(c.text))
        # The title and the sentence before carry context ("大会现场…" then "活动汇聚…400余人").
        ctx = set(tk.tokens(doc.meta.title)) | set(tk.tokens(self._previous_text(c)))
        # Years are judged by the year logic below, which also resolves 今年/全年 against the
        # article's date; counting the literal "2025年" here too would favour any sentence
        # that happens to print the year over the one that says 全年 in a 2025 article.
        qset = [t for t in dict.fromkeys(qtoks) if not (years and re.fullmatch(r"20\d\d年?", t))]
        if _ASKS_TARGET.search(q.lower()) and _PLAN_WORDS.search(c.text):
            # A plan sentence answers "目标/计划" whether it prints 目标 or says 力争/将/确保:
            # the question's 目标 (a rare, heavy word) must not favour the sentence that
            # happens to print it over the one with the figure.
            stoks |= {t for t in qtoks if _ASKS_TARGET.fullmatch(t)}
        w_total = sum(self.idf.get(t, 1.0) for t in qset) or 1.0
        w_hit = sum(self.idf.get(t, 1.0) * (1.0 if t in stoks else 0.5 if t in ctx else 0.0)
                    for t in qset)
        coverage = w_hit / w_total
        score = 2.0 * coverage
        text = c.text
        if qtype == "number":
            score += 0.5 if _FIGURE.search(text) else -0.3
        elif qtype == "date" and _DATEPAT.search(text):
            score += 0.5
        elif qtype == "entity" and _PERSON.search(text):
            score += 0.4
        elif qtype == "list" and len(_LIST.findall(text)) >= 2:
            score += 0.4
        if _ASKS_TARGET.search(q.lower()):
            score += 0.4 if _PLAN_WORDS.search(text) else -0.2
        year_fit = 0
        if years:
            sy, explicit = sentence_years(text, doc.meta.year())
            if sy & years:
                year_fit = 1  # the sentence itself says the year (or 今年 in that year's article)
                score += 0.8
            elif explicit:
                year_fit = -1  # it names other years only
                score -= 0.8
            elif doc.meta.year() and doc.meta.year() not in years:
                # No year written: it speaks of its article's present, another year.
                year_fit = -1
                score -= 0.4
        score += 0.3 / c.hit_rank  # retrieval agreement
        if len(text) < 8:
            score -= 0.5  # headings and fragments do not answer
        return replace(c, score=score, coverage=coverage, year_fit=year_fit)

    # -- trimming to a short answer span
    def _trim(self, c: Candidate, qtoks: list[str]) -> tuple[int, int]:
        """Keep the window of clauses that carries the match, within MAX_ANSWER_CHARS."""
        if c.end - c.start <= MAX_ANSWER_CHARS:
            return c.start, c.end
        doc = self.docs[c.doc_id]
        cuts = [c.start] + [c.start + m.end() for m in _CLAUSE_END.finditer(c.text)] + [c.end]
        cuts = sorted(set(cuts))
        clauses = list(zip(cuts[:-1], cuts[1:], strict=True))
        tk = self.retriever.tokenizer
        qs = set(qtoks)
        wts = []
        for s, e in clauses:
            toks = set(tk.tokens(doc.text[s:e]))
            wts.append(sum(self.idf.get(t, 1.0) for t in qs & toks)
                       + (0.5 if _FIGURE.search(doc.text[s:e]) else 0.0))
        best, best_span = -1.0, (c.start, min(c.end, c.start + MAX_ANSWER_CHARS))
        for i in range(len(clauses)):
            total = 0.0
            for j in range(i, len(clauses)):
                if clauses[j][1] - clauses[i][0] > MAX_ANSWER_CHARS:
                    break
                total += wts[j]
                if total > best:
                    best, best_span = total, (clauses[i][0], clauses[j][1])
        s, e = best_span
        while e > s and doc.text[e - 1] in ",，;；:： ":
            e -= 1
        return s, e

    def _other_dates(self, q: str, qtoks: list[str], qtype: str, best: Candidate
                     ) -> list[Candidate]:
        """Best sentences from articles of *other* years, for a year-less figure question.

        "海珠大模型备案目标是多少" is answered by a 2025 article and a 2026 one; the second may
        rank below the passages the answer was drawn from, so look in those articles directly
        (the query vector is cached: one masked search, a few ms).
        """
        if qtype != "number" and not _ASKS_TARGET.search(q.lower()):
            return []
        year = self.docs[best.doc_id].meta.year()
        others = [d.doc_id for d in self.docs.values() if d.meta.year() and d.meta.year() != year]
        if not year or not others:
            return []
        res = self.retriever.search(q, k=4, doc_ids=others)
        found = [self._score(q, qtoks, c, qtype, set()) for c in self._candidates(res)]
        found.sort(key=lambda c: (-c.score, c.hit_rank, c.doc_id, c.start))
        return found[:2]

    def _speaker(self, c: Candidate) -> tuple[int, int] | None:
        """Who said a quoted sentence: the attribution clause after the closing quote in the
        next sentences of the paragraph ("…练兵的地方。”宋克举例,…" -> "宋克举例"), or a
        "X说:" before the quote. Returns a span of the document, or None."""
        d = self.docs[c.doc_id]
        para = next(((ps, pe) for ps, pe in d.paragraphs if ps <= c.start < pe), (0, len(d.text)))
        sents = [sp for sp in self._sentences_of(d) if para[0] <= sp[0] < para[1]]
        after = [sp for sp in sents if sp[0] >= c.end][:3]
        verbs = r"(说|表示|指出|介绍|坦言|强调|认为|看来|举例|感慨|透露|告诉记者)"
        for n, (s, e) in enumerate([(c.start, c.end)] + after):
            seg = d.text[s:e]
            # After a closing quote inside the sentence ("…。”金域医学副总裁李映华说"), or at the
            # start of the sentence right after the quoted one ("宋克举例,…").
            m = re.search(r"[”」]\s*([^“”,,。;；]{2,40}?)" + verbs, seg)
            if m is None and n >= 1 and d.text[s - 1 : s] in "”」" or (
                    m is None and n >= 1 and d.text[c.end - 1] in "”」"):
                m = re.match(r"\s*([^“”,,。;；:：]{2,40}?)" + verbs, seg)
            if m:
                return s + m.start(1), s + m.end(2)
        before = [sp for sp in sents if sp[1] <= c.start][-1:]
        for s, e in before:
            seg = d.text[s:e]
            m = re.search(r"([^“”,,。;；]{2,40}?)(说|表示|指出|强调)\s*[:：]", seg)
            if m:
                return s + m.start(1), s + m.end(2)
        return None

    def _with_neighbour(self, best: Candidate, cands: list[Candidate], info: dict) -> Candidate:
        """The best sentence joined with the sentence right before or after it when that one
        scores nearly as well: an answer often spans two ("…“某某模型”通过了备案。" then
        "这个诞生于广州企业云智科技的AI模型…"). ``_trim`` still caps the length."""
        top = best.score
        for c in cands[1:6]:
            if c.doc_id != best.doc_id or not (c.end <= best.start or c.start >= best.end):
                continue
            gap = self.docs[c.doc_id].text[min(c.end, best.end):max(c.start, best.start)]
            if gap.strip() or top <= 0 or c.score < NEIGHBOUR_SHARE * top:
                continue
            if not self.passes(self.evidence(info, c)):
                continue
            s, e = min(c.start, best.start), max(c.end, best.end)
            return replace(best, start=s, end=e, text=self.docs[best.doc_id].text[s:e])
        return best

    def _paragraph_text(self, c: Candidate, back: int = 0) -> str:
        """The candidate's paragraph and the ``back`` paragraphs before it."""
        d = self.docs[c.doc_id]
        i = next((n for n, (ps, pe) in enumerate(d.paragraphs) if ps <= c.start < pe), None)
        if i is None:
            return c.text
        lo = d.paragraphs[max(0, i - back)][0]
        return d.text[lo:d.paragraphs[i][1]]

    def _citation(self, n: int, doc_id: str, s: int, e: int, chunk_id: str = "") -> Citation:
        d = self.docs[doc_id]
        return Citation(n, doc_id, d.meta.title, d.meta.date, d.meta.source, s, e,
                        d.text[s:e], chunk_id, d.meta.date_inferred)

    def _related(self, hits: Sequence[Hit], n: int = 3) -> tuple[Citation, ...]:
        return tuple(self._citation(i, h.chunk.doc_id, h.chunk.start, h.chunk.end,
                                    h.chunk.chunk_id)
                     for i, h in enumerate(hits[:n], start=1))

    def passages(self, res: SearchResult) -> list[Citation]:
        """Numbered passages for the LLM answerer (rag.llm.Passage): every hit, whole."""
        return list(self._related(res.hits, n=len(res.hits)))

    # -- main
    def answer(self, question: str, res: SearchResult) -> Answer:
        """The cited answer to ``question`` from the passages in ``res``."""
        parts = [p.strip() for p in re.split(r"[？?]", question) if len(p.strip()) >= 4]
        if len(parts) >= 2:
            # Two questions in one ("…有什么进展？它一共连接了多少台…？"): answer each.
            subs = [self._answer_one(p, replace(res, searched=p)) for p in parts[:3]]
            return self._combine(question, subs)
        return self._answer_one(question, res)

    def _combine(self, question: str, subs: list[Answer]) -> Answer:
        """Join sub-answers, renumbering their citations; refused only if all are."""
        good = [a for a in subs if not a.refused]
        if not good:
            return replace(subs[0], question=question)
        texts, cits = [], []
        for a in good:
            text = a.text
            for c in a.citations:
                n = len(cits) + 1
                text = text.replace(f"[{c.n}]", f"[#{n}]")
                cits.append(replace(c, n=n))
            texts.append(text.replace("[#", "["))
        if len(good) < len(subs):
            texts.append("(问题的其余部分资料中没有找到答案。)")
        return Answer(question, "\n".join(texts), tuple(cits), note=good[0].note,
                      related=good[0].related, confidence=min(a.confidence for a in good))

    def _answer_one(self, question: str, res: SearchResult) -> Answer:
        english = not _CJK.search(question)
        refusal = REFUSAL_EN if english else REFUSAL_ZH
        if not res.hits:
            return Answer(question, refusal, refused=True)
        q = res.searched if res.searched != res.query else question
        tk = self.retriever.tokenizer
        qtoks = tk.tokens(q)
        qtype = answer_type(q)
        years = question_years(q)
        cands = [self._score(q, qtoks, c, qtype, years) for c in self._candidates(res)]
        if english:
            cands = self._english_rescore(q, cands)
        cands.sort(key=lambda c: (-c.score, c.hit_rank, c.doc_id, c.start))
        best = cands[0]
        compound: list[Candidate] = []
        info = self.question_info(q, english=english)
        if not english:
            if len(info["entities"]) >= 2 and re.search(r"和|与|及|分别|各|对比|相比", q):
                # "南沙和广州全市分别…": one sentence per named subject, each checked alone.
                for ent in info["entities"]:
                    sub = dict(info, entities=[ent])
                    for c in cands[:12]:
                        if c not in compound and self.passes(self.evidence(sub, c)) \
                                and not self.evidence(sub, c)["missing_entities"]:
                            compound.append(c)
                            break
                info = dict(info, entities=info["entities"][:0])
            elif len(years) >= 2 and re.search(r"和|与|及|分别|各|对比|相比|到|至", q):
                # "2025年和2026年的目标分别是多少": one sentence for each year.
                for y in sorted(years):
                    for c in cands[:12]:
                        d = self.docs[c.doc_id]
                        if c not in compound and y in sentence_years(c.text, d.meta.year())[0] \
                                and self.passes(self.evidence(info, c)):
                            compound.append(c)
                            break
        # The best-scoring sentence that passes the hard checks; none passing -> refuse.
        passing = None
        for c in (compound or cands[:8]):
            ev = self.evidence(info, c)
            if self.passes(ev):
                passing = (c, ev)
                break
        if passing is None:
            return Answer(question, refusal, refused=True, related=self._related(res.hits),
                          confidence=0.0)
        best, ev = passing
        conf = self._confidence(best, res, english)
        conf -= 0.15 * bool(ev["missing_nearby"]) + 0.35 * ev["missing_focus"]
        if conf < self.settings.refuse_threshold or (years and best.year_fit < 0
                                                     and len(compound) < 2):
            return Answer(question, refusal, refused=True, related=self._related(res.hits),
                          confidence=conf)

        chosen = [best]
        if len(compound) > 1:
            chosen = [best] + [c for c in compound if c is not best][:1]
        # Same measure, another article of another date: give both, each with its date.
        elif not years:
            for c in cands[1:6] + self._other_dates(q, qtoks, qtype, best):
                # Another article, another year, a figure, and about as much of the question
                # covered: the same measure reported at two dates (海珠's 2025 and 2026 targets).
                if (c.doc_id != best.doc_id and _FIGURE.search(c.text) and _FIGURE.search(best.text)
                        and c.score >= best.score - 0.6 and c.coverage >= 0.8 * best.coverage
                        and self.docs[c.doc_id].meta.year() != self.docs[best.doc_id].meta.year()):
                    chosen.append(c)
                    break
        if len(chosen) == 1:
            best = chosen[0] = self._with_neighbour(best, cands, info)
        spans = []
        for c in chosen:
            spans.append(self._trim(c, qtoks))
        if qtype == "entity" and len(chosen) == 1 and not _PERSON.search(best.text):
            extra = self._speaker(best)
            if extra:
                chosen, spans = [best, best], [spans[0], extra]
        parts, cits = [], []
        for n, (c, (s, e)) in enumerate(zip(chosen, spans, strict=True), start=1):
            chunk_id = next((h.chunk.chunk_id for h in res.hits if h.chunk.doc_id == c.doc_id
                             and h.chunk.start <= s and e <= h.chunk.end), "")
            cit = self._citation(n, c.doc_id, s, e, chunk_id)
            cits.append(cit)
            text = self.docs[c.doc_id].text[s:e]
            if len(chosen) > 1 and chosen[0] is chosen[1]:
                parts.append(f"{text}[{n}]")
            elif len(chosen) > 1:
                date = cit.date or "日期不详"
                parts.append(f"({date})《{cit.title}》:{text}[{n}]")
            else:
                parts.append(f"{text}[{n}]")
        note = ("不同日期的文章给出了不同数据,请注意各自日期。"
                if len({c.doc_id for c in chosen}) > 1 else "")
        return Answer(question, "\n".join(parts), tuple(cits), note=note,
                      related=self._related(res.hits), confidence=conf)

    # Units a "多少X" question asks for, and how an answer writes them.
    # 亿元/万元 come first: jieba keeps them whole, and 5亿元 answers "多少万元" as well (money).
    _UNIT_ASK = re.compile(r"多少(亿元|万元|钱|P|个|家|人|名|款|台|辆|项|件|条|户|场|次|年|亿|万|元|倍|"
                           r"平方米|吨|斤)")
    _UNIT_FORMS = {"钱": "元", "亿": "亿", "万": "万", "亿元": "money", "万元": "money"}

    def _corpus_text(self) -> str:
        return self._cached("corpus_norm", lambda: _norm(
            "".join(d.text for d in self.docs.values())).lower())

    # Amounts of money: asked "多少" of these, an answer must give a figure in 元 (亿元, 万元).
    _MONEY = re.compile(r"营收|营业收入|收入|利润|奖金|资金|金额|投资额|产值|增加值|产业规模|经济规模|"
                        r"基金规模|补贴|奖励|出资|融资|估值|税收|花了|花费|费用|价格|多少钱|挣了")

    def question_info(self, q: str, english: bool = False) -> dict:
        """What the answer must show: the places/organisations the question names, the noun it
        asks about (the 主任 of "…的主任是谁"), the unit of a "多少P / 多少辆" question, and the
        figures the question itself gives (an answer must add one of its own).

        For an English question only the names the glossary translated (Nansha -> 南沙) count:
        the Chinese words appended to the query by rag.tokenize.expand_english.
        """
        tk = self.retriever.tokenizer
        qtype = answer_type(q)
        figures = {_norm(m.group(0)) for m in _FIGURE.finditer(_norm(q))}
        if english:
            zh = " ".join(re.findall(r"[\u3400-\u9fff]+", q))
            return {"entities": tk.entities(zh) if zh else [], "focus": "", "unit": "",
                    "qtype": qtype, "figures": figures, "role": False}
        unit = ""
        m = self._UNIT_ASK.search(q)
        # The unit must be a word of its own: "多少人参加" asks for 人, "多少人工智能企业" doesn't.
        if m and tk.plain_cut(q[m.start(1):])[0] == m.group(1):
            unit = self._UNIT_FORMS.get(m.group(1), m.group(1))
        elif qtype == "number" and self._MONEY.search(q) and not m:
            unit = "money"
        elif re.search(r"多久|多长时间|多少天|几天", q):
            unit = "duration"
        focus = tk.focus_noun(q)
        # Only a focus the whole corpus never mentions counts (a role or measure the articles lack): generic question
        # nouns (目标, 数量) are often paraphrased by the answer and prove nothing.
        if focus and focus.lower() in self._corpus_text():
            focus = ""
        return {"entities": tk.entities(q), "focus": focus, "unit": unit, "qtype": qtype,
                "figures": figures,
                # "X的主任是谁" asks who holds a role; if the articles never name the role, no
                # sentence can say who holds it.
                "role": qtype == "entity" and bool(focus)}

    def evidence(self, info: dict, c: Candidate) -> dict:
        """Checks of a candidate sentence against ``question_info``, used for refusals.

        - ``absent_entities``: names the question gives that the candidate's article never
          mentions: another subject (天河 asked, an article on 海珠 retrieved);
        - ``missing_entities``: names not in the sentence, the one before, or the title;
        - ``missing_focus``: the question asks about something the corpus never mentions;
        - ``unit_ok``: a "多少P" question gets a figure in P.
        """
        doc = self.docs[c.doc_id]
        ctx = _norm(c.text + self._previous_text(c) + doc.meta.title).lower()
        missing = [w for w in info["entities"] if w.lower() not in ctx]
        # A news paragraph often names its subject once, a paragraph earlier ("某公司CEO告诉记者…"
        # then a paragraph of his quote with the figure): the wider context for the figure check below.
        nearby = _norm(self._paragraph_text(c, back=1)).lower() if missing else ""
        missing_nearby = [w for w in missing if w.lower() not in nearby]
        full = self._doc_norm(doc)
        absent = [w for w in missing if w.lower() not in full]
        unit_ok = True
        text = _norm(c.text)
        if info["unit"] == "duration":
            unit_ok = bool(re.search(r"[\d一二三四五六七八九十两半几][多余]?个?(?:小时|分钟|秒|天|日|周|星期|月|年)",
                                     text))
        elif info["unit"] == "money":
            # 307.5亿元, 5000万元, or a magnitude alone (超100亿, 千亿级)
            unit_ok = bool(re.search(r"\d(?:[万亿千百多余]){0,3}元|[\d百千万][万亿]", text))
        elif info["unit"]:
            unit_ok = bool(re.search(rf"\d(?:[万亿千百多余]){{0,3}}{re.escape(info['unit'])}", text))
        # A figure question is answered by a figure the question did not already give: the
        # "3亿元" of "3亿元基金里市级资金出了多少" restates the question, it is no answer.
        figure_ok = info.get("qtype") != "number" or any(
            _norm(m.group(0)) not in info.get("figures", ()) for m in _FIGURE.finditer(text)
        ) or bool(_CN_FIGURE.search(text))
        return {"missing_entities": missing, "absent_entities": absent,
                "missing_nearby": missing_nearby,
                "missing_focus": bool(info["focus"]), "unit_ok": unit_ok,
                "figure_ok": figure_ok, "role_missing": bool(info.get("role")),
                "qtype": info.get("qtype")}

    def passes(self, ev: dict) -> bool:
        """Hard checks: a candidate failing any of them cannot be the answer."""
        if ev["qtype"] == "number" and (ev["missing_nearby"] or ev["missing_focus"]):
            # A figure is only an answer for the subject and measure asked: a 全区 营收 is no
            # answer to "某公司的营收", and no figure answers for a measure the articles never
            # mention. (Other question types keep these as soft penalties: their answers are
            # often phrased without repeating the subject.)
            return False
        return (not ev["absent_entities"] and ev["unit_ok"] and ev["figure_ok"]
                and not ev["role_missing"])

    def _doc_norm(self, doc: Document) -> str:
        return self._cached(("doc_norm", doc.doc_id), lambda: _norm(doc.text).lower())

    def _confidence(self, best: Candidate, res: SearchResult, english: bool) -> float:
        """Evidence strength in [0, ~1]: how much of the question the answer sentence covers,
        blended with the top passage's dense similarity (which also works across languages)."""
        dense = next((v for k, v in res.hits[0].details if k == "dense"), None) if res.hits else None
        d = 0.0 if dense is None else max(0.0, (dense - 0.75) / 0.15)
        if english:
            return 0.3 + 0.7 * d
        return 0.7 * best.coverage + 0.3 * d

    def _english_rescore(self, q: str, cands: list[Candidate]) -> list[Candidate]:
        """English questions share no words with Chinese sentences: rank the candidate
        sentences by embedding similarity instead (a few dozen short sentences)."""
        enc = self.retriever.encoder
        qv = self.retriever.query_vector(q)
        # Only the sentences of the top passages, best first: each sentence costs an encoder
        # pass (~40 ms on one core), and retrieval already put the answer near the top.
        pool = sorted(cands, key=lambda c: (c.hit_rank, -c.score))[:12]
        # Most are index sentences whose vectors are stored (same text, same prefix); only
        # the rest (；-joined sentences) are embedded now.
        snap = self.retriever.snap
        stored = [snap.sentence_row(c.doc_id, c.start, c.end) for c in pool]
        todo = [i for i, r in enumerate(stored) if r is None]
        sv = np.zeros((len(pool), len(qv)), dtype=np.float32)
        if todo:
            sv[todo] = enc.encode([pool[i].text for i in todo], kind="passage")
        for i, r in enumerate(stored):
            if r is not None:
                sv[i] = snap.sentence_vectors[r]
        sims = dict(zip((id(c) for c in pool), (float(x) for x in np.asarray(sv @ qv)),
                        strict=True))
        return [replace(c, score=c.score + 4.0 * sims[id(c)]) if id(c) in sims
                else replace(c, score=c.score - 10.0) for c in cands]
