"""Hostile code at the exec level: each attack fails cleanly, the pool survives, the next job
starts clean, and no container is left behind."""
from __future__ import annotations

import socket
import threading
import time
import tracemalloc

import pytest

from sandbox.pool import SandboxPool
from tests.sandbox_helpers import TEST_CONFIG, containers_of_run, docker_client

pytestmark = pytest.mark.docker

RUN_ID = "test-hostile"


@pytest.fixture(scope="module")
def client():
    return docker_client()


@pytest.fixture(scope="module")
def pool(client):
    p = SandboxPool(2, config=TEST_CONFIG, run_id=RUN_ID)
    yield p
    p.close()
    assert containers_of_run(client, RUN_ID) == [], "the pool left containers behind"


def py(code: str) -> list[str]:
    return ["python3", "-c", code]


def still_works(pool: SandboxPool) -> None:
    """Both workers answer, start clean, and the pool has exactly its size of containers."""
    def probe(sb, i):
        return sb.exec(["sh", "-c", "ls -A /work /tmp; echo ok"]).stdout

    assert pool.map(probe, range(4)) == [b"/tmp:\n\n/work:\nok\n"] * 4
    live = [c for c in containers_of_run(docker_client(), RUN_ID) if c.status == "running"]
    assert len(live) == pool.size


def test_fork_bomb(pool):
    with pool.lease() as sb:
        r = sb.exec(py("import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"),
                    timeout=3)
    assert r.timed_out and r.returncode == -9
    still_works(pool)


def test_memory_bomb(pool):
    with pool.lease() as sb:
        r = sb.exec(py("b = b'x' * (1024 ** 3)\nprint(len(b))"), timeout=30)
    assert not r.ok and r.stdout == b""
    assert r.returncode == -9 or b"MemoryError" in r.stderr
    still_works(pool)


def test_infinite_loop_and_sleep_past_the_limit(pool):
    def job(sb, code):
        return sb.exec(py(code), timeout=1.5)

    for r in pool.map(job, ["while True: pass", "import time; time.sleep(3600)"]):
        assert r.timed_out and r.returncode == -9 and r.duration_s < 15
    still_works(pool)


def test_flood_of_100_mb(pool):
    tracemalloc.start()
    with pool.lease() as sb:
        r = sb.exec(py("import os\nfor _ in range(100): os.write(1, b'y' * (1 << 20))"), timeout=60)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert r.truncated and len(r.stdout) == TEST_CONFIG.output_limit
    assert peak < 16 * 1024**2
    still_works(pool)


def _iface_ip(name: str) -> str | None:
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            req = struct.pack("256s", name.encode()[:15])
            return socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])  # SIOCGIFADDR
        except OSError:
            return None


def _host_ips(client) -> list[str]:
    """Loopback, the docker bridge's host side, and the host's own address."""
    ips = ["127.0.0.1"]
    bridge = client.networks.get("bridge").attrs
    for cfg in bridge.get("IPAM", {}).get("Config") or []:
        if cfg.get("Gateway"):
            ips.append(cfg["Gateway"])
    ips.append(_iface_ip(bridge.get("Options", {}).get("com.docker.network.bridge.name", "docker0"))
               or "")
    try:
        ips.append(socket.gethostbyname(socket.gethostname()))
    except OSError:
        pass
    return list(dict.fromkeys(ip for ip in ips if ip))


def test_no_connection_to_a_server_on_the_host(pool, client):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    accepted: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, addr = srv.accept()
                accepted.append(addr)
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        # sanity: the server does accept connections from the host itself
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        time.sleep(0.3)
        assert len(accepted) == 1
        ips = _host_ips(client)
        assert len(ips) >= 2, "no docker bridge gateway found to attack"
        code = (
            "import socket, sys\n"
            f"for ip in {ips!r}:\n"
            "    try:\n"
            f"        socket.create_connection((ip, {port}), timeout=2).close()\n"
            "        print('CONNECTED', ip)\n"
            "    except OSError as e:\n"
            "        print('refused', ip, type(e).__name__)\n"
        )
        with pool.lease() as sb:
            r = sb.exec(py(code), timeout=20)
        assert r.returncode == 0 and b"CONNECTED" not in r.stdout, r.stdout
        assert r.stdout.count(b"refused") == len(ips)
        time.sleep(0.3)
        assert len(accepted) == 1, f"the sandbox reached the host: {accepted[1:]}"
    finally:
        stop.set()
        t.join(2)
        srv.close()
    still_works(pool)


