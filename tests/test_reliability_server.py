"""Bad inputs, stop, queue and path tricks against `python app.py --tiny`, through gradio_client.

Every bad request must fail with a message naming the field, and the next good request must work.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from studio.video_io import count_frames, write_mp4

LONG_OK = dict(prompt="a kite", total_second_length=1, latent_window_size=3, steps=1, use_teacache=False)


@pytest.fixture(scope="module")
def client(live_server) -> Client:
    return Client(live_server[0], verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("reliability")
    rng = np.random.default_rng(0)
    out: dict[str, str] = {}
    Image.fromarray((rng.random((60, 80, 3)) * 255).astype(np.uint8)).save(d / "ok.png")
    out["ok_png"] = str(d / "ok.png")
    Image.new("RGBA", (64, 48), (10, 200, 30, 128)).save(d / "rgba.png")
    out["rgba"] = str(d / "rgba.png")
    Image.fromarray(np.full((48, 64), 40000, np.uint16)).save(d / "deep.png")
    out["deep16"] = str(d / "deep.png")
    (d / "zero.png").write_bytes(b"")
    out["zero"] = str(d / "zero.png")
    (d / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    out["corrupt"] = str(d / "corrupt.png")
    Image.new("RGB", (1, 1)).save(d / "one.png")
    out["one_px"] = str(d / "one.png")
    Image.new("1", (12000, 12000)).save(d / "huge.png")
    out["huge"] = str(d / "huge.png")
    (d / "notes.png").write_text("just text")
    out["text_as_png"] = str(d / "notes.png")
    frames = [np.full((24, 32, 3), 30 * i, np.uint8) for i in range(3)]
    out["clip"] = str(write_mp4(frames, d / "clip.mp4", fps=10, crf=0))
    out["one_frame"] = str(write_mp4(frames[:1], d / "one.mp4", fps=10, crf=0))
    (d / "zero.mp4").write_bytes(b"")
    out["zero_mp4"] = str(d / "zero.mp4")
    (d / "fake.mp4").write_text("not a video")
    out["fake_mp4"] = str(d / "fake.mp4")
    return out


def _good(client: Client, files: dict[str, str]) -> None:
    result = client.predict(video=handle_file(files["clip"]), factor=2, method="flow", keep_duration=True,
                            api_name="/interpolate")
    assert count_frames(result[2]) == 5


def _interp(files, **kw):
    args = dict(video=handle_file(files["clip"]), factor=2, method="flow", keep_duration=True)
    args.update(kw)
    return args, "/interpolate"


def _process(files, image="ok_png", **kw):
    args = dict(input_image=handle_file(files[image]), **LONG_OK)
    args.update(kw)
    return args, "/process"


def _long(files, **kw):
    args = dict(input_image=handle_file(files["ok_png"]), **LONG_OK, mode="framepack", bucket=64)
    args.update(kw)
    return args, "/long_video"


BAD_CASES = {
    # image inputs
    "missing image": (lambda f: _process(f, input_image=None), "input_image"),
    "zero-byte image": (lambda f: _process(f, "zero"), "input_image"),
    "corrupt image": (lambda f: _process(f, "corrupt"), "input_image"),
    "1x1 image": (lambda f: _process(f, "one_px"), "input_image"),
    "12000x12000 image": (lambda f: _process(f, "huge"), "input_image"),
    "text file as image": (lambda f: _process(f, "text_as_png"), "input_image"),
    "corrupt end frame": (lambda f: _process(f, end_frame=handle_file(f["corrupt"])), "end_frame"),
    "video as image": (lambda f: _process(f, "clip"), "input_image"),
    # numbers
    # JSON cannot carry a float NaN; clients send it as text.
    "NaN seconds": (lambda f: _process(f, total_second_length="nan"), "total_second_length"),
    "negative seconds": (lambda f: _process(f, total_second_length=-3), "total_second_length"),
    "huge seconds": (lambda f: _process(f, total_second_length=1e9), "total_second_length"),
    "zero steps": (lambda f: _process(f, steps=0), "steps"),
    "1000 steps": (lambda f: _process(f, steps=1000), "steps"),
    "window 0": (lambda f: _process(f, latent_window_size=0), "latent_window_size"),
    "negative seed": (lambda f: _process(f, seed=-5), "seed"),
    "seed 2**40": (lambda f: _process(f, seed=2**40), "seed"),
    "NaN cfg": (lambda f: _process(f, cfg="NaN"), "cfg"),
    "negative gs": (lambda f: _process(f, gs=-1), "gs"),
    "rs 2": (lambda f: _process(f, rs=2), "rs"),
    "crf 99": (lambda f: _process(f, mp4_crf=99), "mp4_crf"),
    "negative preservation": (lambda f: _process(f, gpu_memory_preservation=-1), "gpu_memory_preservation"),
    # text
    "100k-char prompt": (lambda f: _process(f, prompt="x" * 100_000), "prompt"),
    "bad timestamp": (lambda f: _process(f, prompt="[0s: calm] [xs: storm]"), "prompt"),
    "backwards span": (lambda f: _process(f, prompt="[0s: calm] [3s-1s: storm]", total_second_length=4), "prompt"),
    "unclosed bracket": (lambda f: _process(f, prompt="[0s: calm"), "prompt"),
    # long_video extras
    "unknown mode": (lambda f: _long(f, mode="sideways"), "mode"),
    "bucket 100": (lambda f: _long(f, bucket=100), "bucket"),
    "extend without video": (lambda f: _long(f, mode="extend"), "input_video"),
    "extend with text file": (lambda f: _long(f, mode="extend", input_video=handle_file(f["fake_mp4"])), "input_video"),
    "end frame in f1": (lambda f: _long(f, mode="f1", end_frame=handle_file(f["ok_png"])), "end_frame"),
    # interpolation
    "not a video": (lambda f: _interp(f, video=handle_file(f["fake_mp4"])), "video"),
    "zero-byte video": (lambda f: _interp(f, video=handle_file(f["zero_mp4"])), "video"),
    "one-frame video": (lambda f: _interp(f, video=handle_file(f["one_frame"])), "video"),
    "factor 1": (lambda f: _interp(f, factor=1), "factor"),
    "factor 17": (lambda f: _interp(f, factor=17), "factor"),
    "factor 2.5": (lambda f: _interp(f, factor=2.5), "factor"),
    "unknown method": (lambda f: _interp(f, method="magic"), "method"),
    "no video": (lambda f: _interp(f, video=None), "video"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_names_the_field_and_server_keeps_serving(client: Client, files, case: str) -> None:
    make, field = BAD_CASES[case]
    kwargs, endpoint = make(files)
    with pytest.raises(Exception) as err:
        client.predict(**kwargs, api_name=endpoint)
    assert field in str(err.value), f"{case}: {err.value}"
    _good(client, files)


@pytest.mark.parametrize("image", ["rgba", "deep16"])
def test_unusual_image_modes_are_accepted(client: Client, files, image: str) -> None:
    kwargs, endpoint = _process(files, image)
    result = client.predict(**kwargs, api_name=endpoint)
    assert count_frames(result[0]["video"]) > 1


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../etc/passwd", str(Path(__file__).resolve())])
def test_server_files_cannot_be_read_through_file_inputs(client: Client, files, path: str) -> None:
    for payload in ({"path": path, "meta": {"_type": "gradio.FileData"}}, path):
        with pytest.raises(Exception):
            client.predict(input_image=payload, **LONG_OK, api_name="/process")
        with pytest.raises(Exception):
            client.predict(video=payload, factor=2, method="flow", keep_duration=True, api_name="/interpolate")
    _good(client, files)


def test_two_clients_five_jobs_each_all_finish(live_server, files) -> None:
    url = live_server[0]
    results: list[object] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        c = Client(url, verbose=False)
        jobs = [c.submit(video=handle_file(files["clip"]), factor=2 + (seed + i) % 3, method="flow",
                         keep_duration=True, api_name="/interpolate") for i in range(5)]
        for job in jobs:
            try:
                out = job.result(timeout=300)
                with lock:
                    results.append(count_frames(out[2]))
            except Exception as err:  # a full queue is a clean rejection, anything else is a failure
                with lock:
                    results.append(str(err))

    threads = [threading.Thread(target=worker, args=(s,)) for s in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(results) == 10
    for r in results:
        assert (isinstance(r, int) and r in (5, 7, 9)) or "queue" in str(r).lower(), r


@pytest.fixture(scope="module")
def oom_server(tmp_path_factory):
    from conftest import ROOT, start_server

    yield from start_server(tmp_path_factory, ROOT / "tests" / "oom_server.py")


def test_simulated_device_oom_is_reported_and_the_server_recovers(oom_server, files) -> None:
    """The second section of the first job hits a (simulated) CUDA OOM inside the server process."""
    import json

    url, outputs = oom_server
    client = Client(url, verbose=False)
    with pytest.raises(Exception) as err:
        client.predict(**_process(files, total_second_length=2, latent_window_size=3)[0], api_name="/process")
    assert "out of memory" in str(err.value) and "Try:" in str(err.value)
    failed = json.loads(next(outputs.glob("*/*/settings.json")).read_text())
    assert failed["status"] == "failed" and "memory_plan" in failed
    assert list(next(outputs.glob("*/*/")).glob("partial_001.mp4"))  # the finished section is kept
    result = client.predict(**_process(files)[0], api_name="/process")  # no restart needed
    assert count_frames(result[0]["video"]) > 1
