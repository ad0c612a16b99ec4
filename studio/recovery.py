"""After a crash or kill -9: jobs whose process is gone are marked "interrupted" on start.

run_job records its process (pid, host, boot id, start ticks) in settings.json; on start the
studio compares that with the living processes, so a pid reused by another program or a reboot
is never taken for the job. A dead job's playable temp mp4s become kept partials, the rest go.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import socket
from pathlib import Path
from typing import Any

from studio.outputs import (
    SETTINGS_NAME,
    TEMP_MARK,
    BadSettings,
    JobRecord,
    _mtime,
    job_file,
    read_settings,
    write_settings,
)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (tells a reused pid apart), or ""."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat; fields[0] is field 3


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] in ("Z", "X")


def process_identity() -> dict[str, Any]:
    """What run_job stores in settings.json so a later start can tell whether the job's process lives."""
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "boot_id": _boot_id(), "start_ticks": _start_ticks(pid),
            "started": dt.datetime.now().isoformat(timespec="seconds")}


def process_alive(info: Any) -> bool:
    """False only when the recorded process is surely gone (same host; rebooted, no such pid, a
    zombie, or the pid now belongs to a newer process). Another host's job counts as alive."""
    if not isinstance(info, dict):
        return False  # a "running" job from before processes were recorded
    if info.get("host") != socket.gethostname():
        return True
    if info.get("boot_id") and _boot_id() and info["boot_id"] != _boot_id():
        return False
    pid = info.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _is_zombie(pid):
        return False
    ticks = _start_ticks(pid)
    return not (info.get("start_ticks") and ticks and ticks != info["start_ticks"])


# ".<stem>.<random>.tmp<suffix>" (atomic_path's names, also mkstemp's older ones)
_TEMP_RE = re.compile(r"^\.(?P<stem>.+)\.[A-Za-z0-9_]+\.tmp(?P<suffix>\.[A-Za-z0-9-]+)?$")


def _free_name(folder: Path, stem: str) -> Path:
    target = folder / f"{stem}_interrupted.mp4"
    n = 2
    while target.exists():
        target = folder / f"{stem}_interrupted_{n}.mp4"
        n += 1
    return target


def _salvage_temps(job: Path) -> list[str]:
    """Playable temp mp4s become `<stem>_interrupted.mp4` (names returned); every other temp goes."""
    # deferred: video_io imports this module
    from studio.video_io import is_playable_mp4

    kept: list[str] = []
    for path in sorted(p for p in job.rglob(".*") if p.is_file() and TEMP_MARK in p.name):
        m = _TEMP_RE.match(path.name)
        if m and m.group("suffix") == ".mp4" and path.stat().st_size > 0 and is_playable_mp4(path):
            target = _free_name(path.parent, re.sub(r"[^A-Za-z0-9_-]", "_", m.group("stem")))
            os.replace(path, target)
            kept.append(target.relative_to(job).as_posix())
        else:
            path.unlink(missing_ok=True)
    return kept


def _input_names(settings: dict[str, Any]) -> set[str]:
    request = settings.get("request")
    return {v for v in request.values() if isinstance(v, str)} if isinstance(request, dict) else set()


def recover_job(job: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Mark one dead job "interrupted": salvage its temps, list the partials that exist."""
    kept = _salvage_temps(job)
    inputs = _input_names(settings)
    listed = [p for p in JobRecord(job, settings).partials if job_file(job, p) is not None]
    # Finished partials the job had no time to record (written, then killed before settings.json).
    unlisted = [p.name for p in sorted(job.glob("*.mp4"), key=_mtime) if p.name not in inputs]
    partials = list(dict.fromkeys(listed + unlisted + kept))
    result = settings.get("result")
    if isinstance(result, dict) and result.get("video") in partials:
        partials.remove(result["video"])
    info = settings.get("process") if isinstance(settings.get("process"), dict) else {}
    kept_note = f"; kept the partial video {partials[-1]}" if partials else "; no playable partial video was left"
    settings.update(
        status="interrupted", partials=partials,
        message=f"interrupted: the studio process (pid {info.get('pid', '?')}) ended while this job ran"
                f" (a crash, kill or power loss){kept_note}",
        recovered=dt.datetime.now().isoformat(timespec="seconds"))
    write_settings(job, settings)
    return settings


def recover_interrupted(outputs_root: Path) -> list[Path]:
    """On start: every job still "running" whose process is gone becomes "interrupted" (see
    `recover_job`); jobs whose process lives are not touched. Returns the recovered folders."""
    recovered: list[Path] = []
    root = Path(outputs_root)
    if not root.is_dir():
        return recovered
    for settings_file in sorted(root.glob(f"*/*/{SETTINGS_NAME}")):
        job = settings_file.parent
        try:
            settings = read_settings(settings_file)
        except BadSettings:
            continue  # reported by scan_jobs
        if settings.get("status") != "running" or process_alive(settings.get("process")):
            continue
        try:
            recover_job(job, settings)
        except OSError:
            continue  # e.g. a read-only folder: leave it as it was, try again next start
        recovered.append(job)
    return recovered
