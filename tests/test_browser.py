"""Loads the page in headless Chromium (Debian's binary, driven by playwright) and checks the tabs."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

TAB_LABELS = ["Long video", "First–last frame", "Pose animation", "Frame In/Out", "Interpolation", "Models", "Outputs"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("FRAME_STUDIO_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return exe


def _open(pw, profile: str):
    return pw.chromium.launch_persistent_context(profile, executable_path=_chromium(), headless=True,
                                                 args=CHROMIUM_ARGS)


def test_outputs_tab_loads_a_past_job_back_into_its_tab(live_server, tmp_path: Path) -> None:
    from conftest import moving_square_frames
    from gradio_client import Client, handle_file
    from playwright.sync_api import sync_playwright

    from studio.video_io import write_mp4

    url, _ = live_server
    src = write_mp4(moving_square_frames(n=3), tmp_path / "in.mp4", fps=10, crf=0)
    Client(url, verbose=False).predict(video=handle_file(str(src)), factor=5, method="flow", keep_duration=True,
                                       api_name="/interpolate")
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = _open(pw, profile)
        try:
            page = browser.new_page()
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("tab", name="Outputs").click()  # selecting the tab lists the jobs
            cell = page.get_by_text("interpolate", exact=True).locator("visible=true").first
            cell.wait_for(timeout=20_000)
            cell.click()
            page.locator("button:visible", has_text="Load these settings").click()
            factor = page.get_by_label("Factor (output frames per input interval)").first
            page.wait_for_function("() => document.querySelector('[role=tab][aria-selected=true]')"
                                   ".textContent.includes('Interpolation')", timeout=20_000)
            assert factor.input_value() == "5"
        finally:
            browser.close()


def test_page_renders_every_tab_and_tiny_banner(live_server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = live_server
    exe = _chromium()
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = pw.chromium.launch_persistent_context(profile, executable_path=exe, headless=True,
                                                        args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("tab", name="Interpolation").wait_for(timeout=30_000)
            for label in TAB_LABELS:
                assert page.get_by_role("tab", name=label).count() >= 1, label
            assert page.get_by_text("Generated videos are noise").count() >= 1
            page.get_by_role("tab", name="Models").click()
            page.get_by_text("framepack-f1").first.wait_for(timeout=10_000)
            shot = tmp_path / "studio.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            keep = os.environ.get("FRAME_STUDIO_SCREENSHOT")
            if keep:
                shutil.copy(shot, keep)
        finally:
            browser.close()


def test_first_last_tab_runs_a_tiny_job_and_shows_preview_and_result(live_server, tmp_path: Path) -> None:
    """Upload two images, press Generate: the flow-morph preview and then the model's video appear
    (tiny random weights: the video is noise; the morph is real)."""
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    url, _ = live_server
    images = []
    for seed in (1, 2):
        path = tmp_path / f"frame{seed}.png"
        Image.fromarray((np.random.default_rng(seed).random((72, 96, 3)) * 255).astype(np.uint8)).save(path)
        images.append(str(path))
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = _open(pw, profile)
        try:
            page = browser.new_page()
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("tab", name="First–last frame").click()
            page.locator("#fl-first input[type=file]").set_input_files(images[0])
            page.locator("#fl-last input[type=file]").set_input_files(images[1])
            page.locator("#fl-first img").wait_for(timeout=20_000)
            page.locator("#fl-last img").wait_for(timeout=20_000)
            page.locator("#fl-generate").click()
            page.locator("#fl-morph video").wait_for(timeout=60_000)
            page.locator("#fl-result video").wait_for(timeout=180_000)
            page.get_by_text("Done:").first.wait_for(timeout=30_000)
            status = page.locator("#fl-status").inner_text()
            assert "frames at 16 fps" in status and "noise" in status
            assert page.locator("#fl-morph video").get_attribute("src")
        finally:
            browser.close()


def test_pose_tab_extracts_a_skeleton_and_runs_a_tiny_job(live_server, tmp_path: Path) -> None:
    """Upload a reference and a driving video: "Extract pose only" shows the skeleton; Animate shows
    the skeleton, the puppet preview and the model's video (tiny random weights: noise)."""
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from skimage import data

    from studio.video_io import write_mp4

    url, _ = live_server
    ref = data.astronaut()[::2, ::2].copy()
    Image.fromarray(ref).save(tmp_path / "ref.png")
    write_mp4([np.roll(ref, 3 * i, axis=1) for i in range(9)], tmp_path / "drive.mp4", 16)
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = _open(pw, profile)
        try:
            page = browser.new_page()
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("tab", name="Pose animation").click()
            page.locator("#pose-reference input[type=file]").set_input_files(str(tmp_path / "ref.png"))
            page.locator("#pose-driving input[type=file]").set_input_files(str(tmp_path / "drive.mp4"))
            page.locator("#pose-reference img").wait_for(timeout=20_000)
            page.locator("#pose-driving video").wait_for(timeout=20_000)
            page.locator("#pose-extract").click()
            page.get_by_text("Poses: 9 of 9 frames").first.wait_for(timeout=120_000)
            assert page.locator("#pose-skeleton video").get_attribute("src")
            page.locator("#pose-generate").click()
            page.locator("#pose-puppet video").wait_for(timeout=120_000)
            page.locator("#pose-result video").wait_for(timeout=240_000)
            page.get_by_text("Done:").first.wait_for(timeout=30_000)
            status = page.locator("#pose-status").inner_text()
            assert "frames at 16 fps" in status and "noise" in status
        finally:
            browser.close()



