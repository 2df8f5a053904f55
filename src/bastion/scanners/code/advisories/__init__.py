"""Known vulnerabilities of packages: OSV records from the OSV API or an offline mirror, matched by PEP 440 ranges."""

from bastion.scanners.code.advisories.interface import Advisory, AdvisorySource, Package, SourceError, SourceInfo
from bastion.scanners.code.advisories.mirror import MirrorSource, default_database, read_meta
from bastion.scanners.code.advisories.osv import match, merge_aliases, parse_version
from bastion.scanners.code.advisories.osv_api import OsvApiSource
from bastion.scanners.code.advisories.update import OSV_ARCHIVE, PYPA_ARCHIVE, MirrorSummary, MirrorUpdateError, update_mirror

__all__ = [
    "OSV_ARCHIVE",
    "PYPA_ARCHIVE",
    "Advisory",
    "AdvisorySource",
    "MirrorSource",
    "MirrorSummary",
    "MirrorUpdateError",
    "OsvApiSource",
    "Package",
    "SourceError",
    "SourceInfo",
    "default_database",
    "match",
    "merge_aliases",
    "parse_version",
    "read_meta",
    "update_mirror",
]
