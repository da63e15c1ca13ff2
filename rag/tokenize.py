"""Keyword tokens for BM25 and for answer scoring: jieba + a domain dictionary.

``tokens("海珠区2026年新增大模型备案超200个")`` ->
``["海珠", "海珠区", "2026年", "2026", "新增", "大模型", "模型", "备案", "超", "200个", "200"]``
(order aside): jieba's search mode adds the short words inside long ones, figures are kept
whole with their unit *and* as a bare number, punctuation and stop words are dropped, Latin is
lower-cased.

jieba builds its prefix dictionary on first use (about a second); ``Tokenizer`` does that once,
lazily, behind a lock, never at import.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

# A figure with an optional multiplier and unit: 1000万元, 307.5亿元, 45.3%, 6000P, 2026年, 超200个
# keeps "200个" whole so "200" alone and "200个" both match.
_UNITS = (
    "万平方米|平方米|万载重吨|载重吨|亿元|万元|千元|元|个百分点|个|家|人|名|项|件|款|台|支|条|"
    "年|月|日|号|天|小时|公里|万吨|吨|万斤|斤|倍|届|户|场|次|P|%"
)
_FIGURE = re.compile(rf"\d+(?:\.\d+)?(?:[万亿千百])?(?:{_UNITS})?")
_CJK = re.compile(r"[\u3400-\u9fff]")
_WORDISH = re.compile(r"[\w\u3400-\u9fff]", re.UNICODE)

STOPWORDS = frozenset(
    """的 了 和 与 及 或 在 是 为 对 将 把 被 从 到 等 也 都 就 而 并 其 之 以 于 上 中 下
    这 那 个 有 我 你 他 她 它 们 我们 他们 哪 哪些 哪个 什么 怎么 怎样 如何 多少 几 谁 吗 呢 吧 啊
    请问 一下 问 是否 还是 还 又 该 此 各 每 所 由 向 给 让 使 已 已经 要 会 能 可 可以
    the a an of to in on for and or is are was were be by with what which who when how
    much many does do did at as from that this it its""".split()
)


class Tokenizer:
    """Lazily initialised jieba tokenizer with the domain dictionary."""

    def __init__(self, extra_words: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._jieba = None
        self._pos = None
        self._extra = tuple(extra_words)

    def _get(self):
        if self._jieba is None:
            with self._lock:
                if self._jieba is None:
                    import jieba

                    jieba.setLogLevel(60)  # its "Building prefix dict" chatter is noise
                    tk = jieba.Tokenizer()
                    with resources.as_file(resources.files("rag") / "data" / "userdict.txt") as p:
                        tk.load_userdict(str(p))
                    for w in self._extra:
                        tk.add_word(w)
                    self._jieba = tk
        return self._jieba

    def words(self, text: str) -> list[str]:
        """jieba search-mode words, including punctuation (callers filter)."""
        return list(self._get().cut_for_search(text))

    def plain_cut(self, text: str) -> list[str]:
        """jieba precise mode without HMM: unknown stretches come out as single characters."""
        return list(self._get().cut(text, HMM=False))

    def entities(self, text: str) -> list[str]:
        """Place and organisation names in ``text`` (jieba POS ns/nt, the domain dictionary's
        tags), longest first without overlaps: what a question is *about*."""
        from jieba import posseg

        self._get()
        if self._pos is None:
            with self._lock:
                if self._pos is None:
                    self._pos = posseg.POSTokenizer(self._jieba)
        out = []
        for w, flag in self._pos.lcut(unicodedata.normalize("NFKC", text)):
            if flag in ("ns", "nt") and len(w) >= 2 and _CJK.match(w[0]):
                out.append(w)
        return list(dict.fromkeys(out))

    _WH = re.compile(r"(是多少|有多少|多少|是谁|是哪|哪些|哪个|哪家|哪位|几|是什么|什么)")

    def focus_noun(self, question: str) -> str:
        """The noun a question asks about: the last 2+ character noun before the question word,
        e.g. "海珠区人工智能发展局的局长是谁" -> "局长". Empty when there is none."""

        m = self._WH.search(question)
        if not m:
            return ""
        head = question[: m.start()]
        self.entities("")  # initialises the POS tokenizer
        nouns = [w for w, f in self._pos.lcut(head)
                 if f in ("n", "nz", "vn", "nr") and len(w) >= 2 and _CJK.match(w[0])
                 and w not in STOPWORDS]
        return nouns[-1] if nouns else ""

    def domain_words(self) -> list[str]:
        """Words of the domain dictionary (places, organisations, terms)."""
        with resources.as_file(resources.files("rag") / "data" / "userdict.txt") as p:
            return [line.split()[0] for line in p.read_text(encoding="utf-8").splitlines()
                    if line.strip()]

    def tokens(self, text: str) -> list[str]:
        """Index/query tokens: words and figures, no punctuation or stop words."""
        # The answerer tokenises the same candidate sentences for every question: cache them.
        return list(self._cached_tokens(text))

    @lru_cache(maxsize=50_000)  # noqa: B019  (one shared tokenizer lives for the process)
    def _cached_tokens(self, text: str) -> tuple[str, ...]:
        return tuple(self._tokens(text))

    def _tokens(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text)
        out: list[str] = []
        for m in _FIGURE.finditer(text):
            fig = m.group(0)
            out.append(fig)
            bare = re.match(r"\d+(?:\.\d+)?", fig).group(0)
            if bare != fig:
                out.append(bare)
        for w in self.words(text):
            w = w.strip().lower()
            if not w or w in STOPWORDS or not _WORDISH.search(w):
                continue
            if w[0].isdigit():
                continue  # figures were added whole above
            out.append(w)
        return out


_DEFAULT: Tokenizer | None = None
_DEFAULT_LOCK = threading.Lock()


def default_tokenizer() -> Tokenizer:
    """The shared tokenizer (jieba's dictionary is ~50 MB of Python objects: build it once)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Tokenizer()
        return _DEFAULT


def tokens(text: str) -> list[str]:
    """Shortcut for ``default_tokenizer().tokens(text)``."""
    return default_tokenizer().tokens(text)


_GLOSSARY: list[tuple[re.Pattern, str]] | None = None


def expand_english(query: str, names: Iterable[str] = ()) -> str:
    """Append the Chinese names of domain terms an English query uses.

    ``expand_english("Nansha AI subsidy")`` -> ``"Nansha AI subsidy 南沙 人工智能 补贴 扶持"``.
    Keyword search cannot match English words against Chinese articles; the glossary
    (``rag/data/glossary.tsv``: districts, parks, organisations, policy terms) bridges that.
    ``names`` (the corpus words the query spells in pinyin, ``TypoCorrector.pinyin_names``)
    are appended too. Queries with Chinese characters are returned unchanged.
    """
    global _GLOSSARY
    if _CJK.search(query):
        return query
    if _GLOSSARY is None:
        rows = []
        text = (resources.files("rag") / "data" / "glossary.tsv").read_text(encoding="utf-8")
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            en, zh = line.split("\t", 1)
            rows.append((re.compile(rf"(?<![a-z]){re.escape(en.strip())}(?![a-z])"), zh.strip()))
        # Longest terms first, so "large model" wins over "model".
        rows.sort(key=lambda r: -len(r[0].pattern))
        _GLOSSARY = rows
    low = query.lower()
    added: list[str] = []
    for pat, zh in _GLOSSARY:
        if pat.search(low):
            low = pat.sub(" ", low)  # a phrase consumed by a longer term is not matched again
            added.extend(w for w in zh.split() if w not in added)
    added.extend(w for w in names if w not in added)
    return f"{query} {' '.join(added)}" if added else query


@lru_cache(maxsize=4096)
def _pinyin_key(s: str) -> str:
    from pypinyin import lazy_pinyin

    return " ".join(lazy_pinyin(s))


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
        counts = {w: c for w, c in Counter(vocabulary).items()
                  if 2 <= len(w) <= 4 and all(_CJK.match(ch) for ch in w)}
        domain = [w for w in tokenizer.domain_words() if 2 <= len(w) <= 4
                  and all(_CJK.match(c) for c in w)]
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
        if _CJK.search(query):
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
        """Return the query with homophone typos replaced (or unchanged)."""
        pieces = self._tk.plain_cut(query)
        out: list[str] = []
        i = 0
        while i < len(pieces):
            w = pieces[i]
            if len(w) >= 2 and _CJK.match(w[0]):
                cands = self._dom_key.get(_pinyin_key(w), set())
                # the dictionary lookup first: "not in corpus" scans up to 2M characters
                if len(cands) == 1 and w not in self._corpus:  # rule 2
                    out.append(next(iter(cands)))
                    i += 1
                    continue
            if len(w) == 1 and _CJK.match(w):
                j = i
                while j < len(pieces) and len(pieces[j]) == 1 and _CJK.match(pieces[j]):
                    j += 1
                out.append(self._fix_run("".join(pieces[i:j])))
                i = j
                continue
            out.append(w)
            i += 1
        return "".join(out)

    def _fix_run(self, run: str) -> str:
        """Rule 1 inside a run of unjoinable characters, longest stretch first."""
        out, i = run, 0
        while i < len(out):
            for n in (4, 3, 2):
                seg = out[i : i + n]
                if len(seg) < n:
                    continue
                cands = self._by_key.get(_pinyin_key(seg), set())
                if len(cands) == 1 and seg not in self._corpus:
                    out = out[:i] + next(iter(cands)) + out[i + n :]
                    i += n - 1
                    break
            i += 1
        return out
