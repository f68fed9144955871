"""Getting the images a cluster judges in onto its nodes (``fireassay doctor --cluster ... --fix``).

A node that lacks an image gets it one of two ways:

- **load**: the driver's copy, ``docker save``d, cut into chunks of ``chunk_bytes`` put into Ray's
  object store (:func:`ship_image`); the node fetches them one by one into a spool file,
  checks each chunk's SHA-256 and the whole archive's against what the driver computed, and
  only then ``docker load``s it (:func:`receive_image`), and checks that the tag now names the
  image the driver shipped. A corrupted or truncated transfer loads nothing.
- **build**: on the node itself, as there: the sandbox image with ``fireassay sandbox build``'s
  :func:`sandbox.image.ensure_image` (reuse, else pull, else the offline debootstrap build), an
  SWE instance image of fireassay's own task set with the judge's image builder.

Plain functions and values: the driver calls :func:`ship_image`, the node actor
:func:`receive_image`; only those two touch Ray (``ray.put``/``ray.get``).
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator

from sandbox.errors import ImageBuildError

CHUNK_BYTES = 32 * 1024 * 1024
MAX_IMAGE_BYTES = 64 * 1024 ** 3  # a shipment claiming more is refused before anything is fetched


@dataclass(frozen=True)
class Shipment:
    """An image in the object store: its tag and id on the driver, the chunks (object refs) in
    order with each one's SHA-256, and the whole archive's size and SHA-256."""

    tag: str
    image_id: str
    chunks: tuple[Any, ...]
    sums: tuple[str, ...]
    size: int
    sha256: str


def save_stream(client: Any, tag: str) -> Iterator[bytes]:
    """``docker save tag`` as a stream of bytes."""
    return client.images.get(tag).save(named=tag)


def ship_image(tag: str, client: Any = None, chunk_bytes: int = CHUNK_BYTES) -> Shipment:
    """``docker save`` the driver's ``tag`` into the object store, ``chunk_bytes`` per object."""
    import ray

    from sandbox.docker_client import make_client

    own = client is None
    client = client or make_client(timeout=600)
    try:
        image_id = client.images.get(tag).id
        whole = hashlib.sha256()
        chunks: list[Any] = []
        sums: list[str] = []
        size = 0
        buf = bytearray()

        def put(data: bytes) -> None:
            chunks.append(ray.put(data))
            sums.append(hashlib.sha256(data).hexdigest())

        for piece in save_stream(client, tag):
            whole.update(piece)
            size += len(piece)
            buf += piece
            while len(buf) >= chunk_bytes:
                put(bytes(buf[:chunk_bytes]))
                del buf[:chunk_bytes]
        if buf or not chunks:
            put(bytes(buf))
        return Shipment(tag, image_id, tuple(chunks), tuple(sums), size, whole.hexdigest())
    finally:
        if own:
            client.close()


def receive_image(shipment: Shipment, client: Any = None, timeout: float = 600.0) -> str:
    """Fetch ``shipment``'s chunks, check them, ``docker load`` the archive; the loaded image's
    id. Raises :class:`ImageBuildError` (nothing loaded) for a transfer that does not check
    out, or an archive that does not give the shipped tag the shipped image."""
    import ray

    from sandbox.docker_client import make_client

    s = shipment
    if not (isinstance(s, Shipment) and len(s.chunks) == len(s.sums) and 0 < len(s.chunks) <= 100_000
            and isinstance(s.size, int) and 0 <= s.size <= MAX_IMAGE_BYTES):
        raise ImageBuildError("the image shipment is malformed; nothing was loaded")
    whole = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile(prefix="fireassay-image-") as spool:
        for i, (ref, want) in enumerate(zip(s.chunks, s.sums)):
            data = ray.get(ref, timeout=timeout)
            if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != want:
                raise ImageBuildError(f"chunk {i + 1}/{len(s.chunks)} of {s.tag} does not match its "
                                      "checksum; nothing was loaded. Fix: run the same doctor --fix again")
            size += len(data)
            if size > s.size:
                break
            whole.update(data)
            spool.write(data)
        if size != s.size or whole.hexdigest() != s.sha256:
            raise ImageBuildError(f"the archive of {s.tag} received ({size} bytes) does not match the "
                                  f"one sent ({s.size} bytes, checksum); nothing was loaded. Fix: run "
                                  "the same doctor --fix again")
        spool.seek(0)
        own = client is None
        client = client or make_client(timeout=600)
        try:
            client.images.load(_read_chunks(spool))
            got = client.images.get(s.tag).id
        except Exception as exc:  # noqa: BLE001 - the daemon's own errors
            raise ImageBuildError(f"docker load of {s.tag} failed: {str(exc)[:300]}") from None
        finally:
            if own:
                client.close()
    if got != s.image_id:
        raise ImageBuildError(f"after docker load, {s.tag} is {got[7:19]}, not the image shipped "
                              f"({s.image_id[7:19]})")
    return got


def _read_chunks(fh: Any, size: int = 1 << 20) -> Iterator[bytes]:
    while True:
        block = fh.read(size)
        if not block:
            return
        yield block


