import threading

import numpy as np
import pytest

from vr_env.video import FrameCache, shared_frame_cache


def arr(nbytes: int, value: int = 0) -> np.ndarray:
    return np.full(nbytes, value, np.uint8)


def test_bounded_by_bytes_and_lru_order():
    cache = FrameCache(max_bytes=300)
    for k in "abc":
        cache.put(k, arr(100))
    assert cache.nbytes == 300 and cache.keys() == ["a", "b", "c"]
    assert cache.get("a") is not None  # a becomes most recently used
    cache.put("d", arr(100))  # evicts b, the least recently used
    assert cache.keys() == ["c", "a", "d"] and "b" not in cache
    cache.put("e", arr(250))  # needs room for 250 bytes: evicts c and a and d
    assert cache.keys() == ["e"] and cache.nbytes == 250
    assert cache.get("b") is None


def test_replace_oversize_and_shrink():
    cache = FrameCache(max_bytes=300)
    cache.put("a", arr(100))
    cache.put("a", arr(200, 7))
    assert cache.nbytes == 200 and cache.get("a")[0] == 7
    big = cache.put("big", arr(301))
    assert "big" not in cache and big.nbytes == 301  # returned, not stored
    cache.put("b", arr(100))
    cache.max_bytes = 150
    assert cache.keys() == ["b"] and cache.nbytes == 100
    with pytest.raises(ValueError):
        cache.max_bytes = -1


def test_stored_arrays_are_read_only():
    cache = FrameCache(1000)
    stored = cache.put("a", arr(10))
    with pytest.raises(ValueError):
        stored[0] = 1


def test_infos_and_clear():
    cache = FrameCache(1000, max_infos=2)
    for k in "abc":
        cache.put_info(k, 1)
    assert cache.get_info("a") is None and cache.get_info("c") == 1
    cache.put("x", arr(10))
    cache.clear()
    assert len(cache) == 0 and cache.nbytes == 0 and cache.get_info("c") is None


def test_shared_cache_is_one_object():
    assert shared_frame_cache() is shared_frame_cache()


def test_threads_keep_the_bound():
    cache = FrameCache(max_bytes=5000)

    def work(t: int) -> None:
        for i in range(300):
            cache.put((t, i % 37), arr(100 + i % 50))
            cache.get((t, (i * 7) % 37))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert cache.nbytes <= 5000
    assert cache.nbytes == sum(cache.get(k).nbytes for k in cache.keys())  # noqa: SIM118 (keys() is a locked snapshot)
