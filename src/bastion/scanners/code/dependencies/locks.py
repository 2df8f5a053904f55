"""Lock files: ``poetry.lock``, ``uv.lock`` and ``Pipfile.lock`` (resolved versions), and ``Pipfile`` (declared)."""

from __future__ import annotations

import json
from typing import Any

from bastion.scanners.code.dependencies._toml import LineFinder, load_toml, subtable, table
from bastion.scanners.code.dependencies.interface import Dependency, Manifest, ManifestError, ManifestParser
from bastion.scanners.code.dependencies.pyproject import poetry_pin


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _packages(document: dict[str, Any], path: str) -> list[dict[str, Any]]:
    packages = document.get("package", [])
    if not isinstance(packages, list) or not all(isinstance(p, dict) for p in packages):
        raise ManifestError("[[package]] entries must be tables")
    for index, package in enumerate(packages):
        if not isinstance(package.get("name"), str):
            raise ManifestError(f"[[package]] number {index + 1} has no name; regenerate {path}")
    return packages


class PoetryLockParser(ManifestParser):
    formats = frozenset({"poetry-lock"})

    def parse(self, data: bytes, path: str, *, file: str | None = None) -> Manifest:
        document, text = load_toml(data, path)
        headers = LineFinder(text).package_lines()
        found = []
        for index, package in enumerate(_packages(document, path)):
            source = subtable(package.get("source"))
            url = source.get("url") if source.get("type") in ("git", "url", "file", "directory") else None
            groups = package.get("groups") or [package.get("category", "main")]
            version = str(package.get("version", ""))
            found.append(
                Dependency(
                    name=_canonical(package["name"]),
                    version=None if url or not version else version,
                    specifier=f"=={version}" if version else "",
                    path=path,
                    line=headers[index] if index < len(headers) else None,
                    url=str(url) if url else None,
                    hashes=tuple(f["hash"] for f in package.get("files", []) if isinstance(f, dict) and "hash" in f),
                    resolved=True,
                    group=None if "main" in groups else str(groups[0]),
                )
            )
        return Manifest("poetry-lock", tuple(found))


class UvLockParser(ManifestParser):
    formats = frozenset({"uv-lock"})

    def parse(self, data: bytes, path: str, *, file: str | None = None) -> Manifest:
        document, text = load_toml(data, path)
        headers = LineFinder(text).package_lines()
        found = []
        for index, package in enumerate(_packages(document, path)):
            source = subtable(package.get("source"))
            if "editable" in source or "virtual" in source:
                continue  # the project itself or a workspace member, not a published package
            url = next((str(source[k]) for k in ("git", "url", "path", "directory") if k in source), None)
            version = str(package.get("version", ""))
            hashes = [package.get("sdist", {}), *list(package.get("wheels", []))]
            found.append(
                Dependency(
                    name=_canonical(package["name"]),
                    version=None if url or not version else version,
                    specifier=f"=={version}" if version else "",
                    path=path,
                    line=headers[index] if index < len(headers) else None,
                    url=url,
                    hashes=tuple(h["hash"] for h in hashes if isinstance(h, dict) and "hash" in h),
                    resolved=True,
                )
            )
        return Manifest("uv-lock", tuple(found))


class PipfileLockParser(ManifestParser):
    formats = frozenset({"pipfile-lock"})

    def parse(self, data: bytes, path: str, *, file: str | None = None) -> Manifest:
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ManifestError(f"not valid JSON ({exc}); regenerate {path} with `pipenv lock`") from None
        except RecursionError:
            raise ManifestError(f"not valid JSON (nested too deeply); regenerate {path} with `pipenv lock`") from None
        if not isinstance(document, dict):
            raise ManifestError(f"not a Pipfile.lock (no top-level object); regenerate {path} with `pipenv lock`")
        text = data.decode("utf-8", "replace")
        lines = LineFinder(text)
        found = []
        for section, group in (("default", None), ("develop", "develop")):
            entries = document.get(section, {})
            if not isinstance(entries, dict):
                raise ManifestError(f'"{section}" must be an object; regenerate {path} with `pipenv lock`')
            section_line = lines.of_string(section) or 0
            for name, entry in entries.items():
                if not isinstance(entry, dict):
                    raise ManifestError(f'"{section}" entry {name} must be an object')
                specifier = str(entry.get("version", ""))
                url = next((str(entry[k]) for k in ("git", "file", "path") if k in entry), None)
                found.append(
                    Dependency(
                        name=_canonical(name),
                        version=None if url else poetry_pin(specifier) if specifier.startswith("==") else None,
                        specifier=specifier,
                        path=path,
                        line=_json_key_line(text, name, section_line),
                        marker=str(entry["markers"]) if "markers" in entry else None,
                        url=url,
                        hashes=tuple(str(h) for h in entry.get("hashes", [])),
                        resolved=True,
                        group=group,
                    )
                )
        return Manifest("pipfile-lock", tuple(found))


def _json_key_line(text: str, key: str, after: int) -> int | None:
    needle = f'"{key}":'
    for number, line in enumerate(text.splitlines()[after:], after + 1):
        if needle in line.replace('": ', '":'):
            return number
    return None


class PipfileParser(ManifestParser):
    formats = frozenset({"pipfile"})

    def parse(self, data: bytes, path: str, *, file: str | None = None) -> Manifest:
        document, text = load_toml(data, path)
        lines = LineFinder(text)
        found = []
        for section, group in (("packages", None), ("dev-packages", "dev-packages")):
            start = lines.of_table(section)
            for name, value in table(document, section).items():
                entry = value if isinstance(value, dict) else {"version": value}
                specifier = str(entry.get("version", "*")).strip()
                url = next((str(entry[k]) for k in ("git", "file", "path") if k in entry), None)
                extras = entry.get("extras", [])
                found.append(
                    Dependency(
                        name=_canonical(name),
                        version=None if url else poetry_pin(specifier) if specifier.startswith("==") else None,
                        specifier="" if specifier == "*" else specifier,
                        path=path,
                        line=lines.of_key(name, after=start),
                        extras=tuple(sorted(str(e) for e in extras)) if isinstance(extras, list) else (),
                        marker=str(entry["markers"]) if "markers" in entry else None,
                        url=url,
                        group=group,
                    )
                )
        return Manifest("pipfile", tuple(found))
