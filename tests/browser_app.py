"""What the browser tests share: start `python app.py` in a temporary RAG_HOME with the real
e5 model and wait until it is healthy, launch Debian chromium through Playwright, and pick
the screenshot folder ($RAG_SCREENSHOTS_DIR, set by scripts/screenshots.sh, else a
temporary one, so a plain test run never changes the repository)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, copy_corpus, require_model

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# Read at import: the autouse isolated_home fixture clears every RAG_* variable before a test.
SHOTS_DIR = os.environ.get("RAG_SCREENSHOTS_DIR")
STARTUP_TIMEOUT = 600  # first start builds the index with the real model on 2 cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "/api/health", timeout=5) as r:
            return json.loads(r.read())
    except Exception:  # not up yet (refused) or 503 while the index is being built
        return None


def app_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment app.py and `rag` run with: this home, the repo's model, offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(home), RAG_MODELS_DIR=str(REPO / "models"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", **extra)
    return env


@contextlib.contextmanager
def running_app(home: Path) -> Iterator[str]:
    """`python app.py` over a copy of the corpus in ``home``; yields its URL once healthy."""
    require_model()
    copy_corpus(home / "corpus")
    port = free_port()
    log_path = home / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=home,
                            env=app_env(home, RAG_PORT=str(port), RAG_HOST="127.0.0.1"),
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            h = health(url)
            if h and h.get("status") == "ok":
                break
            if proc.poll() is not None or time.time() - t0 > STARTUP_TIMEOUT:
                pytest.fail("app.py did not become healthy; log tail:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            time.sleep(1)
        print(f"\nserver healthy after {time.time() - t0:.1f} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def shots_dir(tmp_path_factory) -> Path:
    """The folder for screenshots: $RAG_SCREENSHOTS_DIR when set, else a temporary one."""
    path = Path(SHOTS_DIR).resolve() if SHOTS_DIR else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots -> {path}")
    return path


@contextlib.contextmanager
def chromium() -> Iterator:
    """Debian chromium driven by Playwright; never skipped when missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run `bash scripts/install_browser.sh`.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def ask(page, question: str, n_answers: int) -> float:
    """Type a question, send it, wait until answer number ``n_answers`` is final; seconds."""
    page.fill("#question textarea", question)
    t0 = time.perf_counter()
    page.click("#send")
    # The answer is final when its "用时" line (added with the Answer) is shown.
    page.wait_for_function(
        """([n]) => {
            const b = document.querySelectorAll("#chat [data-testid='bot']");
            return b.length >= n && b[n - 1].innerText.includes("用时");
        }""", arg=[n_answers], timeout=120_000)
    return time.perf_counter() - t0
