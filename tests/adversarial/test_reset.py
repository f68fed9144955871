"""Attacks on the reset: what one program leaves behind (files, IPC objects, processes) must
never reach the next program of the same runner exec, nor the next job of the sandbox."""
from __future__ import annotations

import time

import pytest

from tests.adversarial.conftest import still_works
from tests.adversarial.helpers import GOOD, LIMITS, MEMO, SLOW_GOOD, WRONG, hostile

pytestmark = pytest.mark.docker


# -- hole 6: files between the programs of one batch -------------------------------------------

WRONG_MEMO = ('{"1,2": 0, "123456000,789": 0, "-5,5": 1, "100000000000000000000,1": 0, '
              '"2,3": 0}')


def test_files_never_reach_the_next_program(docker_bench):
    """Red-team hole 6: /tmp and the work dir were wiped between jobs only, so the next
    program of the same runner exec found the previous one's files. A planted memo file
    changed an honest neighbour's answers."""
    (v,) = docker_bench.together([hostile(
        "import os\n"
        "def add(a, b):\n"
        "    for path in ('/tmp/add-memo.json', 'add-memo.json', '/dev/shm/add-memo.json'):\n"
        f"        with open(path, 'w') as fh:\n            fh.write({WRONG_MEMO!r})\n"
        "    os.makedirs('locked/inner', exist_ok=True)\n"
        "    os.chmod('locked', 0)\n"  # a folder its owner cannot even list
        "    return a - b\n")], honest=(MEMO, GOOD, WRONG))
    assert v.passed is False


# -- hole 4 (reset): IPC objects ---------------------------------------------------------------

# honest, but it uses a fixed SysV key exclusively for a segment, a semaphore set and a message
# queue (IPC_CREAT | IPC_EXCL), and removes them when done
FIXED_KEY_IPC = (
    "import ctypes\n"
    "def add(a, b):\n"
    "    libc = ctypes.CDLL(None, use_errno=True)\n"
    "    ids = [libc.shmget(0x5eed, ctypes.c_size_t(4096), 0o3600),\n"
    "           libc.semget(0x5eed, 1, 0o3600), libc.msgget(0x5eed, 0o3600)]\n"
    "    if min(ids) < 0:\n"
    "        raise OSError(ctypes.get_errno(), 'exclusive IPC key taken')\n"
    "    libc.shmctl(ids[0], 0, None)\n"  # IPC_RMID
    "    libc.semctl(ids[1], 0, 0)\n"
    "    libc.msgctl(ids[2], 0, None)\n"
    "    return a + b\n")
IPC_LEAVER = (
    "import ctypes\n"
    "def add(a, b):\n"
    "    libc = ctypes.CDLL(None, use_errno=True)\n"
    "    libc.shmget(0x5eed, ctypes.c_size_t(4096), 0o1600)\n"
    "    libc.semget(0x5eed, 1, 0o1600)\n"
    "    libc.msgget(0x5eed, 0o1600)\n"
    "    return a - b\n")


def test_ipc_objects_never_reach_the_next_program(docker_bench):
    (v,) = docker_bench.together([hostile(IPC_LEAVER)], honest=(FIXED_KEY_IPC, GOOD))
    assert v.passed is False


def test_ipc_objects_never_reach_the_next_job(exec_pool):
    """SysV shared memory, semaphores, message queues and POSIX message queues made by one
    job are gone before the next job on the same sandbox starts."""
    make = (
        "import ctypes, ctypes.util, os, sys, time\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "sid = libc.shmget(0x5eed, ctypes.c_size_t(1 << 20), 0o1600)\n"
        "print(sid >= 0, libc.semget(0x5eed, 1, 0o1600) >= 0, libc.msgget(0x5eed, 0o1600) >= 0)\n"
        "rt = ctypes.CDLL(ctypes.util.find_library('rt'), use_errno=True)\n"
        "print(rt.mq_open(b'/fireassay-left', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0)\n"
        "sys.stdout.flush()\n"
        # a daemon keeps the segment attached (an unattached one dies with its creator:
        # kernel.shm_rmid_forced), so only the reset can remove it
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    libc.shmat.restype = ctypes.c_void_p\n"
        "    libc.shmat(sid, None, 0)\n"
        "    os.closerange(0, 3)\n"
        "    time.sleep(120)\n"
        "    os._exit(0)\n"
        "time.sleep(0.3)\n")
    with exec_pool.lease() as sb:
        first = sb.id
        r = sb.exec(["python3", "-c", make], timeout=10)
        assert r.ok and r.stdout.split() == [b"True"] * 4, r
        # the sysvipc files are visible here: this job did leave something
        left = sb.exec(["sh", "-c", "ipcs -m -q -s | grep -c '^0x'; ls /dev/mqueue"])
        assert left.stdout.split() == [b"3", b"fireassay-left"], left
    with exec_pool.lease() as sb:
        assert sb.id == first  # LIFO: the same container comes back, reset
        r = sb.exec(["sh", "-c", "ipcs -m -q -s | grep -c '^0x'; ls -A /dev/mqueue; echo end"])
    assert r.stdout.split() == [b"0", b"end"], r
    still_works(exec_pool)