@dataclass(frozen=True)
class MissingImage:
    """An image a node lacks: what it is for, its tag, and whether the node can build it."""

    what: str  # "sandbox image" or "SWE image of <instance id>"
    tag: str
    buildable: bool
    record: dict[str, Any] | None = None  # the SWE instance (None: the sandbox image)


@dataclass(frozen=True)
class NodeImages:
    node: str  # "address (node id)"
    missing: tuple[MissingImage, ...]
    error: str = ""  # the node could not be asked (no Docker, no fireassay)


def missing_images(fleet: Any, records: list[dict[str, Any]], timeout: float = 180.0) -> list[NodeImages]:
    """What each node lacks: the fleet's sandbox image (absent or older than this fireassay
    needs) and the images of the SWE instances ``records``."""
    import ray

    from sandbox.image import IMAGE_VERSION

    image = fleet.config.image
    by_id = {str(r.get("instance_id")): r for r in records}

    def ask(actor: Any, node: str) -> tuple[Any, Any]:
        return ray.get([actor.sandbox_image_version.remote(), actor.swe_image_status.remote(records)],
                       timeout=timeout)

    out = []
    for node, got in fleet.on_each_node(ask):
        if isinstance(got, BaseException):
            out.append(NodeImages(node, (), f"{type(got).__name__}: {str(got)[:300]}"))
            continue
        version, swe = got
        missing = []
        if version is None or version < IMAGE_VERSION:
            state = "absent" if version is None else f"version {version}, this fireassay needs {IMAGE_VERSION}"
            missing.append(MissingImage(f"sandbox image ({state})", image, True))
        for iid, tag, have, own in swe:
            if not have:
                missing.append(MissingImage(f"SWE image of {iid}", tag, own, by_id.get(iid)))
        out.append(NodeImages(node, tuple(missing)))
    return out


def driver_has(client: Any, tag: str, sandbox: bool) -> bool:
    """Whether the driver's Docker has ``tag`` to ship (the sandbox image: at the version this
    fireassay needs)."""
    from sandbox.image import IMAGE_VERSION, image_exists, image_version

    if client is None or not image_exists(client, tag):
        return False
    return not sandbox or (image_version(client, tag) or 0) >= IMAGE_VERSION


def fix_images(fleet: Any, records: list[dict[str, Any]], log: Any = print,
               chunk_bytes: int = CHUNK_BYTES, timeout: float = 3600.0) -> list[str]:
    """Give every node the images it lacks (see :func:`missing_images`): the driver's copy
    loaded there when the driver has it, else built there. The problems left, one per image
    that could not be had, each naming the fix."""
    import threading

    import ray

    from sandbox.docker_client import make_client

    try:
        client = make_client(timeout=600)
    except Exception:  # noqa: BLE001 - a driver without Docker ships nothing; nodes build
        client = None
    shipped: dict[str, Shipment] = {}
    lock = threading.Lock()

    def shipment(tag: str) -> Shipment:
        with lock:  # one docker save per image, whatever the number of nodes
            if tag not in shipped:
                log(f"shipping {tag} from the driver (docker save, {chunk_bytes >> 20 or 1} MiB chunks)")
                shipped[tag] = ship_image(tag, client, chunk_bytes)
            return shipped[tag]

    def fix(actor: Any, need: tuple[MissingImage, ...]) -> list[str]:
        left = []
        for m in need:
            sandbox = m.record is None
            try:
                if driver_has(client, m.tag, sandbox):
                    ray.get(actor.load_image.remote(shipment(m.tag)), timeout=timeout)
                    how = "loaded from the driver"
                elif sandbox:
                    how = ray.get(actor.build_sandbox_image.remote(), timeout=timeout)
                elif m.buildable:
                    ray.get(actor.build_swe_image.remote(m.record), timeout=timeout)
                    how = "built there"
                else:
                    left.append(f"{m.what}: {m.tag} is on neither the driver nor the node. Fix: pull or "
                                "build it (e.g. with the swebench harness) on the driver, then run this again")
                    continue
                log(f"  {m.what}: {m.tag} {how}")
            except Exception as exc:  # noqa: BLE001 - that image's failure, reported; the rest go on
                cause = getattr(exc, "cause", None) or exc
                left.append(f"{m.what}: {m.tag} could not be had: {type(cause).__name__}: {str(cause)[:300]}")
        return left

    try:
        wanted = {n.node: n for n in missing_images(fleet, records)}
        problems = [f"node {n.node}: {n.error}" for n in wanted.values() if n.error]

        def on_node(actor: Any, node: str) -> list[str]:
            n = wanted.get(node)
            if n is None:
                return ["joined while the others were checked: run this again"]
            return fix(actor, n.missing) if n.missing and not n.error else []

        for node, got in fleet.on_each_node(on_node):
            if isinstance(got, BaseException):
                problems.append(f"node {node}: {type(got).__name__}: {str(got)[:300]}")
            else:
                problems += [f"node {node}: {p}" for p in got]
        return problems
    finally:
        shipped.clear()  # the driver's references go: the object store frees the chunks
        if client is not None:
            client.close()
