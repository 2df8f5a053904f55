"""The router used when a model has no deployment: every request goes to the one admitted version, variant
``stable``."""

from __future__ import annotations

from bastion.serve.interface import Route, Router

STABLE = "stable"


class StableRouter(Router):
    """Routes each model to the version it was last pointed at (``point``); learns nothing."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def point(self, model: str, version: int) -> None:
        """Send all of ``model``'s traffic to ``version`` from now on (after admission)."""
        self._routes[model] = Route(version, STABLE)

    def route(self, model: str, *, key: str | None) -> Route:
        return self._routes[model]

    def versions(self, model: str) -> tuple[int, ...]:
        route = self._routes.get(model)
        return () if route is None else (route.version,)

    def observe(self, model: str, version: int, *, latency_seconds: float, error: bool) -> None:
        """Nothing to roll back to."""

    def reward(self, model: str, version: int, reward: float) -> None:
        """No bandit to feed."""
