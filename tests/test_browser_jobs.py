"""Jobs in a real browser (headless Chromium): another visitor's Stop does not end my job, a reload
finds my running job in "Your jobs" with its progress and then its result, and the panel cancels a
job and keeps its final status on screen. Tiny random weights: the videos are noise."""
from __future__ import annotations

import re
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
            src = page.locator("#jobs-video video").get_attribute("src")  # downloads carry the job's name
            assert re.search(r"/\d{4}-\d\d-\d\d_\d{6}-long_video-[0-9a-f]{6}\.mp4", src), src
            assert "Long video" in page.locator("#jobs-table").inner_text()
            # A second job, cancelled from the panel: its final status stays on screen.
            _start_long_video(page, str(image), "3")
            page.wait_for_function(
                f"() => (document.querySelector('{PANEL_STATUS}')?.innerText || '').includes('running')", timeout=120_000)
            # The latent preview of a 64 bucket is readable: a grid of frames, not an 8 px strip.
            # Measured inside one check: each step swaps in a new picture, which is 0x0 until it loads.
            size = page.wait_for_function(
                "() => { const i = document.querySelector('#lv-preview img');"
                " return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null; }",
                timeout=120_000).json_value()
            assert min(size) >= 240, size
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


def test_outputs_tab_shows_thumbnails_and_deletes_a_job(live_server, tmp_path: Path) -> None:
    from conftest import moving_square_frames
    from gradio_client import Client, handle_file
    from playwright.sync_api import sync_playwright

    from studio.video_io import write_mp4

    url, outputs = live_server
    src = write_mp4(moving_square_frames(n=3), tmp_path / "in.mp4", fps=10, crf=0)
    made = Client(url, verbose=False).predict(video=handle_file(str(src)), factor=7, method="flow",
                                              keep_duration=True, api_name="/interpolate")[2]
    job = next(p.parent for p in outputs.glob("*/*/settings.json") if p.parent.name in made)
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = _open(pw, profile)
        try:
            page = browser.new_page()
            page.on("dialog", lambda dialog: dialog.accept())  # "Delete this job and all its files?"
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("tab", name="Outputs").click()
            page.locator("#outputs-gallery img").first.wait_for(timeout=30_000)
            page.get_by_text(job.name, exact=True).locator("visible=true").first.click()
            page.locator("#outputs-delete").click()
            page.get_by_text(f"Deleted job {job.name}").first.wait_for(timeout=30_000)
            assert not job.exists()
        finally:
            browser.close()
