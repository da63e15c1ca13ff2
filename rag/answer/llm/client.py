"""A minimal client for OpenAI-compatible chat servers, with an overall deadline."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator

import httpx

from rag.errors import LLMError
from rag.settings import Settings

__all__ = ["LLMClient"]

# ------------------------------------------------------------------------- client

_DONE = object()


class LLMClient:
    """A minimal client for ``POST {base_url}/chat/completions`` (OpenAI-compatible).

    ``base_url`` includes the API prefix, e.g. ``http://127.0.0.1:8000/v1``. ``timeout``
    is an overall deadline in seconds for a whole call (connect, wait and every streamed
    token), not a per-read limit, so a server that drips tokens cannot hold a user.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 30.0,
                 max_tokens: int = 256, temperature: float = 0.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = float(timeout)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @classmethod
    def from_settings(cls, settings: Settings, **kw) -> LLMClient:
        """A client for ``settings.llm_base_url``; raises ``LLMError`` when it is unset."""
        if not settings.llm_base_url:
            raise LLMError("No LLM server is configured; set RAG_LLM_BASE_URL to use one.")
        return cls(settings.llm_base_url, settings.llm_model, settings.llm_api_key,
                   settings.llm_timeout, **kw)

    def chat(self, messages: list[dict]) -> str:
        """Return the assistant's reply to ``messages``; raises ``LLMError``."""
        return "".join(self._run(messages, stream=False))

    def stream(self, messages: list[dict]) -> Iterator[str]:
        """Yield the reply to ``messages`` as text deltas (SSE); raises ``LLMError``."""
        return self._run(messages, stream=True)

    def _run(self, messages: list[dict], stream: bool) -> Iterator[str]:
        # The HTTP exchange runs in a daemon thread and hands results over a queue, so the
        # caller can give up at the deadline even while a socket read is still blocked.
        deadline = time.monotonic() + self.timeout
        q: queue.Queue = queue.Queue()
        cancel = threading.Event()
        payload = {"model": self.model, "messages": messages, "stream": stream,
                   "max_tokens": self.max_tokens, "temperature": self.temperature}
        worker = threading.Thread(target=self._exchange, args=(payload, q, cancel),
                                  daemon=True, name="llm-http")
        worker.start()
        try:
            while True:
                remaining = deadline - time.monotonic()
                try:
                    item = q.get(timeout=max(remaining, 0.0))
                except queue.Empty:
                    raise LLMError(
                        f"The LLM server did not finish within {self.timeout:g} s; "
                        "raise RAG_LLM_TIMEOUT or use a faster model."
                    ) from None
                if item is _DONE:
                    return
                if isinstance(item, LLMError):
                    raise item
                yield item
        finally:
            cancel.set()

    def _exchange(self, payload: dict, q: queue.Queue, cancel: threading.Event) -> None:
        try:
            # Per-phase limits equal the deadline; the consumer enforces the deadline itself.
            with httpx.Client(timeout=self.timeout, headers=self.headers) as http, \
                    http.stream("POST", self.url, json=payload) as resp:
                if resp.status_code != 200:
                    body = resp.read().decode("utf-8", "replace")[:200]
                    raise LLMError(f"The LLM server answered HTTP {resp.status_code} "
                                   f"({body.strip() or resp.reason_phrase}); check its log.")
                if payload["stream"]:
                    self._read_sse(resp, q, cancel)
                else:
                    q.put(_content(_json(resp.read()), "message"))
            q.put(_DONE)
        except LLMError as err:
            q.put(err)
        except httpx.TimeoutException:
            q.put(LLMError(f"The LLM server at {self.url} timed out; check that it is running."))
        except httpx.HTTPError as err:
            q.put(LLMError(f"Cannot reach the LLM server at {self.url} "
                           f"({type(err).__name__}); start it or fix RAG_LLM_BASE_URL."))

    @staticmethod
    def _read_sse(resp: httpx.Response, q: queue.Queue, cancel: threading.Event) -> None:
        # Server-sent events as OpenAI streams them: "data: {json}" lines, then "[DONE]".
        chunks = 0
        for line in resp.iter_lines():
            if cancel.is_set():
                return
            if not line.startswith("data:"):
                continue  # blank separators, comments (":"), event names
            data = line[5:].strip()
            if data == "[DONE]":
                break
            obj = _json(data)
            chunks += 1
            if obj.get("choices") == []:
                continue  # usage-only chunk some servers send at the end
            delta = _content(obj, "delta")
            if delta:
                q.put(delta)
        if not chunks:
            raise LLMError("The LLM server's stream held no data; check that it speaks the "
                           "OpenAI chat API.")


def _json(raw: bytes | str) -> dict:
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise LLMError("The LLM server answered with something that is not JSON; check "
                       "that RAG_LLM_BASE_URL points at an OpenAI-compatible API.") from None
    if not isinstance(obj, dict):
        raise LLMError("The LLM server answered JSON that is not an object; check the API.")
    return obj


def _content(obj: dict, key: str) -> str:
    try:
        content = obj["choices"][0][key].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LLMError(f"The LLM server's answer has no choices[0].{key}; check that it "
                       "speaks the OpenAI chat API.") from None
    if not isinstance(content, str):
        raise LLMError("The LLM server's answer content is not text; check the API.")
    return content

