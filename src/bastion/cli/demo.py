"""``bastion demo``: the built-in example project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bastion.cli.app import app


@app.command()
def demo(
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Where to build the example project.")] = None,
) -> None:
    """Build the example project and scan it (the full pipeline demo comes with `bastion run`)."""
    from bastion.cli.scan import scan
    from bastion.examples import build_scan_example

    root = build_scan_example(workdir)
    typer.echo(f"Example project written to {root}; scanning it with `bastion scan {root}`:\n")
    try:
        scan([str(root)])
    except typer.Exit as done:
        typer.echo(
            f"\nThe scan found what was planted (exit status {done.exit_code}). "
            "The end-to-end pipeline demo is not yet available: it arrives with `bastion run`."
        )
