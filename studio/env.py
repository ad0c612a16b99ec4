"""The studio's run-time settings, built once from the command line and passed down explicitly."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from studio.presets import Preset, Resolver, get_preset, load_presets


@dataclass
class StudioEnv:
    outputs: Path = Path("outputs")
    models_dir: Path | None = None
    tiny: bool = False
    offline: bool = False
    device: str = "auto"          # "auto" picks cuda when present, else cpu
    vram_gb: float | None = None  # virtual device budget (CPU) or override of the probe
    queue_size: int = 16
    max_upload_mb: int = 2048
    # Several people use this server (--auth, --share, a Space): each one sees only their own jobs
    # and files. Alone on 127.0.0.1, the Outputs tab lists every job in the folder (CLI ones too).
    shared: bool = False
    presets: dict[str, Preset] = field(default_factory=load_presets)

    def __post_init__(self) -> None:
        self.outputs = Path(self.outputs).resolve()
        if self.offline:
            # Set before any huggingface_hub call so nothing in this process reaches the network.
            os.environ["HF_HUB_OFFLINE"] = "1"
        self.resolver = Resolver(self.models_dir, presets=self.presets)
        from studio.model_cache import ModelCache

        self.models = ModelCache()

    def preset_for(self, preset_id: str) -> Preset:
        """The preset a job should use: its tiny twin when the studio runs with --tiny."""
        preset = get_preset(preset_id, self.presets)
        if self.tiny and preset.tiny and preset.tiny in self.presets:
            return self.presets[preset.tiny]
        return preset

    def torch_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch  # deferred: importing studio must not initialise CUDA

        return "cuda" if torch.cuda.is_available() else "cpu"
