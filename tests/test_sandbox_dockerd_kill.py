"""Kill dockerd in the middle of a batch of pool jobs and start it again: no job is reported
as a completed failure because of it; the batch finishes once the daemon is back."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest

from sandbox.pool import SandboxPool
from tests.sandbox_helpers import TEST_CONFIG, containers_of_run, docker_client, ensure_dockerd

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RUN_ID = "test-dockerd-kill"


def _dockerd_pid() -> int | None:
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def test_batch_survives_a_dockerd_kill_and_restart():
    if os.geteuid() != 0:
        pytest.skip("needs root to kill and restart dockerd")
    if os.path.isdir("/run/systemd/system") and not os.environ.get("FIREASSAY_TEST_KILL_DOCKERD"):
        pytest.skip("dockerd is managed by systemd here; set FIREASSAY_TEST_KILL_DOCKERD=1 to "
                    "let this test kill it and start one by hand")
    client = docker_client()
    pid = _dockerd_pid()
    if pid is None:
        pytest.skip("dockerd is not a local process here (remote daemon or other manager)")
    pool = SandboxPool(2, config=TEST_CONFIG.with_(infra_retry_s=120), run_id=RUN_ID)
    killed = threading.Event()
    restarted = threading.Event()
    errors: list[BaseException] = []

    def killer() -> None:
        try:
            while pool.stats.leases < 6:
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
            killed.set()
            time.sleep(2.0)  # jobs hit a dead daemon meanwhile
            ensure_dockerd()
            restarted.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    def job(sb, i):
        return i, sb.exec(["python3", "-c", f"import time; time.sleep(0.2); print({i})"],
                          timeout=30)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    try:
        results = pool.map(job, range(30))
    finally:
        t.join(180)
        ensure_dockerd()  # whatever happened, the rest of the suite gets a daemon
        pool.close()
    assert not errors, errors
    assert killed.is_set() and restarted.is_set()
    # every job completed with its real result; none was turned into a failure
    for i, (j, r) in enumerate(results):
        assert j == i and r.returncode == 0 and not r.timed_out, (i, r)
        assert r.stdout == f"{i}\n".encode()
    assert pool.stats.infra_retries >= 1, "the kill did not hit any job; the test proved nothing"
    assert _dockerd_pid() not in (None, pid)
    assert containers_of_run(docker_client(), RUN_ID) == []
    del client
