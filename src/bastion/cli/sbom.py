"""``bastion sbom``: a CycloneDX 1.6 SBOM of a project's dependencies, with their known vulnerabilities."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "sbom",
        help="write a CycloneDX 1.6 SBOM of the dependencies, with known vulnerabilities",
        description=(
            "Write a CycloneDX 1.6 JSON SBOM of the dependencies declared and resolved by the manifests below PATH "
            "(requirements files, pyproject.toml, Poetry, uv and Pipenv lock files), with the vulnerabilities the OSV "
            "API (or, with --offline, the offline mirror) knows for the pinned versions. Nothing is written when a "
            "manifest is unreadable or the advisories cannot be checked."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="project directories or manifest files")
    parser.add_argument("-o", "--output", type=Path, help="write the SBOM to this file (default: standard output)")
    parser.add_argument(
        "--offline", action="store_true", help="use the offline advisory mirror (`bastion vulndb update`), not the OSV API"
    )
    parser.add_argument("--no-vulnerabilities", action="store_true", help="list the components only; do not look up advisories")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bastion.cli.output import emit
    from bastion.core import BastionError
    from bastion.scanners.code.advisories import SourceError
    from bastion.scanners.code.dependencies.sbom import build_sbom, collect
    from bastion.scanners.code.dependencies.scanner import advisory_source
    from bastion.scanners.interface import ScanOptions

    if args.offline and args.no_vulnerabilities:
        raise BastionError("--offline chooses where advisories come from; it means nothing with --no-vulnerabilities")
    project = collect(args.paths)
    source = None if args.no_vulnerabilities else advisory_source(ScanOptions(offline=args.offline))
    try:
        document = build_sbom(project, source)
    except SourceError as exc:
        raise BastionError(f"advisories not checked, SBOM not written: {exc}") from None
    emit(document, args.output)
    return 0
