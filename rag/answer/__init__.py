"""Answers: the extractive answerer (no LLM) and the optional LLM answerer with citation
checking."""
