"""The Ray cluster tests (tests/cluster_cases.py), run inside a private network namespace.

Ray advertises the machine's outward interface even when told 127.0.0.1; inside a network
namespace of our own with only loopback up it uses 127.0.0.1, and nothing it sends can leave the
machine. Docker stays reachable through its unix socket. One pytest process runs every case
there against one shared multi-node cluster (real Ray raylets, real Docker sandboxes, the real
embedded model), bounded in time.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.engine, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def test_cluster_cases_in_a_private_network_namespace():
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root, unshare and ip (util-linux, iproute2) for a private network namespace")
    inner = (f"ip link set lo up && exec {sys.executable} -m pytest -q -p no:cacheprovider "
             f"--timeout 900 -x -rA tests/cluster_cases.py")
    r = subprocess.run(["timeout", "-k", "30", "1500", "unshare", "--net", "sh", "-c", inner], cwd=REPO,
                       capture_output=True, text=True, env={**os.environ, "FIREASSAY_IN_NETNS": "1"})
    summary = "\n".join(line for line in r.stdout.splitlines() if line.startswith(("PASSED", "FAILED", "ERROR", "SKIPPED")))
    print(summary)
    assert r.returncode == 0, (r.stdout[-6000:] + r.stderr[-3000:])
    assert summary.count("PASSED") >= 12 and "SKIPPED" not in summary, summary
