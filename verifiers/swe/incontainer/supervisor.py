"""Runs the test command inside the container and prints ONE result line to stdout.

Job on stdin (one JSON line): nonce, cwd, timeout, log_path, log_tail, and either
``pytest`` (python, plugin_dir, plugin, args: pytest started isolated, see BOOT) or ``cmd``.
The tests' own stdout/stderr go to ``log_path`` (never to our stdout); their structured
results come over a private pipe from the reporter plugin, each line signed with a key that
only the plugin and this process hold (lines that do not verify are dropped and counted as
forgeries). The final line carries the nonce, which the code under test never sees; this
process is non-dumpable, so the code under test (same uid) can neither read its memory nor
open its stdout. Runs on Python 3.6+.
"""
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time

# pytest under `python -I`: neither the current directory nor PYTHONPATH is on sys.path while
# the reporter plugin (which installs its audit hook, then imports pytest) loads, so a
# repository file named pytest.py (or like the plugin) cannot replace them. The repository
# root goes on sys.path afterwards; the plugin's run() makes its last checks after pytest.
BOOT = (
    "import sys\n"
    "plugin_dir, root, plugin = sys.argv[1:4]\n"
    "args = sys.argv[4:]\n"
    "sys.path.insert(0, plugin_dir)\n"
    "guard = __import__(plugin)\n"
    "sys.path.insert(1, root)\n"
    "sys.argv = ['pytest'] + args\n"
    "sys.exit(guard.run(['-p', plugin] + args))\n"
)
MAX_LINE = 1 << 20  # a record longer than this is not the reporter's


def _harden():
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    except Exception:  # noqa: BLE001 - no libc prctl here: the other layers still judge
        pass


def main():
    _harden()
    job = json.loads(sys.stdin.readline())
    nonce = job["nonce"]
    r, w = os.pipe()
    kr, kw = os.pipe()
    key = os.urandom(32)
    os.write(kw, key)
    os.close(kw)
    env = dict(os.environ)
    env["FIREASSAY_REPORT_FD"] = str(w)
    env["FIREASSAY_KEY_FD"] = str(kr)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(job.get("env") or {})
    if job.get("pytest"):
        pj = job["pytest"]
        cmd = [pj["python"], "-I", "-c", BOOT, pj["plugin_dir"], job["cwd"], pj["plugin"]] + pj["args"]
    else:
        cmd = job["cmd"]
    events = []
    forged = [0]

    def reader():
        seq = 0
        with os.fdopen(r, "rb") as fh:
            while True:
                line = fh.readline(MAX_LINE)
                if not line:
                    break
                mac, _, data = line.rstrip(b"\n").partition(b" ")
                want = hmac.new(key, str(seq).encode() + b":" + data, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(mac, want.encode()):
                    forged[0] += 1
                    continue
                seq += 1
                try:
                    events.append(json.loads(data.decode("utf-8")))
                except ValueError:
                    events.append({"ev": "garbage"})

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    start = time.monotonic()
    timed_out = False
    with open(job["log_path"], "wb") as log:
        proc = subprocess.Popen(cmd, cwd=job["cwd"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, pass_fds=(w, kr),
                                start_new_session=True)
        os.close(w)
        os.close(kr)
        try:
            rc = proc.wait(timeout=job["timeout"])
        except subprocess.TimeoutExpired:
            timed_out = True
            rc = None
        try:  # leave nothing behind: the whole session (the tests' children too)
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        if rc is None:
            rc = proc.wait()
    t.join(5)
    if forged[0]:
        events.append({"ev": "forged", "lines": forged[0]})
    duration = time.monotonic() - start
    with open(job["log_path"], "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - job["log_tail"]))
        tail = fh.read().decode("utf-8", "replace")
    out = {"returncode": rc, "timed_out": timed_out, "duration_s": duration,
           "events": events, "log_tail": tail, "log_bytes": size}
    sys.stdout.write("\n" + nonce + " " + json.dumps(out) + "\n")
    sys.stdout.flush()


main()
