"""The sandbox image: reuse it when the tag exists at the current image version, else pull a
Python base where a registry answers (short timeout), else build one offline.

What model code may import: the libraries that the official EvalPlus evaluator's environment
(``pip install evalplus``) brings and that solution code plausibly uses -- numpy first (model
code imports it often, used or not), then pandas (with python-dateutil and pytz), regex and
PyYAML. The network clients it also brings (openai, anthropic, requests, datasets, ...) are left
out: a sandbox has no network.

Offline build: ``debootstrap --variant=minbase --include=python3,python3-numpy,...`` (Debian's
packages, :data:`IMAGE_PACKAGES`) from the host's own apt mirror (read from
/etc/apt/sources.list*), add the non-root sandbox user to the rootfs, then ``docker import`` it
with PATH/LANG/WORKDIR and the version label set, and tag it. Registry path: the pulled
``python:3.11-slim`` plus :data:`IMAGE_WHEELS` installed offline from wheels the host downloads
(the build itself has no network). Idempotent.

Every image carries the label ``fireassay.image.version`` (:data:`IMAGE_VERSION`); an image
without it, or with an older one, lacks what this fireassay installs and is rebuilt by
``fireassay sandbox build`` (and reported by ``fireassay sandbox doctor``).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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
# 1: python3 only; 2: + numpy, pandas, regex, PyYAML (what EvalPlus's environment offers)
IMAGE_VERSION = 2
VERSION_LABEL = "fireassay.image.version"
IMAGE_PACKAGES: tuple[str, ...] = (
    "python3", "python3-numpy", "python3-pandas", "python3-regex", "python3-yaml")
# the same libraries for a pulled python:3.11 base, at the versions `pip install evalplus==0.3.1`
# resolves (installed from wheels the host downloads: the build runs without network)
IMAGE_WHEELS: tuple[str, ...] = (
    "numpy==2.4.6", "pandas==3.1.1", "regex==2026.11.19", "PyYAML==6.0.4")
WHEEL_PYTHON = ("3.11", "cp311")
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "any")
# what model code imports, checked by `sandbox doctor` and the image tests
IMAGE_MODULES: tuple[str, ...] = ("numpy", "pandas", "regex", "yaml", "dateutil")
ENV_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONDONTWRITEBYTECODE=1",
    # numpy's BLAS would start one thread per host core in a one-CPU container
    "ENV OPENBLAS_NUM_THREADS=1",
    "ENV OMP_NUM_THREADS=1",
    "WORKDIR /work",
    "LABEL fireassay.image=sandbox-base",  # not fireassay.tool: containers inherit image labels
    f"LABEL {VERSION_LABEL}={IMAGE_VERSION}",
]


@dataclass(frozen=True)
class ImageResult:
    tag: str
    how: str  # "existing" | "pulled" | "debootstrap"
    image_id: str
    replaced: int | None = None  # the version of an outdated image this build replaced


def image_exists(client: Any, tag: str) -> str | None:
    import docker

    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return None


def image_version(client: Any, tag: str) -> int | None:
    """The ``fireassay.image.version`` of ``tag`` (0 when the label is missing or not a
    number: an image from before the label), or None when there is no such image."""
    import docker

    try:
        labels = client.images.get(tag).labels or {}
    except docker.errors.ImageNotFound:
        return None
    raw = str(labels.get(VERSION_LABEL, "0"))
    return int(raw) if raw.isdigit() and len(raw) < 6 else 0


def download_wheels(requirements: tuple[str, ...], dest: Path,
                    log: Callable[[str], None] = print,
                    python: tuple[str, str] = WHEEL_PYTHON) -> Path:
    """Wheels for ``requirements`` (+ pip itself) for CPython ``python`` on x86_64 Linux into
    ``dest``, fetched on the host with the host's pip configuration; reused once complete.
    Raises :class:`ImageBuildError` naming the fix when pip cannot get them."""
    if (dest / ".complete").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "-d", str(dest), "--only-binary=:all:",
           "--python-version", python[0], "--implementation", "cp", "--abi", python[1]]
    for plat in WHEEL_PLATFORMS:
        cmd += ["--platform", plat]
    cmd += ["pip", *requirements]
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageBuildError(
            f"could not download wheels on the host ({' '.join(requirements)}): "
            f"{proc.stderr.strip()[-800:]}\n"
            f"Check that pip reaches PyPI (pip config list) or pre-fill {dest}")
    (dest / ".complete").write_text("ok\n")
    return dest


def wheel_dockerfile(base: str, pip_wheel: str, requirements: tuple[str, ...]) -> str:
    """A Dockerfile that installs ``requirements`` into ``base`` from the ``wheels`` folder of
    its context, offline (pip runs from its own wheel: a Debian base has no pip)."""
    reqs = " ".join(f"'{r}'" for r in requirements)
    return (f"FROM {base}\n"
            "USER 0\n"
            "COPY wheels /tmp/fa-wheels\n"
            f"RUN python3 /tmp/fa-wheels/{pip_wheel}/pip install --no-index --no-cache-dir "
            "--disable-pip-version-check --break-system-packages --root-user-action=ignore "
            f"--find-links /tmp/fa-wheels {reqs} && rm -rf /tmp/fa-wheels\n")


def add_wheels(client: Any, base: str, tag: str, requirements: tuple[str, ...], wheels: Path,
               labels: dict[str, str], log: Callable[[str], None] = print,
               extra: tuple[str, ...] = ()) -> str:
    """Build ``tag`` = ``base`` + ``requirements`` installed from ``wheels`` (no network);
    ``extra`` Dockerfile lines go after the install. Returns the image id."""
    import docker

    with tempfile.TemporaryDirectory(prefix="fireassay-image-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(wheels, ctx / "wheels", ignore=shutil.ignore_patterns(".complete"))
        pips = sorted(p.name for p in (ctx / "wheels").glob("pip-*.whl"))
        if not pips:
            raise ImageBuildError(f"{wheels} holds no pip wheel; delete it to download again")
        text = wheel_dockerfile(base, pips[-1], requirements)
        (ctx / "Dockerfile").write_text(text + "".join(ln + "\n" for ln in extra))
        log(f"docker build -> {tag}")
        try:
            client.images.build(path=str(ctx), tag=tag, rm=True, forcerm=True,
                                network_mode="none", labels=dict(labels), pull=False)
        except docker.errors.BuildError as exc:
            tail = "".join(str(x.get("stream", x.get("error", ""))) for x in exc.build_log)
            raise ImageBuildError(f"building {tag} failed: {exc.msg}\n{tail[-1500:]}") from None
    image_id = image_exists(client, tag)
    if not image_id:
        raise ImageBuildError(f"docker build finished but {tag} does not exist")
    return image_id


def wheel_cache(requirements: tuple[str, ...]) -> Path:
    """Where the wheels for ``requirements`` are kept (``$FIREASSAY_CACHE/wheels/<hash>``)."""
    import hashlib

    base = os.environ.get("FIREASSAY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "fireassay")
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    return Path(base) / "wheels" / key


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
    include: tuple[str, ...] = IMAGE_PACKAGES,
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
    include: tuple[str, ...] = IMAGE_PACKAGES,
    log: Callable[[str], None] = print,
    client: Any = None,
) -> ImageResult:
    """Make sure ``tag`` exists at :data:`IMAGE_VERSION`: reuse it, else pull ``pull`` and add
    :data:`IMAGE_WHEELS`, else debootstrap. An existing ``tag`` of an older version (or
    without the version label) is rebuilt in place."""
    client = client or make_client(retry_s=10)
    replaced = None
    if not force:
        version = image_version(client, tag)
        if version is not None and version >= IMAGE_VERSION:
            return ImageResult(tag, "existing", image_exists(client, tag) or "")
        if version is not None:
            replaced = version
            log(f"{tag} is image version {version}; this fireassay needs version "
                f"{IMAGE_VERSION} (with {', '.join(IMAGE_MODULES)}): rebuilding it")
    if pull:
        log(f"trying to pull {pull} (timeout {pull_timeout:.0f}s)")
        img = try_pull(client, pull, pull_timeout)
        if img is not None:
            try:
                wheels = download_wheels(IMAGE_WHEELS, wheel_cache(IMAGE_WHEELS), log)
                extra = tuple(ln for ln in ENV_CHANGES if not ln.startswith("LABEL"))
                labels = {"fireassay.image": "sandbox-base", VERSION_LABEL: str(IMAGE_VERSION)}
                image_id = add_wheels(client, img.id, tag, IMAGE_WHEELS, wheels, labels, log,
                                      extra=extra)
                return ImageResult(tag, "pulled", image_id, replaced)
            except ImageBuildError as exc:
                log(f"could not add {', '.join(IMAGE_WHEELS)} to {pull} ({exc}); "
                    "building offline with debootstrap instead")
        else:
            log("no registry answered; building offline with debootstrap")
    image_id = debootstrap_build(client, tag, suite=suite, mirror=mirror, include=include, log=log)
    return ImageResult(tag, "debootstrap", image_id, replaced)
