"""Attacks on the isolation itself: the network and the file system outside the work dir."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.adversarial.conftest import still_works
from tests.sandbox_helpers import docker_client

pytestmark = pytest.mark.docker


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


def test_no_connection_to_a_server_on_the_host(exec_pool):
    client = docker_client()
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
        with exec_pool.lease() as sb:
            r = sb.exec(["python3", "-c", code], timeout=20)
        assert r.returncode == 0 and b"CONNECTED" not in r.stdout, r.stdout
        assert r.stdout.count(b"refused") == len(ips)
        time.sleep(0.3)
        assert len(accepted) == 1, f"the sandbox reached the host: {accepted[1:]}"
    finally:
        stop.set()
        t.join(2)
        srv.close()
    still_works(exec_pool)


def test_writes_outside_the_work_dir_fail(exec_pool):
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
    with exec_pool.lease() as sb:
        r = sb.exec(["python3", "-c", code])
    assert r.returncode == 0 and b"WROTE" not in r.stdout, r.stdout
    assert r.stdout.count(b"denied") == 8 and b"work ok" in r.stdout
    still_works(exec_pool)


def test_ipc_sysctls_are_not_writable_from_inside(exec_pool):
    """The IPC limits are the container's (namespaced sysctls), read-only to the candidate."""
    with exec_pool.lease() as sb:
        r = sb.exec(["sh", "-c", "echo 999999999999 > /proc/sys/kernel/shmmax && echo WROTE; "
                     "cat /proc/sys/kernel/shmmax"])
    assert b"WROTE" not in r.stdout
    assert int(r.stdout.split()[-1]) <= exec_pool.config.shm_bytes
    still_works(exec_pool)
