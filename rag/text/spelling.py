"""Query-side spelling: homophone typos fixed against the corpus vocabulary, and the Chinese
names an English question spells in pinyin.

pypinyin gives the toneless pinyin key of a word; users type by pinyin, so their typos share
the key of the word they meant (海株 -> 海珠).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from rag.text.patterns import CJK, CJK_RUN, has_cjk
from rag.text.tokenize import Tokenizer

__all__ = ["TypoCorrector"]


@lru_cache(maxsize=4096)
def _pinyin_key(s: str) -> str:
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(s))


# A question word is what the user typed on purpose, however a corpus word sounds like it
# (多远 is not a typo of 多元).
_ASKING = re.compile(r"哪|谁|几|什么|怎|多[少远久大长高重宽深快]")


def _in_order(short: str, name: str) -> bool:
    """Are the characters of ``short`` in ``name``, in order?"""
    it = iter(name)
    return all(ch in it for ch in short)


class TypoCorrector:
    """Query-side correction of homophone typos against the corpus vocabulary.

    Users type by pinyin, so their typos are mostly homophones: 海株 for 海珠, 琶州 for 琶洲,
    南莎 for 南沙. Only two kinds of stretch are touched, so correct questions stay unchanged:

    1. runs of characters that jieba (dictionary only, no HMM guessing) cannot join into any
       word, e.g. 海株 -> 海/株: replaced by a corpus or domain word with the same toneless
       pinyin, if exactly one exists;
    2. a dictionary word that never occurs in the corpus but sounds exactly like a domain
       place or organisation name (黄浦 -> 黄埔): replaced by that name.
    """

    def __init__(self, vocabulary: Iterable[str], corpus_text: str, tokenizer: Tokenizer,
                 min_count: int = 2) -> None:
        self._corpus = corpus_text
        self._tk = tokenizer
        # Count first, filter distinct words after: a 100k-chunk corpus has millions of tokens
        # but only tens of thousands of distinct words.
        counts_all = Counter(vocabulary)
        counts = {w: c for w, c in counts_all.items()
                  if 2 <= len(w) <= 4 and all(CJK.match(ch) for ch in w)}
        domain = [w for w in tokenizer.domain_words() if 2 <= len(w) <= 4
                  and all(CJK.match(c) for c in w)]
        by_key: dict[str, set[str]] = {}
        for w, c in counts.items():
            if c >= min_count:
                by_key.setdefault(_pinyin_key(w), set()).add(w)
        dom_key: dict[str, set[str]] = {}
        for w in domain:
            by_key.setdefault(_pinyin_key(w), set()).add(w)
            dom_key.setdefault(_pinyin_key(w), set()).add(w)
        self._by_key = by_key
        self._dom_key = dom_key
        self._words = tuple(counts)
        # Tokens the corpus is indexed with: "written as a word", unlike a substring of the
        # text that may run across two words (100家 + 底…).
        self._vocabulary = frozenset(counts_all)
        # Full names an abbreviation may stand for: long corpus words and domain names
        # (without a bracketed tail: 某某大学(广州) -> 某某大学) that the corpus writes.
        longs = {w for w in counts_all if len(w) >= 4 and all(CJK.match(ch) for ch in w)}
        longs |= {m.group(0) for w in tokenizer.domain_words()
                  if (m := CJK_RUN.match(w)) and len(m.group(0)) >= 4}
        self._names = tuple(sorted(w for w in longs if w in corpus_text))
        self._spelled: dict[str, set[str]] | None = None
        self._lock = threading.Lock()

    # A run of capitalised words in an English question: "Wang Jianguo", "Chen Xiaoming".
    _CAPS = re.compile(r"[A-Z][a-z]+(?:[ -][A-Z][a-z]+)*")

    def pinyin_names(self, query: str) -> list[str]:
        """Corpus words an English question spells in pinyin ("Wang Jianguo" -> 王建国).

        The glossary knows districts and organisations, not the people quoted in the
        articles; their names are written in pinyin in English. Every span of 1-3
        capitalised words is looked up, toneless and unspaced, among the corpus's 2-4
        character words (jieba joins most personal names into one word)."""
        if has_cjk(query):
            return []
        with self._lock:  # built once, on the first English question
            if self._spelled is None:
                spelled: dict[str, set[str]] = {}
                for w in self._words:
                    spelled.setdefault(_pinyin_key(w).replace(" ", ""), set()).add(w)
                self._spelled = spelled
        out: list[str] = []
        for m in self._CAPS.finditer(query):
            parts = re.split(r"[ -]", m.group(0).lower())
            i = 0
            while i < len(parts):
                # Longest span first, and a matched span is used up: "Wang Jianguo" is 王建国,
                # not also 建国 ("jianguo").
                for j in range(min(i + 3, len(parts)), i, -1):
                    key = "".join(parts[i:j])
                    # Short keys ("Li", "An") match too many words to mean anything.
                    found = sorted(self._spelled.get(key, ())) if len(key) >= 4 else []
                    if found:
                        out.extend(w for w in found if w not in out)
                        i = j
                        break
                else:
                    i += 1
        return out

    def correct(self, query: str) -> str:
        """Return the query with homophone typos replaced and the names it abbreviates
        written in full (or unchanged)."""
        fixed = self._correct_typos(query)
        for name in self._tk.entities(fixed):
            full = self.full_name(name)
            if full:
                fixed = fixed.replace(name, full)
        return fixed

    def _correct_typos(self, query: str) -> str:
        pieces = self._tk.plain_cut(query)
        out: list[str] = []
        i = 0
        while i < len(pieces):
            w = pieces[i]
            if len(w) >= 2 and CJK.match(w[0]):
                cands = self._dom_key.get(_pinyin_key(w), set())
                # the dictionary lookup first: "not in corpus" scans up to 2M characters
                if len(cands) == 1 and w not in self._corpus:  # rule 2
                    out.append(next(iter(cands)))
                    i += 1
                    continue
            if len(w) == 1 and CJK.match(w):
                j = i
                while j < len(pieces) and len(pieces[j]) == 1 and CJK.match(pieces[j]):
                    j += 1
                run = "".join(pieces[i:j])
                prev = out[-1] if out else ""
                fixed = self._fix_run(run)
                if fixed == run and len(run) == 1 and self._rare_unwritten(prev) \
                        and not self._tk.is_function_word(run):
                    # Rule 3: jieba drew a word boundary through the typo (多少家底空: 家底 +
                    # 空 for 低空): the previous word's last character may belong to the run.
                    joined = self._fix_run(prev[-1] + run)
                    if joined != prev[-1] + run:
                        out[-1], fixed = prev[:-1], joined
                out.append(fixed)
                i = j
                continue
            out.append(w)
            i += 1
        return "".join(out)

    def _grammar(self, seg: str) -> bool:
        """A stretch holding a particle (时的, 了解) or opening with a classifier (个字): words
        around the grammar of the sentence, not a misspelt name (时的 is not 使得)."""
        tags = [self._tk.tagged(ch)[0][1] for ch in seg]
        return any(t.startswith("u") for t in tags) or tags[0][:1] in ("q", "m")

    def _rare_unwritten(self, word: str) -> bool:
        """A word of two or more Chinese characters that the corpus never uses as a word and
        jieba rarely sees (家底): a likely half of a typo, not a word the user meant."""
        return (len(word) >= 2 and all(CJK.match(ch) for ch in word)
                and word not in self._vocabulary and self._tk.frequency(word) < 200)

    def full_name(self, short: str) -> str:
        """The one name the articles write that ``short`` abbreviates, or "".

        An abbreviation keeps characters of its name in order, starting in the name's first
        two (港科大 for 香港科技大学, 北大 for 北京大学). Only a short form the corpus never
        writes is read so, and only when exactly one written name fits."""
        if len(short) < 2 or short in self._corpus:
            return ""
        found = [n for n in self._names
                 if len(n) > len(short) and short[0] in n[:2] and _in_order(short, n)]
        # A name and a longer one holding it (某某大学, 某某大学附属医院): the shortest.
        found = [n for n in found if not any(m != n and m in n for m in found)]
        return found[0] if len(found) == 1 else ""

    def _fix_run(self, run: str) -> str:
        """Rule 1 inside a run of unjoinable characters, longest stretch first."""
        out, i = run, 0
        while i < len(out):
            for n in (4, 3, 2):
                seg = out[i : i + n]
                if len(seg) < n:
                    continue
                cands = self._by_key.get(_pinyin_key(seg), set())
                if len(cands) == 1 and seg not in self._corpus and not _ASKING.search(seg) \
                        and not self._grammar(seg):
                    out = out[:i] + next(iter(cands)) + out[i + n :]
                    i += n - 1
                    break
            i += 1
        return out
