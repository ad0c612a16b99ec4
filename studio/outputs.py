"""Job folders under outputs/<date>/<job-id>/, atomic writes and the list of past jobs.

Every file is written to a temporary name in the same folder and renamed into place, so a killed
process or a full disk never leaves a half-written file under a final name. Names inside a job
folder come from the studio (never from user text), and names read back from a settings.json
must stay inside their job folder. (Jobs a crash left "running": studio/recovery.py.)
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from core.errors import InputError, StudioError

try:
    import resource  # Unix: the file-size limit (ulimit -f)
except ImportError:  # pragma: no cover
    resource = None  # type: ignore[assignment]

SETTINGS_NAME = "settings.json"
TEMP_MARK = ".tmp"                 # every temp name: ".<stem>.<hex>.tmp<suffix>"
LOW_SPACE_BYTES = 8 * 2**20         # a failed write with less than this free is a full disk
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


# ------------------------------------------------------------------------------ full disk


class DiskFull(StudioError):
    """A write failed because the disk (or the file-size limit) is full; says how much is free."""

    def __init__(self, folder: Path, what: str = "outputs disk", size_limit: int | None = None) -> None:
        self.folder, self.what, self.size_limit = Path(folder), what, size_limit
        if size_limit is not None:
            text = (f"a file in {self.folder} reached the file-size limit (ulimit -f, "
                    f"{size_limit / 2**20:.2f} MB) — raise the limit and run again")
        else:
            text = f"{what} is full ({free_mb(self.folder)} MB free at {self.folder}) — free space and run again"
        super().__init__(text)


def free_mb(folder: Path) -> int:
    """Free MB for unprivileged writers on the disk holding `folder` (or its nearest parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free // 2**20
    except OSError:
        return 0


def _chain(err: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _size_limit() -> int | None:
    if resource is None:  # pragma: no cover
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def disk_full_error(err: BaseException, folder: Path, what: str = "outputs disk",
                    written: Path | None = None) -> DiskFull | None:
    """The DiskFull that `err` means, or None. ENOSPC / EDQUOT / EFBIG anywhere in the chain count;
    so does any OSError (ffmpeg's broken pipe says nothing else) while the disk is nearly full or
    the file being written (`written`, checked before it is removed) reached the size limit."""
    chain = list(_chain(err))
    inner = next((e for e in chain if isinstance(e, DiskFull)), None)
    if inner is not None:
        return DiskFull(folder, what, inner.size_limit)
    if isinstance(err, StudioError) or not isinstance(err, Exception):
        return None  # stops, input errors, Ctrl-C: not about the disk
    os_errors = [e for e in chain if isinstance(e, OSError)]
    limit = _size_limit()
    if any(e.errno == errno.EFBIG for e in os_errors) and limit is not None:
        return DiskFull(folder, what, limit)
    if any(e.errno in _FULL_ERRNOS for e in os_errors):
        return DiskFull(folder, what)
    if not os_errors:
        return None
    if limit is not None and written is not None and written.exists() and written.stat().st_size >= limit:
        return DiskFull(folder, what, limit)
    if free_mb(folder) * 2**20 < LOW_SPACE_BYTES:
        return DiskFull(folder, what)
    return None


# ------------------------------------------------------------------------------ atomic writes


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


def _new_temp(final: Path, suffix: str) -> Path:
    """An empty temp file beside `final`. Created with mode 0666 so the umask decides (mkstemp's
    0600 made every output unreadable to the group and other users)."""
    while True:
        tmp = final.parent / f".{final.stem}.{secrets.token_hex(4)}{TEMP_MARK}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str | None = None, what: str = "outputs disk") -> Iterator[Path]:
    """Yields a temp path beside `final`; renames it to `final` only if the block succeeds.
    A failure leaves no temp file behind; one caused by a full disk is raised as DiskFull."""
    final = Path(final)
    suffix = suffix if suffix is not None else final.suffix
    try:
        tmp = _new_temp(final, suffix)
    except OSError as err:
        raise (disk_full_error(err, final.parent, what) or err) from err
    try:
        yield tmp
        if suffix == ".mp4" and not mp4_complete(tmp):
            # imageio-ffmpeg ignores ffmpeg's exit status: a write error (full disk, size limit)
            # would otherwise rename a truncated mp4 into place.
            raise OSError(errno.EIO, f"{final.name} is incomplete: its writer did not finish it")
        os.replace(tmp, final)
    except Exception as err:
        full = disk_full_error(err, final.parent, what, written=tmp)  # measured before the unlink
        if full is None:
            raise
        raise full from err
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def mp4_complete(path: Path) -> bool:
    """True when the file's top-level mp4 boxes end exactly at the end of the file and include
    the index ("moov"): a cut-off write fails this without decoding anything."""
    size = Path(path).stat().st_size
    pos, boxes = 0, set()
    with open(path, "rb") as fh:
        while pos < size:
            fh.seek(pos)
            head = fh.read(16)
            if len(head) < 8:
                return False
            length, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if length == 1 and len(head) == 16:
                length = int.from_bytes(head[8:16], "big")
            elif length == 0:
                length = size - pos  # the last box runs to the end of the file
            if length < 8 or pos + length > size:
                return False
            boxes.add(kind)
            pos += length
    return b"moov" in boxes and b"ftyp" in boxes


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_json(path: Path, obj: Any) -> Path:
    return atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def atomic_copy(src: Path, dst: Path, what: str = "outputs disk") -> Path:
    """Copy `src` to `dst` through a temp name (content only)."""
    with atomic_path(dst, suffix=".copy", what=what) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def atomic_save_png(array: Any, path: Path) -> Path:
    """An HxW(xC) uint8 array as a PNG, through a temp name."""
    from PIL import Image  # deferred: outputs is imported by light modules

    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
    return Path(path)


# Input copies are named by what their bytes are, from this fixed list (never the upload's name).
INPUT_SUFFIXES = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif", ".ts", ".ogv", ".flv",
                  ".png", ".jpg", ".webp", ".json", ".bin")
_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")


def detect_suffix(path: Path) -> str:
    """The suffix (from INPUT_SUFFIXES) of a file's content, read from its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[4:8] in _MP4_BOXES:
        return ".mov" if head[8:12] == b"qt  " else ".mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return ".webm" if b"webm" in head[:64] else ".mkv"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return ".avi"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return ".webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return ".gif"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"OggS"):
        return ".ogv"
    if head.startswith(b"FLV"):
        return ".flv"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return ".ts"
    if head.lstrip()[:1] in (b"{", b"["):
        return ".json"
    return ".bin"


def copy_input(src: Path | str, job_dir: Path, stem: str) -> str:
    """Copy an input file into the job folder as `<stem><detected suffix>`; returns that name.
    `stem` is the studio's own name for the input (e.g. "input"), never user text."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", stem):
        raise ValueError(f"input stem {stem!r} is not a plain studio name")
    name = stem + detect_suffix(Path(src))
    target = Path(job_dir) / name
    if not target.exists():
        atomic_copy(Path(src), target)
    return name


def write_settings(job_dir: Path, settings: dict[str, Any]) -> Path:
    return atomic_write_json(Path(job_dir) / SETTINGS_NAME, settings)


class BadSettings(StudioError):
    """A settings.json that is not a job's: unreadable, not JSON, or the wrong shape."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path} is not a valid job settings.json: {problem}")


def read_settings(path: Path) -> dict[str, Any]:
    """A settings.json (or a job folder's) as a dict; BadSettings when it is not a job's settings."""
    path = Path(path)
    if path.is_dir():
        path = path / SETTINGS_NAME
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise BadSettings(path, f"not readable JSON ({type(err).__name__})") from err
    problem = settings_problem(settings)
    if problem:
        raise BadSettings(path, problem)
    return settings


# ------------------------------------------------------------------------------ names from settings.json


def inside_job(base: Path, name: Any, field: str) -> Path:
    """`base / name` when it names something inside the job folder `base`; InputError otherwise.
    Absolute names, `..` and symlinks that lead out are refused (a crafted settings.json must
    not make the studio read or serve other files)."""
    fix = "settings.json may only name files inside its own job folder; use the job's original settings.json"
    if not isinstance(name, str) or not name or "\x00" in name:
        raise InputError(field, f"{name!r} is not a file name", fix)
    if Path(name).is_absolute():
        raise InputError(field, f"{name!r} is an absolute path", fix)
    root = Path(base).resolve()
    target = (root / name).resolve()
    if target == root or not target.is_relative_to(root):
        raise InputError(field, f"{name!r} leads outside the job folder", fix)
    return root / name


def job_file(base: Path, name: Any) -> Path | None:
    """`base / name` if it is an existing file inside the job folder, else None."""
    try:
        path = inside_job(base, name, "file")
    except InputError:
        return None
    return path if path.is_file() else None


def contained_request(request_type: type, data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Check every media field (image, video, file) of a stored request names a file inside the
    job folder; raises InputError naming the field otherwise. Returns `data` unchanged."""
    # deferred: fields imports validation, which is heavier
    from studio.fields import declared

    for name, spec, _ in declared(request_type):
        value = data.get(name)
        if spec.kind in ("image", "video", "file") and value:
            inside_job(base, value, name)
    return data


# ------------------------------------------------------------------------------ past jobs

_TYPES = {"task": str, "status": str, "created": str, "message": str, "job_id": str,
          "request": dict, "result": dict, "partials": list, "timings": dict, "process": dict}


def settings_problem(settings: Any) -> str | None:
    """Why `settings` cannot be a job's settings.json, or None if it can."""
    if not isinstance(settings, dict):
        return f"holds a JSON {type(settings).__name__}, not an object"
    for key, kind in _TYPES.items():
        if key in settings and not isinstance(settings[key], kind):
            return f"{key!r} is {type(settings[key]).__name__}, not {kind.__name__}"
    if "result" in settings and "video" in settings["result"] and not isinstance(settings["result"]["video"], str):
        return "'result.video' is not a file name"
    if not all(isinstance(p, str) for p in settings.get("partials", [])):
        return "'partials' holds something other than file names"
    return None


@dataclass(frozen=True)
class JobRecord:
    folder: Path
    settings: dict[str, Any]

    @property
    def task(self) -> str:
        return str(self.settings.get("task", "?"))

    @property
    def video(self) -> Path | None:
        """The result, else the newest listed partial that exists; never an input copy and never a
        file outside the job folder."""
        result = self.settings.get("result")
        name = result.get("video") if isinstance(result, dict) else None
        found = job_file(self.folder, name) if name else None
        if found is not None:
            return found
        for partial in reversed(self.partials):
            found = job_file(self.folder, partial)
            if found is not None:
                return found
        return None

    @property
    def partials(self) -> list[str]:
        partials = self.settings.get("partials")
        return [p for p in partials if isinstance(p, str)] if isinstance(partials, list) else []

    @property
    def status(self) -> str:
        return str(self.settings.get("status", "?"))

    @property
    def message(self) -> str:
        return str(self.settings.get("message", ""))

    @property
    def noise(self) -> bool:
        """Output made by tiny random weights; jobs saved before "noise" existed fall back to tiny_weights."""
        return bool(self.settings.get("noise", self.settings.get("tiny_weights", False)))


@dataclass(frozen=True)
class SkippedJob:
    folder: Path
    reason: str


@dataclass
class JobScan:
    """Past jobs (newest first) and the job folders skipped because their settings.json is bad."""

    jobs: list[JobRecord] = field(default_factory=list)
    skipped: list[SkippedJob] = field(default_factory=list)

    def note(self) -> str:
        """A line for the Outputs tab ("" when nothing was skipped)."""
        if not self.skipped:
            return ""
        names = ", ".join(f"{s.folder.name} ({s.reason})" for s in self.skipped[:5])
        more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        return f"{len(self.skipped)} job folder(s) skipped, their settings.json is not valid: {names}{more}"


def load_job(folder: Path) -> JobRecord:
    """One job folder's record; StudioError naming the problem when its settings.json is bad."""
    return JobRecord(Path(folder), read_settings(Path(folder) / SETTINGS_NAME))


def scan_jobs(outputs_root: Path, limit: int = 200) -> JobScan:
    """Past jobs, newest first (date folder, then job folder mtime). Folders without settings.json
    (being set up, or not jobs) are passed over; a malformed settings.json is reported in `skipped`."""
    root = Path(outputs_root)
    scan = JobScan()
    if not root.is_dir():
        return scan
    for day in sorted((d for d in root.iterdir() if d.is_dir()), reverse=True):
        for job in sorted((d for d in day.iterdir() if d.is_dir()), key=_mtime, reverse=True):
            settings_file = job / SETTINGS_NAME
            if not settings_file.is_file():
                continue
            try:
                scan.jobs.append(load_job(job))
            except BadSettings as err:
                scan.skipped.append(SkippedJob(job, err.problem))
            if len(scan.jobs) >= limit:
                return scan
    return scan


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def list_jobs(outputs_root: Path, limit: int = 200) -> list[JobRecord]:
    """Past jobs, newest first; malformed ones left out (see `scan_jobs` for the list of those)."""
    return scan_jobs(outputs_root, limit).jobs
