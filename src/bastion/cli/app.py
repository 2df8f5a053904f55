"""The ``bastion`` command line: argparse (it starts in milliseconds; scans run in pre-commit hooks)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

Run = Callable[[argparse.Namespace], int]
"""A command's body: takes the parsed arguments, returns the exit status."""


class Parser(argparse.ArgumentParser):
    """Usage errors end in one line naming the problem and where to get help, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


COMMANDS = (
    "init",
    "scan",
    "profile",
    "demo",
    "anonymize",
    "keys",
    "sbom",
    "vulndb",
    "notebooks",
    "sign",
    "verify",
    "package",
    "audit",
    "store",
    "models",
    "users",
    "tokens",
)
"""The command modules under ``bastion.cli``, in the order ``--help`` lists them."""


def build_parser(argv: Sequence[str] = ()) -> Parser:
    """The parser; when ``argv`` names a command, only that command's (a scan in a pre-commit hook
    should not pay for building every other command's options)."""
    from bastion import __version__

    parser = Parser(
        prog="bastion",
        description="Bastion: a secure MLOps pipeline. Scan, gate, train, sign, register, serve and watch models.",
    )
    parser.add_argument("--version", action="version", version=f"bastion {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    named = argv[0] if argv and argv[0] in COMMANDS else None
    for name in COMMANDS if named is None else (named,):
        importlib.import_module(f"bastion.cli.{name}").register(commands)
    return parser
