"""The ``bastion`` command line: argparse (it starts in milliseconds; scans run in pre-commit hooks)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

Run = Callable[[argparse.Namespace], int]
"""A command's body: takes the parsed arguments, returns the exit status."""


class Parser(argparse.ArgumentParser):
    """Usage errors end in one line naming the problem and where to get help, with exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, sized without ``shutil``: argparse builds one for every option it adds, and
    ``shutil`` (with bz2, lzma and fnmatch behind it) would cost every scan ~3 ms of start-up."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_width() - 2)  # the margin argparse keeps itself


def _terminal_width() -> int:
    """``COLUMNS``, else the terminal's width, else 80 (what ``shutil.get_terminal_size`` answers)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (OSError, ValueError):
        return 80


COMMANDS = (
    "init",
    "scan",
    "profile",
    "demo",
    "run",
    "runs",
    "lineage",
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
    "serve",
    "deploy",
    "predict",
    "monitor",
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
