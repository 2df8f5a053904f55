"""The rollout router: canary, shadow, A/B and bandit deployments, with automatic rollback.

- canary: each request goes to the candidate with probability ``weight`` percent (variants ``stable``, ``canary``);
- shadow: the stable version answers; a ``fraction`` of requests is mirrored to the candidate, whose answer is logged
  and discarded (variant ``stable``);
- A/B: the SHA-256 of the model and the sticky key (a request header's value) puts a user in one of 10,000 buckets,
  so the same key always gets the same variant (``a`` = stable, ``b`` = candidate); requests without the key are
  assigned at random;
- bandit: Thompson sampling draws from each version's Beta(1 + rewards, 1 + misses) posterior (rewards in [0, 1]),
  epsilon-greedy takes the best mean reward or, with probability ``epsilon``, any version (variants ``v<N>``);
  rewards are written to the registry database, so a restarted server keeps what it learnt;
- rollback: each candidate's last ``window`` answers are kept; once ``min_samples`` are in, an error rate or a p99
  latency above the deployment's threshold sends all traffic to the stable version, recorded and audited.

The deployments are read from the database when the server asks for ``versions`` (at start and on every reload
poll) and are cached in between: routing a request touches no database.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import threading
from collections import deque
from typing import TYPE_CHECKING

from bastion.serve.deployments import Arm, Deployment, Rollback, add_reward, load_deployments, record_rollback
from bastion.serve.interface import Route, Router

if TYPE_CHECKING:
    from sqlalchemy import Engine

WINDOW = 200
"""Answers per candidate kept for the rollback thresholds."""
MIN_SAMPLES = 20
"""Answers a candidate must have given before a threshold can roll it back."""
EPSILON = 0.1
"""Epsilon-greedy's share of exploration."""
_BUCKETS = 10_000


class RolloutRouter(Router):
    """Routes by the deployments in the registry database; models without one go to ``fallback``."""

    def __init__(
        self,
        engine: Engine,
        fallback: Router,
        *,
        window: int = WINDOW,
        min_samples: int = MIN_SAMPLES,
        epsilon: float = EPSILON,
        seed: int | None = None,
    ) -> None:
        self._engine = engine
        self._fallback = fallback
        self._window, self._min_samples, self._epsilon = window, min_samples, epsilon
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._deployments: dict[str, Deployment] | None = None
        self._answers: dict[tuple[str, int], deque[tuple[float, bool]]] = {}

    def refresh(self) -> dict[str, Deployment]:
        """Re-read the deployments (another worker's rewards and rollbacks, a new ``bastion deploy``)."""
        loaded = load_deployments(self._engine)
        with self._lock:
            previous = self._deployments or {}
            for model, deployment in loaded.items():
                before = previous.get(model)
                if before is None or before.created_at != deployment.created_at:  # a new deployment starts a new window
                    self._answers = {key: value for key, value in self._answers.items() if key[0] != model}
            self._deployments = loaded
        return loaded

    def versions(self, model: str) -> tuple[int, ...]:
        deployment = self.refresh().get(model)
        return self._fallback.versions(model) if deployment is None else deployment.versions

    def sticky_key(self, model: str) -> str | None:
        deployment = self._deployment(model)
        if deployment is None or deployment.mode != "ab" or deployment.sticky_key is None:
            return self._fallback.sticky_key(model)
        return deployment.sticky_key.removeprefix("header:")

    def route(self, model: str, *, key: str | None) -> Route:
        deployment = self._deployment(model)
        if deployment is None:
            return self._fallback.route(model, key=key)
        if deployment.rolled_back:
            return Route(deployment.stable, "stable")
        candidate = deployment.candidates[0]
        share = deployment.share or 0.0
        match deployment.mode:
            case "canary":
                if self._draw() * 100.0 < share:
                    return Route(candidate, "canary")
                return Route(deployment.stable, "stable")
            case "shadow":
                return Route(deployment.stable, "stable", (candidate,) if self._draw() < share else ())
            case "ab":
                bucket = _bucket(model, key) if key is not None else self._draw() * _BUCKETS
                if bucket < share * _BUCKETS / 100.0:
                    return Route(candidate, "b")
                return Route(deployment.stable, "a")
            case _:
                version = self._choose_arm(deployment)
                return Route(version, f"v{version}")

    def observe(self, model: str, version: int, *, latency_seconds: float, error: bool) -> None:
        deployment = self._deployment(model)
        if deployment is None or deployment.rolled_back or version not in deployment.candidates:
            return
        if deployment.rollback_error_rate is None and deployment.rollback_p99_ms is None:
            return
        with self._lock:
            answers = self._answers.setdefault((model, version), deque(maxlen=self._window))
            answers.append((latency_seconds, error))
            if len(answers) < self._min_samples:
                return
            error_rate = sum(failed for _, failed in answers) / len(answers)
            p99_ms = _nearest_rank(sorted(latency for latency, _ in answers), 0.99) * 1000.0
            samples = len(answers)
        reasons = []
        if deployment.rollback_error_rate is not None and error_rate > deployment.rollback_error_rate:
            reasons.append(f"error rate {error_rate:.3f} > {deployment.rollback_error_rate:g}")
        if deployment.rollback_p99_ms is not None and p99_ms > deployment.rollback_p99_ms:
            reasons.append(f"p99 latency {p99_ms:.1f} ms > {deployment.rollback_p99_ms:g} ms")
        if not reasons:
            return
        rollback = Rollback(version, deployment.stable, "; ".join(reasons), error_rate, p99_ms, samples, "")
        with self._lock:
            if self._deployments is not None:
                self._deployments[model] = dataclasses.replace(deployment, rolled_back=True)
        record_rollback(self._engine, model, rollback)

    def reward(self, model: str, version: int, reward: float) -> None:
        deployment = self._deployment(model)
        if deployment is None or deployment.mode != "bandit" or version not in deployment.versions:
            self._fallback.reward(model, version, reward)
            return
        if deployment.policy == "thompson":
            reward = min(1.0, max(0.0, reward))  # a success probability: Beta posteriors need rewards in [0, 1]
        add_reward(self._engine, model, version, reward)
        with self._lock:
            arms = tuple(
                Arm(arm.version, arm.rewards + 1, arm.reward_sum + reward) if arm.version == version else arm
                for arm in deployment.arms
            )
            if self._deployments is not None and self._deployments.get(model) is deployment:
                self._deployments[model] = dataclasses.replace(deployment, arms=arms)

    def _deployment(self, model: str) -> Deployment | None:
        deployments = self._deployments
        if deployments is None:
            deployments = self.refresh()
        return deployments.get(model)

    def _draw(self) -> float:
        with self._lock:
            return self._random.random()

    def _choose_arm(self, deployment: Deployment) -> int:
        arms = deployment.arms or tuple(Arm(v, 0, 0.0) for v in deployment.versions)
        with self._lock:
            if deployment.policy == "thompson":
                draws = [self._random.betavariate(1.0 + a.reward_sum, 1.0 + a.rewards - a.reward_sum) for a in arms]
                return arms[draws.index(max(draws))].version
            if self._random.random() < self._epsilon:
                return self._random.choice(arms).version
        untried = [arm for arm in arms if arm.mean is None]
        if untried:
            return untried[0].version
        return max(arms, key=lambda arm: arm.mean or 0.0).version


def _bucket(model: str, key: str) -> int:
    digest = hashlib.sha256(f"{model}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def _nearest_rank(ordered: list[float], quantile: float) -> float:
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]
