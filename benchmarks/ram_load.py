"""Peak host RAM of loading a multi-GB checkpoint: our mmap loader vs a naive load.

Writes a synthetic bf16 model (default 3 GiB) as .safetensors, as a diffusers folder and as a .pt
in a temp dir, then loads it in fresh subprocesses, each followed by one pass that reads every
weight (as a forward or a GPU upload would), and reports:
- peak RSS (VmHWM: anonymous + file-backed pages touched),
- peak anonymous RSS (sampled from /proc/self/status every 5 ms: memory only swap can take back;
  file-backed pages of a memory-mapped checkpoint can be dropped and re-read by the kernel).

    python benchmarks/ram_load.py [--gib 3] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTH = 4096  # one Linear(4096, 4096) in bf16 = 32 MiB


def make_model_class():
    import torch
    from diffusers import ModelMixin
    from diffusers.configuration_utils import ConfigMixin, register_to_config

    class Synthetic(ModelMixin, ConfigMixin):
        @register_to_config
        def __init__(self, num_layers: int = 96, width: int = WIDTH):
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.Linear(width, width, bias=False) for _ in range(num_layers))

    return Synthetic


def _rss_status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:", "VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) * 1024
    return out


def child(mode: str, folder: Path, layers: int) -> None:
    import torch

    peak = {"anon": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak["anon"] = max(peak["anon"], _rss_status()["RssAnon"])
            time.sleep(0.005)

    base = _rss_status()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.time()
    Synthetic = make_model_class()
    if mode == "naive":
        model = Synthetic(layers).to(torch.bfloat16)  # random init, then a full state dict in RAM
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        del state
    elif mode == "mmap":
        from memory.loading import build_empty, load_safetensors_into

        model = load_safetensors_into(build_empty(Synthetic, layers), folder / "model.safetensors")
    elif mode == "diffusers":
        model = Synthetic.from_pretrained(folder / "diffusers", torch_dtype=torch.bfloat16, low_cpu_mem_usage=True)
    else:
        raise SystemExit(f"unknown mode {mode}")
    load_s = time.time() - t0
    checksum = 0.0
    with torch.no_grad():
        for p in model.parameters():  # touch every weight once
            checksum += float(p.float().sum())
    stop.set()
    thread.join()
    print(json.dumps({
        "mode": mode, "load_s": round(load_s, 2), "checksum": checksum,
        # VmHWM, not ru_maxrss: the latter survives exec and would include the parent's peak.
        "peak_rss": _rss_status()["VmHWM"],
        "peak_anon": peak["anon"], "base_rss": base["VmRSS"], "end": _rss_status(),
    }))


def write_checkpoints(folder: Path, layers: int) -> None:
    import safetensors.torch
    import torch

    Synthetic = make_model_class()
    torch.manual_seed(0)
    model = Synthetic(layers).to(torch.bfloat16)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(state, folder / "model.safetensors")
    torch.save(state, folder / "model.pt")
    model.save_pretrained(folder / "diffusers", safe_serialization=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=3.0, help="checkpoint size in GiB (bf16)")
    parser.add_argument("--keep", type=Path, default=None, help="write/keep the checkpoints here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    layers = max(1, round(args.gib * 1024 / 32))
    if args.child == "write":
        write_checkpoints(args.dir, layers)
        return 0
    if args.child:
        child(args.child, args.dir, layers)
        return 0
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ram_load_"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not (folder / "model.safetensors").exists():
            t0 = time.time()
            # In a subprocess, so this process stays small (children inherit nothing from it).
            subprocess.run([sys.executable, __file__, "--child", "write", "--dir", str(folder), "--gib", str(args.gib)],
                           check=True, cwd=ROOT, capture_output=True)
            print(f"wrote {layers} x Linear({WIDTH},{WIDTH}) bf16 = {layers * 32 / 1024:.2f} GiB "
                  f"(.safetensors, diffusers folder, .pt) in {time.time() - t0:.0f} s to {folder}")
        size = (folder / "model.safetensors").stat().st_size
        print(f"checkpoint: {size / 2**30:.2f} GiB; each load is followed by one pass reading every weight")
        print(f"{'loader':34} {'peak RSS':>9} {'peak anon':>10} {'load s':>7}")
        for mode, label in (("naive", "naive: init + torch.load + copy"),
                            ("mmap", "ours: meta + safetensors mmap"),
                            ("diffusers", "diffusers low_cpu_mem_usage")):
            out = subprocess.run([sys.executable, __file__, "--child", mode, "--dir", str(folder)],
                                 capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                print(f"{label:34} failed: {out.stderr[-500:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{label:34} {r['peak_rss'] / 2**30:8.2f}G {r['peak_anon'] / 2**30:9.2f}G {r['load_s']:7.1f}")
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
