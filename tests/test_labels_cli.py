"""Labels that tell the truth (issue 14 item 10) and a terminal-friendly CLI (item 17).

Item 10: only jobs whose method runs model weights are called noise under --tiny (flow
interpolation and pose extraction are real); a tiny-mode memory plan says it is the full model's;
the Models tab says why Download is off and lists the tiny twins; failed jobs show their reason.
Item 17: a validation error is one line on stderr with exit code 2; the long-video image is
positional; `models` prints a header row; piped progress is one plain line per update.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from studio.env import StudioEnv
from studio.outputs import JobRecord
from studio.runner import drain, run_job
from studio.tasks import all_tasks
from studio.tasks.interpolate import InterpolateRequest

NOISE_NOTE = "noise"


def _cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m studio ...` with pipes for stdout and stderr (no terminal)."""
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def _image(tmp_path: Path) -> Path:
    path = tmp_path / "start.png"
    Image.fromarray((np.random.default_rng(3).random((72, 96, 3)) * 255).astype(np.uint8)).save(path)
    return path


def _only_settings(outputs: Path) -> dict:
    (settings,) = list(outputs.glob("*/*/settings.json"))
    return json.loads(settings.read_text())


# ---------------------------------------------------------------------------------- item 10: noise


def test_noise_is_decided_per_task_and_method(square_video: Path) -> None:
    """Item 10: tiny weights make model output noise; flow interpolation and pose extraction use none."""
    from studio.tasks.pose import ExtractPoseRequest

    tasks = all_tasks()
    tiny, full = StudioEnv(tiny=True), StudioEnv()
    flow = InterpolateRequest(video=str(square_video), method="flow")
    model = InterpolateRequest(video=str(square_video), method="ldf-vfi")
    assert tasks["interpolate"].output_is_noise(flow, tiny) is False
    assert tasks["interpolate"].output_is_noise(model, tiny) is True
    assert tasks["interpolate"].output_is_noise(model, full) is False
    assert tasks["extract_pose"].output_is_noise(ExtractPoseRequest(video=str(square_video)), tiny) is False


def test_flow_job_under_tiny_is_recorded_as_real(tmp_path: Path, square_video: Path) -> None:
    """Item 10: settings.json and the job record say a tiny-mode flow interpolation is not noise."""
    env = StudioEnv(outputs=tmp_path / "o", tiny=True)
    result = drain(run_job(all_tasks()["interpolate"], InterpolateRequest(video=str(square_video)), env))
    settings = json.loads((result.video.parent / "settings.json").read_text())
    assert settings["tiny_weights"] is True and settings["noise"] is False
    assert JobRecord(result.video.parent, settings).noise is False
    # A job written before the `noise` key existed keeps its old label.
    assert JobRecord(tmp_path, {"tiny_weights": True}).noise is True


def test_outputs_rows_label_noise_per_job_and_show_failure_reasons(tmp_path: Path) -> None:
    """Item 10: the Outputs list's noise column follows the job; failed/stopped jobs show why."""
    from studio.ui.tabs.outputs import COLUMNS, _rows

    jobs = [
        JobRecord(tmp_path / "flow", {"task": "interpolate", "status": "done", "tiny_weights": True,
                                      "noise": False}),
        JobRecord(tmp_path / "model", {"task": "long_video", "status": "done", "tiny_weights": True,
                                       "noise": True}),
        JobRecord(tmp_path / "failed", {"task": "long_video", "status": "failed", "tiny_weights": False,
                                        "noise": False, "message": "MissingWeightsError: no transformer"}),
        JobRecord(tmp_path / "stopped", {"task": "long_video", "status": "stopped", "message": "stopped by the user"}),
        JobRecord(tmp_path / "done", {"task": "long_video", "status": "done", "message": "ignored when done"}),
    ]
    rows = {row[0]: dict(zip(COLUMNS, row)) for row in _rows(jobs)}
    noise = next(c for c in COLUMNS if "noise" in c)
    assert "tiny" in noise and noise.startswith("noise")
    assert rows["flow"][noise] == "" and rows["model"][noise] == "yes"
    assert rows["failed"]["message"] == "MissingWeightsError: no transformer"
    assert rows["stopped"]["message"] == "stopped by the user"
    assert rows["done"]["message"] == ""


