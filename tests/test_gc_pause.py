"""The identification chunks run with cyclic garbage collection paused, and always give it back."""

import gc

import pytest

from connectors_site.common.gc_pause import collect_between_chunks


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_inside_and_back_after(collector_on):
    with collect_between_chunks():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_back_after_an_error(collector_on):
    with pytest.raises(RuntimeError), collect_between_chunks():
        raise RuntimeError("chunk failed")
    assert gc.isenabled()


def test_left_off_if_it_was_off(collector_on):
    gc.disable()
    with collect_between_chunks():
        pass
    assert not gc.isenabled()


def test_process_records_pauses_each_chunk(collector_on, monkeypatch):
    from assets import services

    seen = []

    def chunk(*args, **kwargs):
        seen.append(gc.isenabled())
        return services.ProcessResult(received=len(args[1]))

    monkeypatch.setattr(services, "process_chunk", chunk)
    result = services.process_records(object(), [object()] * 5, chunk_size=2, config=object())
    assert seen == [False, False, False] and result.received == 5
    assert gc.isenabled()
