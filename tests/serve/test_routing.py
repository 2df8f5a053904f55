"""The rollout router on a real registry: observed splits within binomial bounds, A/B stickiness, shadows never
answering, bandits converging on simulated rewards and keeping what they learnt across a restart, and automatic
rollback of a failing candidate (recorded in the database and the audit log)."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bastion.registry import PermissionDenied, RegistryError, Stage
from bastion.serve.capture import ParquetCapture
from bastion.serve.config import Rate
from bastion.serve.deployments import Deployment, deploy, load_deployments, show
from bastion.serve.interface import Route
from bastion.serve.routing import MIN_SAMPLES, RolloutRouter
from bastion.serve.stable import StableRouter
from tests.serve.conftest import ApprovedModel, Instance, example_records, model_directory

REQUESTS = 2_000
SIGMAS = 4.0


def started_with(version: int) -> StableRouter:
    """The server's router for models without a deployment, pointed at the version it admitted."""
    stable = StableRouter()
    stable.point("churn", version)
    return stable


def within_binomial(count: int, trials: int, p: float) -> bool:
    return abs(count - trials * p) <= SIGMAS * math.sqrt(trials * p * (1 - p))


@pytest.fixture
def versions(approved_model: ApprovedModel, churn_source_v2: Path, tmp_path: Path) -> tuple[int, int, int]:
    """churn 1 in prod; versions 2 and 3 approved (not promoted)."""
    instance = approved_model.instance
    second = instance.publish("churn", churn_source_v2, stage=Stage.DEV)
    third = instance.publish("churn", model_directory(tmp_path / "v3", 2), stage=Stage.DEV)
    return approved_model.version, second, third


def deployed(instance: Instance, deployment: Deployment) -> RolloutRouter:
    deploy(instance.registry, instance.registry.authenticate(instance.tokens["mlops"]), deployment)
    return RolloutRouter(instance.registry.engine, started_with(1), seed=1234)


def test_without_a_deployment_the_started_version_answers(approved_model: ApprovedModel) -> None:
    router = RolloutRouter(approved_model.instance.registry.engine, started_with(approved_model.version))
    assert router.route("churn", key=None) == Route(approved_model.version, "stable")
    assert router.versions("churn") == (approved_model.version,)
    assert router.sticky_key("churn") is None


def test_canary_split_is_within_binomial_bounds(instance: Instance, versions: tuple[int, int, int]) -> None:
    stable, candidate, _ = versions
    router = deployed(instance, Deployment("churn", "canary", stable, (candidate,), share=10.0))
    routes = [router.route("churn", key=None) for _ in range(REQUESTS)]
    variants = Counter(route.variant for route in routes)
    assert set(variants) == {"stable", "canary"}
    assert within_binomial(variants["canary"], REQUESTS, 0.10), variants
    assert all(r.version == (candidate if r.variant == "canary" else stable) and not r.shadows for r in routes)
    assert router.versions("churn") == (stable, candidate)


def test_ab_split_is_within_bounds_and_sticky_across_restarts(instance: Instance, versions: tuple[int, int, int]) -> None:
    stable, candidate, _ = versions
    router = deployed(instance, Deployment("churn", "ab", stable, (candidate,), share=50.0, sticky_key="header:X-User"))
    assert router.sticky_key("churn") == "X-User"
    users = [f"user-{i}" for i in range(REQUESTS)]
    first = {user: router.route("churn", key=user) for user in users}
    assert within_binomial(sum(route.variant == "b" for route in first.values()), REQUESTS, 0.5)
    assert all(route.version == (candidate if route.variant == "b" else stable) for route in first.values())
    restarted = RolloutRouter(instance.registry.engine, started_with(stable), seed=99)
    for user in random.Random(3).sample(users, 200):
        assert router.route("churn", key=user) == first[user]
        assert restarted.route("churn", key=user) == first[user]


def test_shadow_mirrors_a_fraction_and_never_answers(instance: Instance, versions: tuple[int, int, int]) -> None:
    stable, candidate, _ = versions
    router = deployed(instance, Deployment("churn", "shadow", stable, (candidate,), share=0.2))
    routes = [router.route("churn", key=None) for _ in range(REQUESTS)]
    assert {(route.version, route.variant) for route in routes} == {(stable, "stable")}
    mirrored = sum(route.shadows == (candidate,) for route in routes)
    assert mirrored + sum(route.shadows == () for route in routes) == REQUESTS
    assert within_binomial(mirrored, REQUESTS, 0.2)
    assert router.versions("churn") == (stable, candidate)  # the server loads the shadow too