def test_cli_and_rerun_call_only_model_output_noise(tmp_path: Path, square_video: Path) -> None:
    """Item 10 and 17: a tiny flow interpolation and its rerun carry no noise note; a tiny
    long video (image given positionally) does; piped progress has no carriage returns."""
    outputs = tmp_path / "o"
    flow = _cli("interpolate", str(square_video), "--tiny", "--offline", "--outputs", str(outputs))
    assert flow.returncode == 0, flow.stderr
    assert NOISE_NOTE not in flow.stdout + flow.stderr
    settings = next(outputs.glob("*/*/settings.json"))
    again = _cli("rerun", str(settings), "--offline", "--outputs", str(tmp_path / "o2"))
    assert again.returncode == 0, again.stderr
    assert NOISE_NOTE not in again.stdout + again.stderr
    assert _only_settings(tmp_path / "o2")["noise"] is False

    video = _cli("long-video", str(_image(tmp_path)), "--prompt", "a red ball rolls", "--tiny", "--offline",
                 "--total-second-length", "1", "--latent-window-size", "3", "--steps", "2", "--bucket", "64",
                 "--outputs", str(tmp_path / "o3"))
    assert video.returncode == 0, video.stderr
    assert "note: tiny random weights were used; the video is noise" in video.stdout
    assert _only_settings(tmp_path / "o3")["request"]["input_image"] == "input_image.png"
    for proc in (flow, again, video):
        assert "\r" not in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------- item 10: plans


def test_tiny_mode_plan_is_labelled_as_the_full_model(tmp_path: Path) -> None:
    """Item 10: the plan a tab shows under --tiny is the full model's, said so on its first line;
    its verdict is the full model's, never a bare DOES NOT FIT for the tiny run."""
    from studio.planning import plan_for, plan_text
    from studio.ui.progress import plan_markdown

    plan = plan_for("framepack-tiny", 640, 640, 5.0, vram_gb=None, ram_gb=8)
    assert plan.preset == "framepack" and not plan.fits
    text = plan_text(plan)
    first = text.splitlines()[0]
    assert "plan for the full model 'framepack'" in first and "tiny mode runs tiny weights" in first
    verdict = next(line for line in text.splitlines() if "peak RAM" in line)
    assert verdict.endswith("the full model DOES NOT FIT here")
    assert "framepack-tiny at" not in text

    md = plan_markdown(StudioEnv(outputs=tmp_path, tiny=True), "framepack", 640, 640, seconds=5.0)
    assert "plan for the full model 'framepack' (tiny mode runs tiny weights" in md
    assert all(line.endswith("full model DOES NOT FIT here") for line in md.splitlines() if "DOES NOT FIT" in line)
    # Without --tiny nothing changes: the plan is the job's own.
    plain = plan_text(plan_for("framepack", 640, 640, 5.0, vram_gb=None, ram_gb=8))
    assert plain.startswith("Memory plan: framepack at") and plain.count("DOES NOT FIT") == 1


def test_cli_plan_of_a_tiny_preset_says_it_is_the_full_model() -> None:
    """Item 10: `python -m studio plan --preset framepack-tiny` prints the full model's plan, labelled."""
    proc = _cli("plan", "--preset", "framepack-tiny", "--ram", "8")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("plan for the full model 'framepack'")
    assert "full model DOES NOT FIT here" in proc.stdout


# ---------------------------------------------------------------------------------- item 10: models


def _blocks_of(env: StudioEnv):
    import gradio as gr

    from studio.ui.tabs import models

    with gr.Blocks() as demo:
        with gr.Tabs():
            models.build(env)
    return list(demo.blocks.values())


