"""Deployments: how a model's traffic is split between its versions, kept in the registry database.

``deploy`` and ``clear`` need the permission ``model.deploy`` and are audited; every version named must be APPROVED
(the server's admission checks them again before loading). The router reads them with ``load_deployments`` and writes
bandit rewards and automatic rollbacks back, so a restarted server carries on where it stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError
from bastion.registry import Permission, RegistryError, Stage, Status, approval_problem

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from bastion.registry import Principal, Registry
    from bastion.registry.schema import Deployment as DeploymentRow

MODES = ("canary", "shadow", "ab", "bandit")
POLICIES = ("thompson", "epsilon-greedy")
ROUTER_ACTOR = "bastion-serve"
"""The audit log's actor for what the server's router decides by itself (automatic rollbacks)."""


@dataclass(frozen=True)
class Arm:
    """The rewards one version of a bandit deployment has seen."""

    version: int
    """The version."""
    rewards: int
    """How many rewards arrived for it."""
    reward_sum: float
    """Their sum."""

    @property
    def mean(self) -> float | None:
        """The mean reward; None before the first."""
        return self.reward_sum / self.rewards if self.rewards else None


@dataclass(frozen=True)
class Rollback:
    """An automatic rollback of a candidate that breached a threshold."""

    version: int
    """The candidate rolled back."""
    stable: int
    """The version that took all traffic."""
    reason: str
    """Which threshold, in words."""
    error_rate: float
    """The candidate's error rate over the window."""
    p99_ms: float
    """Its p99 latency over the window, in milliseconds."""
    samples: int
    """Requests in the window."""
    at: str
    """When, ISO 8601 UTC."""


@dataclass(frozen=True)
class Deployment:
    """One model's rollout."""

    model: str
    """The model's name."""
    mode: str
    """``canary``, ``shadow``, ``ab`` or ``bandit``."""
    stable: int
    """The version that answers by default, and takes all traffic after a rollback (a bandit's first arm)."""
    candidates: tuple[int, ...]
    """The versions under test: the canary, the shadow, A/B's ``b``, a bandit's other arms."""
    share: float | None = None
    """Canary weight and A/B split in percent of requests, shadow fraction in [0, 1]; None for bandits."""
    sticky_key: str | None = None
    """A/B: where the sticky key comes from, ``header:NAME``."""
    policy: str | None = None
    """Bandits: ``thompson`` (Beta posteriors, rewards in [0, 1]) or ``epsilon-greedy`` (means)."""
    rollback_error_rate: float | None = None
    """Roll back when a candidate's error rate over the window exceeds this."""
    rollback_p99_ms: float | None = None
    """Roll back when a candidate's p99 latency over the window exceeds this many milliseconds."""
    rolled_back: bool = False
    """True once rolled back: all traffic goes to ``stable`` until the next deploy."""
    created_by: str = ""
    """Who deployed it."""
    created_at: str = ""
    """When, ISO 8601 UTC."""
    arms: tuple[Arm, ...] = ()
    """Bandits: the rewards per version."""
    rollbacks: tuple[Rollback, ...] = ()
    """The rollbacks of this model, oldest first (also of earlier deployments)."""

    @property
    def versions(self) -> tuple[int, ...]:
        """Every version the deployment may route to now."""
        return (self.stable,) if self.rolled_back else (self.stable, *self.candidates)

    def to_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["versions"] = list(self.versions)
        return document


