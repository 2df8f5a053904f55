"""The command-line interface; every command lives in its own module and calls the services."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from bastion.cli import demo, scan  # noqa: F401  (each module adds its command to the app)
from bastion.cli.app import app
from bastion.core import BastionError


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``bastion``; user mistakes end in one line on stderr and a non-zero status, never a traceback."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=list(argv) if argv is not None else None, prog_name="bastion", standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except BastionError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.TyperException as exc:
        context = getattr(exc, "ctx", None)
        command_path = context.command_path if context is not None else "bastion"
        _fail(f"{exc.format_message().rstrip('.')} (see '{command_path} --help')", exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _fail("interrupted", 130)
    sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, status: int) -> None:
    sys.stderr.write(f"bastion: error: {message}\n")
    sys.exit(status)


__all__ = ["app", "main"]
