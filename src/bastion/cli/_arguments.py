"""argparse types that more than one command takes."""

from __future__ import annotations

import argparse
from pathlib import Path


def rules_file(text: str) -> Path:
    """An argparse type for ``--rules``: the file, checked before any data is read (one line per mistake)."""
    from bastion.scanners.data.integrity import RulesError, load_rules

    try:
        load_rules(text)
    except RulesError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)
