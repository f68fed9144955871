"""The ``fireassay`` command line. Each sub-command lives in ``loop/commands/<name>.py`` and
exposes ``register(app)``; this module only assembles them."""
from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any

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


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """The app. Given the command line ``argv`` that names a command (``verify ...``), only
    that command's module is imported: a command's start-up does not pay for the others'
    imports (numpy, plots, the web view). Anything else (``--help``, a typo) gets them all."""
    app = typer.Typer(
        name="fireassay",
        help="Repeated sampling with verification: sample, verify, select, report.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    named = f"loop.commands.{argv[0]}" if argv else None
    for mod in [named] if named in COMMAND_MODULES else COMMAND_MODULES:
        importlib.import_module(mod).register(app)
    app.callback()(_group)  # a group even with one command registered: `fireassay verify ...`
    return app


def _group() -> None:
    """Repeated sampling with verification: sample, verify, select, report."""


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
    """A fireassay DataWarning as one ``warning:`` line (user text never read as markup); any
    other warning as Python shows it."""
    from rich.console import Console
    from rich.text import Text

    from .tasks import DataWarning

    if issubclass(category, DataWarning):
        Console(stderr=True, soft_wrap=True, markup=False).print(
            Text.assemble(("warning:", "bold yellow"), f" {message}"), highlight=False)
    else:
        PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


PYTHON_SHOWWARNING = warnings.showwarning  # as Python shows a warning (captured before main() replaces it)


def main(argv: list[str] | None = None) -> None:
    app = build_app(sys.argv[1:] if argv is None else argv)
    shown = warnings.showwarning
    warnings.showwarning = show_warning
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    main()
