"""The OSV API (https://google.github.io/osv.dev/api/): ``querybatch``, then each advisory's full record."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from bastion.scanners.code.advisories._http import HttpError, get_json
from bastion.scanners.code.advisories.interface import Advisory, AdvisorySource, Package, SourceError, SourceInfo
from bastion.scanners.code.advisories.osv import ECOSYSTEM, match

URL_VARIABLE = "BASTION_OSV_URL"
DEFAULT_URL = "https://api.osv.dev"
_BATCH = 1000  # the API's limit of queries per batch
_FETCHERS = 8


class OsvApiSource(AdvisorySource):
    """Asks the OSV API which advisories affect each package, and re-checks each record's ranges itself."""

    def __init__(self, url: str | None = None) -> None:
        self.url = (url or os.environ.get(URL_VARIABLE) or DEFAULT_URL).rstrip("/")

    @property
    def info(self) -> SourceInfo:
        return SourceInfo("OSV API", self.url)

    def query(self, package: Package) -> list[Advisory]:
        return self.query_all([package])[package]

    def query_all(self, packages: Sequence[Package]) -> dict[Package, list[Advisory]]:
        unique = list(dict.fromkeys(packages))
        ids: dict[Package, list[str]] = {package: [] for package in unique}
        for start in range(0, len(unique), _BATCH):
            chunk = unique[start : start + _BATCH]
            for package, found in zip(chunk, self._batch(chunk), strict=True):
                ids[package] += found
        wanted = {i for found in ids.values() for i in found}
        records = self._records(wanted) if wanted else {}
        results = {}
        for package in unique:
            matched = (match(records[i], package) for i in ids[package])
            results[package] = [advisory for advisory in matched if advisory is not None]
        return results

    def _batch(self, packages: list[Package]) -> list[list[str]]:
        queries: list[dict[str, Any]] = [
            {"package": {"name": p.name, "ecosystem": ECOSYSTEM}, "version": p.version} for p in packages
        ]
        found: list[list[str]] = [[] for _ in packages]
        pending = list(range(len(packages)))
        while pending:
            answer = self._call("/v1/querybatch", {"queries": [queries[i] for i in pending]})
            results = answer.get("results") if isinstance(answer, dict) else None
            if not isinstance(results, list) or len(results) != len(pending):
                raise SourceError(f"{self.url}: unexpected querybatch answer; the OSV API could not be used")
            next_round = []
            for index, result in zip(pending, results, strict=True):
                vulns = result.get("vulns", []) if isinstance(result, dict) else []
                found[index] += [v["id"] for v in vulns if isinstance(v, dict) and isinstance(v.get("id"), str)]
                token = result.get("next_page_token") if isinstance(result, dict) else None
                if token:
                    queries[index] = {**queries[index], "page_token": token}
                    next_round.append(index)
            pending = next_round
        return found

    def _records(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        from concurrent.futures import ThreadPoolExecutor
        from urllib.parse import quote

        ordered = sorted(ids)
        with ThreadPoolExecutor(min(_FETCHERS, max(1, len(ordered)))) as pool:
            records = list(pool.map(lambda i: self._call(f"/v1/vulns/{quote(i, safe='')}"), ordered))
        for advisory_id, record in zip(ordered, records, strict=True):
            if not isinstance(record, dict) or record.get("id") != advisory_id:
                raise SourceError(f"{self.url}: the record of {advisory_id} is malformed; the OSV API could not be used")
        return dict(zip(ordered, records, strict=True))

    def _call(self, path: str, body: Any = None) -> Any:
        """GET ``path``, or POST ``body`` to it."""
        try:
            return get_json(self.url + path, body)
        except HttpError as exc:
            raise SourceError(
                f"OSV API at {self.url} could not be queried ({exc}); use --offline with `bastion vulndb update`"
            ) from None
