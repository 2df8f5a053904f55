"""What ``bastion serve`` is told: the models to serve and the limits and identity settings, parsed from the
command line's human forms (``100/s``, ``1MB``, ``5s``, ``churn@prod``)."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bastion.core import BastionError
from bastion.registry import Stage

_REFERENCE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,127})(?:(?P<at>@[a-z][a-z0-9_-]{0,63})|:(?P<version>[1-9][0-9]*))?$"
)
_RATE = re.compile(r"^(?P<count>[0-9]+(?:\.[0-9]+)?)/(?P<unit>s|m|h)$")
_SIZE = re.compile(r"^(?P<count>[0-9]+)(?P<unit>B|KB|MB|GB|KiB|MiB|GiB)?$", re.IGNORECASE)
_DURATION = re.compile(r"^(?P<count>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s|m)$")
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_BYTES = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_LIVE_STAGES = {stage.value for stage in Stage if stage is not Stage.ARCHIVED}


@dataclass(frozen=True)
class ModelReference:
    """One ``MODEL[@STAGE|@ALIAS|:VERSION]`` argument."""

    name: str
    """The registered model."""
    stage: Stage | None = None
    """Serve the newest version in this stage (``@prod``); the default is prod when nothing else is named."""
    alias: str | None = None
    """Serve the version this alias points at (``@champion``)."""
    version: int | None = None
    """Serve exactly this version (``:3``)."""

    @classmethod
    def parse(cls, text: str) -> ModelReference:
        match = _REFERENCE.match(text)
        if match is None:
            raise BastionError(f"{text!r}: not a model reference; use NAME, NAME@STAGE, NAME@ALIAS or NAME:VERSION")
        name, at, version = match.group("name"), match.group("at"), match.group("version")
        if version is not None:
            return cls(name, version=int(version))
        if at is None:
            return cls(name, stage=Stage.PROD)
        label = at[1:]
        return cls(name, stage=Stage(label)) if label in _LIVE_STAGES else cls(name, alias=label)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.alias if self.alias is not None else self.stage}"


@dataclass(frozen=True)
class Rate:
    """A token bucket's refill rate; the burst is one second's worth (at least one request)."""

    per_second: float
    """Requests per second."""

    @property
    def burst(self) -> float:
        return max(1.0, self.per_second)

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text.strip())
        if match is None or float(match.group("count")) <= 0:
            raise BastionError(f"rate limit {text!r}: use COUNT/s, COUNT/m or COUNT/h with a positive count (e.g. 100/s)")
        return cls(float(match.group("count")) / _SECONDS[match.group("unit")])


def parse_size(text: str) -> int:
    """``1MB``, ``512KiB``, ``4096`` → bytes."""
    match = _SIZE.match(text.strip())
    if match is None or int(match.group("count")) <= 0:
        raise BastionError(f"size {text!r}: use a positive number of bytes with an optional unit (B, KB, MB, KiB, MiB)")
    return int(match.group("count")) * _BYTES[(match.group("unit") or "b").lower()]


def parse_duration(text: str) -> float:
    """``5s``, ``250ms``, ``1m`` → seconds."""
    match = _DURATION.match(text.strip())
    if match is None or float(match.group("count")) <= 0:
        raise BastionError(f"duration {text!r}: use a positive number with ms, s or m (e.g. 5s)")
    count = float(match.group("count"))
    return count / 1000 if match.group("unit") == "ms" else count * _SECONDS[match.group("unit")]


@dataclass(frozen=True)
class OidcSettings:
    """Bearer JWTs from an OpenID Connect provider."""

    issuer: str
    """The ``iss`` every token must carry."""
    audience: str
    """The ``aud`` every token must carry (this server)."""
    jwks: str
    """The provider's JSON Web Key Set: a file path, or an http(s) URL fetched at start and on unknown key ids."""
    roles_claim: str = "groups"
    """The claim listing the caller's groups; each group that names a registry role grants that role."""


@dataclass(frozen=True)
class ServeConfig:
    """Everything the server needs besides the registry."""

    models: tuple[ModelReference, ...]
    """The models to serve."""
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None
    rate: Rate = field(default_factory=lambda: Rate(100.0))
    """Per principal and, separately, per model."""
    login_rate: Rate = field(default_factory=lambda: Rate(10.0))
    """Failed credential checks per client address (a flood of bad ones would otherwise cost a registry query and an
    audit entry each)."""
    max_body: int = 1_000_000
    """Request bodies above this many bytes get 413."""
    max_batch: int = 1000
    """Requests with more rows get 413."""
    timeout: float = 5.0
    """Seconds a prediction may take before the caller gets 504."""
    range_tolerance: float = 0.1
    """How far outside the training range a number may be, as a fraction of that range, on either side."""
    oidc: OidcSettings | None = None
    public_metrics: bool = False
    """Serve /metrics without credentials (for a scraper on a trusted network)."""
    capture_sample: float = 0.0
    """The fraction of predictions captured for monitoring (0: none)."""
    capture_policy: Path | None = None
    """The anonymization policy (anon.yaml) applied before anything is written; required to capture."""
    capture_dir: str | None = None
    """Where capture files go (a directory or fsspec URL); default the artifact store."""
    poll_interval: float = 5.0
    """Seconds between registry polls for stage, alias and deployment changes (hot reload)."""
    token_cache_seconds: float = 5.0
    """How long a verified token is trusted before the registry or JWKS is asked again (revocation delay)."""
    security: bool = True
    """Authentication, rate limits and capture on (off only for the benchmark's comparison)."""

    def to_json(self) -> str:
        """The configuration as JSON (how ``--workers`` hands it to each worker process)."""
        document = dataclasses.asdict(self)
        document.update(
            models=[str(reference) for reference in self.models],
            tls_cert=str(self.tls_cert) if self.tls_cert else None,
            tls_key=str(self.tls_key) if self.tls_key else None,
            capture_policy=str(self.capture_policy) if self.capture_policy else None,
        )
        return json.dumps(document)

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        document = json.loads(text)
        oidc = document.pop("oidc")
        return cls(
            **{
                **document,
                "models": tuple(ModelReference.parse(reference) for reference in document["models"]),
                "tls_cert": Path(document["tls_cert"]) if document["tls_cert"] else None,
                "tls_key": Path(document["tls_key"]) if document["tls_key"] else None,
                "capture_policy": Path(document["capture_policy"]) if document["capture_policy"] else None,
                "rate": Rate(**document["rate"]),
                "login_rate": Rate(**document["login_rate"]),
                "oidc": OidcSettings(**oidc) if oidc else None,
            }
        )
