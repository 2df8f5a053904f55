"""The seams inside the server: which version answers a request (``Router``) and where sampled traffic goes
(``CaptureSink``). The app calls them on every prediction; rollouts and capture implement them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    """Which versions of a model see one request."""

    version: int
    """The version whose answer is returned."""
    variant: str
    """The name the response carries (``X-Bastion-Variant`` and the ``variant`` field): ``stable``, ``canary``, ``b``…"""
    shadows: tuple[int, ...] = ()
    """Versions that also get the request; their answers are logged, never returned."""


class Router(ABC):
    """Chooses the version that answers, and learns from outcomes (canary, A/B, bandits, automatic rollback)."""

    @abstractmethod
    def route(self, model: str, *, key: str | None) -> Route:
        """The route for one request; ``key`` is the sticky key for A/B splits (a header's value), if any."""

    @abstractmethod
    def versions(self, model: str) -> tuple[int, ...]:
        """Every version that may be routed to (the server admits and loads each before serving)."""

    @abstractmethod
    def observe(self, model: str, version: int, *, latency_seconds: float, error: bool) -> None:
        """One answered request, for rollback thresholds (error rate, p99 latency)."""

    @abstractmethod
    def reward(self, model: str, version: int, reward: float) -> None:
        """A reward from ``/v1/feedback`` for a request this version answered (bandits)."""

    def sticky_key(self, model: str) -> str | None:
        """The request header whose value the server passes to ``route`` as ``key`` (A/B splits); None: no key."""
        return None


class CaptureSink(ABC):
    """Receives predictions for monitoring; implementations sample, anonymize and write them (see capture.md)."""

    @abstractmethod
    def record(
        self,
        *,
        request_id: str,
        model: str,
        version: int,
        variant: str,
        rows: Sequence[Mapping[str, Any]],
        predictions: Sequence[str],
        scores: Sequence[float | None],
    ) -> None:
        """One request's rows (the validated inputs), predicted classes and scores; must not block the response."""

    @abstractmethod
    def feedback(self, *, request_id: str, label: str | None, reward: float | None) -> None:
        """Ground truth or a reward for an earlier request."""

    @abstractmethod
    def close(self) -> None:
        """Flush what is buffered; called when the server stops."""
