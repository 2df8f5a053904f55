"""The ``bastion`` command line: argparse (it starts in milliseconds; scans run in pre-commit hooks)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

Run = Callable[[argparse.Namespace], int]
"""A command's body: takes the parsed arguments, returns the exit status."""


class Parser(argparse.ArgumentParser):
    """Usage errors end in one line naming the problem and where to get help, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def build_parser() -> Parser:
    from bastion import __version__
    from bastion.cli import anonymize, demo, keys, profile, scan

    parser = Parser(
        prog="bastion",
        description="Bastion: a secure MLOps pipeline. Scan, gate, train, sign, register, serve and watch models.",
    )
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    for module in (scan, profile, demo, anonymize, keys):
        module.register(commands)
    return parser
