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
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from rag.text.patterns import CJK, FIGURE_TOKEN, NUMBER_RE

# \w matches Chinese characters too: a token needs one letter, digit or character.
__all__ = ["STOPWORDS", "Tokenizer", "default_tokenizer", "tokens"]

_WORDISH = re.compile(r"\w")

STOPWORDS = frozenset(
    """的 了 和 与 及 或 在 是 为 对 将 把 被 从 到 等 也 都 就 而 并 其 之 以 于 上 中 下
    这 那 个 有 我 你 他 她 它 们 我们 他们 哪 哪些 哪个 什么 怎么 怎样 如何 多少 几 谁 吗 呢 吧 啊
    请问 一下 问 是否 还是 还 又 该 此 各 每 所 由 向 给 让 使 已 已经 要 会 能 可 可以
    the a an of to in on for and or is are was were be by with what which who when how
    much many does do did at as from that this it its""".split()
)


# Part-of-speech flags of words that never start or sit inside a name: prepositions,
# conjunctions, particles, pronouns, numerals, classifiers, modal and locative words.
_FUNCTION_TAGS = frozenset("pcurmqyef")
_WH_WORD = re.compile(r"哪|什么|多少|谁|几")
# The endings of a firm's name (not 平台, 中心, 联盟: "售后平台" is no firm).
_FIRM_SUFFIXES = frozenset(("公司", "集团", "科技", "重工", "电子", "电器", "医药", "传媒", "物流",
                            "能源", "通信", "银行"))


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
                    with resources.as_file(resources.files("rag.text") / "data" / "userdict.txt") as p:
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

    def tagged(self, text: str) -> tuple[tuple[str, str], ...]:
        """jieba words with their part-of-speech flags (cached: candidate sentences recur)."""
        return self._cached_tagged(unicodedata.normalize("NFKC", text))

    @lru_cache(maxsize=20_000)  # noqa: B019  (one shared tokenizer lives for the process)
    def _cached_tagged(self, text: str) -> tuple[tuple[str, str], ...]:
        from jieba import posseg  # lazy: part of jieba, loaded with the dictionary

        self._get()
        if self._pos is None:
            with self._lock:
                if self._pos is None:
                    self._pos = posseg.POSTokenizer(self._jieba)
        return tuple((p.word, p.flag) for p in self._pos.lcut(text))

    def entities(self, text: str) -> list[str]:
        """Place and organisation names in ``text`` (jieba POS ns/nt, the domain dictionary's
        tags), longest first without overlaps: what a question is *about*. (Not jieba's
        abbreviations, j: most are common words, 一共, 研发.) A phrase holding a question word
        (哪些项目) names nothing."""
        out = [w for w, flag in self.tagged(text)
               if (flag in ("ns", "nt") and len(w) >= 2 or flag == "nz" and len(w) >= 3)
               and CJK.match(w[0]) and not _WH_WORD.search(w)]
        return list(dict.fromkeys(out))

    def coined_names(self, text: str, suffixes: tuple[str, ...]) -> list[str]:
        """Organisation names jieba has never seen as names: an organisation suffix (科技,
        集团 …) after a stretch jieba could only guess at (one word missing from its
        dictionary, two or more single characters: "留形"+"科技", "极"+"飞"+"科技") or after a
        rare noun ("商汤"+"科技"). A common word before the suffix ("数字科技", "推动科技")
        is an ordinary phrase, not a name."""
        tagged = self._cached_tagged(unicodedata.normalize("NFKC", text))
        freq = self._get().FREQ
        out = []
        for i, (w, _) in enumerate(tagged):
            if w not in suffixes or i == 0:
                continue
            j = i
            while j > 0 and len(tagged[j - 1][0]) == 1 and CJK.match(tagged[j - 1][0]) \
                    and tagged[j - 1][1][:1] not in _FUNCTION_TAGS:
                j -= 1
            if i - j >= 2:
                stem = "".join(x for x, _ in tagged[j:i])
            else:
                prev, flag = tagged[i - 1]
                # a stem jieba does not know, or a rare noun it knows for another sense
                # (商汤, a dynasty, in 商汤科技); a common word before 科技 is a phrase (数字科技)
                rare = not freq.get(prev) or (
                    flag in ("n", "nz", "nr") and freq.get(prev, 0) < 500
                    and w in _FIRM_SUFFIXES and prev not in self._domain())
                stem = prev if CJK.match(prev) and 2 <= len(prev) <= 4 and rare else ""
            if 2 <= len(stem) <= 4:
                out.append(stem + w)
        return out

    def persons(self, text: str) -> list[str]:
        """Personal names in ``text`` (jieba POS nr, two to four characters)."""
        return [w for w, flag in self.tagged(text)
                if flag == "nr" and 2 <= len(w) <= 4 and CJK.match(w[0])]

    @lru_cache(maxsize=1)  # noqa: B019  (one shared tokenizer lives for the process)
    def _domain(self) -> frozenset[str]:
        return frozenset(self.domain_words())

    def domain_words(self) -> list[str]:
        """Words of the domain dictionary (places, organisations, terms)."""
        return [r[0] for r in _dictionary_rows()]

    def frequency(self, word: str) -> int:
        """How often jieba's dictionary saw ``word`` (0 for a word it does not list)."""
        return self._get().FREQ.get(word) or 0

    def is_function_word(self, word: str) -> bool:
        """A preposition, particle, conjunction, pronoun, numeral or classifier (的, 是, 在)."""
        tagged = self.tagged(word)
        return len(tagged) == 1 and (tagged[0][1][:1] in _FUNCTION_TAGS or tagged[0][0] == "是")

    def domain_names(self) -> list[str]:
        """The organisation names of the domain dictionary (tagged nt): 某某科技, 某某集团."""
        return [r[0] for r in _dictionary_rows() if len(r) >= 3 and r[2] == "nt"]

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
        for m in FIGURE_TOKEN.finditer(text):
            fig = m.group(0)
            out.append(fig)
            bare = NUMBER_RE.match(fig).group(0)
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


@lru_cache(maxsize=1)
def _dictionary_rows() -> tuple[tuple[str, ...], ...]:
    """The domain dictionary's rows (word, frequency, tag), read once per process."""
    with resources.as_file(resources.files("rag.text") / "data" / "userdict.txt") as p:
        return tuple(tuple(line.split()) for line in p.read_text(encoding="utf-8").splitlines()
                     if line.strip())