# -- a stray process ptraces the next program's child ------------------------------------------

PTRACER = hostile(
    "import ctypes, os, time\n"
    "def add(a, b):\n"
    "    mine = os.getpid()\n"
    "    if os.fork() == 0:\n"
    "        os.setsid()\n"
    "        if os.fork() == 0:\n"
    "            libc = ctypes.CDLL(None, use_errno=True)\n"
    "            me, held = os.getpid(), [mine]\n"
    "            end = time.monotonic() + 6\n"
    "            while time.monotonic() < end:\n"
    "                for name in os.listdir('/proc'):\n"
    "                    if not name.isdigit() or int(name) in (me, 1) or int(name) in held:\n"
    "                        continue\n"
    "                    if libc.ptrace(16, int(name), None, None) == 0:\n"  # PTRACE_ATTACH
    "                        held.append(int(name))\n"  # and never let go: it stays stopped
    "                time.sleep(0.001)\n"
    "        os._exit(0)\n"
    "    time.sleep(0.3)\n"
    "    return a - b\n")


def test_a_stray_cannot_ptrace_the_next_child(docker_executor):
    """Suppose a stray outlives the sweep between programs (simulated: the sweep is off): it
    tries PTRACE_ATTACH on every process it sees, to stop the next program's child. The
    runner and its fork server are non-dumpable, and so is every child from its start, so
    the attach fails (the container has no Yama scope to stop it) and the honest programs
    after it are judged right."""
    from sandbox.plain import encode
    from verifiers.code.execution import CallGroup, run_groups_with

    honest = [(f"h{k}", SLOW_GOOD.replace("a + b", f"a + b + {k} - {k}")) for k in range(2)]
    group = CallGroup("add", (encode([1, 2]), encode([3, 4])), (2.0, 2.0),
                      (("x", PTRACER), *honest), 10.0)

    def job(sb, groups):
        def exec_fn(argv, stdin, timeout):
            r = sb.exec(argv, stdin=stdin, timeout=timeout)
            return r.stdout, r.truncated

        return run_groups_with(exec_fn, groups, LIMITS, kill_strays=False,
                               before_retry=sb.reset)

    (res,) = docker_executor.pool.map(job, [[group]])
    for pid, _ in honest:
        assert [o.status for o in res[pid].outcomes] == ["ok", "ok"], res[pid]
        assert [o.value for o in res[pid].outcomes] == [3, 7], res[pid]


# -- processes left behind (exec level) --------------------------------------------------------


def test_background_process_is_dead_before_the_next_job(exec_pool):
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
    with exec_pool.lease() as sb:
        first = sb.id
        r = sb.exec(["python3", "-c", evil])
        assert r.returncode == 0
    with exec_pool.lease() as sb:  # LIFO: the same container comes back, reset
        assert sb.id == first
        time.sleep(1.0)  # long enough for a surviving daemon to have written
        r = sb.exec(["sh", "-c", "ls -A /work /tmp; for p in /proc/[0-9]*; do "
                     "tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done"])
    out = r.text()
    assert "tampered" not in out and "left.txt" not in out, out
    assert "time.sleep" not in out and "fork" not in out, out
    still_works(exec_pool)


def test_nothing_keeps_running_after_a_map(exec_pool):
    """Resets are folded into the next job's exec; map() flushes them, so a hog left by the
    last jobs does not keep burning CPU in an idle pool (seen from the host with `docker top`)."""
    from tests.adversarial.conftest import EXEC_RUN_ID
    from tests.sandbox_helpers import containers_of_run, docker_client

    def job(sb, i):
        return sb.exec(["sh", "-c", "setsid sh -c 'while :; do :; done' >/dev/null 2>&1 & echo"]).ok

    assert exec_pool.map(job, range(4)) == [True] * 4
    for c in containers_of_run(docker_client(), EXEC_RUN_ID):
        procs = c.top()["Processes"]
        assert len(procs) == 1 and "python3" in " ".join(procs[0]), procs
    still_works(exec_pool)


def test_a_fork_bomb_left_running_does_not_eat_the_next_jobs_time(exec_pool):
    bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"
    with exec_pool.lease() as sb:
        first = sb.id
        r = sb.exec(["sh", "-c", f"setsid python3 -c '{bomb}' >/dev/null 2>&1 & echo left"])
        assert r.ok
    # the kill-and-wipe before this command fights the bomb and its time is not the job's;
    # if it loses, the sandbox is replaced and map() runs the job again (an infra retry)
    retries = exec_pool.stats.infra_retries
    [(r, same)] = exec_pool.map(
        lambda sb, _: (sb.exec(["python3", "-c", "print('clean start')"], timeout=2),
                       sb.id == first), [None])
    assert r.ok and r.stdout == b"clean start\n", r
    assert r.duration_s < 2
    assert same or exec_pool.stats.infra_retries == retries + 1
    still_works(exec_pool)