def test_models_tab_says_why_download_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 10: offline, the disabled Download button has the reason beside it."""
    import gradio as gr

    from studio.downloads import downloads_off_reason

    reason = "offline (--offline / HF_HUB_OFFLINE): downloads are off"
    blocks = _blocks_of(StudioEnv(outputs=tmp_path, offline=True))
    (button,) = [b for b in blocks if isinstance(b, gr.Button) and b.value == "Download"]
    assert button.interactive is False
    assert any(isinstance(b, gr.Markdown) and reason in str(b.value) for b in blocks)

    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert downloads_off_reason(StudioEnv(outputs=tmp_path)) is None
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub's own switch counts as offline too
    assert downloads_off_reason(StudioEnv(outputs=tmp_path)) == reason


def test_models_list_shows_tiny_twins_only_under_tiny(tmp_path: Path) -> None:
    """Item 10: with --tiny the Models list has each tiny twin, where it lives, and that it is random."""
    from studio.models_status import preset_rows

    env = StudioEnv(outputs=tmp_path, tiny=True)
    rows = {r["preset"]: r for r in preset_rows(env)}
    twin = rows["framepack-tiny"]
    assert twin["where"] == str(env.resolver.tiny_dir / "framepack-tiny")
    assert "random" in twin["repos"] and twin["state"] in ("ready", "not built")
    assert twin["size_gb"] < 1  # the twin's own files, not its parent's 40 GB
    ids = list(rows)
    assert ids.index("framepack-tiny") == ids.index("framepack") + 1
    assert not any(r.endswith("-tiny") for r in (r["preset"] for r in preset_rows(StudioEnv(outputs=tmp_path))))


# ---------------------------------------------------------------------------------- item 17: CLI


def test_models_prints_a_header_row() -> None:
    """Item 17: `python -m studio models` starts with column names; --tiny adds the twins."""
    proc = _cli("models")
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header[:2] == ["preset", "state"] and "repos" in header
    tiny = _cli("models", "--tiny")
    assert any(line.split()[0] == "framepack-tiny" for line in tiny.stdout.splitlines()[1:])


@pytest.mark.parametrize("content", [None, "[]", "{\"task\": \"interpolate\"}", "not json"])
def test_rerun_of_a_bad_settings_file_is_one_line(tmp_path: Path, content: str | None) -> None:
    """Item 17: a missing or malformed settings.json is a validation error: one line, exit code 2."""
    path = tmp_path / "settings.json"
    if content is not None:
        path.write_text(content)
    proc = _cli("rerun", str(path), "--outputs", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: settings: "), proc.stderr
    assert " — " in lines[0] and "Traceback" not in proc.stderr


def test_job_validation_error_is_one_line(tmp_path: Path) -> None:
    """Item 17: a bad field is `error: <field>: <problem> — <fix>` and exit code 2, nothing more."""
    proc = _cli("long-video", str(_image(tmp_path)), "--prompt", "x", "--total-second-length", "500",
                "--outputs", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: total_second_length: 500 is out of range — use 1 to 120 seconds"]


def test_extract_pose_without_a_video_is_one_line(tmp_path: Path) -> None:
    """Item 17: a missing required video is a field error, not a TypeError traceback."""
    proc = _cli("extract-pose", "--outputs", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: video: no video given")


def test_the_server_terminal_prints_no_traceback_for_a_users_mistake(live_server, square_video: Path) -> None:
    """Item 17: a refused field is one line for the user, not a 27-line traceback in the server log."""
    from gradio_client import Client, handle_file

    url, outputs = live_server
    log = outputs.parent / "server.log"
    before = log.read_text().count("Traceback")
    client = Client(url, verbose=False)
    for bad in (dict(factor=17), dict(factor=2, method="nope")):
        with pytest.raises(Exception, match="factor|method"):
            client.predict(video=handle_file(str(square_video)), keep_duration=True,
                           **{"method": "flow", **bad}, api_name="/interpolate")
    assert log.read_text().count("Traceback") == before


def test_a_job_failing_while_it_runs_ends_with_its_error(tmp_path: Path) -> None:
    """Item 17: a job that fails after its progress began (missing weights, no network) ends with
    its message, exit code 2, no traceback and no progress bar redrawn after the message."""
    proc = _cli("long-video", str(_image(tmp_path)), "--prompt", "x", "--offline", "--models-dir",
                str(tmp_path / "none"), "--outputs", str(tmp_path / "o"), timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "\r" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    (error_at,) = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert lines[error_at].startswith("error: Weights for preset 'framepack' are not all on this machine")
    assert lines[-1].startswith("then copy the Hugging Face cache here")  # the message's own last line
    assert not any(line.startswith("progress: ") for line in lines[error_at:])


def test_long_video_takes_the_image_positionally_and_by_its_old_flag(tmp_path: Path) -> None:
    """Item 17: `long-video IMAGE` and `long-video --image IMAGE` parse to the same request."""
    from studio.cli import build_parser
    from studio.fields import request_kwargs_from_cli
    from studio.tasks.long_video_request import LongVideoRequest

    parser = build_parser()
    image = str(_image(tmp_path))
    for argv in (["long-video", image, "--prompt", "p"], ["long-video", "--prompt", "p", image],
                 ["long-video", "--image", image, "--prompt", "p"], ["long-video", "--input-image", image]):
        args = parser.parse_args(argv)
        assert request_kwargs_from_cli(args, LongVideoRequest)["input_image"] == image


def test_piped_progress_is_one_line_per_update(tmp_path: Path, square_video: Path) -> None:
    """Item 17: without a terminal each progress update is printed once, as its own line."""
    proc = _cli("interpolate", str(square_video), "--factor", "4", "--outputs", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b[" not in proc.stderr
    progress = [line for line in proc.stderr.splitlines() if line.startswith("progress: ")]
    assert len(progress) >= 3
    assert len(progress) == len(set(progress))  # no update printed twice
    assert progress[-1].endswith("5/5")  # 6 frames -> 5 intervals, the last one reported


# ---------------------------------------------------------------------------------- item 10: server


def _table(value) -> list[dict]:
    """The (first) Dataframe in an endpoint's result as gradio_client gives it: rows as {column: cell}."""
    if not (isinstance(value, dict) and "headers" in value):
        value = next(v for v in value if isinstance(v, dict) and "headers" in v)
    return [dict(zip(value["headers"], row)) for row in value["data"]]


