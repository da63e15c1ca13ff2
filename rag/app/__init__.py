"""The staff app and the command line, wired over one ``rag.pipeline.Pipeline``.

``api`` builds the FastAPI app (REST under /api, the article view) and mounts ``ui``, the
Gradio Blocks whose events live in ``handlers`` and whose HTML comes from ``panels``;
``present`` (links, dates, the article page), ``auth`` and ``feedback`` are shared by both;
``jsonio`` holds the JSON shapes the CLI and the API agree on; ``cli`` is ``rag``.
"""
