"""The ``bastion`` command: a thin shell over the services of each stage."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="bastion",
    help="Bastion: a secure MLOps pipeline. Scan, gate, train, sign, register, serve and watch models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