def test_frame_inout_tab_draws_trajectories_by_clicking_and_runs_a_tiny_job(live_server, tmp_path: Path) -> None:
    """Upload an image, expand the canvas, click four points for one object and two for a second,
    see them drawn in each object's colour, undo one, run the tiny job, see preview and result."""
    import io

    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    url, _ = live_server
    Image.fromarray(np.full((96, 128, 3), (40, 60, 200), np.uint8)).save(tmp_path / "img.png")

    def canvas_pixels(page) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(page.locator("#fio-canvas img").screenshot())).convert("RGB"))

    def count(pixels: np.ndarray, rgb: tuple[int, int, int]) -> int:
        return int((np.abs(pixels.astype(int) - rgb).sum(axis=2) < 60).sum())

    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = _open(pw, profile)
        try:
            page = browser.new_page()
            page.set_viewport_size({"width": 1400, "height": 1800})
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_role("tab", name="Frame In/Out").click()
            page.locator("#fio-image input[type=file]").set_input_files(str(tmp_path / "img.png"))
            page.locator("#fio-canvas img").wait_for(timeout=30_000)
            page.get_by_role("button", name="Expand left").click()
            page.wait_for_timeout(2000)
            before = canvas_pixels(page)
            img = page.locator("#fio-canvas img")

            def click(fx: float, fy: float, points: str) -> None:
                # The picture sits centred in the <img> box at its aspect ratio: aim inside it, once the
                # redrawn picture has loaded (a new src has no natural size until then).
                page.wait_for_function("() => { const e = document.querySelector('#fio-canvas img');"
                                       " return e !== null && e.complete && e.naturalWidth > 0; }", timeout=30_000)
                box = img.bounding_box()
                natural = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
                scale = min(box["width"] / natural[0], box["height"] / natural[1], 1)
                left = box["x"] + (box["width"] - natural[0] * scale) / 2
                top = box["y"] + (box["height"] - natural[1] * scale) / 2
                page.mouse.click(left + natural[0] * scale * fx, top + natural[1] * scale * fy)
                page.get_by_text(points).wait_for(timeout=30_000)

            for i, fx in enumerate((0.1, 0.3, 0.5, 0.7)):
                click(fx, 0.4, f"object 1: {i + 1} points")
            page.locator("#fio-new-object").click()
            page.get_by_text("Drawing object 2").wait_for(timeout=30_000)
            for i, fx in enumerate((0.6, 0.9)):
                click(fx, 0.7, f"object 2: {i + 1} points")
            page.wait_for_timeout(1000)
            after = canvas_pixels(page)
            assert count(after, (255, 0, 0)) > count(before, (255, 0, 0)) + 20     # object 1 in red
            assert count(after, (255, 255, 0)) > count(before, (255, 255, 0)) + 20  # object 2 in yellow
            page.locator("#fio-undo").click()
            page.get_by_text("object 2: 1 points").wait_for(timeout=30_000)
            page.locator("#fio-generate").click()
            page.locator("#fio-preview video").wait_for(timeout=120_000)
            page.locator("#fio-result video").wait_for(timeout=240_000)
            page.get_by_text("Done:").first.wait_for(timeout=30_000)
            assert "noise" in page.locator("#fio-status").inner_text()
        finally:
            browser.close()
