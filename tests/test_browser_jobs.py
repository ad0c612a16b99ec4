"""Jobs in a real browser (headless Chromium): another visitor's Stop does not end my job, a reload
finds my running job in "Your jobs" with its progress and then its result, and the panel cancels a
job and keeps its final status on screen. Tiny random weights: the videos are noise."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from test_browser import _open

PANEL_STATUS = "#jobs-status"


def _start_long_video(page, image: str, seconds: str) -> None:
    page.locator("#lv-image input[type=file]").set_input_files(image)
    page.locator("#lv-image img").wait_for(timeout=20_000)
    length = page.get_by_label("Video length (seconds)").first
    length.fill(seconds)
    length.press("Enter")
    page.locator("#lv-start").click()


def _panel_text(page) -> str:
    return page.locator(PANEL_STATUS).inner_text()


def test_jobs_belong_to_their_page_survive_a_reload_and_cancel_from_the_panel(live_server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = live_server
    image = tmp_path / "start.png"
    Image.fromarray((np.random.default_rng(9).random((64, 64, 3)) * 255).astype(np.uint8)).save(image)
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as pa, tempfile.TemporaryDirectory() as pb:
        mine, theirs = _open(pw, pa), _open(pw, pb)
        try:
            page = mine.new_page()
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            _start_long_video(page, str(image), "3")
            page.wait_for_function(f"() => (document.querySelector('{PANEL_STATUS}')?.innerText || '').includes('running')",
                                   timeout=120_000)
            # Another visitor presses Stop on the same tab: my job is not theirs to stop.
            other = theirs.new_page()
            other.goto(url, wait_until="domcontentloaded", timeout=60_000)
            other.locator("#lv-stop").click()
            other.get_by_text("Nothing of yours is running or queued here").first.wait_for(timeout=30_000)
            # I reload mid-job: the panel finds the job again and follows it to its result.
            page.reload(wait_until="domcontentloaded")
            page.wait_for_function(
                f"() => /running|done/.test((document.querySelector('{PANEL_STATUS}')?.innerText || ''))", timeout=60_000)
            page.wait_for_function(f"() => (document.querySelector('{PANEL_STATUS}')?.innerText || '').includes('done in')",
                                   timeout=300_000)
            page.locator("#jobs-video video").wait_for(timeout=30_000)
            assert "Long video" in page.locator("#jobs-table").inner_text()
            # A second job, cancelled from the panel: its final status stays on screen.
            _start_long_video(page, str(image), "3")
            page.wait_for_function(
                f"() => (document.querySelector('{PANEL_STATUS}')?.innerText || '').includes('running')", timeout=120_000)
            page.locator("#jobs-cancel").click()
            page.wait_for_function(
                f"() => (document.querySelector('{PANEL_STATUS}')?.innerText || '').includes('stopped after')", timeout=120_000)
            text = _panel_text(page)
            assert "sections" in text and ("the partial video is kept" in text or "nothing was finished" in text)
            page.wait_for_timeout(2500)  # a few panel refreshes later the final status is still shown
            assert "stopped after" in _panel_text(page)
            # The progress of the running job never hid the previews: no gradio overlay on the tab.
            assert page.locator("#lv-preview .eta-bar, #lv-result .eta-bar").count() == 0
        finally:
            mine.close()
            theirs.close()
