"""The command-line interface: one module per command, each a thin shell over a stage's services."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bastion.core import BastionError


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``bastion``; user mistakes end in one line on stderr and a non-zero status, never a traceback."""
    from bastion.cli.app import build_parser

    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        sys.exit(2)
    try:
        status = run(args)
    except BastionError as exc:
        sys.stderr.write(f"bastion: error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("bastion: interrupted\n")
        sys.exit(130)
    sys.exit(status)


__all__ = ["main"]
