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
import re

import pytest
from browser_app import ask, chromium, running_app, shots_dir

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("browserhome")) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return shots_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def test_chat_answer_with_citation_and_article_view(server, browser, shots):
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page.goto(server + "/")
    page.wait_for_selector("#question textarea", timeout=60_000)
    assert "无需登录" in page.inner_text("body")

    seconds = ask(page, "海珠2026年大模型目标是多少", 1)
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
    ask(page, "<script>window.__pwned=1</script><b>火星</b>上有几座气象站", 2)  # made up
    assert page.evaluate("window.__pwned") is None
    assert "<script>window.__pwned=1</script>" in page.inner_text("#chat")
    page.close()
