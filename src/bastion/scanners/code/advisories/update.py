"""Building the offline mirror from the PyPI OSV archive and the PyPA advisory database."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bastion.core import BastionError, atomic_path
from bastion.scanners.code.advisories._http import HttpError, download
from bastion.scanners.code.advisories.mirror import SCHEMA, SCHEMA_VERSION, default_database
from bastion.scanners.code.advisories.osv import affected_packages

OSV_ARCHIVE = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
PYPA_ARCHIVE = "https://github.com/pypa/advisory-database/archive/refs/heads/main.zip"
_MAX_RECORD = 16 * 1024 * 1024
_MAX_ARCHIVE = 2 * 1024 * 1024 * 1024


class MirrorUpdateError(BastionError):
    """The mirror could not be updated; the previous one, if any, is left as it was."""


@dataclass(frozen=True, slots=True)
class MirrorSummary:
    """What an update wrote."""

    path: Path
    """The database file."""
    snapshot: str
    """When the archives were downloaded (ISO 8601, UTC)."""
    advisories: int
    """Distinct advisories kept (those naming a PyPI package)."""
    newest_modified: str
    """The latest ``modified`` time among them: how fresh the data itself is."""
    skipped: int
    """Archive members that were not readable OSV records."""


def update_mirror(path: Path | None = None, *, osv_url: str = OSV_ARCHIVE, pypa_url: str | None = PYPA_ARCHIVE) -> MirrorSummary:
    """Download both archives (http(s) or file URLs; ``pypa_url=None`` leaves PyPA's out) and replace the mirror at
    ``path`` (default ``BASTION_HOME/vulndb/osv.sqlite``) atomically.

    Records stream from the archives into the new database, so memory stays small whatever their number.
    """
    path = path or default_database()
    snapshot = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MirrorUpdateError(f"{path.parent}: cannot create the advisory directory ({exc.strerror or exc})") from None
    skipped = 0
    try:
        with atomic_path(path) as temporary, contextlib.closing(sqlite3.connect(temporary)) as database:
            database.executescript(SCHEMA)
            sources = ((osv_url, _osv_members), (pypa_url, _pypa_members))
            for url, members in ((url, members) for url, members in sources if url is not None):
                with tempfile.TemporaryFile(dir=path.parent) as archive:
                    try:
                        download(url, archive, limit=_MAX_ARCHIVE)
                    except HttpError as exc:
                        raise MirrorUpdateError(f"cannot download {url} ({exc}); the advisory database was not changed") from None
                    for record in _records(archive, url, members):
                        if record is None:
                            skipped += 1
                        else:
                            _store(database, record)
            count, newest = database.execute("SELECT count(*), max(modified) FROM records").fetchone()
            if not count:
                raise MirrorUpdateError(f"no PyPI advisories in {osv_url} or {pypa_url}; the advisory database was not changed")
            meta = {
                "schema_version": SCHEMA_VERSION,
                "snapshot": snapshot,
                "newest_modified": newest,
                "advisories": str(count),
                "sources": json.dumps([url for url in (osv_url, pypa_url) if url is not None]),
            }
            database.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            database.commit()
    except (OSError, sqlite3.Error) as exc:
        raise MirrorUpdateError(f"{path}: cannot write the advisory database ({exc}); the previous one was kept") from None
    return MirrorSummary(path, snapshot, count, newest, skipped)


def _store(database: sqlite3.Connection, record: dict[str, Any]) -> None:
    """Keep ``record`` unless one of the same id and a later ``modified`` is already kept (both archives hold PYSEC ids)."""
    modified = _sortable_time(record.get("modified"))
    text = json.dumps(record, separators=(",", ":"))
    database.execute(
        "INSERT INTO records VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, "
        "record = excluded.record WHERE excluded.modified > records.modified",
        (record["id"], modified, text),
    )
    database.executemany("INSERT OR IGNORE INTO packages VALUES (?, ?)", ((p, record["id"]) for p in affected_packages(record)))


def _osv_members(name: str) -> bool:
    return name.endswith(".json")


def _pypa_members(name: str) -> bool:
    # The repository archive holds advisories as vulns/<package>/PYSEC-….yaml below its top folder.
    return "/vulns/" in f"/{name}" and name.endswith((".yaml", ".yml"))


def _records(archive: IO[bytes], url: str, wanted: Callable[[str], bool]) -> Iterator[dict[str, Any] | None]:
    """Each OSV record naming a PyPI package in the zip ``archive``; None for a member that is not one."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                if member.is_dir() or not wanted(member.filename):
                    continue
                if member.file_size > _MAX_RECORD:
                    yield None
                    continue
                yield _record(bundle.read(member), member.filename)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise MirrorUpdateError(f"{url}: not a readable zip archive ({exc}); the advisory database was not changed") from None


def _record(data: bytes, name: str) -> dict[str, Any] | None:
    import yaml

    try:
        # YAML reads timestamps as datetimes; OSV keeps them as RFC 3339 text.
        record = json.loads(data) if name.endswith(".json") else json.loads(json.dumps(yaml.safe_load(data), default=_rfc3339))
    except (ValueError, UnicodeDecodeError, TypeError, RecursionError, yaml.YAMLError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not affected_packages(record):
        return None
    return record


def _sortable_time(value: object) -> str:
    """An RFC 3339 time as fixed-width UTC text, so that times compare as text (precisions differ between the archives)."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return ""  # no usable time: any dated copy of the record wins
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339(value: object) -> str:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).isoformat().removesuffix("+00:00") + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
