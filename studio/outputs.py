"""Job folders under outputs/<date>/<job-id>/, atomic writes and the list of past jobs.

Every file is written to a temporary name in the same folder and renamed into place, so a killed
process or a full disk never leaves a half-written file under a final name.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

SETTINGS_NAME = "settings.json"


def new_job_dir(outputs_root: Path, task: str, now: dt.datetime | None = None) -> Path:
    """A fresh, never-reused folder; names come from the clock and randomness, never user text."""
    now = now or dt.datetime.now()
    day = Path(outputs_root) / now.strftime("%Y-%m-%d")
    day.mkdir(parents=True, exist_ok=True)
    safe_task = "".join(ch for ch in task if ch.isalnum() or ch in "-_") or "job"
    while True:
        job = day / f"{now.strftime('%H%M%S')}-{safe_task}-{secrets.token_hex(3)}"
        try:
            job.mkdir()
            return job
        except FileExistsError:  # astronomically rare; pick another suffix
            continue


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temp path beside `final`; renames it to `final` only if the block succeeds."""
    final = Path(final)
    suffix = suffix if suffix is not None else final.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=".tmp" + suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def write_settings(job_dir: Path, settings: dict[str, Any]) -> Path:
    return atomic_write_json(Path(job_dir) / SETTINGS_NAME, settings)


def read_settings(path: Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / SETTINGS_NAME
    return json.loads(path.read_text())


@dataclass(frozen=True)
class JobRecord:
    folder: Path
    settings: dict[str, Any]

    @property
    def task(self) -> str:
        return str(self.settings.get("task", "?"))

    @property
    def video(self) -> Path | None:
        name = self.settings.get("result", {}).get("video")
        if name and (self.folder / name).exists():
            return self.folder / name
        partials = sorted(self.folder.glob("*.mp4"))
        return partials[-1] if partials else None

    @property
    def status(self) -> str:
        return str(self.settings.get("status", "?"))


def list_jobs(outputs_root: Path, limit: int = 200) -> list[JobRecord]:
    """Past jobs, newest first (by folder name: date folder, then time-prefixed job folder)."""
    root = Path(outputs_root)
    if not root.is_dir():
        return []
    records: list[JobRecord] = []
    for day in sorted((d for d in root.iterdir() if d.is_dir()), reverse=True):
        for job in sorted((d for d in day.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True):
            settings_file = job / SETTINGS_NAME
            try:
                settings = json.loads(settings_file.read_text())
            except (OSError, ValueError):
                continue  # not a job folder, or a job still being set up
            records.append(JobRecord(job, settings))
            if len(records) >= limit:
                return records
    return records
