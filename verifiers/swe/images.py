"""Images for SWE judging, layered base -> environment -> instance, built on demand, reused.

- base: the sandbox image (``sandbox.config.DEFAULT_IMAGE``, :func:`sandbox.image.ensure_image`).
- environment: base + the test dependencies, installed OFFLINE from wheels that the host
  downloads with its own pip configuration (the build itself runs with ``network_mode=none``);
  tag ``fireassay/swe-env:py3.11-<requirements>``, shared by every repository that needs the
  same requirements.
- instance: environment + the repository at its base commit (``/repo``, with ``.git``);
  tag ``fireassay/swe-inst:<instance_id>.<base_commit[:12]>`` (a changed repository gets a
  new tag).
- official SWE-bench images (``…sweb.eval.x86_64.<instance_id>``) are used when present
  locally: re-tagged as ``fireassay/swe-inst:<id>.official`` with ``/testbed`` handed to the
  sandbox user; the tests run in place in ``/testbed`` in a fresh container per job.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from sandbox.config import DEFAULT_IMAGE, SandboxConfig
from sandbox.errors import ImageBuildError
from sandbox.image import add_wheels

from .instance import SWEInstance

PYTEST_PIN = "pytest==9.2.0"
ENV_REPO = "fireassay/swe-env"
INST_REPO = "fireassay/swe-inst"
BASE_PY = ("3.11", "cp311")
SANDBOX_UID = SandboxConfig().uid


class EnvironmentUnavailable(Exception):
    """No image can be had for this instance (not our repository, no official image)."""


@dataclass(frozen=True)
class InstanceImage:
    tag: str
    repo_dir: str  # where the repository lives in the image
    python: str  # interpreter that runs the tests
    official: bool
    how: str  # "existing" | "built" | "official"


# requirements per repository of our task set (all share one environment today)
ENV_REQUIREMENTS: dict[str, tuple[str, ...]] = {}
DEFAULT_REQUIREMENTS: tuple[str, ...] = (PYTEST_PIN,)


def cache_dir() -> Path:
    base = os.environ.get("FIREASSAY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fireassay")
    return Path(base)


def _safe(s: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", s.lower()).strip("-.")[:100]


def env_tag(requirements: tuple[str, ...]) -> str:
    return f"{ENV_REPO}:py{BASE_PY[0]}-" + _safe("-".join(r.replace("==", "-") for r in requirements))


def inst_tag(inst: SWEInstance) -> str:
    return f"{INST_REPO}:{_safe(inst.instance_id)}.{inst.base_commit[:12].lower()}"


def official_names(instance_id: str) -> tuple[str, ...]:
    alt = instance_id.replace("__", "_1776_").lower()
    return (f"sweb.eval.x86_64.{instance_id.lower()}", f"sweb.eval.x86_64.{alt}")


def find_official_image(client: Any, instance_id: str) -> str | None:
    """A local official SWE-bench image for the instance (``…sweb.eval.x86_64.<id>``)."""
    wanted = official_names(instance_id)
    for img in client.images.list():
        for ref in img.tags:
            name = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
            if name.rsplit("/", 1)[-1] in wanted:
                return ref
    return None


def image_exists(client: Any, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def download_wheels(requirements: tuple[str, ...], log: Callable[[str], None] = print) -> Path:
    """Wheels for ``requirements`` (+ pip itself) for CPython 3.11 on x86_64 Linux, fetched
    on the host with the host's pip configuration; cached by requirement set."""
    from sandbox.image import download_wheels as fetch

    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    try:
        return fetch(requirements, cache_dir() / "swe-wheels" / key, log, python=BASE_PY)
    except ImageBuildError as exc:
        raise EnvironmentUnavailable(f"the test dependencies: {exc}") from None


def _build(client: Any, context: Path, tag: str, labels: Mapping[str, str], log: Callable[[str], None]) -> None:
    import docker

    log(f"docker build -> {tag}")
    try:
        client.images.build(path=str(context), tag=tag, rm=True, forcerm=True, network_mode="none",
                            labels=dict(labels), pull=False)
    except docker.errors.BuildError as exc:
        tail = "".join(str(x.get("stream", x.get("error", ""))) for x in exc.build_log)[-1500:]
        raise EnvironmentUnavailable(f"building {tag} failed: {exc.msg}\n{tail}") from None


_LOCK = threading.Lock()


