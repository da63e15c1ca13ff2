"""Text rules shared by every stage: patterns (scripts, figures, years, sentences),
keyword tokens (jieba + domain dictionary), spelling correction and the EN->ZH glossary.
Word lists live in ``data/``."""