@pytest.mark.parametrize("policy", ["thompson", "epsilon-greedy"])
def test_bandit_converges_to_the_best_version_and_keeps_it_across_a_restart(
    instance: Instance, versions: tuple[int, int, int], policy: str
) -> None:
    first, second, third = versions
    success = {first: 0.2, second: 0.8, third: 0.4}  # version 2 converts best
    router = deployed(instance, Deployment("churn", "bandit", first, (second, third), policy=policy))
    world = random.Random(7)
    chosen = []
    for _ in range(600):
        route = router.route("churn", key=None)
        assert route.variant == f"v{route.version}"
        chosen.append(route.version)
        router.reward("churn", route.version, 1.0 if world.random() < success[route.version] else 0.0)
    late = Counter(chosen[-200:])
    assert late[second] / 200 > 0.75, late

    stored = {arm.version: arm for arm in load_deployments(instance.registry.engine)["churn"].arms}
    assert sum(arm.rewards for arm in stored.values()) == 600
    assert {v: stored[v].rewards for v in versions} == dict(Counter(chosen))
    restarted = RolloutRouter(instance.registry.engine, started_with(first), seed=5)
    after = Counter(restarted.route("churn", key=None).version for _ in range(200))
    assert after[second] / 200 > 0.75, after


def test_a_failing_canary_is_rolled_back_recorded_and_audited(instance: Instance, versions: tuple[int, int, int]) -> None:
    from bastion.audit import open_log

    stable, candidate, _ = versions
    router = deployed(
        instance, Deployment("churn", "canary", stable, (candidate,), share=50.0, rollback_error_rate=0.05, rollback_p99_ms=250)
    )
    for _ in range(MIN_SAMPLES - 1):  # below the minimum sample count nothing is decided
        router.observe("churn", candidate, latency_seconds=0.01, error=True)
    assert not load_deployments(instance.registry.engine)["churn"].rolled_back
    for _ in range(200):
        route = router.route("churn", key=None)
        router.observe("churn", route.version, latency_seconds=0.01, error=route.version == candidate)
    assert {router.route("churn", key=None) for _ in range(200)} == {Route(stable, "stable")}
    assert router.versions("churn") == (stable,)

    shown = show(instance.registry, instance.registry.authenticate(instance.tokens["auditor"]), "churn")
    assert shown is not None and shown.rolled_back
    (event,) = shown.rollbacks
    assert (event.version, event.stable, event.samples) == (candidate, stable, MIN_SAMPLES)
    assert event.error_rate == 1.0 and "error rate" in event.reason
    rollbacks = [e for e in open_log().entries() if e.action == "deploy.rollback"]
    assert len(rollbacks) == 1 and rollbacks[0].target == "churn"
    restarted = RolloutRouter(instance.registry.engine, started_with(stable))
    assert restarted.route("churn", key=None) == Route(stable, "stable")


def test_a_slow_candidate_is_rolled_back_on_p99(instance: Instance, versions: tuple[int, int, int]) -> None:
    stable, candidate, _ = versions
    router = deployed(instance, Deployment("churn", "canary", stable, (candidate,), share=50.0, rollback_p99_ms=250))
    for i in range(100):
        router.observe("churn", stable, latency_seconds=2.0, error=True)  # the stable version is never rolled back
        router.observe("churn", candidate, latency_seconds=0.4 if i % 10 == 0 else 0.01, error=False)
    (event,) = load_deployments(instance.registry.engine)["churn"].rollbacks
    assert event.p99_ms == pytest.approx(400.0) and "p99" in event.reason


def test_a_healthy_candidate_stays(instance: Instance, versions: tuple[int, int, int]) -> None:
    stable, candidate, _ = versions
    router = deployed(
        instance, Deployment("churn", "canary", stable, (candidate,), share=50.0, rollback_error_rate=0.05, rollback_p99_ms=250)
    )
    for i in range(300):
        router.observe("churn", candidate, latency_seconds=0.02, error=i % 100 == 0)  # 1% errors
    assert not load_deployments(instance.registry.engine)["churn"].rolled_back


