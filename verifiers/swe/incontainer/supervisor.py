"""Runs the test command inside the container and prints ONE result line to stdout.

Job on stdin (one JSON line): nonce, cwd, timeout, log_path, log_tail, and either
``pytest`` (python, plugin_dir, plugin, args: pytest started isolated, see BOOT) or ``cmd``.
The tests' own stdout/stderr go to ``log_path`` (never to our stdout); their structured
results come over a private pipe from the reporter plugin. The final line carries the nonce,
which the code under test never sees, so a line printed by that code cannot pass for ours.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

# pytest under `python -I`: neither the current directory nor PYTHONPATH is on sys.path while
# pytest and the reporter plugin import, so a repository file named pytest.py (or like the
# plugin) cannot replace them. The repository root goes on sys.path afterwards.
BOOT = (
    "import sys\n"
    "plugin_dir, root, plugin = sys.argv[1:4]\n"
    "args = sys.argv[4:]\n"
    "sys.path.insert(0, plugin_dir)\n"
    "import pytest\n"
    "__import__(plugin)\n"
    "sys.path.insert(1, root)\n"
    "sys.argv = ['pytest'] + args\n"
    "sys.exit(pytest.main(['-p', plugin] + args))\n"
)


def main():
    job = json.loads(sys.stdin.readline())
    nonce = job["nonce"]
    r, w = os.pipe()
    env = dict(os.environ)
    env["FIREASSAY_REPORT_FD"] = str(w)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(job.get("env") or {})
    if job.get("pytest"):
        pj = job["pytest"]
        cmd = [pj["python"], "-I", "-c", BOOT, pj["plugin_dir"], job["cwd"], pj["plugin"]] + pj["args"]
    else:
        cmd = job["cmd"]
    events = []

    def reader():
        with os.fdopen(r, "r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    events.append(json.loads(line))
                except ValueError:
                    events.append({"ev": "garbage"})

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    start = time.monotonic()
    timed_out = False
    with open(job["log_path"], "wb") as log:
        proc = subprocess.Popen(cmd, cwd=job["cwd"], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, pass_fds=(w,),
                                start_new_session=True)
        os.close(w)
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
