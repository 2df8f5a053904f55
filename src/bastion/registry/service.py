"""The registry's services: every rule lives here, so the CLI and the server enforce the same ones.

Every operation takes a ``Principal`` (from ``authenticate``), re-checks its token and its permission inside the
operation's own transaction (deny by default: a permission no role of the user holds is refused, naming it), and
records the outcome with ``bastion.audit``: every mutation, every refusal by a rule, every permission denial and
every failed authentication. A mutation's audit event commits with it, through the outbox (``outbox``), and is
appended to the log right after; refusals, which change nothing, are appended directly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bastion.core import BastionError
from bastion.registry import outbox
from bastion.registry.database import one_line
from bastion.registry.errors import AuthenticationFailed, PermissionDenied, RegistryError
from bastion.registry.schema import (
    Alias,
    ApiToken,
    Approval,
    HistoryEvent,
    ModelVersion,
    PermissionRow,
    RegisteredModel,
    Role,
    TrustedKey,
    User,
)
from bastion.registry.tokens import new_token, token_hash, token_id_of
from bastion.registry.views import (
    ApprovalView,
    HistoryView,
    IssuedToken,
    ModelView,
    Principal,
    VersionView,
    iso,
)
from bastion.registry.vocabulary import (
    GUARDED_STAGES,
    NEXT_STAGE,
    Decision,
    Permission,
    Stage,
    Status,
    approve_permission,
    is_permission,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from bastion.audit import AuditSigner, HashChainedLog

ANONYMOUS = "anonymous"
"""The audit log's actor for a caller whose token did not authenticate."""
_USER_NAME = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ALIAS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class Registry:
    """The model registry on one database."""

    def __init__(self, engine: Engine) -> None:
        from sqlalchemy.orm import sessionmaker

        self.engine = engine
        self._sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        self._log: HashChainedLog | None = None
        self._signer: AuditSigner | None = None

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = False) -> Registry:
        """The registry at ``url`` (default: BASTION_DB_URL, else BASTION_HOME/registry.db), migrated to the latest
        schema; a missing SQLite file is created only with ``create``. The instance's audit log is created if
        missing, so no action goes unrecorded, and the audit events of changes committed before a crash are
        appended to it."""
        from bastion.audit import audit_url
        from bastion.core import bastion_home
        from bastion.registry.database import open_engine

        engine = open_engine(url, create=create)
        bastion_home().mkdir(mode=0o700, parents=True, exist_ok=True)
        if audit_url() is None:
            (bastion_home() / "audit").mkdir(mode=0o700, exist_ok=True)
        registry = cls(engine)
        registry._drain_outbox()
        return registry

    def close(self) -> None:
        self.engine.dispose()
        if self._log is not None:
            self._log.close()

    # --- principals ------------------------------------------------------------------------------

    def create_first_admin(self, name: str) -> IssuedToken | None:
        """Create the admin ``name`` with a token when the registry has no user yet; None when it has one.

        Whoever can write BASTION_HOME (or holds the database URL) owns the instance: this is how it gets its
        first principal, and it needs no token.
        """
        from sqlalchemy import select, text

        from bastion.audit import os_actor

        _check_name(name, _USER_NAME, "user")
        with self._transaction(f"user {name}") as session:
            if session.get_bind().dialect.name == "postgresql":  # two first inits at once must not make two admins
                session.execute(text("LOCK TABLE users IN EXCLUSIVE MODE"))
            if session.scalar(select(User.id).limit(1)) is not None:
                return None
            issued = self._create_user(session, name, ("admin",), created_by=None)
            details = {"roles": ["admin"], "token_id": issued.token_id}
            outbox.stage(session, self._audit_log(), "user.add", os_actor(), name, "ok", details)
        self._drain_outbox()
        return issued

    def authenticate(self, token: str | None) -> Principal:
        """The principal holding ``token``; a missing, unknown or revoked token is refused and recorded."""
        from sqlalchemy import select

        if not token:
            _audit("login.failed", ANONYMOUS, outcome="deny", details={"reason": "no token"})
            raise AuthenticationFailed("no token given; pass --token or set BASTION_TOKEN (bastion init prints the first)")
        digest = token_hash(token)
        with self._transaction("authentication") as session:
            row = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
            if row is not None and row.revoked_at is None:
                user = row.user
                return Principal(
                    name=user.name,
                    roles=tuple(sorted(role.name for role in user.roles)),
                    permissions=frozenset(_permissions_of(user)),
                    token_id=row.id,
                    token_hash=digest,
                )
        reason = "revoked token" if row is not None else "unknown token"
        _audit("login.failed", ANONYMOUS, outcome="deny", details={"reason": reason, "token_id": token_id_of(token)})
        raise AuthenticationFailed(f"{reason}; ask an admin for a new one ('bastion users add')")

    def check(self, principal: Principal, permission: Permission) -> None:
        """Refuse (and record) unless ``principal``'s token is valid and its roles hold ``permission``."""
        with self._operation(principal, permission, f"check:{permission}", None, mutation=False):
            pass

    def add_user(self, principal: Principal, name: str, roles: Sequence[str]) -> IssuedToken:
        """Create the user ``name`` with ``roles`` and a first token (needs ``user.manage``)."""
        from sqlalchemy import select

        _check_name(name, _USER_NAME, "user")
        if not roles:
            raise RegistryError(f"user {name!r}: give at least one role (--role)")
        details: dict[str, Any] = {"roles": sorted(roles)}
        with self._operation(principal, Permission.USER_MANAGE, "user.add", name, details) as (session, _):
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise RegistryError(f"user {name!r} already exists; choose another name")
            issued = self._create_user(session, name, roles, created_by=principal.name)
            details["token_id"] = issued.token_id
        return issued

    def revoke_token(self, principal: Principal, token_id: str) -> None:
        """Revoke the token ``token_id``: one's own needs only a valid token, anyone else's needs ``user.manage``."""
        from sqlalchemy import select

        target = f"token:{token_id}"
        with self._operation(principal, None, "token.revoke", target) as (session, caller):
            row = session.scalars(select(ApiToken).where(ApiToken.id == token_id)).one_or_none()
            if row is None:
                raise RegistryError(f"no token {token_id!r}; token ids are the 12 hex digits after 'bst_'")
            if row.user_id != caller.id:
                self._require(session, caller, Permission.USER_MANAGE)
            if row.revoked_at is not None:
                raise RegistryError(f"token {token_id} was already revoked at {iso(row.revoked_at)}")
            row.revoked_at = _now()
            row.revoked_by = principal.name

    def add_role(self, principal: Principal, name: str, permissions: Sequence[str], description: str = "") -> None:
        """Create a role holding ``permissions`` (needs ``user.manage``): roles are data, teams add their own."""
        from sqlalchemy import select

        _check_name(name, _USER_NAME, "role")
        unknown = sorted(p for p in set(permissions) if not is_permission(p))
        if unknown:
            known = ", ".join(p.value for p in Permission)
            raise RegistryError(
                f"unknown permissions {', '.join(unknown)}; known: {known}, and model.predict:MODEL for one model"
            )
        with self._operation(principal, Permission.USER_MANAGE, "role.add", name, {"permissions": sorted(permissions)}) as (
            session,
            _,
        ):
            if session.scalars(select(Role).where(Role.name == name)).first() is not None:
                raise RegistryError(f"role {name!r} already exists")
            rows = list(session.scalars(select(PermissionRow).where(PermissionRow.name.in_(permissions))))
            for scoped in sorted(set(permissions) - {row.name for row in rows}):  # a model-scoped grant's first use
                permission, _, model = scoped.partition(":")
                rows.append(PermissionRow(name=scoped, description=f"{permission}, for model {model} only"))
            session.add(Role(name=name, description=description, permissions=rows))

    def trust_key(self, principal: Principal, public_key: Path) -> str:
        """Accept package signatures made with the EC key ``public_key`` (needs ``key.trust``); returns its id."""
        from bastion.audit.signer import key_id, public_pem
        from bastion.signing import load_public_key

        key = load_public_key(public_key)
        identifier = key_id(key)
        with self._operation(principal, Permission.KEY_TRUST, "key.trust", f"key:{identifier}", {"path": str(public_key)}) as (
            session,
            _,
        ):
            if session.get(TrustedKey, identifier) is not None:
                raise RegistryError(f"{public_key}: key {identifier} is already trusted")
            session.add(
                TrustedKey(key_id=identifier, public_pem=public_pem(key).decode(), added_by=principal.name, added_at=_now())
            )
        return identifier

    # --- models ----------------------------------------------------------------------------------

    def register(
        self,
        principal: Principal,
        package: Path,
        name: str,
        *,
        signature: Path | None = None,
        source_run: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> VersionView:
        """Register ``package`` (a ``bastion package build`` directory, signed with ``bastion sign``) as the next
        version of ``name``, pending approval, in stage dev (needs ``model.register``).

        Refused unless the package lies below an allowed artifact root, its signature (default ``PACKAGE.sig``) is
        from a trusted key and covers exactly its files, and its model files re-scan with nothing at or above high.
        """
        from sqlalchemy import func, select

        from bastion.registry.admission import TrustedSigner, admit_package
        from bastion.registry.uris import validate_artifact_uri
        from bastion.signing import default_signature_path

        _check_name(name, _MODEL_NAME, "model")
        details: dict[str, Any] = {"package": str(package)}
        with self._operation(principal, Permission.MODEL_REGISTER, "model.register", name, details, mutation=False) as (
            session,
            _,
        ):
            signers = [TrustedSigner(k.key_id, k.public_pem) for k in session.scalars(select(TrustedKey))]
            uri = validate_artifact_uri(package.resolve().as_uri())
        # Hashing, unpacking and scanning a package takes a while: outside the transaction, which locks SQLite.
        try:
            admitted = admit_package(package, signature or default_signature_path(package), signers)
        except RegistryError as exc:
            _audit("model.register", principal.name, name, "refused", {**details, "reason": str(exc)})
            raise
        with self._operation(principal, Permission.MODEL_REGISTER, "model.register", name, details) as (session, user):
            details.update(package_digest=admitted.digest, signer=admitted.signer_key_id)
            model = session.scalars(select(RegisteredModel).where(RegisteredModel.name == name).with_for_update()).first()
            if model is None:
                model = RegisteredModel(name=name, created_at=_now(), created_by=principal.name)
                session.add(model)
                session.flush()
            elif session.scalars(
                select(ModelVersion.version).where(
                    ModelVersion.model_id == model.id, ModelVersion.package_digest == admitted.digest
                )
            ).first():
                raise RegistryError(f"{package}: this package ({admitted.digest}) is already a version of {name}")
            number = (session.scalar(select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)) or 0) + 1
            version = ModelVersion(
                model=model,
                version=number,
                package_digest=admitted.digest,
                signature_digest=admitted.signature_digest,
                signer_key_id=admitted.signer_key_id,
                artifact_uri=uri,
                source_run=source_run,
                metrics=admitted.metrics,
                tags=dict(tags or {}),
                model_card=admitted.model_card,
                status=Status.PENDING.value,
                stage=Stage.DEV.value,
                registrant=user,
                registered_at=_now(),
            )
            session.add(version)
            session.flush()
            _history(session, version, "registered", None, Status.PENDING.value, principal.name)
            details["version"] = number
            view = _version_view(session, version)
        return view

    def list_models(self, principal: Principal) -> list[ModelView]:
        """Every registered model with its versions (needs ``model.read``)."""
        from sqlalchemy import select

        with self._operation(principal, Permission.MODEL_READ, "model.list", None, mutation=False) as (session, _):
            models = session.scalars(select(RegisteredModel).order_by(RegisteredModel.name)).all()
            return [_model_view(session, model) for model in models]

    def show_model(self, principal: Principal, name: str) -> ModelView:
        """One model with its versions and aliases (needs ``model.read``)."""
        with self._operation(principal, Permission.MODEL_READ, "model.show", name, mutation=False) as (session, _):
            return _model_view(session, _model(session, name))

    def show_version(self, principal: Principal, name: str, version: int | str) -> VersionView:
        """One version, by number or by alias (``champion`` or ``@champion``) (needs ``model.read``)."""
        with self._operation(principal, Permission.MODEL_READ, "model.show", f"{name}:{version}", mutation=False) as (
            session,
            _,
        ):
            return _version_view(session, _version(session, name, version))

    def history(self, principal: Principal, name: str) -> list[HistoryView]:
        """Every status, stage and alias change of ``name``'s versions, oldest first (needs ``model.read``)."""
        from sqlalchemy import select

        with self._operation(principal, Permission.MODEL_READ, "model.history", name, mutation=False) as (session, _):
            model = _model(session, name)
            events = session.scalars(select(HistoryEvent).where(HistoryEvent.model_id == model.id).order_by(HistoryEvent.id))
            return [
                HistoryView(e.version, e.kind, e.subject, e.old_value, e.new_value, e.actor, iso(e.at), e.comment) for e in events
            ]

    def approve(self, principal: Principal, name: str, version: int, *, stage: Stage = Stage.PROD, comment: str = "") -> None:
        """Approve a version for ``stage`` (and the stages before it) (needs ``model.approve.<stage>``)."""
        self._decide(principal, name, version, Decision.APPROVED, stage, comment)

    def reject(self, principal: Principal, name: str, version: int, *, stage: Stage = Stage.PROD, comment: str = "") -> None:
        """Reject a version for ``stage`` (needs ``model.approve.<stage>``)."""
        self._decide(principal, name, version, Decision.REJECTED, stage, comment)

    def promote(self, principal: Principal, name: str, version: int, to: Stage, *, comment: str = "") -> None:
        """Move a version one stage forward (``dev → staging → prod``) or to ``archived`` (needs ``model.promote``).

        Staging and prod need the version APPROVED for that stage or a later one, by a principal other than its
        registrant who still holds the permission to approve for that stage (separation of duties).
        """
        target = f"{name}:{version}"
        details: dict[str, Any] = {"to": to.value}
        with self._operation(principal, Permission.MODEL_PROMOTE, "model.promote", target, details) as (session, _):
            row = _version(session, name, version)
            current = Stage(row.stage)
            details["from"] = current.value
            if to is Stage.ARCHIVED:
                if current is Stage.ARCHIVED:
                    raise RegistryError(f"{target} is already archived")
            elif NEXT_STAGE.get(current) is not to:
                raise RegistryError(
                    f"{target} is in {current.value}; versions move one stage at a time (dev → staging → prod) or to archived"
                )
            if to in GUARDED_STAGES:
                _check_approved(session, row, to)
            row.stage = to.value
            _history(session, row, "stage", current.value, to.value, principal.name, comment)

    def set_alias(self, principal: Principal, name: str, alias: str, version: int) -> None:
        """Point ``alias`` (``champion`` or ``@champion``) of model ``name`` at ``version`` (needs ``model.promote``)."""
        alias = alias.removeprefix("@")
        _check_name(alias, _ALIAS_NAME, "alias")
        target = f"{name}@{alias}"
        with self._operation(principal, Permission.MODEL_PROMOTE, "model.alias", target, {"version": version}) as (session, _):
            row = _version(session, name, version)
            if row.stage == Stage.ARCHIVED.value:
                raise RegistryError(f"{name}:{version} is archived; an alias cannot point at it")
            existing = session.get(Alias, (row.model_id, alias))
            old = None if existing is None else str(existing.version.version)
            if existing is None:
                session.add(Alias(model_id=row.model_id, name=alias, version_id=row.id))
            else:
                existing.version_id = row.id
            _history(session, row, "alias", old, str(version), principal.name, subject=alias)

    def remove_alias(self, principal: Principal, name: str, alias: str) -> None:
        """Remove ``alias`` of model ``name`` (needs ``model.promote``)."""
        alias = alias.removeprefix("@")
        target = f"{name}@{alias}"
        with self._operation(principal, Permission.MODEL_PROMOTE, "model.alias.remove", target) as (session, _):
            model = _model(session, name)
            existing = session.get(Alias, (model.id, alias))
            if existing is None:
                raise RegistryError(f"model {name} has no alias @{alias}")
            row = existing.version
            session.delete(existing)
            _history(session, row, "alias", str(row.version), None, principal.name, subject=alias)

    # --- internals -------------------------------------------------------------------------------

    def _decide(self, principal: Principal, name: str, version: int, decision: Decision, stage: Stage, comment: str) -> None:
        if stage not in GUARDED_STAGES:
            raise RegistryError(f"approvals are for {' or '.join(s.value for s in GUARDED_STAGES)}, not {stage.value}")
        target = f"{name}:{version}"
        action = "model.approve" if decision is Decision.APPROVED else "model.reject"
        details = {"stage": stage.value, "comment": comment}
        with self._operation(principal, approve_permission(stage), action, target, details) as (session, user):
            row = _version(session, name, version)
            if row.registered_by == user.id:
                raise RegistryError(
                    f"separation of duties: {principal.name} registered {target} and cannot decide on it; "
                    "another principal with the approve permission must"
                )
            if row.stage == Stage.ARCHIVED.value:
                raise RegistryError(f"{target} is archived; decisions on it are closed")
            session.add(
                Approval(
                    version_id=row.id, stage=stage.value, decision=decision.value, user=user, decided_at=_now(), comment=comment
                )
            )
            old = row.status
            row.status = decision.value
            _history(session, row, "status", old, decision.value, principal.name, f"for {stage.value}: {comment}".rstrip(": "))

    @contextlib.contextmanager
    def _operation(
        self,
        principal: Principal,
        permission: Permission | None,
        action: str,
        target: str | None,
        details: dict[str, Any] | None = None,
        *,
        mutation: bool = True,
    ) -> Iterator[tuple[Session, User]]:
        """A transaction on behalf of ``principal`` holding ``permission`` (None: any authenticated principal),
        recorded in the audit log once it ends: a mutation always, anything else only when refused."""
        details = {} if details is None else details
        try:
            with self._transaction(target or action) as session:
                user = self._current_user(session, principal)
                if permission is not None:
                    self._require(session, user, permission)
                yield session, user
                if mutation:
                    outbox.stage(session, self._audit_log(), action, principal.name, target, "ok", details)
        except PermissionDenied as exc:
            _audit("permission.denied", principal.name, target, "deny", {"action": action, "permission": exc.permission})
            raise
        except AuthenticationFailed as exc:
            _audit(
                "login.failed", ANONYMOUS, target, "deny", {"action": action, "reason": str(exc), "token_id": principal.token_id}
            )
            raise
        except RegistryError as exc:
            if mutation:
                _audit(action, principal.name, target, "refused", {**details, "reason": str(exc)})
            raise
        if mutation:
            from bastion.audit import AuditError

            try:
                self._drain_outbox()
            except AuditError as exc:
                message = (
                    f"{exc}; the change is committed, and its audit event is kept until the next registry command appends it"
                )
                raise AuditError(message) from None

    def _audit_log(self) -> HashChainedLog:
        from bastion.audit import open_log

        if self._log is None:
            self._log = open_log()
        return self._log

    def _drain_outbox(self) -> None:
        """Append the audit events of committed changes still in the outbox, then sign a checkpoint over them."""
        from bastion.audit import AuditSigner
        from bastion.core import bastion_home

        log = self._audit_log()
        with self._transaction("the audit outbox") as session:
            drained = outbox.drain(session, log)
        if drained:
            if self._signer is None:
                self._signer = AuditSigner.open(bastion_home() / "keys")
            log.checkpoint(self._signer)

    @contextlib.contextmanager
    def _transaction(self, subject: str) -> Iterator[Session]:
        """A session in one transaction; the database's own errors become one line naming ``subject``."""
        from sqlalchemy.exc import IntegrityError, OperationalError

        try:
            with self._sessions.begin() as session:
                yield session
        except IntegrityError as exc:  # two writers raced (PostgreSQL): the loser's transaction is rolled back
            raise RegistryError(
                f"{subject}: changed by someone else at the same moment ({one_line(exc.orig)}); try again"
            ) from None
        except OperationalError as exc:
            raise BastionError(f"{subject}: the registry database is unavailable ({one_line(exc.orig)}); try again") from None

    def _current_user(self, session: Session, principal: Principal) -> User:
        from sqlalchemy import select

        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == principal.token_hash)).one_or_none()
        if row is None or row.revoked_at is not None:
            raise AuthenticationFailed(f"the token of {principal.name} was revoked; ask an admin for a new one")
        return row.user

    def _require(self, session: Session, user: User, permission: Permission) -> None:
        if permission.value not in _permissions_of(user):
            roles = ", ".join(sorted(role.name for role in user.roles)) or "no role"
            raise PermissionDenied(
                f"permission denied: {user.name} ({roles}) lacks the permission {permission.value}",
                permission=permission.value,
            )

    def _create_user(self, session: Session, name: str, roles: Sequence[str], created_by: str | None) -> IssuedToken:
        from sqlalchemy import select

        rows = session.scalars(select(Role).where(Role.name.in_(roles))).all()
        missing = sorted(set(roles) - {row.name for row in rows})
        if missing:
            known = ", ".join(session.scalars(select(Role.name).order_by(Role.name)))
            raise RegistryError(f"no role {', '.join(missing)}; roles: {known}")
        user = User(name=name, created_at=_now(), created_by=created_by, roles=list(rows))
        session.add(user)
        session.flush()
        drawn = new_token()
        session.add(ApiToken(id=drawn.id, user_id=user.id, token_hash=drawn.hash, created_at=_now()))
        return IssuedToken(name, tuple(sorted(roles)), drawn.id, drawn.token)


