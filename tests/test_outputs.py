import json
from pathlib import Path

import pytest

from studio.outputs import (
    atomic_path,
    atomic_write_json,
    list_jobs,
    new_job_dir,
    write_settings,
)


def test_job_dirs_are_unique_and_dated(tmp_path: Path) -> None:
    dirs = {new_job_dir(tmp_path, "interpolate") for _ in range(50)}
    assert len(dirs) == 50
    for d in dirs:
        assert d.parent.parent == tmp_path and len(d.parent.name) == 10  # YYYY-MM-DD
        assert "interpolate" in d.name


def test_job_dir_name_never_takes_user_text(tmp_path: Path) -> None:
    d = new_job_dir(tmp_path, "../../etc/passwd")
    assert d.parent.parent == tmp_path and "/" not in d.name and ".." not in d.name


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "settings.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert json.loads(target.read_text()) == {"a": 1}  # old content intact
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]  # no temp left behind


def test_list_jobs_newest_first_and_skips_junk(tmp_path: Path) -> None:
    import os
    import time

    a = new_job_dir(tmp_path, "a")
    write_settings(a, {"task": "interpolate", "status": "done"})
    b = new_job_dir(tmp_path, "b")
    write_settings(b, {"task": "interpolate", "status": "stopped"})
    os.utime(a, (time.time() - 100, time.time() - 100))
    (new_job_dir(tmp_path, "junk") / "settings.json").write_text("{not json")
    jobs = list_jobs(tmp_path)
    assert [j.folder for j in jobs] == [b, a]
    assert jobs[0].status == "stopped"
