"""What an answer says when the articles do not answer: one text per language, shared by the
extractive and the LLM answerer so a refusal reads the same in either mode."""

from __future__ import annotations

from rag.text.patterns import is_english

__all__ = ["LLM_NOT_ASKED", "OTHER_YEAR", "REFUSAL_EN", "REFUSAL_PART", "REFUSAL_ZH", "refusal_for"]

REFUSAL_ZH = "资料中没有找到这个问题的答案。"
# A question's 今年/去年 read against today, answered by a statement of another year.
OTHER_YEAR = "问题中的“{word}”按{year}年理解,资料中没有{year}年的这项内容;以下是{other}年的。"
# LLM mode, when no sentence passed the evidence checks: the LLM was not asked.
LLM_NOT_ASKED = "资料中没有能支持回答的句子,未请 LLM 作答。"
REFUSAL_EN = "The articles do not contain the answer to this question."
# One part of a question that asks several things, when the articles do not answer it.
REFUSAL_PART = "(这一问资料中没有找到答案。)"


def refusal_for(question: str) -> str:
    """The refusal in the question's language."""
    return REFUSAL_EN if is_english(question) else REFUSAL_ZH
