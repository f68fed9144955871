"""Docker client creation and the retry policy for Docker API errors.

Daemon restarts, refused connections and API timeouts are retried with tenacity for up to
``infra_retry_s`` seconds and then surface as :class:`SandboxUnavailable` — an infrastructure
error, never a result of the code under test.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

import tenacity

from sandbox.errors import SandboxBroken, SandboxUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

NO_DAEMON_FIX = (
    "no Docker daemon answers. Start one: `sudo sandbox/ensure_docker.sh` (installs docker.io "
    "and starts dockerd), or `sudo systemctl start docker`; then `fireassay sandbox doctor`"
)


def _docker():  # imported lazily: listing backends must not need the SDK
    import docker

    return docker


def is_infra_error(exc: BaseException) -> bool:
    """True for errors that come from the daemon or the connection, not from a bad request."""
    import requests

    docker = _docker()
    if isinstance(exc, SandboxUnavailable):
        return True
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        ConnectionError, TimeoutError, BrokenPipeError)):
        return True
    if isinstance(exc, docker.errors.APIError):
        # 5xx: daemon trouble (restarting, containerd gone); 409 'is restarting'/'not running'
        code = exc.status_code or 0
        return code >= 500 or code == 409
    if isinstance(exc, docker.errors.DockerException) and "connection" in str(exc).lower():
        return True
    return False


def retrying(fn: Callable[[], T], *, seconds: float, what: str) -> T:
    """Call ``fn`` until it succeeds, retrying infrastructure errors for ``seconds``; then raise
    :class:`SandboxUnavailable`. Other errors propagate at once."""
    try:
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(
                lambda e: is_infra_error(e) and not isinstance(e, SandboxBroken)),
            stop=tenacity.stop_after_delay(seconds),
            wait=tenacity.wait_exponential(multiplier=0.2, max=3.0),
            reraise=True,
            before_sleep=lambda rs: log.warning(
                "docker: %s failed (%s); retrying", what, rs.outcome.exception()
            ),
        ):
            with attempt:
                return fn()
    except SandboxUnavailable as exc:
        if isinstance(exc, SandboxBroken) or NO_DAEMON_FIX in str(exc) \
                or not isinstance(exc.__cause__, Exception):
            raise
        raise SandboxUnavailable(f"{what}: {exc}. {NO_DAEMON_FIX}") from exc
    except Exception as exc:
        if is_infra_error(exc):
            raise SandboxUnavailable(f"{what}: {exc}. {NO_DAEMON_FIX}") from exc
        raise
    raise AssertionError("unreachable")  # pragma: no cover


def make_client(timeout: float = 30.0, retry_s: float = 0.0) -> Any:
    """A ``docker.DockerClient`` from the environment (DOCKER_HOST etc.).

    ``retry_s`` > 0 waits that long for a daemon to answer; then :class:`SandboxUnavailable`.
    """
    docker = _docker()

    def connect() -> Any:
        try:
            client = docker.from_env(timeout=int(max(1, timeout)))
            client.ping()
            return client
        except docker.errors.DockerException as exc:
            if "connection" in str(exc).lower() or "file not found" in str(exc).lower():
                raise SandboxUnavailable(f"{exc}") from exc
            raise

    if retry_s <= 0:
        try:
            return connect()
        except SandboxUnavailable as exc:
            raise SandboxUnavailable(f"{exc}. {NO_DAEMON_FIX}") from exc
    return retrying(connect, seconds=retry_s, what="connect to the Docker daemon")