def test_server_lists_tiny_flow_jobs_as_real_and_the_tiny_twins(live_server, tmp_path: Path) -> None:
    """Item 10 over gradio_client (`app.py --tiny`): a flow /interpolate job is not noise in
    /list_outputs, and /models_refresh lists the tiny twins with their folder."""
    from conftest import moving_square_frames
    from gradio_client import Client, handle_file

    from studio.video_io import write_mp4

    url, outputs = live_server
    client = Client(url, verbose=False)
    src = write_mp4(moving_square_frames(n=4), tmp_path / "in.mp4", fps=10, crf=0)
    client.predict(video=handle_file(str(src)), factor=2, method="flow", keep_duration=True, api_name="/interpolate")
    flow_jobs = {p.parent.name for p in outputs.glob("*/*/settings.json")
                 if json.loads(p.read_text()).get("request", {}).get("method") == "flow"}
    assert flow_jobs
    rows = [r for r in _table(client.predict(api_name="/list_outputs")) if r["job"] in flow_jobs]
    assert rows and all(r["noise (tiny weights)"] == "" for r in rows)

    table, _details = client.predict("framepack", api_name="/models_refresh")
    models = {r["preset"]: r for r in _table(table)}
    assert "random weights" in models["framepack-tiny"]["repos"]
    assert models["framepack-tiny"]["found in"].endswith("framepack-tiny")
