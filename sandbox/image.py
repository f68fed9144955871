"""The sandbox image: reuse it when the tag exists, else pull a Python base where a registry
answers (short timeout), else build one offline.

Offline build: ``debootstrap --variant=minbase --include=python3 bookworm`` from the host's own
apt mirror (read from /etc/apt/sources.list*), add the non-root sandbox user to the rootfs,
then ``docker import`` it with PATH/LANG/WORKDIR set, and tag it. Idempotent.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sandbox.config import DEFAULT_IMAGE
from sandbox.docker_client import make_client
from sandbox.errors import ImageBuildError

DEFAULT_PULL = "python:3.11-slim"
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SANDBOX_UID = 10001
ENV_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    "WORKDIR /work",
    "LABEL fireassay.image=sandbox-base",  # not fireassay.tool: containers inherit image labels
]


@dataclass(frozen=True)
class ImageResult:
    tag: str
    how: str  # "existing" | "pulled" | "debootstrap"
    image_id: str


def image_exists(client: Any, tag: str) -> str | None:
    import docker

    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def apt_mirror(suite: str = DEFAULT_SUITE, sources: list[Path] | None = None) -> str:
    """The host's Debian mirror for ``suite`` (deb822 ``URIs:`` or one-line ``deb`` entries)."""
    if sources is None:
        sources = [Path("/etc/apt/sources.list")]
        d = Path("/etc/apt/sources.list.d")
        if d.is_dir():
            sources += sorted(d.iterdir())
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (ln.partition(":") for ln in stanza.splitlines()
                                    if ":" in ln and not ln.startswith("#"))
                )
                suites = fields.get("suites", "").split()
                if suite in suites and "deb" in fields.get("types", "deb").split():
                    return fields["uris"].split()[0]
        else:
            for line in text.splitlines():
                parts = line.split("#")[0].split()
                if len(parts) >= 3 and parts[0] == "deb":
                    rest = [p for p in parts[1:] if not p.startswith("[")]
                    if len(rest) >= 2 and rest[1] == suite:
                        return rest[0]
    return DEFAULT_MIRROR


def try_pull(client: Any, ref: str, timeout: float) -> Any | None:
    """Pull ``ref``, giving up after ``timeout`` seconds (no registry -> None)."""
    box: dict[str, Any] = {}

    def pull() -> None:
        try:
            repo, _, tag = ref.partition(":")
            box["image"] = client.images.pull(repo, tag=tag or "latest")
        except Exception as exc:  # noqa: BLE001 - any failure means "no registry"
            box["error"] = exc

    t = threading.Thread(target=pull, daemon=True)
    t.start()
    t.join(timeout)
    return box.get("image")


def _run(cmd: list[str], log: Callable[[str], None], **kw: Any) -> None:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        raise ImageBuildError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}")


def add_user(rootfs: Path, uid: int = SANDBOX_UID, name: str = "sandbox") -> None:
    """Add a non-root user/group to the rootfs (no chroot needed: edit the files)."""
    etc = rootfs / "etc"
    for fname, line in (
        ("passwd", f"{name}:x:{uid}:{uid}:fireassay sandbox:/work:/usr/sbin/nologin\n"),
        ("group", f"{name}:x:{uid}:\n"),
        ("shadow", f"{name}:!:19000::::::\n"),
    ):
        f = etc / fname
        if not f.exists():
            continue
        text = f.read_text()
        if not any(ln.split(":")[0] == name for ln in text.splitlines()):
            f.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line)


def debootstrap_build(
    client: Any,
    tag: str,
    *,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    include: tuple[str, ...] = ("python3",),
    log: Callable[[str], None] = print,
) -> str:
    if os.geteuid() != 0:
        raise ImageBuildError(
            "building the image offline needs root (debootstrap); run `sudo fireassay sandbox "
            "build` or `sudo make sandbox`"
        )
    if not shutil.which("debootstrap"):
        raise ImageBuildError(
            "debootstrap is not installed; run `sudo sandbox/ensure_docker.sh` "
            "(or apt-get install debootstrap)"
        )
    mirror = mirror or apt_mirror(suite)
    work = Path(tempfile.mkdtemp(prefix="fireassay-rootfs-", dir=os.environ.get("TMPDIR", "/var/tmp")))
    rootfs = work / "rootfs"
    try:
        cmd = ["debootstrap", "--variant=minbase", f"--include={','.join(include)}"]
        keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
        if keyring.exists():
            cmd.append(f"--keyring={keyring}")
        _run(cmd + [suite, str(rootfs), mirror], log)
        add_user(rootfs)
        # slim it: package caches and docs are not needed at run time
        for sub in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc",
                    "usr/share/man", "usr/share/info", "usr/share/locale"):
            p = rootfs / sub
            if p.is_dir():
                for child in p.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child, ignore_errors=True)
                    else:
                        child.unlink(missing_ok=True)
        (rootfs / "work").mkdir(exist_ok=True)
        os.chmod(rootfs / "work", 0o1777)
        tarball = work / "rootfs.tar"
        _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tarball), "."], log)
        repo, _, tg = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
        log(f"docker import -> {tag}")
        client.api.import_image_from_file(str(tarball), repository=repo, tag=tg, changes=ENV_CHANGES)
        image_id = image_exists(client, tag)
        if not image_id:
            raise ImageBuildError(f"docker import finished but {tag} does not exist")
        return image_id
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_image(
    tag: str = DEFAULT_IMAGE,
    *,
    pull: str | None = DEFAULT_PULL,
    pull_timeout: float = 20.0,
    force: bool = False,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    include: tuple[str, ...] = ("python3",),
    log: Callable[[str], None] = print,
    client: Any = None,
) -> ImageResult:
    """Make sure ``tag`` exists: reuse, else pull ``pull`` and tag it, else debootstrap."""
    client = client or make_client(retry_s=10)
    if not force:
        existing = image_exists(client, tag)
        if existing:
            return ImageResult(tag, "existing", existing)
    if pull:
        log(f"trying to pull {pull} (timeout {pull_timeout:.0f}s)")
        img = try_pull(client, pull, pull_timeout)
        if img is not None:
            repo, _, tg = tag.rpartition(":") if ":" in tag.split("/")[-1] else (tag, "", "latest")
            img.tag(repo, tg)
            return ImageResult(tag, "pulled", img.id)
        log("no registry answered; building offline with debootstrap")
    image_id = debootstrap_build(client, tag, suite=suite, mirror=mirror, include=include, log=log)
    return ImageResult(tag, "debootstrap", image_id)
