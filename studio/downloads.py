"""Fetching a preset's files into the Hugging Face cache, failing fast when the hub is unreachable."""
from __future__ import annotations

import socket
from typing import Callable
from urllib.parse import urlparse

from core.errors import StudioError
from studio.env import StudioEnv
from studio.presets import download_patterns, get_preset, hub_offline

OFFLINE_REASON = "offline (--offline / HF_HUB_OFFLINE): downloads are off"


def downloads_off_reason(env: StudioEnv) -> str | None:
    """Why Download cannot fetch anything here, or None when it may try (shown beside the button)."""
    return OFFLINE_REASON if env.offline or hub_offline() else None


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """A TCP connect to the hub endpoint: answers in seconds instead of hanging on retries."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def download_preset(env: StudioEnv, preset_id: str, log: Callable[[str], None] = print) -> None:
    """Download only the files the preset needs (tqdm bars show through gr.Progress(track_tqdm))."""
    preset = get_preset(preset_id, env.presets)
    if preset.is_tiny or not preset.components:
        log(f"{preset_id}: nothing to download")
        return
    if downloads_off_reason(env):
        raise StudioError("Offline mode (--offline or HF_HUB_OFFLINE=1): downloads are off. "
                          "Restart without --offline, or copy the files into the HF cache / --models-dir.")
    if not hub_reachable():
        raise StudioError("The Hugging Face hub cannot be reached from this machine. "
                          "Download on a machine with internet and copy the HF cache here, or use --models-dir.")
    from huggingface_hub import snapshot_download

    for repo, patterns in download_patterns(preset).items():
        log(f"downloading {repo} ({', '.join(patterns)})")
        snapshot_download(repo, allow_patterns=patterns)
