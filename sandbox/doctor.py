"""Checks that the docker sandbox works, each failure with the command that fixes it."""
from __future__ import annotations

from dataclasses import dataclass

from sandbox.config import SandboxConfig


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(config: SandboxConfig | None = None) -> list[Check]:
    """daemon -> image -> hello run -> leftovers; later checks are skipped when one fails."""
    cfg = config or SandboxConfig()
    checks: list[Check] = []
    try:
        import docker  # noqa: F401
    except ImportError:
        return [Check("docker SDK", False, "the `docker` Python package is missing",
                      "pip install 'docker>=7' (it is a fireassay dependency: reinstall fireassay)")]
    from sandbox.docker_client import NO_DAEMON_FIX, make_client
    from sandbox.errors import SandboxError

    try:
        client = make_client(timeout=10)
        ver = client.version().get("Version", "?")
        checks.append(Check("docker daemon", True, f"answers (server {ver})"))
    except Exception as exc:  # noqa: BLE001 - every failure here means the same fix
        checks.append(Check("docker daemon", False, str(exc).split(". ")[0], NO_DAEMON_FIX))
        return checks

    from sandbox.image import IMAGE_MODULES, IMAGE_VERSION, image_exists, image_version

    image_id = image_exists(client, cfg.image)
    version = image_version(client, cfg.image) if image_id else None
    if image_id and version is not None and version < IMAGE_VERSION:
        # still usable (the hello run below says so), but it lacks what model code imports
        checks.append(Check("image", False, f"{cfg.image} is image version {version}; this "
                            f"fireassay needs {IMAGE_VERSION} (with {', '.join(IMAGE_MODULES)})",
                            f"fireassay sandbox build --image {cfg.image}   (rebuilds it)"))
    elif image_id:
        checks.append(Check("image", True, f"{cfg.image} ({image_id[7:19]}, "
                            f"version {version})"))
    else:
        checks.append(Check("image", False, f"{cfg.image} does not exist",
                            "fireassay sandbox build   (or: sudo make sandbox)"))
        return checks

    from sandbox.docker_backend import DockerSandbox

    try:
        with DockerSandbox(cfg, client=client, kind="doctor") as sb:
            mods = ",".join(IMAGE_MODULES)
            r = sb.exec(["python3", "-c", "import os, sys, importlib.util as u; print('hello', "
                         "os.getuid(), sys.version.split()[0], ','.join(m for m in "
                         f"'{mods}'.split(',') if getattr(u.find_spec(m), 'origin', None) is None) or '-')"],
                        timeout=30)  # origin None: missing, or an empty namespace folder
            net = sb.container.attrs["HostConfig"].get("NetworkMode")
        if r.ok and r.stdout.startswith(b"hello"):
            _, uid, pyver, missing = r.stdout.decode().split()
            checks.append(Check("hello run", True,
                                f"python {pyver} as uid {uid}, network {net}, exec "
                                f"{r.duration_s * 1000:.0f} ms"))
            if missing != "-":
                checks.append(Check("libraries", False, f"{cfg.image} lacks {missing}",
                                    f"fireassay sandbox build --force --image {cfg.image}"))
        else:
            checks.append(Check("hello run", False, f"exit {r.returncode}: "
                                f"{r.text('stderr').strip()[:300]}",
                                "rebuild the image: fireassay sandbox build --force"))
    except SandboxError as exc:
        checks.append(Check("hello run", False, str(exc)[:300],
                            "check `docker info` and the daemon log; then fireassay sandbox doctor"))
        return checks

    from sandbox.labels import owner_alive
    from sandbox.reap import fireassay_containers

    dead = [c.name for c in fireassay_containers(client) if owner_alive(c.labels or {}) is False]
    if dead:
        checks.append(Check("leftover containers", False,
                            f"{len(dead)} containers of dead runs", "fireassay sandbox reap"))
    else:
        checks.append(Check("leftover containers", True, "none"))
    return checks
