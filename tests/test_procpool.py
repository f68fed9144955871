"""The killable worker pool: hard timeouts, memory caps and crashes never stall a batch."""
from __future__ import annotations

import os
import time

from sandbox.procpool import ProcessPool


def test_results_in_order_and_errors_per_call():
    with ProcessPool("tests.poolfns:work", workers=2, timeout=5) as pool:
        res = pool.map([("ok", 1), ("raise", 2), ("ok", 3)])
    assert [r.ok for r in res] == [True, False, True]
    assert res[0].value == 1 and res[2].value == 3
    assert "ValueError" in res[1].error


def test_hang_is_killed_and_rest_of_batch_continues():
    with ProcessPool("tests.poolfns:work", workers=1, timeout=1.5, chunk_size=8) as pool:
        t0 = time.monotonic()
        res = pool.map([("ok", 1), ("hang", 0), ("ok", 2), ("ok", 3)])
        took = time.monotonic() - t0
    assert [r.ok for r in res] == [True, False, True, True]
    assert "timeout" in res[1].error
    assert took < 20


def test_memory_bomb_hits_the_cap_and_crash_is_survived():
    with ProcessPool("tests.poolfns:work", workers=1, timeout=20, memory_mb=512) as pool:
        res = pool.map([("alloc", 0), ("exit", 0), ("ok", 5)])
    assert not res[0].ok and "Memory" in res[0].error
    assert not res[1].ok and "died" in res[1].error
    assert res[2].ok and res[2].value == 5


def test_workers_do_not_outlive_close():
    pool = ProcessPool("tests.poolfns:work", workers=2, timeout=5)
    pool.map([("ok", 1)] * 4)
    pids = [w.proc.pid for w in pool._workers]
    pool.close()
    time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive = os.waitpid(pid, os.WNOHANG) == (0, 0)
        except (ProcessLookupError, ChildProcessError):
            alive = False
        assert not alive
