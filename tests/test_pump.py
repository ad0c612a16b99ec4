import pytest

from studio.pump import pump


def test_callbacks_and_yields_arrive_in_order() -> None:
    def work(emit):
        for i in range(3):
            emit(("step", i))
            yield ("section", i)

    assert list(pump(work)) == [("step", 0), ("section", 0), ("step", 1), ("section", 1), ("step", 2), ("section", 2)]


def test_worker_errors_reraise_after_what_was_produced() -> None:
    def work(emit):
        yield 1
        raise MemoryError("simulated")

    got = []
    with pytest.raises(MemoryError):
        for item in pump(work):
            got.append(item)
    assert got == [1]


def test_reader_stopping_early_releases_the_worker() -> None:
    def work(emit):
        for i in range(10_000):
            emit(i)
            yield i

    produced = []

    def counted(emit):
        for i in work(emit):
            produced.append(i)
            yield i

    stream = pump(counted, maxsize=2)
    assert next(stream) == 0
    stream.close()  # must not hang on a full queue, and the worker must stop producing
    assert len(produced) < 10


def test_worker_does_not_run_past_a_yield_until_the_reader_asks() -> None:
    started = []

    def work(emit):
        for i in range(3):
            started.append(i)
            emit(("step", i))
            yield ("section", i)

    stream = pump(work)
    assert next(stream) == ("step", 0)
    assert next(stream) == ("section", 0)
    import time

    time.sleep(0.3)
    assert started == [0]  # section 1 waits for the reader
    assert next(stream) == ("step", 1)
    stream.close()