def _permissions_of(user: User) -> set[str]:
    return {permission.name for role in user.roles for permission in role.permissions}


def approval_problem(engine: Engine, name: str, version: int, stage: Stage) -> str | None:
    """Why ``name:version`` may not take ``stage``'s traffic — not approved for it (or a later stage), approved by its
    own registrant, or by someone who no longer holds the permission — or None when it may. Serving and rollouts
    ask this, so that a version approved for staging alone never answers prod requests."""
    from sqlalchemy.orm import Session

    if stage not in GUARDED_STAGES:
        return None
    with Session(engine) as session:
        try:
            _check_approved(session, _version(session, name, version), stage)
        except RegistryError as exc:
            return str(exc)
    return None


def _check_approved(session: Session, row: ModelVersion, stage: Stage) -> None:
    """The version's latest decision for ``stage`` or a later stage is an approval by someone other than its
    registrant, who still holds the permission to approve for the stage decided on."""
    from sqlalchemy import select

    target = f"{row.model.name}:{row.version}"
    covering = [s.value for s in GUARDED_STAGES[GUARDED_STAGES.index(stage) :]]
    latest = session.scalars(
        select(Approval).where(Approval.version_id == row.id, Approval.stage.in_(covering)).order_by(Approval.id.desc())
    ).first()
    needed = approve_permission(stage).value
    hint = f"an approver ({needed}) other than {row.registrant.name} runs 'bastion models approve {row.model.name} {row.version}"
    hint += f" --stage {stage.value}'"
    if row.status != Status.APPROVED.value or latest is None or latest.decision != Decision.APPROVED.value:
        raise RegistryError(f"{target} is not approved for {stage.value} (status {row.status}); {hint}")
    if latest.user_id == row.registered_by:
        raise RegistryError(f"{target} was approved by its own registrant; separation of duties: {hint}")
    if approve_permission(Stage(latest.stage)).value not in _permissions_of(latest.user):
        raise RegistryError(f"{target} was approved by {latest.user.name}, who no longer holds {needed}; {hint}")


