"""Keeps the last loaded model family in host memory between jobs.

Loading a 40 GB family takes minutes, so consecutive jobs on the same preset reuse it; switching
preset drops the old one first so two families never sit in RAM together.
"""
from __future__ import annotations

import gc
import threading
from pathlib import Path
from typing import Any, Callable


class ModelCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._value: Any = None

    def get(self, key: tuple, load: Callable[[], Any]) -> Any:
        with self._lock:
            if self._key != key:
                self._key, self._value = None, None
                gc.collect()  # free the previous family before the next one is read
                self._value = load()
                self._key = key
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._key, self._value = None, None
        gc.collect()


def cache_key(preset_id: str, paths: dict[str, Path], dtypes: dict[str, Any]) -> tuple:
    return (preset_id, tuple(sorted((k, str(v)) for k, v in paths.items())), tuple(sorted(map(str, dtypes.items()))))
