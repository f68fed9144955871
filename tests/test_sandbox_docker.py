"""The docker backend against a real daemon: limits applied, exec semantics, files, reap."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import tracemalloc

import pytest

from sandbox.base import open_sandbox
from sandbox.errors import SandboxBroken
from sandbox.labels import L_PID, L_RUN, L_TOOL
from sandbox.reap import reap
from tests.sandbox_helpers import REPO, TEST_CONFIG, containers_of_run, docker_client

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client():
    return docker_client()


@pytest.fixture(scope="module")
def sb(client):
    s = open_sandbox("docker", TEST_CONFIG, run_id="test-docker", client=client)
    yield s
    s.close()


def test_container_limits_are_applied(sb):
    sb.container.reload()
    attrs = sb.container.attrs
    hc, cfg = attrs["HostConfig"], attrs["Config"]
    assert hc["NetworkMode"] == "none"
    assert hc["ReadonlyRootfs"] is True
    assert hc["CapDrop"] == ["ALL"]
    assert any(o.startswith("no-new-privileges") for o in hc["SecurityOpt"])
    assert hc["Memory"] == 256 * 1024**2 and hc["MemorySwap"] == hc["Memory"]  # no swap
    assert hc["PidsLimit"] == 128 and hc["NanoCpus"] == 1_000_000_000
    assert "size=67108864" in hc["Tmpfs"]["/work"]
    assert cfg["User"] == "10001:10001"
    assert {u["Name"]: u["Hard"] for u in hc["Ulimits"]} == {"nofile": 4096, "core": 0}
    assert cfg["Labels"][L_TOOL] == "fireassay" and cfg["Labels"][L_RUN] == "test-docker"
    # and as seen from inside
    r = sb.exec(["sh", "-c", "id -u; grep -c . /proc/net/dev; grep CapEff /proc/self/status;"
                 "grep NoNewPrivs /proc/self/status; touch /usr/x 2>&1 || true"])
    out = r.text()
    lines = out.splitlines()
    assert lines[0] == "10001"
    assert lines[1] == "3"  # header lines + lo only: no network interface but loopback
    assert "CapEff:\t0000000000000000" in out and "NoNewPrivs:\t1" in out
    assert "Read-only file system" in out


def test_exec_basics(sb):
    r = sb.exec(["sh", "-c", "cat; echo oops >&2; pwd; exit 7"], stdin=b"in-put\n")
    assert (r.returncode, r.stdout, r.stderr) == (7, b"in-put\n/work\n", b"oops\n")
    assert not r.timed_out and not r.truncated and r.duration_s > 0
    big = bytes(range(256)) * 8192  # 2 MiB of binary stdin, echoed back through the cap
    r = sb.exec(["python3", "-c", "import sys,hashlib; print(hashlib.sha256(sys.stdin.buffer.read())"
                 ".hexdigest())"], stdin=big)
    import hashlib

    assert r.ok and r.text().strip() == hashlib.sha256(big).hexdigest()
    r = sb.exec(["python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"])
    assert r.returncode == -15


def test_files_round_trip_and_stay_inside(sb):
    sb.write_files({"pkg/a.py": "X = 41\n", "main.py": b"from pkg.a import X\nprint(X + 1)\n"})
    assert sb.read_file("pkg/a.py") == b"X = 41\n"
    assert sb.exec(["python3", "main.py"]).stdout == b"42\n"
    with pytest.raises(ValueError):
        sb.write_files({"../etc/passwd": "x"})
    with pytest.raises(ValueError):
        sb.write_files({"/etc/passwd": "x"})
    with pytest.raises(FileNotFoundError):
        sb.read_file("nope.txt")


def test_timeout_is_hard_and_kills_the_whole_tree(sb):
    t0 = time.monotonic()
    r = sb.exec(["sh", "-c", "setsid sleep 300 & python3 -c 'while True: pass'"], timeout=1.0)
    assert r.timed_out and r.returncode == -9
    # 1 s limit + in-container kill (<= 3 s) + maybe an outside kill, on a loaded machine
    assert time.monotonic() - t0 < 15
    # nothing of the sandbox user survives: only PID 1 and this `ps`-less probe itself
    r = sb.exec(["sh", "-c", "for p in /proc/[0-9]*; do echo ${p#/proc/}; done"])
    pids = {int(p) for p in r.text().split()}
    assert len(pids - {1}) <= 2, pids  # the probe's sh (and its short-lived child)


def test_output_is_capped_while_streaming(sb):
    tracemalloc.start()
    r = sb.exec(["python3", "-c", "import sys\nfor _ in range(100): sys.stdout.write('x' * 1048576)\n"
                 "sys.stderr.write('e' * 10)"], timeout=60)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert r.returncode == 0 and r.truncated
    assert len(r.stdout) == TEST_CONFIG.output_limit and r.stderr == b"e" * 10
    assert peak < 16 * 1024**2, f"{peak / 1e6:.0f} MB held while reading a 100 MB flood"


def test_reset_wipes_and_kills(sb):
    sb.exec(["sh", "-c", "echo a > /work/f; echo b > /tmp/g; echo c > /dev/shm/h; "
             "mkdir /work/locked; touch /work/locked/x; chmod 000 /work/locked; "
             "setsid sh -c 'sleep 300' >/dev/null 2>&1 &"])
    sb.reset()
    r = sb.exec(["sh", "-c", "ls -A /work /tmp /dev/shm; for p in /proc/[0-9]*; do "
                 "cat $p/cmdline 2>/dev/null | tr '\\0' ' '; echo; done"])
    assert "sleep 300" not in r.text() and "locked" not in r.text() and "g" not in r.text().split()


def test_dead_container_is_reported_broken_not_failed(client):
    s = open_sandbox("docker", TEST_CONFIG, run_id="test-docker", client=client)
    try:
        s.container.kill()
        with pytest.raises(SandboxBroken):
            s.exec(["true"])
        assert not s.healthy()
    finally:
        s.close()


def test_reap_removes_containers_of_dead_owners_only(client, sb):
    code = textwrap.dedent(
        """
        import os, sys
        sys.path.insert(0, sys.argv[1])
        from sandbox.base import open_sandbox
        from sandbox.config import SandboxConfig
        s = open_sandbox("docker", SandboxConfig(memory="64m"), run_id="test-reap")
        print(s.name, flush=True)
        os._exit(0)  # dies without closing: the container is left behind
        """
    )
    out = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    left = containers_of_run(client, "test-reap")
    assert [c.name for c in left] == out
    assert left[0].labels[L_PID] != str(__import__("os").getpid())
    rep = reap(client)
    assert out[0] in rep.removed
    assert containers_of_run(client, "test-reap") == []
    # our own (live owner) sandbox is kept
    assert sb.healthy() and rep.kept_alive_owner >= 1


def test_missing_image_is_one_clear_error_without_pull_attempts(client):
    from sandbox.errors import SandboxError

    t0 = time.monotonic()
    with pytest.raises(SandboxError, match="fireassay sandbox build"):
        open_sandbox("docker", TEST_CONFIG.with_(image="fireassay/none:missing"), client=client)
    assert time.monotonic() - t0 < 20