def _model(session: Session, name: str) -> RegisteredModel:
    from sqlalchemy import select

    model = session.scalars(select(RegisteredModel).where(RegisteredModel.name == name)).one_or_none()
    if model is None:
        raise RegistryError(f"no model {name!r}; 'bastion models list' shows the registered ones")
    return model


def _version(session: Session, name: str, version: int | str) -> ModelVersion:
    from sqlalchemy import select

    model = _model(session, name)
    if isinstance(version, str) and not version.isdigit():
        alias = session.get(Alias, (model.id, version.removeprefix("@")))
        if alias is None:
            raise RegistryError(f"model {name} has no alias {version!r}")
        return alias.version
    row = session.scalars(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == int(version))
    ).one_or_none()
    if row is None:
        raise RegistryError(f"model {name} has no version {version}")
    return row


def _version_view(session: Session, row: ModelVersion) -> VersionView:
    from sqlalchemy import select

    aliases = session.scalars(select(Alias.name).where(Alias.version_id == row.id).order_by(Alias.name)).all()
    approvals = session.scalars(select(Approval).where(Approval.version_id == row.id).order_by(Approval.id)).all()
    return VersionView(
        name=row.model.name,
        version=row.version,
        status=row.status,
        stage=row.stage,
        package_digest=row.package_digest,
        signature_digest=row.signature_digest,
        signer_key_id=row.signer_key_id,
        artifact_uri=row.artifact_uri,
        source_run=row.source_run,
        metrics=dict(row.metrics),
        tags=dict(row.tags),
        model_card=dict(row.model_card),
        registered_by=row.registrant.name,
        registered_at=iso(row.registered_at),
        aliases=tuple(aliases),
        approvals=tuple(ApprovalView(a.stage, a.decision, a.user.name, iso(a.decided_at), a.comment) for a in approvals),
    )


