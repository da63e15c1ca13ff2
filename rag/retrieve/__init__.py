"""Retrieval: query preparation (typo correction, English glossary), dense and keyword search,
fusion, sentence-level boosts, article and date filters."""
