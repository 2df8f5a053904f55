"""The offline advisory mirror: an SQLite file of OSV records by package, under ``BASTION_HOME/vulndb``.

``bastion vulndb update`` writes it (see ``update.py``); scans with ``--offline`` read it. The
file is replaced whole, so a reader sees one complete snapshot or the previous one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bastion.core import bastion_home
from bastion.scanners.code.advisories.interface import Advisory, AdvisorySource, Package, SourceError, SourceInfo
from bastion.scanners.code.advisories.osv import match

SCHEMA_VERSION = "2"
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE records (id TEXT PRIMARY KEY, modified TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE packages (package TEXT NOT NULL, id TEXT NOT NULL, UNIQUE (package, id));
"""


def default_database() -> Path:
    """``BASTION_HOME/vulndb/osv.sqlite``."""
    return bastion_home() / "vulndb" / "osv.sqlite"


def read_meta(path: Path) -> dict[str, str]:
    """The mirror's metadata (``snapshot``, ``newest_modified``, ``advisories``, ``sources``); ``SourceError`` when absent."""
    with _connect(path) as connection:
        try:
            return dict(connection.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"{path}: not an advisory database ({exc}); run `bastion vulndb update`") from None


class MirrorSource(AdvisorySource):
    """Advisories from the offline mirror; a missing or damaged mirror fails every query."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_database()
        self._meta: dict[str, str] | None = None

    @property
    def meta(self) -> dict[str, str]:
        if self._meta is None:
            meta = read_meta(self.path)
            if meta.get("schema_version") != SCHEMA_VERSION or "snapshot" not in meta:
                raise SourceError(f"{self.path}: advisory database of another Bastion version; run `bastion vulndb update`")
            self._meta = meta
        return self._meta

    @property
    def info(self) -> SourceInfo:
        return SourceInfo("offline OSV mirror", str(self.path), self.meta["snapshot"])

    def query(self, package: Package) -> list[Advisory]:
        return self.query_all([package])[package]

    def query_all(self, packages: Sequence[Package]) -> dict[Package, list[Advisory]]:
        self.meta  # noqa: B018  # fails closed before any lookup when the mirror is missing or foreign
        names = sorted({p.name for p in packages})
        records: dict[str, list[dict[str, object]]] = {name: [] for name in names}
        with _connect(self.path) as connection:
            try:
                for start in range(0, len(names), 500):
                    chunk = names[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    query = (
                        "SELECT packages.package, records.record FROM packages JOIN records USING (id) "
                        f"WHERE packages.package IN ({marks})"  # placeholders only
                    )
                    for name, record in connection.execute(query, chunk):
                        records[name].append(json.loads(record))
            except (sqlite3.DatabaseError, ValueError) as exc:
                raise SourceError(f"{self.path}: damaged advisory database ({exc}); run `bastion vulndb update`") from None
        results: dict[Package, list[Advisory]] = {}
        for package in packages:
            matched = (match(record, package) for record in records[package.name])
            results[package] = [advisory for advisory in matched if advisory is not None]
        return results


def _connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A read-only connection, closed on exit (sqlite3's own context manager only commits)."""
    if not path.is_file():
        raise SourceError(f"no offline advisory database at {path}; run `bastion vulndb update` first")
    try:
        return contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True))
    except sqlite3.Error as exc:
        raise SourceError(f"{path}: cannot open the advisory database ({exc})") from None