def test_writes_outside_the_work_dir_fail(pool):
    code = (
        "import os\n"
        "for p in ['/etc/evil', '/usr/lib/evil', '/evil', '/var/tmp/evil', '/root/evil',\n"
        "          '/proc/sys/kernel/evil', '/sys/evil', '/home/evil']:\n"
        "    try:\n"
        "        open(p, 'w').write('x'); print('WROTE', p)\n"
        "    except OSError as e:\n"
        "        print('denied', p)\n"
        "open('/work/ok', 'w').write('fine'); print('work ok')\n"
    )
    with pool.lease() as sb:
        r = sb.exec(py(code))
    assert r.returncode == 0 and b"WROTE" not in r.stdout, r.stdout
    assert r.stdout.count(b"denied") == 8 and b"work ok" in r.stdout
    still_works(pool)


def test_background_process_is_dead_before_the_next_job(pool):
    # a daemon that waits, then tampers with the work dir; plus files in /work and /tmp
    evil = ("import os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(0.5)\n"
            "        while True:\n"
            "            open('/work/tampered', 'a').write('x'); time.sleep(0.05)\n"
            "    os._exit(0)\n"
            "open('/work/left.txt', 'w').write('secret'); open('/tmp/left.txt', 'w').write('s')\n")
    with pool.lease() as sb:
        first = sb.id
        r = sb.exec(py(evil))
        assert r.returncode == 0
    with pool.lease() as sb:  # LIFO: the same container comes back, reset
        assert sb.id == first
        time.sleep(1.0)  # long enough for a surviving daemon to have written
        r = sb.exec(["sh", "-c", "ls -A /work /tmp; for p in /proc/[0-9]*; do "
                     "tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done"])
    out = r.text()
    assert "tampered" not in out and "left.txt" not in out, out
    assert "time.sleep" not in out and "fork" not in out, out
    still_works(pool)


def test_nothing_keeps_running_after_a_map(pool, client):
    """Resets are folded into the next job's exec; map() flushes them, so a hog left by the
    last jobs does not keep burning CPU in an idle pool (seen from the host with `docker top`)."""
    def job(sb, i):
        return sb.exec(["sh", "-c", "setsid sh -c 'while :; do :; done' >/dev/null 2>&1 & echo"]).ok

    assert pool.map(job, range(4)) == [True] * 4
    for c in containers_of_run(client, RUN_ID):
        procs = c.top()["Processes"]
        assert len(procs) == 1 and "python3" in " ".join(procs[0]), procs
    still_works(pool)


def test_a_fork_bomb_left_running_does_not_eat_the_next_jobs_time(pool):
    bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"
    with pool.lease() as sb:
        first = sb.id
        r = sb.exec(["sh", "-c", f"setsid python3 -c '{bomb}' >/dev/null 2>&1 & echo left"])
        assert r.ok
    # the kill-and-wipe before this command fights the bomb and its time is not the job's;
    # if it loses, the sandbox is replaced and map() runs the job again (an infra retry)
    retries = pool.stats.infra_retries
    [(r, same)] = pool.map(
        lambda sb, _: (sb.exec(["python3", "-c", "print('clean start')"], timeout=2),
                       sb.id == first), [None])
    assert r.ok and r.stdout == b"clean start\n", r
    assert r.duration_s < 2
    assert same or pool.stats.infra_retries == retries + 1
    still_works(pool)
