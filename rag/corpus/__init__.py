"""The corpus: reading files (formats), metadata, cleaning (clean, lines), loading documents,
adding files safely, and sentence-aware chunking."""
