"""A synthetic corpus of any size, grown from the real chunks by deterministic perturbation.

Used by the scale test: N chunks with texts, titles, keyword tokens and vectors, e.g.
``perturb("海珠2026年新增200个。", rng, {"海珠": "南沙"}, 1, 1.5) -> "南沙2027年新增300个。"``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import InputError
from rag.index.snapshot import IndexSnapshot
from rag.text.patterns import CLOSERS, NUMBER_RE, SENTENCE_END, sentence_spans, split_sentences
from rag.text.tokenize import default_tokenizer
from rag.types import Chunk, DocMeta, Document

__all__ = ["synthetic_documents", "DISTRICTS", "NOISE_SIGMA", "SEED", "CachedTokens", "SyntheticCorpus", "perturb",
           "synthetic_corpus"]

SEED = 20260301
NOISE_SIGMA = 0.02  # per dimension: a perturbed copy keeps cosine ~0.93 to its original

# Guangzhou districts: swapping them is the perturbation that most changes what a chunk is
# "about" while keeping it a plausible article sentence.
DISTRICTS = ("海珠", "天河", "越秀", "荔湾", "白云", "黄埔", "番禺", "花都", "南沙", "从化", "增城")
_DISTRICT_RE = re.compile("|".join(DISTRICTS))
_SCALE_FACTORS = (0.8, 0.9, 1.1, 1.25, 1.5, 2.0)
_YEAR_SHIFTS = (-2, -1, 1, 2)


@dataclass(frozen=True)
class SyntheticCorpus:
    """N perturbed chunks: texts, titles, keyword tokens and vectors (row i = chunk i)."""

    texts: list[str]
    titles: list[str]
    base_rows: np.ndarray  # row of the real chunk each one was grown from
    tokens: list[list[str]]
    vectors: np.ndarray
    tokenize_seconds: float


def perturb(text: str, rng: random.Random, districts: dict[str, str] | None = None,
            year_shift: int | None = None, factor: float | None = None,
            shuffle: bool = True) -> str:
    """A plausible variant of ``text``: districts swapped, years shifted, other numbers
    scaled, sentences shuffled. Deterministic for a given ``rng`` state, e.g.
    ``perturb("海珠2026年新增200个。", r, {"海珠": "南沙"}, 1, 1.5)`` -> ``"南沙2027年新增300个。"``."""
    if districts is None:
        perm = list(DISTRICTS)
        rng.shuffle(perm)
        districts = dict(zip(DISTRICTS, perm, strict=True))
    dy = rng.choice(_YEAR_SHIFTS) if year_shift is None else year_shift
    f = rng.choice(_SCALE_FACTORS) if factor is None else factor

    def integer(s: str) -> str:
        n = int(s)
        if len(s) == 4 and 1990 <= n <= 2099:
            return str(n + dy)
        return str(max(1, round(n * f))) if n > 1 else s

    def number(m: re.Match) -> str:
        # Each run of digits changes on its own: 2.5 scales as 2 and 5, as it always has.
        return ".".join(integer(part) for part in m.group(0).split("."))

    out = _DISTRICT_RE.sub(lambda m: districts[m.group(0)], text)
    out = NUMBER_RE.sub(number, out)
    if shuffle:
        sents = _shuffle_units(out)
        if len(sents) > 1:
            rng.shuffle(sents)
            out = "".join(sents)
    return out


def _shuffle_units(text: str) -> list[str]:
    """``text`` cut after each sentence end (``rag.text.patterns``) into pieces that tile it.

    A piece ends only at a stop, so a heading or other paragraph without one travels with
    the sentence after it, line break included; that keeps the synthetic corpus the same
    as in earlier bench runs."""
    cuts = []
    for s, e in sentence_spans(text):
        body = text[s:e].rstrip(CLOSERS)
        if body and body[-1] in SENTENCE_END:
            cuts.append(e)
    starts = [0, *cuts]
    pieces = [text[a:b] for a, b in zip(starts, [*cuts, len(text)], strict=True)]
    return [p for p in pieces if p]


class CachedTokens:
    """Keyword tokens of a text, memoised per sentence.

    jieba never joins words across a sentence terminator or a newline (they are outside its
    Han blocks) and the figure regex stops there too, so the tokens of a text are the
    concatenation of its sentences' tokens. Perturbed copies reuse most sentences, which
    turns a 100k-chunk tokenisation from minutes into seconds; the result is the same
    multiset of tokens as ``Tokenizer.tokens(text)`` (tests check this).
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, list[str]] = {}

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text``, sentence by sentence."""
        out: list[str] = []
        for s in split_sentences(text):
            t = self.cache.get(s)
            if t is None:
                t = self.cache[s] = self.tokenizer.tokens(s)
            out.extend(t)
        return out


def synthetic_corpus(texts: Sequence[str], titles: Sequence[str], vectors: np.ndarray, n: int,
                     seed: int = SEED, sigma: float = NOISE_SIGMA,
                     tokenizer=None) -> SyntheticCorpus:
    """Grow ``n`` chunks from the real ones: row i copies real chunk ``i % len(texts)``.

    The first ``len(texts)`` rows are the real chunks unchanged (so every question still
    has its answer in the corpus); later rows are perturbed copies (:func:`perturb`, same
    mapping for title and text). Embedding 100k chunks with the real model would take about
    an hour on 2 cores, so a copy's vector is its original's plus Gaussian noise
    (``sigma`` per dimension), renormalised; the keyword index gets the perturbed text.
    """
    nb = len(texts)
    if nb == 0:
        raise InputError("The bench needs at least one real chunk to grow a synthetic corpus.")
    rows = np.arange(n) % nb
    out_texts: list[str] = []
    out_titles: list[str] = []
    for i in range(n):
        b = int(rows[i])
        if i < nb:
            out_texts.append(texts[b])
            out_titles.append(titles[b])
            continue
        rng = random.Random(seed * 1_000_003 + i)
        perm = list(DISTRICTS)
        rng.shuffle(perm)
        mapping = dict(zip(DISTRICTS, perm, strict=True))
        dy, f = rng.choice(_YEAR_SHIFTS), rng.choice(_SCALE_FACTORS)
        out_titles.append(perturb(titles[b], rng, mapping, dy, f, shuffle=False))
        out_texts.append(perturb(texts[b], rng, mapping, dy, f))
    vrng = np.random.default_rng(seed)
    vecs = np.asarray(vectors, dtype=np.float32)[rows].copy()
    if n > nb:
        noise = vrng.standard_normal((n - nb, vecs.shape[1]), dtype=np.float32) * sigma
        vecs[nb:] += noise
        del noise
        vecs[nb:] /= np.linalg.norm(vecs[nb:], axis=1, keepdims=True)
    tok = CachedTokens(tokenizer or default_tokenizer())
    t = time.perf_counter()
    tokens = [tok.tokens(f"{ti}\n{tx}") for ti, tx in zip(out_titles, out_texts, strict=True)]
    return SyntheticCorpus(out_texts, out_titles, rows, tokens, vecs, time.perf_counter() - t)


def synthetic_documents(base: IndexSnapshot,
                        syn: SyntheticCorpus) -> tuple[dict[str, Document], list[Chunk]]:
    """A snapshot's documents and chunks: one document per synthetic chunk (offsets hold)."""
    docs: dict[str, Document] = {}
    chunks: list[Chunk] = []
    for i, (text, title) in enumerate(zip(syn.texts, syn.titles, strict=True)):
        bm = base.docs[base.chunks[int(syn.base_rows[i])].doc_id].meta
        did = f"syn{i:06d}"
        docs[did] = Document(did, text, DocMeta(did, title, bm.date, source=bm.source),
                             ((0, len(text)),), ((0, len(text)),))
        chunks.append(Chunk(f"{did}#0", did, 0, len(text), text))
    return docs, chunks