def deploy(registry: Registry, principal: Principal, deployment: Deployment) -> Deployment:
    """Replace ``deployment.model``'s rollout by ``deployment`` (needs ``model.deploy``); bandit rewards start anew."""
    from sqlalchemy import delete

    from bastion.registry.schema import BanditArm
    from bastion.registry.schema import Deployment as DeploymentRow

    _check_shape(deployment)
    registry.check(principal, Permission.MODEL_DEPLOY)
    versions = (deployment.stable, *deployment.candidates)
    for version in versions:
        shown = registry.show_version(principal, deployment.model, version)
        if shown.status != Status.APPROVED.value or shown.stage == Stage.ARCHIVED.value:
            raise RegistryError(
                f"{deployment.model}:{version} is {shown.status} in {shown.stage}; only approved, unarchived versions are "
                f"deployed (an approver runs 'bastion models approve {deployment.model} {version}')"
            )
    # Every candidate answers the stable version's traffic, so it needs an approval for the stable's stage.
    serving = Stage(registry.show_version(principal, deployment.model, deployment.stable).stage)
    for version in deployment.candidates:
        problem = approval_problem(registry.engine, deployment.model, version, serving)
        if problem is not None:
            raise RegistryError(f"{deployment.model}:{version} cannot take {serving.value} traffic: {problem}")
    with _session(registry.engine) as session:
        model_id = _model_id(session, deployment.model)
        session.execute(delete(BanditArm).where(BanditArm.model_id == model_id))
        existing = session.get(DeploymentRow, model_id)
        if existing is not None:
            session.delete(existing)
            session.flush()
        session.add(
            DeploymentRow(
                model_id=model_id,
                mode=deployment.mode,
                stable=deployment.stable,
                candidates=list(deployment.candidates),
                share=deployment.share,
                sticky_key=deployment.sticky_key,
                policy=deployment.policy,
                rollback_error_rate=deployment.rollback_error_rate,
                rollback_p99_ms=deployment.rollback_p99_ms,
                rolled_back_at=None,
                created_by=principal.name,
                created_at=_now(),
            )
        )
        session.flush()  # the arms refer to the deployment's row
        if deployment.mode == "bandit":
            session.add_all(BanditArm(model_id=model_id, version=v, rewards=0, reward_sum=0.0) for v in versions)
    details = {key: value for key, value in deployment.to_dict().items() if key not in ("model", "arms", "rollbacks")}
    _audit("deploy.set", principal.name, deployment.model, details)
    shown_deployment = load_deployments(registry.engine, (deployment.model,)).get(deployment.model)
    assert shown_deployment is not None  # just written
    return shown_deployment


def clear(registry: Registry, principal: Principal, model: str) -> None:
    """Remove ``model``'s rollout (needs ``model.deploy``): the server goes back to the version it was started with."""
    from bastion.registry.schema import Deployment as DeploymentRow

    registry.check(principal, Permission.MODEL_DEPLOY)
    with _session(registry.engine) as session:
        row = session.get(DeploymentRow, _model_id(session, model))
        if row is None:
            raise RegistryError(f"model {model} has no deployment; 'bastion deploy {model} --canary VERSION' makes one")
        session.delete(row)
    _audit("deploy.clear", principal.name, model, {})


def show(registry: Registry, principal: Principal, model: str) -> Deployment | None:
    """``model``'s rollout, None without one (needs ``model.read``)."""
    registry.show_model(principal, model)  # the permission check, and a clear error for an unknown model
    return load_deployments(registry.engine, (model,)).get(model)


def load_deployments(engine: Engine, models: Sequence[str] | None = None) -> dict[str, Deployment]:
    """Every deployment (of ``models`` only, if given), by model name; for the router, which has no principal."""
    from sqlalchemy import select

    from bastion.registry.schema import BanditArm, RegisteredModel, RollbackEvent
    from bastion.registry.schema import Deployment as DeploymentRow

    with _session(engine) as session:
        query = select(DeploymentRow, RegisteredModel.name).join(RegisteredModel, RegisteredModel.id == DeploymentRow.model_id)
        if models is not None:
            query = query.where(RegisteredModel.name.in_(models))
        found: dict[str, Deployment] = {}
        for row, name in session.execute(query).all():
            arms = session.scalars(select(BanditArm).where(BanditArm.model_id == row.model_id).order_by(BanditArm.version))
            events = session.scalars(
                select(RollbackEvent).where(RollbackEvent.model_id == row.model_id).order_by(RollbackEvent.id)
            )
            found[name] = _deployment(name, row, arms, events)
        return found


def add_reward(engine: Engine, model: str, version: int, reward: float) -> None:
    """Count a reward for ``version`` of ``model``'s bandit (one atomic increment: several workers may add at once)."""
    from sqlalchemy import update

    from bastion.registry.schema import BanditArm

    with _session(engine) as session:
        session.execute(
            update(BanditArm)
            .where(BanditArm.model_id == _model_id(session, model), BanditArm.version == version)
            .values(rewards=BanditArm.rewards + 1, reward_sum=BanditArm.reward_sum + reward)
        )


