"""HTTP Basic login for the staff app, configured by ``RAG_AUTH="user:pass,user2:pass2"``.

An empty ``RAG_AUTH`` means no login. The REST API checks credentials with the dependency
from :func:`user_check`; the Gradio UI gets the same pairs as its login list.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence

from fastapi import Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from rag.errors import InputError

__all__ = ["Unauthorized", "parse_auth", "user_check"]

_BASIC = HTTPBasic(auto_error=False, realm="rag")


class Unauthorized(Exception):
    """No or wrong credentials; the app answers 401 with a ``WWW-Authenticate`` header."""


def parse_auth(spec: str) -> list[tuple[str, str]]:
    """``"user:pass,user2:pass2"`` -> ``[("user", "pass"), ("user2", "pass2")]``."""
    pairs = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        user, sep, pw = item.partition(":")
        if not sep or not user or not pw:
            raise InputError(f"RAG_AUTH entry {user!r} is not 'user:password'; fix RAG_AUTH.")
        pairs.append((user, pw))
    return pairs


def user_check(users: Sequence[tuple[str, str]]) -> Callable[..., None]:
    """A FastAPI dependency that raises :class:`Unauthorized` unless the request carries one
    of ``users``' credentials; with no users it lets every request through."""

    # Depends() as a default is FastAPI's idiom; a local Annotated alias would not resolve
    # under `from __future__ import annotations`.
    def require_user(creds: HTTPBasicCredentials | None = Depends(_BASIC)) -> None:  # noqa: B008
        if not users:
            return
        if creds is not None:
            for u, p in users:
                # compare_digest on both so timing does not reveal which one was wrong
                ok_u = secrets.compare_digest(creds.username.encode(), u.encode())
                ok_p = secrets.compare_digest(creds.password.encode(), p.encode())
                if ok_u and ok_p:
                    return
        raise Unauthorized()

    return require_user
