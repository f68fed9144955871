"""SandboxConfig validation and the local backend's opt-in (no Docker needed)."""
from __future__ import annotations

import pytest

from sandbox.base import BACKENDS, ExecResult, open_sandbox
from sandbox.config import MIB, SandboxConfig, parse_size
from sandbox.errors import SandboxConfigError, UnsafeBackendRefused
from sandbox.image import add_user, apt_mirror
from sandbox.local_backend import OPT_IN_ENV


def test_defaults_are_the_safe_ones():
    c = SandboxConfig()
    assert (c.network_mode, c.memory_bytes, c.pids, c.read_only) == ("none", 1024**3, 256, True)
    assert c.cap_drop == ("ALL",) and c.no_new_privileges and c.uid != 0
    assert c.output_limit == MIB and c.resolved_pool_size >= 1


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"memory": "lots"}, "memory"),
        ({"user": "0:0"}, "root"),
        ({"user": "nobody"}, "numeric"),
        ({"pids": 0}, "pids"),
        ({"cpus": -1}, "cpus"),
        ({"workdir": "work"}, "absolute"),
        ({"workdir": "/tmp"}, "workdir"),
        ({"network_mode": "my-net"}, "none"),
        ({"output_limit": 10}, "output_limit"),
        ({"exec_timeout": 0}, "exec_timeout"),
        ({"pool_size": 0}, "pool_size"),
    ],
)
def test_bad_values_raise_one_clear_message(kw, words):
    with pytest.raises(SandboxConfigError, match=words):
        SandboxConfig(**kw)


def test_sizes_labels_and_hashability():
    assert parse_size("512m", "x") == 512 * MIB and parse_size("1GiB", "x") == 1024**3
    c = SandboxConfig(labels={"b": "2", "a": 1}, user="20000")
    assert c.labels == (("a", "1"), ("b", "2")) and c.user == "20000:20000"
    assert hash(c) == hash(SandboxConfig(labels={"a": "1", "b": "2"}, user="20000:20000"))


def test_registry_knows_both_backends():
    assert {"docker", "local"} <= set(BACKENDS.names())


def test_local_backend_refuses_without_opt_in(monkeypatch):
    monkeypatch.delenv(OPT_IN_ENV, raising=False)
    with pytest.raises(UnsafeBackendRefused, match="NOT isolation"):
        open_sandbox("local")


@pytest.mark.filterwarnings("ignore:fireassay local sandbox")
def test_local_backend_with_opt_in_runs_limits_and_cleans_up(tmp_path):
    sb = open_sandbox("local", SandboxConfig(output_limit=4096), allow_unsafe=True)
    try:
        sb.write_files({"d/x.py": "import sys; print(sys.stdin.read().upper())"})
        r = sb.exec(["python3", "d/x.py"], stdin=b"hi")
        assert isinstance(r, ExecResult) and r.ok and r.stdout == b"HI\n"
        r = sb.exec(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
        assert r.timed_out and r.returncode == -9 and r.duration_s < 5
        r = sb.exec(["python3", "-c", "print('x' * 100000)"])
        assert r.truncated and len(r.stdout) == 4096
        with pytest.raises(ValueError):
            sb.write_files({"../escape": "x"})
        sb.reset()
        with pytest.raises(FileNotFoundError):
            sb.read_file("d/x.py")
    finally:
        sb.close()


def test_apt_mirror_reads_deb822_and_one_line_sources(tmp_path):
    a = tmp_path / "x.sources"
    a.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
                 "Components: main\n\nTypes: deb\nURIs: http://sec.example\nSuites: bookworm-security\n")
    b = tmp_path / "sources.list"
    b.write_text("# comment\ndeb [arch=amd64] http://old.example/debian bookworm main\n")
    assert apt_mirror("bookworm", [a]) == "http://mirror.example/debian"
    assert apt_mirror("bookworm", [b]) == "http://old.example/debian"
    assert apt_mirror("trixie", [a, b]) == "http://deb.debian.org/debian"


def test_add_user_is_idempotent(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text("root:x:0:\n")
    add_user(tmp_path, 10001)
    add_user(tmp_path, 10001)
    lines = (etc / "passwd").read_text().splitlines()
    assert lines.count("sandbox:x:10001:10001:fireassay sandbox:/work:/usr/sbin/nologin") == 1


@pytest.mark.filterwarnings("ignore:fireassay local sandbox")
def test_pool_over_the_local_backend_needs_the_opt_in_too(monkeypatch):
    from sandbox.pool import SandboxPool

    monkeypatch.delenv(OPT_IN_ENV, raising=False)
    with pytest.raises(UnsafeBackendRefused):
        SandboxPool(2, backend="local")
    with SandboxPool(2, backend="local", allow_unsafe=True) as pool:
        def job(sb, i):
            sb.write_files({"x.txt": str(i)})
            return sb.exec(["sh", "-c", "cat x.txt; ls | wc -l"]).stdout

        assert pool.map(job, range(6)) == [f"{i}1\n".encode() for i in range(6)]


@pytest.mark.filterwarnings("ignore:fireassay local sandbox")
def test_backend_options_are_checked_before_anything_starts(tmp_path, monkeypatch):
    """A misspelled backend keyword is one error naming the valid ones (the local backend took
    **_ and dropped it); a misspelled backend, the closest name. Nothing is made either way."""
    import tempfile

    from sandbox.options import UnknownOptionError
    from sandbox.pool import SandboxPool
    from sandbox.registry import UnknownNameError

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a local sandbox would be
    with pytest.raises(UnknownOptionError, match=r"'allow_unsafee' \(did you mean 'allow_unsafe'\?\)"):
        open_sandbox("local", allow_unsafe=True, allow_unsafee=True)
    with pytest.raises(UnknownOptionError, match="valid: allow_unsafe, config, kind, run_id"):
        SandboxPool(2, backend="local", allow_unsafe=True, clinet=None)
    with pytest.raises(UnknownNameError, match="Did you mean 'docker'"):
        SandboxPool(2, backend="dockr")
    assert list(tmp_path.iterdir()) == []  # no sandbox was made


def test_backends_declare_what_the_pool_and_the_runner_read():
    """The capability the executor reads (a sandbox of its own: the runner may kill every
    process of its uid) is declared on every backend; only docker has it."""
    from sandbox.base import Sandbox

    assert Sandbox.owns_user is False and Sandbox.broken is False and Sandbox.quiet is False
    owns = {name: BACKENDS.get(name).owns_user for name in ("docker", "local")}
    assert owns == {"docker": True, "local": False}
    assert {name: BACKENDS.get(name).backend for name in owns} == {"docker": "docker", "local": "local"}
