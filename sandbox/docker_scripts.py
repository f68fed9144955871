"""The programs the Docker backend runs inside its containers besides the code under test:
PID 1 (a reaper), the reset (kill everything of the sandbox user, wipe the scratch folders and
the IPC objects), the same reset folded before a command, and the kill after a timeout.
"""
from __future__ import annotations

# PID 1: reap orphans as soon as SIGCHLD arrives. A namespace's init only receives signals it
# has a handler for, so resetting Python's SIGINT handler to SIG_DFL makes it unkillable from
# inside; `kill -9 -1` skips PID 1 by definition.
REAPER = (
    "import os, signal\n"
    "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})\n"
    "while True:\n"
    "    try:\n"
    "        while os.waitpid(-1, os.WNOHANG)[0]:\n"
    "            pass\n"
    "    except ChildProcessError:\n"
    "        pass\n"
    "    signal.sigtimedwait({signal.SIGCHLD}, 5)\n"
)

# Kill every process of the calling user (not itself, not PID 1) until none is left, then
# wipe the writable places (the work dir, /tmp, POSIX shared memory and message queues) and
# remove every SysV IPC object (the container has an IPC namespace of its own; an image
# without ipcrm fails the check, and the sandbox is replaced). SIGSTOP first: stopped processes cannot fork, so a fork bomb stops
# growing and the SIGKILL loop converges. Zombies still count for kill(-1): the loop bound.
RESET_SCRIPT = r"""
for j in 1 2 3 4 5 6 7 8; do kill -STOP -1 2>/dev/null; done
i=0
while kill -9 -1 2>/dev/null; do
  i=$((i+1)); [ "$i" -gt 5000 ] && { echo "processes survive kill -9 -1" >&2; exit 3; }
done
chmod -R u+rwX {dirs} 2>/dev/null
find {dirs} -mindepth 1 -delete 2>/dev/null
left=$(find {dirs} -mindepth 1 -print 2>/dev/null | head -n 3)
[ -z "$left" ] || { echo "could not wipe: $left" >&2; exit 4; }
{ipc}
[ "$n" -le 3 ] || { echo "IPC objects survive ipcrm -a" >&2; exit 5; }
exit 0
"""

# The same reset folded into the next command (one `docker exec` instead of two): on success it
# writes a per-exec nonce to stderr and execs the command; the code under test starts only
# after the nonce is out, so it cannot fake a successful reset, only a failed one.
RESET_PREFIX = r"""
for j in 1 2 3 4 5 6 7 8; do kill -STOP -1 2>/dev/null; done
i=0
while kill -9 -1 2>/dev/null; do
  i=$((i+1)); [ "$i" -gt 5000 ] && exit 3
done
chmod -R u+rwX {dirs} 2>/dev/null
find {dirs} -mindepth 1 -delete 2>/dev/null
[ -z "$(find {dirs} -mindepth 1 -print 2>/dev/null | head -n 1)" ] || exit 4
{ipc}
[ "$n" -le 3 ] || exit 5
printf '%s' "$FIREASSAY_RESET_NONCE" >&2
exec "$@"
"""

# Count the lines of /proc/sysvipc (3 headers when no IPC object is left) with shell builtins
# only; `ipcrm -a` runs (and the count again) only when there is something to remove.
IPC_CHECK = r"""
n=0
for f in /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg; do
  [ -r "$f" ] && while read -r _l; do n=$((n+1)); done < "$f"
done
if [ "$n" -gt 3 ]; then
  ipcrm -a 2>/dev/null
  n=0
  for f in /proc/sysvipc/shm /proc/sysvipc/sem /proc/sysvipc/msg; do
    [ -r "$f" ] && while read -r _l; do n=$((n+1)); done < "$f"
  done
fi
""".strip()
RESET_SCRIPT = RESET_SCRIPT.replace("{ipc}", IPC_CHECK)
RESET_PREFIX = RESET_PREFIX.replace("{ipc}", IPC_CHECK)

KILL_SCRIPT = r"""
for j in 1 2 3 4 5 6 7 8; do kill -STOP -1 2>/dev/null; done
i=0
while kill -9 -1 2>/dev/null; do i=$((i+1)); [ "$i" -gt 5000 ] && exit 3; done
exit 0
"""
