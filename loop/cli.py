"""The ``fireassay`` command line. Each sub-command lives in ``loop/commands/<name>.py`` and
exposes ``register(app)``; this module only assembles them."""
from __future__ import annotations

import importlib
import sys

import typer

# One line per command module; each module defines ``register(app: typer.Typer) -> None``.
COMMAND_MODULES = [
    "loop.commands.verify",
    "loop.commands.run",
    "loop.commands.report",
    "loop.commands.select",
    "loop.commands.export",
    "loop.commands.doctor",
    "loop.commands.sandbox",
    "loop.commands.rft",
    "loop.commands.view",
]


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="fireassay",
        help="Repeated sampling with verification: sample, verify, select, report.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    app = build_app()
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
