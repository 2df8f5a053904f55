"""Licences of installed packages, read from their metadata, judged against a deny list.

The metadata of the environment Bastion runs in is read (``importlib.metadata``): PEP 639's
``License-Expression`` first, then the trove classifiers, then a ``License`` field that is a
valid SPDX expression. Several licence classifiers are alternatives (dual licensing), so a
package is denied only when every alternative is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bastion.core import Category, Finding, Location, Severity
from bastion.scanners.code.dependencies.interface import Dependency
from bastion.scanners.code.dependencies.trust import denied

# Trove licence classifiers (the part after "License :: ") and their SPDX ids.
_CLASSIFIERS = {
    "OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "OSI Approved :: GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: MIT License": "MIT",
    "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "OSI Approved :: Apache Software License": "Apache-2.0",
    "OSI Approved :: BSD License": "LicenseRef-BSD",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "OSI Approved :: European Union Public Licence 1.2 (EUPL 1.2)": "EUPL-1.2",
    "Public Domain": "LicenseRef-Public-Domain",
    "Other/Proprietary License": "LicenseRef-Proprietary",
}


@dataclass(frozen=True, slots=True)
class InstalledLicense:
    """What an installed distribution says of its licence."""

    version: str
    """The installed version."""
    expression: str | None
    """An SPDX expression, when the metadata gives or implies one."""
    declared: str
    """What the metadata says, as written (for messages)."""


def installed_license(name: str) -> InstalledLicense | None:
    """The licence of the installed distribution ``name``; None when it is not installed here."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        metadata: Any = distribution(name).metadata
    except PackageNotFoundError:
        return None
    version = str(metadata.get("Version", "?"))
    expression = metadata.get("License-Expression")
    if expression:
        return InstalledLicense(version, str(expression), str(expression))
    classifiers = [c.removeprefix("License :: ") for c in metadata.get_all("Classifier") or [] if c.startswith("License :: ")]
    known = [_CLASSIFIERS[c] for c in classifiers if c in _CLASSIFIERS]
    if known:
        return InstalledLicense(version, " OR ".join(dict.fromkeys(known)), "; ".join(classifiers))
    text = str(metadata.get("License") or "").strip()
    return InstalledLicense(version, text if text and _is_spdx(text) else None, text or "(none)")


def denied_licenses(dependencies: list[Dependency], deny: tuple[str, ...]) -> list[Finding]:
    """A finding for each installed dependency whose licence the policy denies, or whose licence cannot be read."""
    if not deny:
        return []
    findings = []
    for dependency in dependencies:
        found = installed_license(dependency.name)
        location = Location(path=dependency.path, line=dependency.line)
        if found is None or found.expression is None:
            why = "it is not installed in this environment" if found is None else f"its metadata says {found.declared!r}"
            findings.append(
                Finding(
                    rule_id="deps.license-unknown",
                    category=Category.LICENSE,
                    severity=Severity.INFO,
                    message=f"the licence of {dependency.name} could not be checked: {why}",
                    location=location,
                    remediation="Install the project's dependencies in the scanning environment, or review the licence by hand.",
                    extra={"package": dependency.name},
                )
            )
        elif _expression_denied(found.expression, deny):
            findings.append(
                Finding(
                    rule_id="deps.denied-license",
                    category=Category.LICENSE,
                    severity=Severity.HIGH,
                    message=f"{dependency.name} {found.version} is licensed {found.expression}, which the licence policy denies",
                    location=location,
                    remediation=f"Replace {dependency.name}, or get the licence approved and remove it from licenses.deny.",
                    extra={"package": dependency.name, "version": found.version, "license": found.expression},
                )
            )
    return findings


def _is_spdx(text: str) -> bool:
    from license_expression import ExpressionError, get_spdx_licensing

    try:
        return not get_spdx_licensing().validate(text).errors
    except (ExpressionError, AttributeError):  # validate() itself trips over some malformed expressions
        return False


def _expression_denied(expression: str, deny: tuple[str, ...]) -> bool:
    from license_expression import ExpressionError, get_spdx_licensing

    try:
        tree = get_spdx_licensing().parse(expression)
    except ExpressionError:
        return any(denied(part.strip("() "), deny) for part in expression.split())
    return _denied_node(tree, deny)


def _denied_node(node: Any, deny: tuple[str, ...]) -> bool:
    kind = type(node).__name__
    if kind == "OR":
        return all(_denied_node(arg, deny) for arg in node.args)
    if kind == "AND":
        return any(_denied_node(arg, deny) for arg in node.args)
    symbol = getattr(node, "license_symbol", node)  # "X WITH exception" is judged as X
    names = (str(symbol.key), *(str(a) for a in getattr(symbol, "aliases", ())))
    return any(denied(name, deny) for name in names)
