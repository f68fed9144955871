"""``fireassay sandbox build|doctor|reap``: thin wrappers over sandbox.image/doctor/reap."""
from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console

from loop.commands._common import fail, styled

out = Console(highlight=False, markup=False)  # details are Docker's words: shown as written


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="The Docker sandbox: build its image, check it, clean up.",
                      no_args_is_help=True)

    @sub.command("build")
    def build(
        image: str = typer.Option(None, help="image tag to make (default: the config default)"),
        force: bool = typer.Option(False, "--force", help="rebuild even if the tag exists"),
        pull: str = typer.Option("python:3.11-slim", help="image to try pulling first; '' skips"),
        pull_timeout: float = typer.Option(20.0, help="seconds to wait for a registry"),
        mirror: Optional[str] = typer.Option(None, help="Debian mirror (default: host's apt)"),
    ) -> None:
        """Make the sandbox image: reuse, else pull, else build offline with debootstrap."""
        from sandbox.config import DEFAULT_IMAGE
        from sandbox.errors import SandboxError
        from sandbox.image import ensure_image

        try:
            res = ensure_image(image or DEFAULT_IMAGE, pull=pull or None, pull_timeout=pull_timeout,
                               force=force, mirror=mirror, log=lambda m: out.print(f"  {m}"))
        except SandboxError as exc:
            fail(str(exc))
        out.print(f"image {res.tag}: {res.how} ({res.image_id[7:19]})")

    @sub.command("doctor")
    def doctor(image: str = typer.Option(None, help="image to check")) -> None:
        """Check the daemon, the image and a hello run; print the fix for each failure."""
        from sandbox.config import SandboxConfig
        from sandbox.doctor import run_checks

        cfg = SandboxConfig(image=image) if image else SandboxConfig()
        checks = run_checks(cfg)
        for c in checks:
            mark = styled("green", "ok  ") if c.ok else styled("red", "FAIL")
            out.print(mark + f" {c.name}: {c.detail}")
            if not c.ok and c.fix:
                out.print(f"       fix: {c.fix}")
        if not all(c.ok for c in checks):
            raise typer.Exit(1)

    @sub.command("reap")
    def reap_cmd(
        all_: bool = typer.Option(False, "--all", help="remove every fireassay container, "
                                  "also those of live runs"),
        run_id: Optional[str] = typer.Option(None, help="only containers of this run"),
    ) -> None:
        """Remove sandbox containers left behind by runs whose process is gone."""
        from sandbox.errors import SandboxError
        from sandbox.reap import reap

        try:
            rep = reap(everything=all_, run_id=run_id)
        except SandboxError as exc:
            fail(str(exc))
        out.print(f"removed {len(rep.removed)} containers; kept {rep.kept_alive_owner} of live "
                  f"runs, {rep.kept_other_host} of other hosts")

    app.add_typer(sub, name="sandbox")
