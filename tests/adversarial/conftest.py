"""The standing adversarial suite: hostile candidates grouped by what they attack.

Every test here is marked ``adversarial`` (``make test`` runs them with the rest;
``make test-adversarial`` runs only these). A hostile test checks two things: the hostile
candidate's verdict, and that the honest candidates judged in the SAME runner exec (after it,
where anything it leaves behind would meet them) get exactly the verdicts they get alone.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.adversarial.helpers import POOL_CONFIG, Bench

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.adversarial)


@pytest.fixture(scope="session")
def docker_executor():
    """One warm Docker pool (2 sandboxes) for every code-runner test of the suite."""
    from tests.sandbox_helpers import docker_client
    from verifiers.code.executors import SandboxExecutor

    docker_client()  # fails with the fix when there is no daemon or image
    ex = SandboxExecutor(backend="docker", pool_size=2, config=POOL_CONFIG)
    yield ex
    ex.close()


@pytest.fixture(scope="session")
def expected_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("expected"))


@pytest.fixture(scope="session")
def docker_bench(docker_executor, expected_dir):
    """Judging on the real Docker pool (every hostile payload is safe there)."""
    return Bench(docker_executor, expected_dir)


@pytest.fixture(scope="session")
def host_bench(expected_dir):
    """Judging on the UNSAFE host executor: only for payloads harmless to this machine."""
    from verifiers.code.executors import HostExecutor

    return Bench(HostExecutor(workers=1), expected_dir)


@pytest.fixture(params=["host", pytest.param("docker", marks=pytest.mark.docker)])
def bench(request):
    """Both executors, for attacks on the runner's channel that are harmless on the host."""
    return request.getfixturevalue(f"{request.param}_bench")


# this session's own: another session running the suite at the same time (the machine is
# shared) has containers of its own, which the checks of the pool's size must not count
EXEC_RUN_ID = f"test-adversarial-{os.getpid()}"


@pytest.fixture(scope="session")
def exec_pool():
    """A pool for exec-level attacks (raw commands, no runner), small limits."""
    from sandbox.pool import SandboxPool
    from tests.sandbox_helpers import TEST_CONFIG, containers_of_run, docker_client

    client = docker_client()
    p = SandboxPool(2, config=TEST_CONFIG, run_id=EXEC_RUN_ID)
    yield p
    p.close()
    assert containers_of_run(client, EXEC_RUN_ID) == [], "the pool left containers behind"


def still_works(pool) -> None:
    """The honest neighbour of an exec-level attack: every worker answers, starts clean (no
    files, no IPC objects, no process of the sandbox user), and the pool has its size."""
    from tests.sandbox_helpers import containers_of_run, docker_client

    probe = ("ls -A /work /tmp /dev/shm /dev/mqueue; ipcs -m -q -s | grep -c '^0x'; echo ok")

    def job(sb, i):
        return sb.exec(["sh", "-c", probe]).stdout

    # ls names the four empty folders; no IPC object
    clean = b"/dev/mqueue:\n\n/dev/shm:\n\n/tmp:\n\n/work:\n0\nok\n"
    assert pool.map(job, range(4)) == [clean] * 4
    live = [c for c in containers_of_run(docker_client(), EXEC_RUN_ID) if c.status == "running"]
    assert len(live) == pool.size