def record_rollback(engine: Engine, model: str, rollback: Rollback) -> bool:
    """Route all of ``model``'s traffic to stable and record why; False when it was already rolled back (by another
    worker), so each rollback is recorded and audited once."""
    from sqlalchemy import update

    from bastion.registry.schema import Deployment as DeploymentRow
    from bastion.registry.schema import RollbackEvent

    with _session(engine) as session:
        model_id = _model_id(session, model)
        changed = session.execute(
            update(DeploymentRow)
            .where(DeploymentRow.model_id == model_id, DeploymentRow.rolled_back_at.is_(None))
            .values(rolled_back_at=_now())
        )
        if not getattr(changed, "rowcount", 0):
            return False
        session.add(
            RollbackEvent(
                model_id=model_id,
                version=rollback.version,
                stable=rollback.stable,
                reason=rollback.reason,
                error_rate=rollback.error_rate,
                p99_ms=rollback.p99_ms,
                samples=rollback.samples,
                at=_now(),
            )
        )
    details = {k: v for k, v in dataclasses.asdict(rollback).items() if k != "at"}
    _audit("deploy.rollback", ROUTER_ACTOR, model, details)
    return True


def _check_shape(deployment: Deployment) -> None:
    """The settings each mode needs, in range; a usage mistake named in one line."""
    where = f"deployment of {deployment.model}"
    if deployment.mode not in MODES:
        raise RegistryError(f"{where}: unknown mode {deployment.mode!r}; one of {', '.join(MODES)}")
    if not deployment.candidates:
        raise RegistryError(f"{where}: name the version(s) to roll out")
    if len({deployment.stable, *deployment.candidates}) != 1 + len(deployment.candidates):
        raise RegistryError(f"{where}: the stable version and the candidates must all differ")
    if deployment.mode == "bandit":
        if deployment.policy not in POLICIES:
            raise RegistryError(f"{where}: --policy is one of {', '.join(POLICIES)}")
    else:
        limit = 1.0 if deployment.mode == "shadow" else 100.0
        if deployment.share is None or not 0.0 <= deployment.share <= limit:
            what = "--fraction in [0, 1]" if deployment.mode == "shadow" else "a percentage in [0, 100]"
            raise RegistryError(f"{where}: the {deployment.mode} share must be {what}")
    if deployment.mode == "ab" and not (deployment.sticky_key or "").startswith("header:"):
        raise RegistryError(f"{where}: A/B needs --key header:NAME (the request header whose value keeps users sticky)")
    if deployment.rollback_error_rate is not None and not 0.0 <= deployment.rollback_error_rate <= 1.0:
        raise RegistryError(f"{where}: --rollback-error-rate is a fraction in [0, 1]")
    if deployment.rollback_p99_ms is not None and deployment.rollback_p99_ms <= 0:
        raise RegistryError(f"{where}: --rollback-p99 must be positive")


def _deployment(name: str, row: DeploymentRow, arms: Any, events: Any) -> Deployment:
    from bastion.registry.views import iso

    return Deployment(
        model=name,
        mode=row.mode,
        stable=row.stable,
        candidates=tuple(int(v) for v in row.candidates),
        share=row.share,
        sticky_key=row.sticky_key,
        policy=row.policy,
        rollback_error_rate=row.rollback_error_rate,
        rollback_p99_ms=row.rollback_p99_ms,
        rolled_back=row.rolled_back_at is not None,
        created_by=row.created_by,
        created_at=iso(row.created_at),
        arms=tuple(Arm(arm.version, arm.rewards, arm.reward_sum) for arm in arms),
        rollbacks=tuple(Rollback(e.version, e.stable, e.reason, e.error_rate, e.p99_ms, e.samples, iso(e.at)) for e in events),
    )


@contextlib.contextmanager
def _session(engine: Engine) -> Iterator[Session]:
    """A session in one transaction on ``engine``; the database's own errors become one line."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from bastion.registry.database import one_line

    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except SQLAlchemyError as exc:
        raise BastionError(f"deployments: the registry database failed ({one_line(exc)}); try again") from None


def _model_id(session: Session, model: str) -> int:
    from sqlalchemy import select

    from bastion.registry.schema import RegisteredModel

    found = session.scalar(select(RegisteredModel.id).where(RegisteredModel.name == model))
    if found is None:
        raise RegistryError(f"no model {model!r}; 'bastion models list' shows the registered ones")
    return found


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _audit(action: str, actor: str, model: str, details: Mapping[str, Any]) -> None:
    from bastion.audit import record

    record(action, target=model, details=details, actor=actor)
