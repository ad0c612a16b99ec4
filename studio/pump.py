"""Run callback-style work in a thread and read its callbacks and yields as one ordered stream.

Model loops report per-step progress through callbacks (they must not know about the UI); a task
function is a generator. A worker thread plus a queue turns one into the other without the task
having to poll, and exceptions from the worker re-raise in the reader.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator

_DONE = object()


class _ReaderGone(Exception):
    """Raised inside the worker when nobody reads any more, so it stops instead of running on."""


def pump(work: Callable[[Callable[[Any], None]], Iterator[Any]], maxsize: int = 64) -> Iterator[Any]:
    """`work(emit)` returns an iterator; yields everything it emits or yields, in order."""
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    failure: list[BaseException] = []
    abandoned = threading.Event()

    def put(item: Any) -> None:
        while not abandoned.is_set():
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        if item is not _DONE:
            raise _ReaderGone

    def run() -> None:
        try:
            for item in work(put):
                put(item)
        except _ReaderGone:
            pass
        except BaseException as err:  # handed to the reader, which re-raises it
            failure.append(err)
        finally:
            put(_DONE)

    thread = threading.Thread(target=run, name="studio-job", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                break
            yield item
    finally:
        abandoned.set()
        thread.join(timeout=600)
    if failure:
        raise failure[0]
