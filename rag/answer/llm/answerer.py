"""Optional generative answers from any OpenAI-compatible chat endpoint.

The extractive answerer is always there; this only adds a fluent answer on top of the same
retrieved passages, and falls back to the extractive one (with a visible note) whenever the
server is down, slow, or answers garbage.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence

from rag.answer.llm.citations import renumber, validate_citations
from rag.answer.llm.client import LLMClient
from rag.answer.llm.prompt import Passage, build_messages, is_refusal
from rag.answer.messages import refusal_for
from rag.errors import LLMError
from rag.types import Answer

__all__ = ["LLMAnswerer"]

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------- answerer

def _looks_like_text(text: str) -> bool:
    # Garbage = empty, or mostly replacement/control characters and punctuation.
    letters = sum(ch.isalnum() for ch in text)
    junk = sum(ch == "\ufffd" or unicodedata.category(ch) == "Cc" and ch not in "\n\t"
               for ch in text)
    return letters >= 2 and junk * 5 < len(text)


class LLMAnswerer:
    """Generate a cited answer with an ``LLMClient``, falling back to the extractive one.

    Every failure (server down, deadline passed, garbage or uncited answer) returns the
    ``fallback()`` answer with a visible note in Chinese, and is logged.
    """

    def __init__(self, client: LLMClient) -> None:
        self.client = client

    def answer(self, question: str, passages: Sequence[Passage],
               fallback: Callable[[], Answer]) -> Answer:
        """The LLM's validated answer to ``question``, or ``fallback()`` with a note."""
        result: Answer | None = None
        for item in self._generate(question, passages, fallback, stream=False):
            if isinstance(item, Answer):
                result = item
        assert result is not None
        return result

    def stream(self, question: str, passages: Sequence[Passage],
               fallback: Callable[[], Answer]) -> Iterator[str | Answer]:
        """Yield raw text deltas, then the final validated ``Answer`` (always last).

        The final answer's text supersedes the streamed deltas: its citation markers have
        been checked and renumbered.
        """
        return self._generate(question, passages, fallback, stream=True)

    def _generate(self, question, passages, fallback, stream: bool):
        passages = list(passages)
        t0 = time.monotonic()
        parts: list[str] = []
        try:
            if not passages:
                raise LLMError("no passages were retrieved")
            messages = build_messages(question, passages)
            if stream:
                for delta in self.client.stream(messages):
                    parts.append(delta)
                    yield delta
            else:
                parts.append(self.client.chat(messages))
        except LLMError as err:
            yield self._fallback(fallback, f"LLM 服务不可用(原因:{err})", err)
            return
        ms = (time.monotonic() - t0) * 1000
        final = self._finish(question, "".join(parts).strip(), passages, ms)
        yield final if isinstance(final, Answer) else self._fallback(fallback, final, None)

    def _finish(self, question: str, raw: str, passages: list[Passage],
                ms: float) -> Answer | str:
        """The validated Answer, or the reason (Chinese) why the text cannot be used."""
        if not _looks_like_text(raw):
            return f"LLM 返回的答案为空或无法识别(原文:{raw[:40]!r})"
        text, order = validate_citations(raw, passages)
        by_n = {p.n: p for p in passages}
        cites = tuple(dataclasses.replace(by_n[n], n=i) for i, n in enumerate(order, 1))
        refused = is_refusal(text)
        if refused:
            # Keep only the refusal sentence; related passages are offered as "possibly related".
            text = refusal_for(question)
            return Answer(question, text, (), True, "llm",
                          related=tuple(dataclasses.replace(p, n=i)
                                        for i, p in enumerate(passages, 1)),
                          timings_ms=(("llm", ms),))
        if not cites:
            return "LLM 的答案没有引用任何资料"
        return Answer(question, renumber(text, order), cites, False, "llm",
                      timings_ms=(("llm", ms),))

    @staticmethod
    def _fallback(fallback: Callable[[], Answer], reason: str, err: Exception | None) -> Answer:
        log.warning("LLM answer not used, falling back to extractive: %s", err or reason)
        base = fallback()
        note = f"{reason},以下为抽取式答案。"
        return dataclasses.replace(base, note=f"{note} {base.note}".strip())