def test_only_approved_versions_by_a_deployer(instance: Instance, versions: tuple[int, int, int], churn_source: Path) -> None:
    stable, candidate, _ = versions
    pending = instance.publish("churn", model_directory(instance.artifacts / "pending", 3), approve=False)
    registry = instance.registry
    with pytest.raises(RegistryError, match=f"churn:{pending} is pending"):
        deploy(registry, registry.authenticate(instance.tokens["mlops"]), Deployment("churn", "canary", stable, (pending,), 10.0))
    with pytest.raises(PermissionDenied, match=r"model\.deploy"):
        deploy(
            registry,
            registry.authenticate(instance.tokens["data-scientist"]),
            Deployment("churn", "canary", stable, (candidate,), 10.0),
        )
    with pytest.raises(RegistryError, match="percentage"):
        deploy(
            registry, registry.authenticate(instance.tokens["mlops"]), Deployment("churn", "canary", stable, (candidate,), 120.0)
        )
    assert load_deployments(registry.engine) == {}


def serving(instance: Instance, capture: ParquetCapture | None = None) -> Any:
    """The app on the instance's registry, as ``bastion serve churn@prod`` builds it (no reload poll during the test)."""
    from fastapi.testclient import TestClient

    from bastion.serve._server import build_state
    from bastion.serve.app import create_app
    from bastion.serve.config import ModelReference, ServeConfig

    config = ServeConfig(models=(ModelReference.parse("churn@prod"),), poll_interval=3600, rate=Rate(10_000.0))
    return TestClient(create_app(build_state(config, registry=instance.registry, capture=capture)))


def test_ab_over_http_is_sticky_per_header(instance: Instance, versions: tuple[int, int, int]) -> None:
    stable, candidate, _ = versions
    deploy(
        instance.registry,
        instance.registry.authenticate(instance.tokens["mlops"]),
        Deployment("churn", "ab", stable, (candidate,), share=50.0, sticky_key="header:X-User"),
    )
    records = example_records(2)
    seen: dict[str, set[tuple[str, int]]] = {}
    with serving(instance) as client:
        for _ in range(3):
            for user in (f"user-{i}" for i in range(30)):
                headers = {"Authorization": f"Bearer {instance.tokens['client']}", "X-User": user}
                response = client.post("/v1/models/churn/predict", json={"records": records}, headers=headers)
                assert response.status_code == 200, response.text
                body = response.json()
                assert response.headers["X-Bastion-Variant"] == body["variant"]
                seen.setdefault(user, set()).add((body["variant"], body["version"]))
    assert all(len(answers) == 1 for answers in seen.values())  # the same user always gets the same variant
    assert set().union(*seen.values()) == {("a", stable), ("b", candidate)}


def test_feedback_over_http_trains_the_bandit_and_is_captured(
    instance: Instance, versions: tuple[int, int, int], tmp_path: Path
) -> None:
    from bastion.monitor.capture import read_window

    first, second, _ = versions
    deploy(
        instance.registry,
        instance.registry.authenticate(instance.tokens["mlops"]),
        Deployment("churn", "bandit", first, (second,), policy="thompson"),
    )
    store = tmp_path / "store"
    records = example_records(2)
    headers = {"Authorization": f"Bearer {instance.tokens['client']}"}
    variants = []
    with serving(instance, ParquetCapture(store, seed=0)) as client:
        for _ in range(60):
            body = client.post("/v1/models/churn/predict", json={"records": records}, headers=headers).json()
            variants.append(body["variant"])
            reward = 1.0 if body["version"] == second else 0.0  # the second version converts, the first never
            feedback = {"request_id": body["request_id"], "reward": reward}
            assert client.post("/v1/feedback", json=feedback, headers=headers).status_code < 300
    assert variants[-20:].count(f"v{second}") >= 18, variants
    arms = {arm.version: arm for arm in load_deployments(instance.registry.engine)["churn"].arms}
    assert arms[first].rewards + arms[second].rewards == 60
    assert arms[second].reward_sum == arms[second].rewards and arms[first].reward_sum == 0.0

    start, end = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    captured = read_window(str(store / "capture"), "churn", start, end)
    assert captured.num_rows == 120
    assert Counter(captured.column("variant").to_pylist()) == Counter(v for v in variants for _ in records)
    rewards = read_window(str(store / "feedback"), "churn", start, end, kind="feedback")
    assert rewards.num_rows == 60 and set(rewards.column("reward").to_pylist()) <= {0.0, 1.0}
