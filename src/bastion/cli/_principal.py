"""The registry commands' shared options: who is calling (``--token`` or ``BASTION_TOKEN``) and the output format."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bastion.registry import Principal, Registry

TOKEN_VARIABLE = "BASTION_TOKEN"


def add_common_options(parser: Any) -> None:
    """``--token`` and ``--format`` on a registry subcommand."""
    parser.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"API token (default: ${TOKEN_VARIABLE}; prefer the variable, command lines are visible to other users)",
    )
    parser.add_argument("-f", "--format", dest="output_format", choices=("table", "json"), default="table")


def open_as_caller(args: argparse.Namespace) -> tuple[Registry, Principal]:
    """The registry, and the principal whose token was given."""
    from bastion.registry import Registry

    registry = Registry.open()
    return registry, registry.authenticate(args.token or os.environ.get(TOKEN_VARIABLE))
