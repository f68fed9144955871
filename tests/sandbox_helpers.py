"""Helpers shared by the sandbox tests (real Docker; no fakes)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig

REPO = Path(__file__).resolve().parents[1]
ENSURE_DOCKER = REPO / "sandbox" / "ensure_docker.sh"

# small limits keep the hostile tests quick; the values are still real limits
TEST_CONFIG = SandboxConfig(memory="256m", pids=128, workdir_size="64m", tmp_size="32m",
                            exec_timeout=20.0)


def docker_client():
    """A client to a daemon that answers, with the image present; otherwise the test fails
    with the fix (CI runs `make sandbox` first)."""
    from sandbox.docker_client import make_client
    from sandbox.errors import SandboxUnavailable
    from sandbox.image import image_exists

    try:
        client = make_client(timeout=30, retry_s=20)
    except SandboxUnavailable as exc:
        pytest.fail(f"no Docker daemon: {exc}. Run `make sandbox` (as root) first.")
    if not image_exists(client, TEST_CONFIG.image):
        pytest.fail(f"image {TEST_CONFIG.image} missing: run `fireassay sandbox build`")
    return client


def containers_of_run(client, run_id: str) -> list:
    from sandbox.reap import fireassay_containers

    return fireassay_containers(client, run_id)


def ensure_dockerd() -> None:
    subprocess.run([str(ENSURE_DOCKER)], check=True, timeout=180)
