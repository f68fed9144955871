#!/usr/bin/env bash
# Make sure a Docker daemon answers and debootstrap is installed. Idempotent; for CI (root,
# no systemd, no stdin) and for developers. Does nothing when `docker info` already works.
#   - installs docker.io and debootstrap with apt when their binaries are missing (root only)
#   - starts dockerd in the background (log: /var/log/fireassay-dockerd.log) when none answers
#   - waits for the socket (up to $FIREASSAY_DOCKER_WAIT seconds, default 60)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

WAIT="${FIREASSAY_DOCKER_WAIT:-60}"
LOG="${FIREASSAY_DOCKERD_LOG:-/var/log/fireassay-dockerd.log}"

say() { echo "ensure_docker: $*" >&2; }

answers() { docker info >/dev/null 2>&1; }

need=()
command -v docker >/dev/null 2>&1 || need+=(docker.io)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        say "missing ${need[*]}; install them as root: apt-get install -y docker.io debootstrap"
        exit 1
    fi
    say "installing ${need[*]} with apt"
    # flock: other jobs on this machine may be running apt at the same time
    flock /tmp/apt.fireassay.lock apt-get update -qq
    # with recommends: apparmor (dockerd needs its parser where the kernel enables AppArmor)
    # and cgroupfs-mount, as on the machines this was tested on
    flock /tmp/apt.fireassay.lock apt-get install -y -qq \
        docker.io debootstrap iptables ca-certificates >/dev/null
fi

if answers; then
    say "docker daemon answers"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    say "no docker daemon answers and this is not root: start it (sudo systemctl start docker)"
    say "or add yourself to the docker group (sudo usermod -aG docker \$USER)"
    exit 1
fi

# One starter at a time: a second caller waits for the first one's daemon.
exec 9>/tmp/fireassay-dockerd.lock
flock 9
if ! answers; then
    if pgrep -x dockerd >/dev/null 2>&1; then
        say "dockerd runs but does not answer yet; waiting"
    else
        # no systemd: cgroups may be unmounted on a bare machine
        if ! grep -q cgroup /proc/mounts && command -v cgroupfs-mount >/dev/null 2>&1; then
            cgroupfs-mount || true
        fi
        rm -f /var/run/docker.pid /var/run/docker.sock
        say "starting dockerd in the background (log: $LOG)"
        # setsid + nohup: the daemon must outlive this script and make(1).
        setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
    fi
    for _ in $(seq 1 "$WAIT"); do
        answers && break
        sleep 1
    done
fi
flock -u 9

if answers; then
    say "docker daemon answers"
else
    say "dockerd did not answer within ${WAIT}s; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
fi
