"""The server's Prometheus metrics: requests, latency, rejections by reason, traffic per variant, admissions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    """One server's metrics, in their own collector registry (two apps in one process never mix)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry: CollectorRegistry = CollectorRegistry()
        self.requests = Counter(
            "bastion_requests",
            "Requests answered, by route, model and status code",
            ("route", "model", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "bastion_request_seconds",
            "Time to answer a request, by route and model",
            ("route", "model"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejections = Counter("bastion_rejections", "Requests refused, by reason", ("reason",), registry=self.registry)
        self.variants = Counter(
            "bastion_variant_requests",
            "Predictions answered, by model, variant and version",
            ("model", "variant", "version"),
            registry=self.registry,
        )
        self.admissions = Counter(
            "bastion_admissions", "Admission checks of model versions, by outcome", ("model", "outcome"), registry=self.registry
        )

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
