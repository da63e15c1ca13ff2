"""Start the staff app: ``python app.py`` (RAG_HOST / RAG_PORT / RAG_AUTH configure it).

The REST API is under /api (OpenAPI at /docs), the article view at /article/{doc_id}, and
the Gradio UI at /.
"""

from rag.app.api import serve
from rag.settings import Settings

if __name__ == "__main__":
    serve(Settings.load())
