"""rag: cited question answering over Chinese articles, offline.

Stages, one module each: ingest/clean -> chunk -> embed -> index -> retrieve -> answer
-> eval. ``rag.pipeline.Pipeline`` wires them; ``rag.cli`` and ``app.py`` only call it.
Nothing here loads a model at import time.
"""

__version__ = "0.1.0"
