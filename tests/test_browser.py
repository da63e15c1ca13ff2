"""End to end as a staff member would use it: `python app.py` with the real e5 model, then
Debian chromium (driven by Playwright) asks in the chat, reads the cited figure, and opens the
article view at the cited passage.

Screenshots (chat.png, article.png) and browser_timing.json go to a temporary folder, so a
test run never changes the repository. To refresh the checked-in ones in eval/screenshots/,
run `bash scripts/screenshots.sh`, which sets RAG_SCREENSHOTS_DIR to that folder.

Needs /usr/bin/chromium (`bash scripts/install_browser.sh`); it is never skipped.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO, copy_corpus, require_model

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# Read at import: the autouse isolated_home fixture clears every RAG_* variable before a test.
SHOTS_DIR = os.environ.get("RAG_SCREENSHOTS_DIR")
STARTUP_TIMEOUT = 600  # first start builds the index with the real model on 2 cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url + "/api/health", timeout=5) as r:
            return json.loads(r.read())
    except Exception:  # not up yet (refused) or 503 while the index is being built
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_model()
    home = tmp_path_factory.mktemp("browserhome")
    copy_corpus(home / "corpus")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_HOME=str(home), RAG_PORT=str(port), RAG_HOST="127.0.0.1",
               RAG_MODELS_DIR=str(REPO / "models"), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1")
    log_path = home / "server.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=home, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            h = _health(url)
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


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """The folder for screenshots: $RAG_SCREENSHOTS_DIR when set, else a temporary one."""
    path = Path(SHOTS_DIR).resolve() if SHOTS_DIR else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots -> {path}")
    return path


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing; run `bash scripts/install_browser.sh`.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _ask(page, question: str, n_answers: int) -> float:
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


def test_chat_answer_with_citation_and_article_view(server, browser, shots):
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page.goto(server + "/")
    page.wait_for_selector("#question textarea", timeout=60_000)
    assert "无需登录" in page.inner_text("body")

    seconds = _ask(page, "海珠2026年大模型目标是多少", 1)
    answer = page.locator("#chat [data-testid='bot']").last.inner_text()
    print(f"submit -> answer in the browser: {seconds:.2f} s")
    assert "200" in answer, answer
    assert "[1]" in answer, answer
    card = page.locator("#sources .src").first
    card.wait_for(state="visible")
    assert card.locator("mark").count() >= 1
    assert "海珠" in page.inner_text("#sources")
    page.screenshot(path=str(shots / "chat.png"), full_page=True)
    server_s = re.search(r"用时 ([\d.]+) 秒", answer)
    (shots / "browser_timing.json").write_text(json.dumps(
        {"question": "海珠2026年大模型目标是多少", "submit_to_answer_s": round(seconds, 3),
         "server_answer_s": float(server_s.group(1)) if server_s else None},
        ensure_ascii=False) + "\n")

    href = card.locator("a.src-open").get_attribute("href")
    assert href and href.startswith("/article/") and "start=" in href
    art = browser.new_page(viewport={"width": 1200, "height": 800}, locale="zh-CN")
    art.goto(server + href)
    hl = art.locator("mark#hl")
    hl.wait_for(state="visible")
    assert hl.is_visible() and hl.inner_text().strip()
    # scrolled into view: the mark is inside the viewport
    box = hl.bounding_box()
    assert box is not None and 0 <= box["y"] < 800
    art.screenshot(path=str(shots / "article.png"))
    art.close()

    # A question containing markup shows as text and never runs.
    _ask(page, "<script>window.__pwned=1</script><b>火星</b>上有几座气象站", 2)  # made up
    assert page.evaluate("window.__pwned") is None
    assert "<script>window.__pwned=1</script>" in page.inner_text("#chat")
    page.close()
