"""The whole feedback loop in chromium against `python app.py` with the real e5 model: ask a
question (made up for this test), 👎 it with a comment, open the 审核 tab, open the article
in review mode and select the evidence there, save; then `rag eval --questions
eval/reviewed.jsonl --history` scores that question, and the 审核 tab shows the figure and
the history plot.

The screenshot (review.png) goes to a temporary folder unless $RAG_SCREENSHOTS_DIR is set
(`bash scripts/screenshots.sh` sets it to eval/screenshots/).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from browser_app import app_env, ask, chromium, running_app, shots_dir

pytestmark = pytest.mark.browser

QUESTION = "海珠区那些算法备案一共有多少个"
DOC = "000_e71591340c5b937c"
EVIDENCE = "算法备案项目320个"
COMMENT = "请核对算法备案的数字"

SELECT = """(needle) => {
  const box = document.getElementById("text");
  const walk = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    const i = node.data.indexOf(needle);
    if (i >= 0) {
      const r = document.createRange();
      r.setStart(node, i);
      r.setEnd(node, i + needle.length);
      const s = window.getSelection();
      s.removeAllRanges();
      s.addRange(r);
      return true;
    }
  }
  return false;
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    home = tmp_path_factory.mktemp("reviewloop")
    with running_app(home) as url:
        yield url, home


def _wait_text(page, selector: str, text: str, timeout: int = 60_000) -> None:
    page.wait_for_function(
        "([sel, t]) => { const e = document.querySelector(sel); "
        "return e && e.innerText.includes(t); }", arg=[selector, text], timeout=timeout)


def _vote_down(page) -> None:
    page.fill("#question textarea", "")
    comment = page.get_by_label("反馈意见(可选)")
    comment.fill(COMMENT)
    page.locator("#chat button[aria-label='踩'], #chat button[aria-label='Dislike']").last.click()
    _wait_text(page, "#fb-status", "已记录反馈")


def _select_evidence(browser, url: str, href: str) -> None:
    """Open the article in review mode, select the evidence, click 用作证据."""
    art = browser.new_page(viewport={"width": 1200, "height": 800}, locale="zh-CN")
    art.goto(url + href)
    assert art.evaluate(SELECT, EVIDENCE)
    art.click("#rv-use:not([disabled])")
    _wait_text(art, "#rv-info", "已记录证据")
    art.close()


def test_feedback_is_reviewed_into_the_eval_and_scored(app, tmp_path_factory):
    url, home = app
    shots = shots_dir(tmp_path_factory)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1360, "height": 1000}, locale="zh-CN")
        page.goto(url + "/")
        page.wait_for_selector("#question textarea", timeout=60_000)
        ask(page, QUESTION, 1)
        _vote_down(page)
        logged = [json.loads(x) for x in (home / "eval" / "feedback.jsonl").read_text(
            encoding="utf-8").splitlines()]
        assert logged[-1]["vote"] == "down" and logged[-1]["comment"] == COMMENT
        assert logged[-1]["mode"] == "extractive" and logged[-1]["index_build"]

        page.get_by_role("tab", name="审核").click()
        page.locator("#rv-table [role=gridcell]").filter(has_text=QUESTION).first.click()
        _wait_text(page, "#rv-detail", COMMENT)
        assert page.input_value("#rv-question textarea") == QUESTION
        # A cited article when the answer cited the one holding the evidence, else the list.
        cited = page.locator(f"#rv-detail a.rv-cite[href*='{DOC}']")
        link = cited.first if cited.count() else page.locator(
            f"#rv-detail details a[href*='{DOC}']").first
        _select_evidence(browser, url, link.get_attribute("href"))

        page.click("#rv-load")
        _wait_text(page, "#rv-evidence", EVIDENCE)
        assert "320" in page.input_value("#rv-keys textarea")
        page.fill("#rv-keys textarea", "320")
        page.click("#rv-save")
        _wait_text(page, "#rv-status", "已保存")
        _wait_text(page, "#rv-detail", "已审核")
        (saved,) = [json.loads(x) for x in (home / "eval" / "reviewed.jsonl").read_text(
            encoding="utf-8").splitlines()]
        assert saved["question"] == QUESTION and saved["evidence"] == [EVIDENCE]
        assert saved["feedback_id"] == logged[-1]["id"] and saved["source"] == "feedback"

        # The CLI scores the reviewed set, as a user would run it in the project folder.
        run = subprocess.run([sys.executable, "-m", "rag.app.cli", "eval", "--questions",
                              "eval/reviewed.jsonl", "--methods", "hybrid", "--history"],
                             cwd=home, env=app_env(home), capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        summary = json.loads((home / "eval" / "report" / "reviewed" / "summary.json")
                             .read_text(encoding="utf-8"))
        assert summary["questions"]["n"] == 1
        accuracy = summary["answers"]["all"]["accuracy"]

        page.click("#rv-refresh")
        _wait_text(page, "#rv-figures", "reviewed")
        assert f"{accuracy:.3f}" in page.inner_text("#rv-figure-table")
        page.locator("#rv-plot img").wait_for(state="visible", timeout=30_000)
        page.locator("#rv-pending").get_by_role("checkbox").uncheck()  # show reviewed ones too
        _wait_text(page, "#rv-table", "已审核")
        page.screenshot(path=str(shots / "review.png"), full_page=True)
        page.close()