def _model_view(session: Session, model: RegisteredModel) -> ModelView:
    from sqlalchemy import select

    aliases = session.scalars(select(Alias).where(Alias.model_id == model.id).order_by(Alias.name)).all()
    return ModelView(
        name=model.name,
        created_by=model.created_by,
        created_at=iso(model.created_at),
        versions=tuple(_version_view(session, version) for version in model.versions),
        aliases={alias.name: alias.version.version for alias in aliases},
    )


def _history(
    session: Session,
    row: ModelVersion,
    kind: str,
    old: str | None,
    new: str | None,
    actor: str,
    comment: str = "",
    *,
    subject: str | None = None,
) -> None:
    session.add(
        HistoryEvent(
            model_id=row.model_id,
            version=row.version,
            kind=kind,
            subject=subject,
            old_value=old,
            new_value=new,
            actor=actor,
            at=_now(),
            comment=comment,
        )
    )


def _check_name(name: str, pattern: re.Pattern[str], what: str) -> None:
    if not pattern.match(name):
        raise RegistryError(
            f"{what} name {name!r} is not allowed; use letters, digits, '.', '_' and '-' (pattern {pattern.pattern})"
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _audit(
    action: str,
    actor: str | None,
    target: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
) -> None:
    from bastion.audit import record

    record(action, target=target, outcome=outcome, details=details, actor=actor)
