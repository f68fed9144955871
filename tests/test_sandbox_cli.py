"""`fireassay sandbox doctor|reap|build` against the real daemon (the sub-app on its own, so
this test does not depend on the other command modules)."""
from __future__ import annotations

import os

import pytest
import typer
from typer.testing import CliRunner

from loop.commands.sandbox import register
from tests.sandbox_helpers import TEST_CONFIG, docker_client

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def app():
    docker_client()  # fails with the fix when there is no daemon or image
    a = typer.Typer()

    @a.callback()
    def main() -> None:
        """test root"""

    register(a)
    return a


def test_doctor_passes_on_a_working_setup(app):
    # leftovers of runs SIGKILLed elsewhere on this machine (the resume test does that) are not
    # this test's subject: reaped first, as a user would after doctor named them
    assert CliRunner().invoke(app, ["sandbox", "reap"]).exit_code == 0
    r = CliRunner().invoke(app, ["sandbox", "doctor"])
    assert r.exit_code == 0, r.output
    for name in ("docker daemon", "image", "hello run", "leftover containers"):
        assert f"ok   {name}" in r.output
    assert "as uid 10001, network none" in r.output
    assert "version 2)" in r.output and "libraries" not in r.output


def test_doctor_names_the_fix_for_a_missing_image(app):
    r = CliRunner().invoke(app, ["sandbox", "doctor", "--image", "fireassay/none:missing"])
    assert r.exit_code == 1
    assert "FAIL image: fireassay/none:missing does not exist" in r.output
    assert "fix: fireassay sandbox build" in r.output


def test_build_reuses_an_existing_image(app):
    r = CliRunner().invoke(app, ["sandbox", "build", "--image", TEST_CONFIG.image])
    assert r.exit_code == 0, r.output
    assert f"image {TEST_CONFIG.image}: existing" in r.output


def test_reap_reports(app):
    r = CliRunner().invoke(app, ["sandbox", "reap"])
    assert r.exit_code == 0 and r.output.startswith("removed ")


@pytest.fixture
def outdated_image():
    """A real image as an older fireassay left it: version label 1, without numpy."""
    import io

    client = docker_client()
    tag = f"fireassay/test-outdated:{os.getpid()}"
    dockerfile = (f"FROM {TEST_CONFIG.image}\nUSER 0\n"
                  "RUN rm -rf /usr/lib/python3/dist-packages/numpy\n"
                  "LABEL fireassay.image.version=1\n")
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True,
                        network_mode="none", pull=False)
    yield tag
    client.images.remove(tag, force=True)


def test_doctor_names_an_outdated_image_and_its_missing_libraries(app, outdated_image):
    r = CliRunner().invoke(app, ["sandbox", "doctor", "--image", outdated_image])
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())
    assert f"FAIL image: {outdated_image} is image version 1; this fireassay needs 2" in text
    assert f"FAIL libraries: {outdated_image} lacks numpy" in text
    assert f"fix: fireassay sandbox build --image {outdated_image}" in text


def test_build_rebuilds_an_outdated_image(app, outdated_image, monkeypatch):
    """`sandbox build` on an older image goes to the builder (here a named fake of the
    debootstrap step, which takes minutes and runs in `make sandbox`; it relabels the image
    for real) instead of reusing it."""
    import sandbox.image as image

    calls = []

    def fake_debootstrap_build(client, tag, **kw):
        calls.append((tag, kw["include"]))
        img, _ = client.images.build(
            fileobj=io.BytesIO(f"FROM {tag}\nLABEL fireassay.image.version=2\n".encode()),
            tag=tag, rm=True, network_mode="none", pull=False)
        return img.id

    import io

    monkeypatch.setattr(image, "debootstrap_build", fake_debootstrap_build)
    r = CliRunner().invoke(app, ["sandbox", "build", "--image", outdated_image, "--pull", ""])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"{outdated_image} is image version 1; this fireassay needs version 2" in text
    assert f"image {outdated_image}: debootstrap" in text
    assert calls == [(outdated_image, image.IMAGE_PACKAGES)]
    assert "python3-numpy" in image.IMAGE_PACKAGES
    assert image.image_version(docker_client(), outdated_image) == 2
    # now current: reused, the builder not called again
    r = CliRunner().invoke(app, ["sandbox", "build", "--image", outdated_image, "--pull", ""])
    assert f"image {outdated_image}: existing" in r.output and len(calls) == 1
