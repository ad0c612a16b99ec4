"""Run callback-style work in a thread and read its callbacks and yields as one ordered stream.

Model loops report per-step progress through callbacks (they must not know about the UI); a task
function is a generator. A worker thread plus a queue turns one into the other without the task
having to poll, and exceptions from the worker re-raise in the reader.

Callbacks never block the worker (bounded queue), but a *yielded* item is a hand-over point: the
worker waits until the reader asks for the next item, exactly like a plain generator. So when the
reader reacts to a finished section (writes its mp4, sees Stop), the next section has not started.
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
    resume = threading.Event()

    def put(item: Any, handover: bool = False) -> None:
        while not abandoned.is_set():
            try:
                q.put((handover, item), timeout=0.2)
                break
            except queue.Full:
                continue
        else:
            if item is not _DONE:
                raise _ReaderGone
            return
        if handover:
            while not resume.wait(timeout=0.2):
                if abandoned.is_set():
                    raise _ReaderGone
            resume.clear()

    def run() -> None:
        try:
            for item in work(put):
                put(item, handover=True)
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
            handover, item = q.get()
            if item is _DONE:
                break
            yield item
            if handover:
                resume.set()
    finally:
        abandoned.set()
        resume.set()
        thread.join(timeout=600)
    if failure:
        raise failure[0]
