"""The served models: which versions are loaded, and how that changes. At start every reference is resolved and its
version admitted (with every version the router may send traffic to); afterwards a poll of the registry re-resolves
them and admits a new version before switching to it. A version the registry no longer approves is unloaded.

Swaps replace whole entries of a dict, so a request in flight sees either the old model or the new one, never half.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bastion.registry import Stage, Status, approval_problem
from bastion.serve.admission import AdmissionRefused, ServedVersion, VersionRecord, admit, resolve, version_record

if TYPE_CHECKING:
    from bastion.registry import Registry
    from bastion.serve.config import ModelReference, ServeConfig
    from bastion.serve.interface import Router
    from bastion.serve.metrics import ServerMetrics
    from bastion.serve.stable import StableRouter

_log = logging.getLogger("bastion.serve")


@dataclass(frozen=True)
class ServedModel:
    """One served model: the version its reference names, and every admitted version traffic may go to."""

    reference: ModelReference
    """What the operator asked for (``churn@prod``)."""
    primary: ServedVersion
    """The version the reference resolves to (the stable variant)."""
    versions: dict[int, ServedVersion]
    """Every admitted version by number, the primary included (do not mutate: replaced whole)."""


class Catalog:
    """The loaded models of one server."""

    def __init__(
        self, registry: Registry, config: ServeConfig, router: Router, stable: StableRouter, metrics: ServerMetrics
    ) -> None:
        self._registry = registry
        self._config = config
        self._router = router
        self._stable = stable
        self._metrics = metrics
        self.models: dict[str, ServedModel] = {}

    def load(self) -> list[str]:
        """Admit every reference's version; the refusals, one line per refused model (empty: all loaded)."""
        refusals = []
        for reference in self._config.models:
            try:
                self._update(reference)
            except AdmissionRefused as exc:
                refusals.append(str(exc))
        return refusals

    def refresh(self) -> None:
        """One poll: switch to versions the references now name (after admission), load versions the router needs,
        unload versions the registry no longer approves. A refusal keeps what is served and is logged."""
        for reference in self._config.models:
            try:
                self._update(reference)
            except AdmissionRefused as exc:
                _log.warning("hot reload refused: %s", exc)
            except Exception as exc:  # a poll must never kill the server: the next one tries again
                _log.warning("registry poll failed for %s: %s", reference, exc)

    async def watch(self) -> None:
        """Poll the registry forever (the server's background task)."""
        while True:
            await asyncio.sleep(self._config.poll_interval)
            await asyncio.to_thread(self.refresh)

    def _update(self, reference: ModelReference) -> None:
        name, engine = reference.name, self._registry.engine
        current = self.models.get(name)
        loaded = current.versions if current is not None else {}
        try:
            primary = self._version(resolve(engine, reference), loaded)
        except AdmissionRefused:
            if current is not None and not self._still_served(current.primary):
                del self.models[name]
                _log.warning("unloaded %s:%s: the registry no longer approves it", name, current.primary.version)
            raise
        self._stable.point(name, primary.version)
        versions = {primary.version: primary}
        for number in sorted(set(self._router.versions(name)) - {primary.version}):
            # A rollout's candidate answers the primary's traffic: it needs an approval for the primary's stage.
            problem = approval_problem(engine, name, number, Stage(primary.stage))
            if problem is not None:
                _log.warning("not routing to %s:%s: %s", name, number, problem)
                continue
            try:
                versions[number] = self._version(version_record(engine, name, number), loaded)
            except AdmissionRefused as exc:
                _log.warning("not routing to %s:%s: %s", name, number, exc)
        self.models[name] = ServedModel(reference, primary, versions)

    def _version(self, record: VersionRecord, loaded: dict[int, ServedVersion]) -> ServedVersion:
        """The admitted version ``record`` names: the loaded copy while the registry still approves that exact
        package, else a fresh admission."""
        kept = loaded.get(record.version)
        if kept is not None and kept.package_digest == record.package_digest and _approved(record):
            return kept
        try:
            config = self._config
            served = admit(
                self._registry.engine,
                record,
                tolerance=config.range_tolerance,
                max_batch=config.max_batch,
                checked=config.security,
            )
        except AdmissionRefused:
            self._metrics.admissions.labels(record.name, "refused").inc()
            raise
        self._metrics.admissions.labels(record.name, "admitted").inc()
        _log.info("admitted %s:%s (%s)", record.name, record.version, record.package_digest)
        return served

    def _still_served(self, served: ServedVersion) -> bool:
        try:
            record = version_record(self._registry.engine, served.name, served.version)
        except AdmissionRefused:
            return False
        return _approved(record) and record.package_digest == served.package_digest


def _approved(record: VersionRecord) -> bool:
    return record.status == Status.APPROVED.value and record.stage != Stage.ARCHIVED.value