class ImageBuilder:
    """Makes (or finds) the image an instance runs in. Thread-safe; builds once per tag."""

    def __init__(self, client: Any = None, base_image: str = DEFAULT_IMAGE,
                 log: Callable[[str], None] | None = None) -> None:
        if client is None:
            from sandbox.docker_client import make_client

            client = make_client(retry_s=10)
        self.client = client
        self.base_image = base_image
        self.log = log or (lambda s: None)
        self.built: list[str] = []

    def base(self) -> str:
        from sandbox.image import ensure_image

        ensure_image(self.base_image, log=self.log, client=self.client)
        return self.base_image

    def environment(self, requirements: tuple[str, ...] = DEFAULT_REQUIREMENTS) -> str:
        tag = env_tag(requirements)
        with _LOCK:
            if image_exists(self.client, tag):
                return tag
            base = self.base()
            wheels = download_wheels(requirements, self.log)
            labels = {"fireassay.swe": "env", "fireassay.requirements": " ".join(requirements)}
            try:
                add_wheels(self.client, base, tag, requirements, wheels, labels, self.log)
            except ImageBuildError as exc:
                raise EnvironmentUnavailable(str(exc)) from None
            self.built.append(tag)
            return tag

    def own_instance(self, inst: SWEInstance, repo_dir: Path) -> InstanceImage:
        tag = inst_tag(inst)
        with _LOCK:
            exists = image_exists(self.client, tag)
        if exists:
            return InstanceImage(tag, "/repo", "python3", False, "existing")
        env = self.environment(ENV_REQUIREMENTS.get(inst.repo, DEFAULT_REQUIREMENTS))
        with _LOCK:
            if not image_exists(self.client, tag):
                with tempfile.TemporaryDirectory(prefix="fireassay-swe-inst-") as tmp:
                    ctx = Path(tmp)
                    shutil.copytree(repo_dir, ctx / "repo", symlinks=True)
                    (ctx / "Dockerfile").write_text(f"FROM {env}\nCOPY repo /repo\n")
                    _build(self.client, ctx, tag, {"fireassay.swe": "instance",
                                                   "fireassay.instance": inst.instance_id,
                                                   "fireassay.base_commit": inst.base_commit}, self.log)
                self.built.append(tag)
                how = "built"
            else:
                how = "existing"
        return InstanceImage(tag, "/repo", "python3", False, how)

    def status(self, inst: SWEInstance, own: bool) -> tuple[str, bool]:
        """(the image ``inst`` is judged in here, whether it exists), nothing built: an official
        image when present, else our own instance image (``own``: the repository is in
        fireassay's task set), else the official image it lacks."""
        ref = find_official_image(self.client, inst.instance_id)
        if ref is not None:
            return ref, True
        if own:
            tag = inst_tag(inst)
            return tag, image_exists(self.client, tag)
        return official_names(inst.instance_id)[0] + ":latest", False

    def official(self, inst: SWEInstance) -> InstanceImage | None:
        """The official image, re-tagged with /testbed owned by the sandbox user (our
        containers never run as root), so that tests run in place exactly as SWE-bench runs
        them (editable installs point at /testbed)."""
        ref = find_official_image(self.client, inst.instance_id)
        if ref is None:
            return None
        src_id = self.client.images.get(ref).id
        tag = f"{INST_REPO}:{_safe(inst.instance_id)}.official"
        with _LOCK:
            try:
                have = self.client.images.get(tag)
                fresh = have.labels.get("fireassay.source_id") == src_id
            except Exception:  # noqa: BLE001 - not there yet
                fresh = False
            if not fresh:
                with tempfile.TemporaryDirectory(prefix="fireassay-swe-official-") as tmp:
                    ctx = Path(tmp)
                    (ctx / "Dockerfile").write_text(
                        f"FROM {ref}\nUSER 0\nRUN chown -R {SANDBOX_UID}:{SANDBOX_UID} /testbed\n")
                    _build(self.client, ctx, tag, {"fireassay.swe": "official",
                                                   "fireassay.instance": inst.instance_id,
                                                   "fireassay.source_id": src_id}, self.log)
                self.built.append(tag)
        return InstanceImage(tag, "/testbed", "/opt/miniconda3/envs/testbed/bin/python", True, "official")


def tar_members(data: bytes) -> dict[str, bytes]:
    """Regular files in a tar stream (``tar -c`` output), by their path."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:  # plain tar only: no decompression
        for m in tar.getmembers():
            if m.isfile():
                f = tar.extractfile(m)
                if f is not None:
                    out[m.name.removeprefix("./")] = f.read()
    return out
